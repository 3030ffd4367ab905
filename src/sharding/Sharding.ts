/**
 * The node's sharding: places entities (`Entity.make`) on the nodes of the cluster by key, with
 * shard leases kept in a shard store (`ShardStore`), and routes messages to them.
 *
 * ```ts
 * const ShardingLive = Sharding.layer({ entities: [CartEntity] }).pipe(
 *   Layer.provide(ShardStore.Service.layer(store))        // on top of the node's ActorSystem (and Node)
 * )
 * const carts = yield* Sharding.entity(CartEntity)
 * const items = yield* carts.ref("user-42").ask(Cart.Items())
 * ```
 *
 * **Placement.** A key's shard is FNV-1a 32 of its UTF-8 bytes modulo `shards` (default 1024,
 * the same on every node; docs/protocol.md has test vectors). A key with a lone surrogate has no
 * UTF-8 form (another node would get U+FFFD, another key): its sends fail with `InvalidMessage`.
 * Shards are shared by every entity type. A shard's owner is the node holding its lease in the shard store; the node that should
 * hold it is chosen by rendezvous hashing over the sharding members — this node and the peers
 * its failure detector says are up and that run sharding (they answer for `telex/sharding`).
 * Every `renewInterval` a node renews all its leases in one call (a loop of its own, which a slow
 * lease read or acquisition does not delay), and, in a placement round, reads who holds what, hands
 * off the shards another member should own (stops their entities, each within
 * `stopBudget`, forwards what it held for them meanwhile to their next owner — received there
 * before the lease is released, so before that member can acquire it — then releases the lease) and acquires the free or expired leases of the shards it should own.
 * A shard handed off (or given up as its node stops gracefully) takes no more messages (they are
 * held for its next owner) and its entities first handle what they were sent before — their
 * stop comes behind those messages, as Akka's handoff stop message does — for at most
 * max(10 s, 3 × `leaseTtl`), and only while its lease is surely held; a message that reaches an
 * entity after that (an ask in flight from a node that asks it directly) fails with `ActorStopped`.
 * An ask from another node that reaches a shard being stopped, or a node stopping, is answered
 * `NotOwner`: the asking node holds it until the shard has an owner again. A tell that reaches a
 * node stopping gracefully for a shard it gives up is held there and dropped when the node is
 * gone (its peers still count the node as a member, and so as the shards' placement, until then).
 * A node with peers acquires nothing in its first `renewInterval` (its seeds connect meanwhile:
 * nodes started together do not take every shard first and hand them off after). A member that
 * cannot reach the store is still handed its shards: they wait for it (no owner) until it can.
 * Every node must host (declare) the same entity types.
 *
 * **Leases and timing** (defaults: `leaseTtl` 3 s, `renewInterval` ttl/3, `stopBudget` 500 ms,
 * `clockMargin` max(100 ms, ttl/10)). The store stamps a lease's expiry `ttl` after it handles
 * an acquire or renew, on its own clock. A node records when it *sent* each successful acquire
 * or renew, on its monotonic clock, and stops a shard's entities when that send is more than
 * `renewDeadline = ttl − stopBudget − clockMargin` old (the entities stop within `stopBudget`:
 * each is killed past it). Since the store handled the call no earlier than it was sent, the
 * node's entities are stopped before the store lets the lease expire — as long as the node's
 * and the store's clocks advance at rates that differ by less than `clockMargin` over a `ttl`,
 * and the node's timers are not late by more than what is left of the margin (a process paused
 * for longer, by a debugger or the OS, breaks this assumption; fencing below still holds). A
 * process resuming runs what waited on its sockets before its overdue timers: the first message
 * of each turn of its event loop that reaches a shard held here checks the leases' deadlines
 * first, so the shards it may have lost serve nothing of it; what their entities had taken into
 * their mailboxes before the pause may still be handled, from memory, until they stop.
 * Another node acquires only a lease the store says is free or expired, so two nodes never run
 * entities of one shard at the same time. Every acquisition gets a larger epoch; durable-state
 * writes name it and the store refuses a stale one (`StaleEpoch`): the shard is then stopped.
 * A node that stopped a shard whose lease the store may still give it back unchanged (it lost
 * the shard by its own deadline, and the release it sent was lost) does not run it again under
 * that epoch: it waits for the release or the expiry and acquires it anew, so the fence tells
 * the new activations from the stopped ones (whose writes may still be on their way). Under
 * one epoch, an entity's next activation or in-place restart loads its state only once the last
 * write of the one before has landed or failed, and an ended incarnation's forked handler writes
 * nothing: a late write that the fence lets through cannot undo an acknowledged update.
 * Lease owners are `name#incarnation`: a restarted node waits for its previous incarnation's
 * leases to expire rather than taking them over.
 *
 * **Messages.** Each node runs a region actor per entity type (`telex/sharding/<type>`). A
 * message to a key goes to the local entity (activated on the first message) if this node owns
 * the shard, else to the owner's region, encoded with the entity protocol's Schema and decoded
 * (validated) there: an invalid message is refused (a dead tell, logged; an ask gets
 * `InvalidMessage`). A region that does not own the shard forwards a tell (at most twice) or
 * answers an ask with the owner it knows, and the asker routes again. While a shard has no
 * reachable owner, or is handed off, messages are held (at most `bufferSize` per node; past it,
 * `ShardingError` `BufferFull`) and delivered when it has one; an ask fails with `AskTimeout`
 * at its timeout. Messages to an entity still activating wait with them; an activation (the
 * entity's init, its state load) not done within max(10 s, 3 × `leaseTtl`) fails
 * (`ActivationFailed` for what waits for it; its tells are dropped, counted in a warning). Tells are at most once; an ask whose owner is lost after it was sent fails
 * (`NodeDown`, `AskTimeout`), it is not sent twice.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import type { MessageDefs } from "../actors/Actor.ts"
import { registerRuntimeError } from "../actors/ActorError.ts"
import { ActorSystem, type ActorSystemShape } from "../system/ActorSystem.ts"
import type { Entity, EntityClient, EntityRef } from "./Entity.ts"
import * as Runtime from "./internal/runtime.ts"
import { ShardingConfigError, ShardingError } from "./ShardingError.ts"
import type * as ShardStore from "./ShardStore.ts"

export interface Options {
  /** number of shards, the same on every node; default 1024 */
  readonly shards?: number | undefined
  /** default 3 seconds */
  readonly leaseTtl?: Duration.Input | undefined
  /** default leaseTtl / 3 */
  readonly renewInterval?: Duration.Input | undefined
  /** the time an entity has to stop when its shard is handed off or lost (then it is killed); default 500 ms */
  readonly stopBudget?: Duration.Input | undefined
  /** how much the node's and the store's clocks (and timers) may drift apart within a TTL; default max(100 ms, ttl/10) */
  readonly clockMargin?: Duration.Input | undefined
  /** messages held per node for shards without a reachable owner; default 10 000 */
  readonly bufferSize?: number | undefined
  /**
   * Members (this node included) a node waits to see before it takes its first shards, as Akka's
   * `min-nr-of-members`: nodes started together then place the shards among them from the start,
   * where the first one up would take them all and hand most of them off as the others join.
   * Messages to keys meanwhile are held (`bufferSize`) and asks wait within their timeout. Once
   * reached, a node places shards among whoever is up, fewer members included (a node lost later
   * must not leave its shards unowned). Default 1.
   */
  readonly minMembers?: number | undefined
  /**
   * false: this node is a proxy (Akka's): it sends to entities but owns no shard and hosts no
   * entity (a client, a gateway); it is no member, and members stopping gracefully tell it so
   * (`Leaving`), as they tell each other. Default true.
   */
  readonly hosting?: boolean | undefined
  /** entity types this node hosts from the start (also: `Sharding.entity`) */
  readonly entities?: ReadonlyArray<Entity<any, any>> | undefined
  /** called with every event, as it happens (histories for checkers) */
  readonly onEvent?: ((event: ShardingEvent) => void) | undefined
}

