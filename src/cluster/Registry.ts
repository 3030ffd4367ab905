/**
 * The cluster-wide registry: names and process groups visible from every node (Erlang's
 * `global` names and `pg` groups, Akka's Receptionist).
 *
 * Every node runs one registry actor. A node is the authority for the registrations of its own
 * actors: it replicates them to every connected peer (eagerly, in order with other messages on
 * the link), sends its full table to a peer when the connection comes up, and withdraws a name
 * when its actor stops (it monitors every actor it registers). When a node is lost, every other
 * node drops the names and group memberships it owned. Reads (`whereis`, `members`) are local
 * and immediate; the registry is eventually consistent, like `pg`.
 *
 * Nothing a peer does delays the local operations: the registry's mailbox only ever does local
 * work. Finding a peer's registry (a Lookup request to that node) runs in a fiber of its own,
 * with a timeout per attempt and a bounded number of attempts with backoff; replication to
 * peers never waits for a connection's buffer. A peer that never answers the Lookup (a foreign
 * client, see docs/protocol.md) is simply not replicated to.
 *
 * Conflicts: two nodes can register the same name while partitioned. When their tables meet,
 * the registration owned by the node with the smaller name wins, on every node; the loser's node
 * withdraws its registration and publishes a `RegistryConflict` event (the losing actor keeps
 * running, without the name). The rule needs no coordination and gives the same answer
 * everywhere.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Actor from "../actors/Actor.ts"
import { ActorContext } from "../actors/ActorContext.ts"
import { ActorNotFound } from "../actors/ActorError.ts"
import * as ActorRef from "../actors/ActorRef.ts"
import { ActorSystem } from "../system/ActorSystem.ts"
import type { Down } from "../actors/Signals.ts"
import { Node } from "../transport/Node.ts"

export class NameTaken extends Schema.TaggedError<NameTaken>()("NameTaken", {
  name: Schema.String,
  owner: Schema.String
}) {}

const Entry = Schema.Struct({ name: Schema.String, ref: ActorRef.schema })

export const Protocol = Actor.make("telex/Registry", {
  Register: Actor.ask({ name: Schema.String, ref: ActorRef.schema }, { error: NameTaken }),
  Unregister: Actor.tell({ name: Schema.String }),
  Join: Actor.tell({ group: Schema.String, ref: ActorRef.schema }),
  Leave: Actor.tell({ group: Schema.String, ref: ActorRef.schema }),
  /** replication from the owner node */
  Add: Actor.tell({ name: Schema.String, ref: ActorRef.schema }),
  Remove: Actor.tell({ name: Schema.String, ref: ActorRef.schema }),
  GroupAdd: Actor.tell({ group: Schema.String, ref: ActorRef.schema }),
  GroupRemove: Actor.tell({ group: Schema.String, ref: ActorRef.schema }),
  /** the full table of the sender's own registrations, sent when a connection comes up */
  Sync: Actor.tell({
    node: Schema.String,
    names: Schema.Array(Entry),
    groups: Schema.Array(Schema.Struct({ group: Schema.String, refs: Schema.Array(ActorRef.schema) }))
  }),
  NodeLost: Actor.tell({ node: Schema.String }),
  PeerUp: Actor.tell({ node: Schema.String }),
  /** the registry of a connected peer, found by a lookup fiber */
  PeerFound: Actor.tell({ node: Schema.String, ref: ActorRef.schema })
})

export const REGISTRY_NAME = "telex/registry"

/** Finding a peer's registry: each attempt times out, then waits (doubling) before the next. */
const LOOKUP_TIMEOUT = Duration.seconds(5)
const LOOKUP_ATTEMPTS = 20
const LOOKUP_BACKOFF_INITIAL_MILLIS = 250
const LOOKUP_BACKOFF_MAX_MILLIS = 5_000

export type RegistryEvent =
  | { readonly _tag: "Registered"; readonly name: string; readonly actor: string }
  | { readonly _tag: "Unregistered"; readonly name: string; readonly actor: string }
  | { readonly _tag: "RegistryConflict"; readonly name: string; readonly winner: string; readonly loser: string }

export interface RegistryShape {
  /** Registers `ref` (an actor of this node) under `name` cluster-wide. */
  register(name: string, ref: ActorRef.ActorRef<any>): Effect.Effect<void, NameTaken>
  unregister(name: string): Effect.Effect<void>
  whereis(name: string): Option.Option<ActorRef.ActorRef<any>>
  /** The ref registered as `name`, if it speaks `protocol`. */
  lookup<D extends Actor.MessageDefs>(protocol: Actor.ActorProtocol<D>, name: string): Effect.Effect<ActorRef.ActorRef<D>, ActorNotFound>
  join(group: string, ref: ActorRef.ActorRef<any>): Effect.Effect<void>
  leave(group: string, ref: ActorRef.ActorRef<any>): Effect.Effect<void>
  members(group: string): ReadonlyArray<ActorRef.ActorRef<any>>
  readonly events: Stream.Stream<RegistryEvent>
  /** every name currently known on this node */
  names(): ReadonlyArray<{ readonly name: string; readonly actor: string }>
}