/** The lease timing in force (see the module doc). */
export interface Timing {
  readonly leaseTtlMillis: number
  readonly renewIntervalMillis: number
  readonly stopBudgetMillis: number
  readonly clockMarginMillis: number
  /** ttl − stopBudget − clockMargin: a shard whose last renew was sent longer ago is stopped */
  readonly renewDeadlineMillis: number
}

/**
 * What a node's sharding did. `at` is the node's wall clock (Effect's `Clock`: the test clock
 * under `SimCluster`). An entity's activation spans `activated` to its `passivated` or
 * `stopped` (emitted once it handles no more messages); `epoch` is its shard's lease epoch.
 */
export type ShardingEvent =
  | {
    readonly kind: "activated" | "passivated" | "stopped"
    readonly entityType: string
    readonly key: string
    /** the node's name */
    readonly node: string
    /** the lease owner id: `name#incarnation` */
    readonly owner: string
    readonly shard: number
    readonly epoch: number
    readonly at: number
  }
  | {
    readonly kind: "shardAcquired" | "shardReleased" | "shardLost"
    readonly node: string
    readonly owner: string
    readonly shard: number
    readonly epoch: number
    readonly at: number
    readonly reason?: string
  }

export interface ShardingShape {
  /** this node's name */
  readonly node: string
  /** this node's lease owner id (`name#incarnation`) */
  readonly owner: string
  readonly shards: number
  readonly timing: Timing
  /** the shard of a key (FNV-1a 32 of its UTF-8 bytes, modulo `shards`) */
  shardOf(key: string): number
  /** The refs of an entity type; this node hosts the type from now on. */
  entity<D extends MessageDefs>(entity: Entity<D, any>): Effect.Effect<EntityClient<D>>
  /** The ref of a singleton (`Singleton.make`); this node hosts it from now on. */
  singleton<D extends MessageDefs>(entity: Entity<D, any>): Effect.Effect<EntityRef<D>>
  readonly events: Stream.Stream<ShardingEvent>
  /** the leases of the shards this node runs */
  ownedShards(): ReadonlyArray<ShardStore.Lease>
  /** entities active on this node */
  activeEntities(): number
  /** the sharding members this node sees (names, itself first) */
  members(): ReadonlyArray<string>
}