export class Registry extends Context.Service<Registry, RegistryShape>()("telex/Registry") {
  static readonly layer: Layer.Layer<Registry, never, Node | ActorSystem> = Layer.effect(Registry, Effect.suspend(() => make))
}

interface State {
  readonly names: Map<string, ActorRef.ActorRef<any>>
  readonly groups: Map<string, Map<string, ActorRef.ActorRef<any>>>
}

const make = Effect.gen(function*() {
  const system = yield* ActorSystem
  const node = yield* Node
  const me = system.nodeId.name
  const state: State = { names: new Map(), groups: new Map() }
  const events = yield* PubSub.sliding<RegistryEvent>(1024)
  const publish = (e: RegistryEvent) => queueMicrotask(() => PubSub.publishUnsafe(events, e))

  const behavior = Protocol.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const self = ctx.self as ActorRef.ActorRef<typeof Protocol.defs>
    /** registry refs of connected peers */
    const peers = new Map<string, ActorRef.ActorRef<typeof Protocol.defs>>()
    /** the fibers looking for a peer's registry (off the mailbox) */
    const finding = new Map<string, { fiber: Fiber.Fiber<void> | undefined }>()
    const scope = yield* Effect.scope
    /** monitors of our own registered actors: actor key → names and groups */
    const watched = new Map<string, { names: Set<string>; groups: Set<string> }>()

    const owner = (ref: ActorRef.ActorRef<any>) => ref.address.node.name
    const isMine = (ref: ActorRef.ActorRef<any>) => owner(ref) === me
    /** Sends to a peer's registry without ever waiting for its connection's buffer. */
    const send = (name: string, peer: ActorRef.ActorRef<typeof Protocol.defs>, message: typeof Protocol.schema.Type) =>
      Effect.suspend(() => {
        try {
          peer.tellUnsafe(message as any)
          return Effect.void
        } catch (error) {
          // refused before sending (the peer speaks another version of the registry protocol):
          // stop replicating to it; a new connection finds it again and sends it our whole table
          peers.delete(name)
          return Effect.logWarning(`registry: not replicating to ${name}: ${(error as any)?.message ?? (error as any)?._tag ?? error}`)
        }
      })
    const broadcast = (message: typeof Protocol.schema.Type) =>
      Effect.forEach(Array.from(peers), ([name, peer]) => send(name, peer, message), { discard: true })

    const isUp = (name: string) => node.peers().some((p) => p.name === name && p.up)
    /**
     * Looks for a peer's registry in a fiber of its own (so that a peer slow or silent to answer
     * never holds the mailbox), a bounded number of times while the peer is up: it may not run
     * its registry yet, or the connection was replaced while we asked (simultaneous connects).
     * A peer that never runs a registry (a status client) is given up on. `now`: start again
     * at once, without waiting out the backoff (the peer has shown it runs a registry).
     */
    const findPeer = (up: string, now = false): Effect.Effect<void> =>
      Effect.gen(function*() {
        const running = finding.get(up)
        if (running !== undefined && !now) return
        if (running?.fiber !== undefined) yield* Fiber.interrupt(running.fiber)
        const attempt = (n: number): Effect.Effect<void> =>
          Effect.gen(function*() {
            if (!isUp(up)) return
            const found = yield* Effect.result(node.lookup(up, Protocol, REGISTRY_NAME).pipe(Effect.timeout(LOOKUP_TIMEOUT)))
            if (found._tag === "Success") return yield* Effect.ignore(self.tell(Protocol.PeerFound({ node: up, ref: found.success })))
            if (n >= LOOKUP_ATTEMPTS) {
              return yield* Effect.logDebug(`registry: no registry found on ${up} after ${n} attempts; not replicating to it`)
            }
            const delay = Math.min(LOOKUP_BACKOFF_MAX_MILLIS, LOOKUP_BACKOFF_INITIAL_MILLIS * 2 ** (n - 1))
            yield* Effect.sleep(Math.round(delay * (0.8 + 0.4 * (yield* Random.next))))
            return yield* attempt(n + 1)
          })
        const entry: { fiber: Fiber.Fiber<void> | undefined } = { fiber: undefined }
        finding.set(up, entry)
        yield* attempt(1).pipe(
          Effect.ensuring(Effect.sync(() => {
            if (finding.get(up) === entry) finding.delete(up)
          })),
          Effect.forkIn(scope),
          Effect.tap((fiber) => Effect.sync(() => {
            entry.fiber = fiber
          }))
        )
      })

    const watch = Effect.fnUntraced(function*(ref: ActorRef.ActorRef<any>) {
      let entry = watched.get(ref.key)
      if (entry === undefined) {
        entry = { names: new Set(), groups: new Set() }
        watched.set(ref.key, entry)
        yield* ctx.monitor(ref)
      }
      return entry
    })

    /** Applies a registration; returns whether it took effect (conflicts resolved by owner name). */
    const put = (name: string, ref: ActorRef.ActorRef<any>): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        const current = state.names.get(name)
        if (current !== undefined && current.key !== ref.key) {
          const winner = owner(current) <= owner(ref) ? current : ref
          const loser = winner === current ? ref : current
          publish({ _tag: "RegistryConflict", name, winner: winner.key, loser: loser.key })
          if (winner === current) {
            if (isMine(ref)) yield* withdraw(name, ref)
            return false
          }
          if (isMine(current)) {
            watched.get(current.key)?.names.delete(name)
            yield* broadcast(Protocol.Remove({ name, ref: current }))
          }
        }
        state.names.set(name, ref)
        if (current?.key !== ref.key) publish({ _tag: "Registered", name, actor: ref.key })
        return true
      })

    const withdraw = (name: string, ref: ActorRef.ActorRef<any>) =>
      Effect.gen(function*() {
        if (state.names.get(name)?.key === ref.key) {
          state.names.delete(name)
          publish({ _tag: "Unregistered", name, actor: ref.key })
        }
        watched.get(ref.key)?.names.delete(name)
        if (isMine(ref)) yield* broadcast(Protocol.Remove({ name, ref }))
      })

    const groupAdd = (group: string, ref: ActorRef.ActorRef<any>) => {
      let members = state.groups.get(group)
      if (members === undefined) state.groups.set(group, members = new Map())
      members.set(ref.key, ref)
    }
    const groupRemove = (group: string, ref: ActorRef.ActorRef<any>) => {
      const members = state.groups.get(group)
      members?.delete(ref.key)
      if (members?.size === 0) state.groups.delete(group)
    }

    const ownTable = () => {
      const names: Array<{ name: string; ref: ActorRef.ActorRef<any> }> = []
      for (const [name, ref] of state.names) if (isMine(ref)) names.push({ name, ref })
      const groups: Array<{ group: string; refs: Array<ActorRef.ActorRef<any>> }> = []
      for (const [group, members] of state.groups) {
        const refs = Array.from(members.values()).filter(isMine)
        if (refs.length > 0) groups.push({ group, refs })
      }
      return { names, groups }
    }

    // follow the node's connections: sync on up, drop the lost node's entries on down
    // subscribe now, before looking at who is up: a forked Stream would subscribe only when it
    // first runs, and a connection made in between would never be synced
    const subscription = yield* node.subscribe
    yield* PubSub.take(subscription).pipe(
      Effect.flatMap((event) =>
        event._tag === "NodeUp"
          ? self.tell(Protocol.PeerUp({ node: event.node.name }))
          : event._tag === "NodeDown"
          ? self.tell(Protocol.NodeLost({ node: event.node.name }))
          : Effect.void
      ),
      Effect.forever,
      Effect.forkScoped
    )
    for (const peer of node.peers()) if (peer.up) yield* self.tell(Protocol.PeerUp({ node: peer.name }))

    return {
      Register: ({ name, ref }) =>
        Effect.gen(function*() {
          const current = state.names.get(name)
          if (current !== undefined && current.key !== ref.key) {
            return yield* new NameTaken({ name, owner: current.key })
          }
          if (!isMine(ref)) return yield* new NameTaken({ name, owner: `(only actors of ${me} can be registered here)` })
          ;(yield* watch(ref)).names.add(name)
          yield* put(name, ref)
          yield* broadcast(Protocol.Add({ name, ref }))
        }),
      Unregister: ({ name }) =>
        Effect.suspend(() => {
          const ref = state.names.get(name)
          return ref !== undefined && isMine(ref) ? withdraw(name, ref) : Effect.void
        }),
      Join: ({ group, ref }) =>
        Effect.gen(function*() {
          ;(yield* watch(ref)).groups.add(group)
          groupAdd(group, ref)
          yield* broadcast(Protocol.GroupAdd({ group, ref }))
        }),
      Leave: ({ group, ref }) =>
        Effect.gen(function*() {
          watched.get(ref.key)?.groups.delete(group)
          groupRemove(group, ref)
          yield* broadcast(Protocol.GroupRemove({ group, ref }))
        }),
      Add: ({ name, ref }) => put(name, ref),
      Remove: ({ name, ref }) =>
        Effect.sync(() => {
          if (state.names.get(name)?.key === ref.key) {
            state.names.delete(name)
            publish({ _tag: "Unregistered", name, actor: ref.key })
          }
        }),
      GroupAdd: ({ group, ref }) => Effect.sync(() => groupAdd(group, ref)),
      GroupRemove: ({ group, ref }) => Effect.sync(() => groupRemove(group, ref)),
      Sync: ({ node: from, names, groups }) =>
        Effect.gen(function*() {
          // the sender's table replaces what we had from it
          for (const [name, ref] of state.names) if (owner(ref) === from) state.names.delete(name)
          for (const [group, members] of state.groups) {
            for (const [key, ref] of members) if (owner(ref) === from) members.delete(key)
            if (members.size === 0) state.groups.delete(group)
          }
          for (const { name, ref } of names) yield* put(name, ref)
          for (const { group, refs } of groups) for (const ref of refs) groupAdd(group, ref)
          // its registry may have come up after our lookup found none: find it now (then it gets
          // our table)
          if (!peers.has(from)) yield* findPeer(from, true)
        }),
      NodeLost: ({ node: lost }) =>
        Effect.gen(function*() {
          peers.delete(lost)
          const lookup = finding.get(lost)
          finding.delete(lost)
          if (lookup?.fiber !== undefined) yield* Fiber.interrupt(lookup.fiber)
          for (const [name, ref] of state.names) {
            if (owner(ref) === lost) {
              state.names.delete(name)
              publish({ _tag: "Unregistered", name, actor: ref.key })
            }
          }
          for (const [group, members] of state.groups) {
            for (const [key, ref] of members) if (owner(ref) === lost) members.delete(key)
            if (members.size === 0) state.groups.delete(group)
          }
        }),
      // a peer that advertises no address is a transient client (`telex status`, `telex shell`,
      // a test's client): it is not looked up, so attaching one changes nothing on the nodes; one
      // that runs a registry all the same says so with its Sync, which starts the search above
      PeerUp: ({ node: up }) =>
        node.peers().some((p) => p.name === up && p.listen === undefined) ? Effect.void : findPeer(up),
      PeerFound: ({ node: up, ref }) =>
        Effect.gen(function*() {
          // found on a connection that has since been replaced by another incarnation: stale
          const current = node.peers().find((p) => p.name === up && p.up)?.node
          if (current === undefined || current.incarnation !== ref.address.node.incarnation || ref.address.node.name !== up) return
          peers.set(up, ref)
          yield* send(up, ref, Protocol.Sync({ node: me, ...ownTable() }))
        }),
      onDown: (down: Down) =>
        Effect.gen(function*() {
          const entry = watched.get(down.actor.key)
          if (entry === undefined) return
          watched.delete(down.actor.key)
          for (const name of entry.names) yield* withdraw(name, down.actor)
          for (const group of entry.groups) {
            groupRemove(group, down.actor)
            yield* broadcast(Protocol.GroupRemove({ group, ref: down.actor }))
          }
        })
    }
  }))

  const registry = yield* system.spawn(behavior, { name: REGISTRY_NAME }).pipe(Effect.orDie)

  const service: RegistryShape = {
    register: (name, ref) =>
      registry.ask(Protocol.Register({ name, ref })).pipe(
        Effect.catchTags({
          AskTimeout: Effect.die,
          NoProc: Effect.die,
          MailboxFull: Effect.die,
          ActorStopped: Effect.die,
          InvalidMessage: Effect.die,
          NodeDown: Effect.die,
          ProtocolMismatch: Effect.die,
          CallingSelf: Effect.die
        })
      ),
    unregister: (name) => Effect.ignore(registry.tell(Protocol.Unregister({ name }))),
    whereis: (name) => Option.fromUndefinedOr(state.names.get(name)),
    lookup: (protocol, name) =>
      Effect.suspend(() => {
        const ref = state.names.get(name)
        return ref !== undefined && ref.address.protocol === protocol.name
          ? Effect.succeed(ref as ActorRef.ActorRef<any>)
          : Effect.fail(new ActorNotFound({ name }))
      }),
    join: (group, ref) => Effect.ignore(registry.tell(Protocol.Join({ group, ref }))),
    leave: (group, ref) => Effect.ignore(registry.tell(Protocol.Leave({ group, ref }))),
    members: (group) => Array.from(state.groups.get(group)?.values() ?? []),
    events: Stream.fromPubSub(events),
    names: () => Array.from(state.names, ([name, ref]) => ({ name, actor: ref.key }))
  }
  return service
})