const millis = (name: string, d: Duration.Input | undefined, fallback: number): number => {
  if (d === undefined) return fallback
  const o = Duration.fromInput(d)
  if (o._tag === "None" || !Number.isFinite(Duration.toMillis(o.value)) || Duration.toMillis(o.value) < 0) {
    throw new ShardingConfigError({ message: `${name} is not a duration: ${String(d)}` })
  }
  return Duration.toMillis(o.value)
}

/** The timing of `options`, checked: the renew deadline must leave room for a renewal. */
export const timing = (options?: Options): Timing => {
  const leaseTtlMillis = millis("leaseTtl", options?.leaseTtl, 3000)
  const renewIntervalMillis = millis("renewInterval", options?.renewInterval, Math.round(leaseTtlMillis / 3))
  const stopBudgetMillis = millis("stopBudget", options?.stopBudget, 500)
  const clockMarginMillis = millis("clockMargin", options?.clockMargin, Math.max(100, Math.round(leaseTtlMillis / 10)))
  const renewDeadlineMillis = leaseTtlMillis - stopBudgetMillis - clockMarginMillis
  if (renewIntervalMillis <= 0) throw new ShardingConfigError({ message: "renewInterval must be positive" })
  if (renewDeadlineMillis <= renewIntervalMillis) {
    throw new ShardingConfigError({
      message: `leaseTtl (${leaseTtlMillis} ms) − stopBudget (${stopBudgetMillis} ms) − clockMargin (${clockMarginMillis} ms) = ${renewDeadlineMillis} ms must exceed renewInterval (${renewIntervalMillis} ms): a longer leaseTtl, or a shorter renewInterval or stopBudget`
    })
  }
  return { leaseTtlMillis, renewIntervalMillis, stopBudgetMillis, clockMarginMillis, renewDeadlineMillis }
}

export class Sharding extends Context.Service<Sharding, ShardingShape>()("telex/Sharding") {
  /**
   * The node's sharding, on its `ActorSystem` (and `Node`, if any: without one the node is the
   * only member) with a `ShardStore.Service`. Fails with `ShardingConfigError` for invalid
   * options. Closing it stops the node's entities and releases its leases.
   */
  static readonly layer = (
    options?: Options
  ): Layer.Layer<Sharding, ShardingConfigError, ActorSystem | ShardStore.Service> =>
    Layer.effect(
      Sharding,
      Effect.gen(function*() {
        const t = yield* Effect.try({ try: () => timing(options), catch: (e) => e as ShardingConfigError })
        const shards = options?.shards ?? 1024
        if (!Number.isInteger(shards) || shards < 1 || shards > 65536) {
          return yield* new ShardingConfigError({ message: `shards must be an integer from 1 to 65536, got ${String(shards)}` })
        }
        const bufferSize = options?.bufferSize ?? 10_000
        if (!Number.isInteger(bufferSize) || bufferSize < 0) {
          return yield* new ShardingConfigError({ message: `bufferSize must be a non-negative integer, got ${String(bufferSize)}` })
        }
        // an entity's asker on another node gets ShardingError (StateNotSaved, ShardLost) as a runtime error
        registerRuntimeError(ShardingError)
        const minMembers = options?.minMembers ?? 1
        if (!Number.isInteger(minMembers) || minMembers < 1) {
          return yield* new ShardingConfigError({ message: `minMembers must be a positive integer, got ${String(minMembers)}` })
        }
        const runtime = yield* Runtime.make({
          shards,
          timing: t,
          bufferSize,
          minMembers,
          hosting: options?.hosting !== false,
          onEvent: options?.onEvent
        })
        // regions before the node actor: a peer that sees the node sees its regions
        for (const entity of options?.entities ?? []) yield* runtime.register(entity)
        yield* runtime.start
        const system = yield* ActorSystem
        running.set(system, runtime.service)
        yield* Effect.addFinalizer(() => Effect.sync(() => running.delete(system)))
        return runtime.service
      })
    )

  /**
   * The refs of an entity type (this node hosts it from now on), from the `Sharding` in context
   * or else the one running on the context's `ActorSystem` (app modules and actors have it). A
   * defect when the node runs no sharding.
   */
  static readonly entity = <D extends MessageDefs>(entity: Entity<D, any>): Effect.Effect<EntityClient<D>, never, ActorSystem> =>
    Effect.flatMap(current, (s) => s.entity(entity))

  /** The ref of a singleton (this node hosts it from now on); found as `entity` finds the sharding. */
  static readonly singleton = <D extends MessageDefs>(entity: Entity<D, any>): Effect.Effect<EntityRef<D>, never, ActorSystem> =>
    Effect.flatMap(current, (s) => s.singleton(entity))
}

/** the sharding running on each actor system */
const running = new WeakMap<ActorSystemShape, ShardingShape>()

/** The `Sharding` in context, or the one running on the context's `ActorSystem`. */
export const current: Effect.Effect<ShardingShape, never, ActorSystem> = Effect.flatMap(
  Effect.serviceOption(Sharding),
  (found) =>
    found._tag === "Some"
      ? Effect.succeed(found.value)
      : ActorSystem.use((system) => {
        const s = running.get(system)
        return s !== undefined
          ? Effect.succeed(s)
          : Effect.die(new Error(`node ${system.nodeId.name} runs no sharding (Sharding.layer; in a cluster config, a sharding section or the app's entities)`))
      })
)
