/**
 * One node's sharding: its leases, its shards and their entities, and the routing of messages
 * to entities wherever they live. See `Sharding.ts` for the rules; this file is their
 * implementation.
 *
 * Everything here runs on the node's one JavaScript thread: the state below is plain maps,
 * changed synchronously; effects are forked into the node's fiber set (interrupted when the
 * sharding layer closes).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Actor from "../../actors/Actor.ts"
import { ActorContext, type ActorContextShape } from "../../actors/ActorContext.ts"
import {
  ActorStopped,
  type TellError,
  AskTimeout,
  InvalidMessage,
  isRuntimeError,
  MailboxFull,
  NoProc
} from "../../actors/ActorError.ts"
import { type ActorRef, type AskFailed, askIn, askTimeout as timeoutOf, defaultAskTimeout, nodeKey } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import * as Kernel from "../../actors/Kernel.ts"
import * as Supervise from "../../supervision/Supervise.ts"
import { ActorSystem } from "../../system/ActorSystem.ts"
import { decoderFor, encoderFor, issueOf } from "../../transport/SchemaCodec.ts"
import { Node } from "../../transport/Node.ts"
import type { Entity, EntityClient, EntityContextShape, EntityRef, EntityState } from "../Entity.ts"
import { EntityContext } from "../Entity.ts"
import type { ShardingEvent, ShardingShape, Timing } from "../Sharding.ts"
import { Sharding } from "../Sharding.ts"
import { ShardingError } from "../ShardingError.ts"
import * as ShardStore from "../ShardStore.ts"
import * as Hash from "./hash.ts"
import { MAX_ASK_MILLIS, NODE_NAME, NodeProtocol, PROXY_NAME, RegionProtocol, regionName, type Reply, RuntimeError } from "./protocol.ts"

export interface Config {
  readonly shards: number
  readonly timing: Timing
  readonly bufferSize: number
  /** members (this node included) seen before the first shards are taken */
  readonly minMembers: number
  /** false: a proxy that routes to the members and never owns a shard */
  readonly hosting: boolean
  readonly onEvent: ((event: ShardingEvent) => void) | undefined
}

/** a region forwards a tell at most this many times (stale views of the owners cannot loop it) */
const MAX_HOPS = 2

/** the longest stretch of admitted asks run before the event loop gets its turn */
const ADMIT_SLICE_MILLIS = 4
/** with virtual time (TestClock), the admissions in one slice */
const ADMIT_SLICE_COUNT = 256

interface Registered {
  readonly entity: Entity<any, any>
  readonly encode: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly decode: (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  /** the init of its activations' actors, made at the first one and shared by all */
  init: Effect.Effect<any, any, any> | undefined
}


/**
 * One entity of a shard. It is also the behaviour its actor is spawned with (its type's
 * protocol and shared init): the init finds its entry from its actor (`entryOf`), so an
 * activation costs its entry and its supervision state, not a behaviour built for it.
 */
interface EntityEntry {
  readonly protocol: Actor.ActorProtocol<any>
  readonly init: Effect.Effect<any, any, any>
  readonly id: string
  readonly reg: Registered
  /** its shard (an entry that runs, of a shard that is active, is the one its shard's map holds) */
  readonly shard: ShardState
  readonly key: string
  status: "starting" | "running" | "stopping"
  ref: ActorRef<any> | undefined
  /**
   * messages that came while it was starting or stopping, in order (tells, and asks as
   * `QueuedAsk`): its next activation takes them first
   */
  queue: Array<unknown>
  /** its actor once spawned (to stop it, whether or not it came to run) */
  spawned: ActorRef<any> | undefined
  /** its actor once it runs: its count of messages delivered tells whether it was idle since the last round */
  actor: Kernel.LocalActor | undefined
  /** `actor.delivered` at the last lease round */
  seen: number
  /** monotonic ms: the lease round that last saw it busy (or its creation) */
  lastActive: number
  stopKind: "passivated" | "stopped"
  /** what `EntityContext` gives a stateless entity (made at its first init, kept across restarts) */
  context: EntityContextShape | undefined
}

/** An ask taken from the mailbox of an entity's actor as it stopped, with its reply: its next activation gets it. */
class QueuedAsk {
  readonly message: unknown
  readonly reply: Kernel.Reply
  readonly sender: ActorRef<any> | undefined
  constructor(message: unknown, reply: Kernel.Reply, sender: ActorRef<any> | undefined) {
    this.message = message
    this.reply = reply
    this.sender = sender
  }
}

/** The entry of the entity whose actor `actx` is: the entry is the behaviour it was spawned with. */
const entryOf = (actx: ActorContextShape): EntityEntry => Kernel.localOf(actx)!.behavior as unknown as EntityEntry

interface ShardState {
  readonly shard: number
  readonly lease: ShardStore.Lease
  status: "active" | "stopping"
  /** monotonic ms: past it, the lease may be close to expiring in the store: stop */
  validUntil: number
  /** monotonic ms: a handoff waits for its entities' mailboxes to drain until then (0: it does not wait) */
  drainUntil: number
  /** activations under way (stopping the shard interrupts them) */
  readonly activating: Set<Fiber.Fiber<unknown, unknown>>
  readonly entities: Map<string, EntityEntry>
  /**
   * bumped each time one of its entities stops running: a ref that saw it running, at the count
   * it saw, asks its actor without reaching the entity's entry (one object fewer per message)
   */
  leftRunning: number
  /** handed off, its entities stopped: what comes for it goes to the next owner (see `forwardHeld`) */
  forwarding: boolean
  /**
   * per entity id, its last state write still on its way to the store (made at the first save:
   * entities without state never have one); see `entityInit`
   */
  saves: Map<string, Fiber.Fiber<void, ShardStore.ShardStoreError | ShardStore.StaleEpoch>> | undefined
}

interface Direct {
  readonly owner: string
  readonly ref: ActorRef<any> | undefined
  /** `directSeq` when a tell to the key was last routed (0: none known) */
  readonly told: number
  /** false once replaced or cleared from the cache (refs holding it look again) */
  live: boolean
}

/** entries of the direct-ask cache past which it is cleared (a clearing only costs region hops) */
const MAX_DIRECTS = 100_000

type Held =
  | {
    readonly kind: "tell"
    readonly reg: Registered
    readonly key: string
    readonly message: unknown
    readonly hops: number
    readonly until: number
    /** it came through another node's region first (see `hold`) */
    readonly early: boolean
  }
  | { readonly kind: "wake"; readonly wake: () => void }

const encodeRuntime = encoderFor(RuntimeError)
const decodeRuntime = decoderFor(RuntimeError)

/** The error of a failure that `Effect.catch` would handle (a `Fail`, no defect); else undefined. */
const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  if (Cause.hasDies(cause)) return undefined
  const error = Cause.findError(cause)
  return Result.isSuccess(error) ? error.success : undefined
}

/** Whether `cause` is a `NoProc` failure: the message was not delivered (its actor had stopped). */
const isNoProc = (cause: Cause.Cause<unknown>): boolean => (failureOf(cause) as { readonly _tag?: unknown } | undefined)?._tag === "NoProc"

const nameOf = (owner: string): string => {
  const i = owner.lastIndexOf("#")
  return i < 0 ? owner : owner.slice(0, i)
}

export const make = (config: Config) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const store = yield* ShardStore.Service
    const node = Option.getOrUndefined(yield* Effect.serviceOption(Node))
    const clock = yield* Clock.Clock
    const fork = yield* FiberSet.makeRuntime<never>()
    const events = yield* PubSub.unbounded<ShardingEvent>()
    const selfName = system.nodeId.name
    const selfId = nodeKey(system.nodeId)
    const { shards, bufferSize } = config
    const t = config.timing
    const ttl = Duration.millis(t.leaseTtlMillis)
    const holdMillis = Math.max(10_000, 3 * t.leaseTtlMillis)

    /** monotonic milliseconds */
    const now = () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
    const wall = () => clock.currentTimeMillisUnsafe()
    const emit = (event: ShardingEvent) => {
      try {
        config.onEvent?.(event)
      } catch {
        // an observer's failure is not the runtime's
      }
      PubSub.publishUnsafe(events, event)
    }
    const run = (effect: Effect.Effect<unknown, unknown>) => {
      fork(effect.pipe(Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logWarning(`sharding: ${Cause.pretty(cause)}`)
      )))
    }

    // tells refused after their sender was answered (an entity's full `fail` mailbox as it
    // starts, a tell from another node, a full buffer): lost, so counted in a warning, the
    // first at once and then at most one a second with the count
    let refusedTells = 0
    let refusedPending = 0
    let lastRefused = ""
    let refusalWarning = false
    const warnRefused = Effect.suspend(() => {
      const n = refusedPending
      refusedPending = 0
      return n === 0 ? Effect.void : Effect.logWarning(
        `sharding: ${n} tell${n === 1 ? "" : "s"} to entities refused after their senders were answered, dropped (last: ${lastRefused}; ${refusedTells} since start)`
      )
    })
    /** `why`: what refused it (`false`: the buffer was full, as `dispatchTell` says) */
    const tellRefused = (type: string, key: string, why: unknown) => {
      refusedTells++
      refusedPending++
      lastRefused = `${type}/${key}: ${
        why === false ? "buffer full" : why instanceof MailboxFull ? `mailbox full (capacity ${why.capacity})` : String(why)
      }`
      if (refusalWarning) return
      refusalWarning = true
      run(warnRefused.pipe(
        Effect.andThen(Effect.sleep("1 second")),
        Effect.andThen(Effect.suspend(() => {
          refusalWarning = false
          return warnRefused
        }))
      ))
    }

    const registry = new Map<string, Registered>()
    const shardStates = new Map<number, ShardState>()
    /** the owner (lease holder id) of each shard, as last read from the store, or learned */
    const owners: Array<string | undefined> = new Array(shards).fill(undefined)
    /**
     * The largest epoch this node has held each shard under. A shard it lost (its renewals went
     * unconfirmed) may still be its lease in the store, and acquiring a lease one still holds
     * renews it with the same epoch: running the shard again under that epoch would let a write
     * of the stopped activation still on its way (a statement already sent) pass the fence after
     * the new activation's writes, undoing acknowledged updates. Such a lease is not taken: it
     * is given back, and the shard acquired once the store has a new epoch for it.
     */
    const heldEpochs: Array<number> = new Array(shards).fill(0)
    /** leases of this node the store still had at the last read (or acquisition) under an epoch it already held */
    const staleLeases = new Map<number, ShardStore.Lease>()
    /** peers running sharding and up: owner id → name */
    let members = new Map<string, string>()
    const confirmed = new Set<string>()
    const probing = new Set<string>()
    /** the node actors of the confirmed members (told when this node leaves) */
    const nodeRefs = new Map<string, ActorRef<typeof NodeProtocol.defs>>()
    /** the node actors of the proxies among the peers (told when this node leaves too) */
    const proxyRefs = new Map<string, ActorRef<typeof NodeProtocol.defs>>()
    /** members that said they are leaving (a graceful stop): neither routed to nor placed on again */
    const leaving = new Set<string>()
    /** regions of other nodes: `${owner}\0${type}` → ref */
    const regions = new Map<string, ActorRef<RegionProtocol>>()
    const regionLookups = new Set<string>()
    /** `${owner}\0${type}` → the owner has no region for the type (until this time) */
    const missingRegions = new Map<string, number>()
    const held = new Map<number, Array<Held>>()
    let buffered = 0
    /**
     * Bumped whenever anything an entity ref's ask checks on its way may have changed: which
     * shards are held here (`shardStates`), `owners`, `members`, the direct entries (retired), and
     * a message held (`hold`). A ref that found its way at this epoch takes it again without the
     * checks (see `Ref.askNow`). Every change of those must bump it.
     */
    let routeEpoch = 0
    const routesChanged = () => {
      routeEpoch++
    }
    /**
     * Entities on other nodes that this node's asks reach directly (one hop, the entity's own
     * mailbox), learned from their regions' replies: entity id → its ref and the lease owner it
     * runs under. Used only while that owner still owns the shard here; a ref whose entity has
     * stopped answers `NoProc` (the message was not delivered) and the ask goes through the
     * region again, which alone activates entities. A tell to a key (always through the region)
     * marks it `told`: its asks go through the region after it, and a region's reply to an ask
     * sent before a later tell does not make the key direct (a sender's tell then ask stay in order).
     */
    const directs = new Map<string, Direct>()
    /** bumped at each tell marked and each clearing of `directs` */
    let directSeq = 0
    let directsClearedAt = 0
    let service: ShardingShape

    const memberNames = (): Array<string> => [selfName, ...members.values()]
    let placementMembers: Array<string> = [selfName]
    const desiredOwner = (shard: number) => Hash.owner(placementMembers, shard)

    // -------------------------------------------------------------------------
    // holding messages while a shard has no (reachable) owner
    // -------------------------------------------------------------------------

    const hold = (shard: number, item: Held): boolean => {
      if (buffered >= bufferSize) return false
      buffered++
      routesChanged()
      let queue = held.get(shard)
      if (queue === undefined) held.set(shard, queue = [])
      if (item.kind === "tell" && item.early && queue.length > 0 && !isEarly(queue[queue.length - 1]!)) {
        // a tell that went through another node's region (the shard's previous owner forwarding
        // what it held) was sent before what its sender sent here directly since, and before the
        // asks that sender makes after it: it goes ahead of them (one sender switches from the
        // old owner to the next once)
        let i = 0
        while (isEarly(queue[i]!)) i++
        queue.splice(i, 0, item)
      } else {
        queue.push(item)
      }
      return true
    }
    const isEarly = (item: Held) => item.kind === "tell" && item.early

    /** Routes what a shard's queue holds again, in order (what still cannot go is held again). */
    const flush = (shard: number) => {
      const queue = held.get(shard)
      if (queue === undefined) return
      held.delete(shard)
      const t0 = now()
      let dropped: Array<string> | undefined
      let woke = false
      let i = 0
      for (; i < queue.length; i++) {
        const item = queue[i]!
        if (item.kind === "wake") {
          buffered--
          item.wake()
          woke = true
          continue
        }
        // a tell behind an ask woken here waits for that ask to go on first (it goes on in the
        // admission slices): what is left stays held, and is flushed after it
        if (woke) break
        buffered--
        // nobody can take a shard this node should own while it cannot reach the store: what it
        // holds for it waits for the store (bounded by the buffer), and a hold limit after it
        const until = item.until < t0 && t0 < storeCutEnd && !closing && desiredOwner(shard) === selfName
          ? Math.min(storeCutEnd, t0 + holdMillis)
          : item.until
        if (until < t0) (dropped ??= []).push(`${item.reg.entity.type}/${item.key}`)
        else {
          // one more forward per round
          const sent = dispatchTell(item.reg, item.key, item.message, Math.min(item.hops, MAX_HOPS - 1), until, item.early)
          if (sent !== true) tellRefused(item.reg.entity.type, item.key, sent)
        }
      }
      if (i < queue.length) {
        // behind what was held again meanwhile (sent earlier than these)
        const rest = queue.slice(i)
        const again = held.get(shard)
        held.set(shard, again === undefined ? rest : again.concat(rest))
        routesChanged()
        admit(() => flush(shard))
      }
      // lost messages are worth a warning (one per shard and round, with the count and a few keys)
      if (dropped !== undefined) {
        const some = dropped.slice(0, 5).join(", ") + (dropped.length > 5 ? ", ..." : "")
        run(Effect.logWarning(
          `sharding: dropped ${dropped.length} tell${dropped.length === 1 ? "" : "s"} held longer than ${holdMillis} ms for shard ${shard}, which had no reachable owner meanwhile (${some})`
        ))
      }
    }
    const flushAll = () => {
      for (const shard of Array.from(held.keys())) flush(shard)
    }

    /** Waits until something may have changed for `shard` (a tick, an acquisition, a release). */
    const waitChange = (shard: number, entityType: string, key: string, remainingMillis: number) =>
      Effect.callback<void, ShardingError>((resume) => {
        let done = false
        const item: Held = {
          kind: "wake",
          wake: () => {
            if (done) return
            done = true
            // a flush wakes every held ask of a shard at once: they go on by admission slices
            admit(() => resume(Effect.void))
          }
        }
        if (!hold(shard, item)) {
          done = true
          return resume(Effect.fail(bufferFull(entityType, key)))
        }
        return Effect.sync(() => {
          if (done) return
          done = true
          const queue = held.get(shard)
          const i = queue?.indexOf(item) ?? -1
          if (i >= 0) {
            queue!.splice(i, 1)
            buffered--
          }
        })
      }).pipe(Effect.timeoutOption(remainingMillis), Effect.asVoid)

    const bufferFull = (entityType: string, key: string) =>
      new ShardingError({
        reason: "BufferFull",
        entityType,
        key,
        message: `node ${selfName} holds ${bufferSize} messages (bufferSize) for entities not reachable yet (activating, or their shard has no owner or is handed over): refused`
      })

    // -------------------------------------------------------------------------
    // routing
    // -------------------------------------------------------------------------

    const regionKey = (owner: string, type: string) => `${owner}\u0000${type}`

    /** The region of `owner` for the type, if known; else looks it up (in the background). */
    const regionOf = (owner: string, reg: Registered): ActorRef<RegionProtocol> | undefined => {
      const k = regionKey(owner, reg.entity.type)
      const ref = regions.get(k)
      if (ref !== undefined) return ref
      if (node === undefined || regionLookups.has(k)) return undefined
      const missingUntil = missingRegions.get(k)
      if (missingUntil !== undefined && missingUntil > now()) return undefined
      regionLookups.add(k)
      run(
        node.lookup(nameOf(owner), RegionProtocol, regionName(reg.entity.type), { timeout: "2 seconds" }).pipe(
          Effect.tap((ref) =>
            Effect.sync(() => {
              if (nodeKey(ref.address.node) === owner) {
                regions.set(k, ref)
                missingRegions.delete(k)
                flushAll()
              }
            })
          ),
          Effect.catchTag("ActorNotFound", () => Effect.sync(() => missingRegions.set(k, now() + t.renewIntervalMillis))),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => regionLookups.delete(k)))
        )
      )
      return undefined
    }

    type Route =
      | { readonly _tag: "Local"; readonly state: ShardState }
      | { readonly _tag: "Remote"; readonly owner: string; readonly region: ActorRef<RegionProtocol> }
      | { readonly _tag: "Hold"; readonly missingRegion: boolean }

    const HOLD: Route = { _tag: "Hold", missingRegion: false }

    /** The member (owner id) that should own `shard` once this node is gone. */
    const nextOwner = (shard: number): string | undefined => {
      if (members.size === 0) return undefined
      const name = Hash.owner(Array.from(members.values()), shard)
      for (const [id, n] of members) if (n === name) return id
      return undefined
    }

    const route = (shard: number, reg: Registered): Route => {
      checkLeases()
      const local = shardStates.get(shard)
      if (local !== undefined && !local.forwarding) return local.status === "active" ? { _tag: "Local", state: local } : HOLD
      let owner = owners[shard]
      if (owner === undefined || owner === selfId || !members.has(owner)) {
        // with no owner known, what is for a shard that another member should own (one this node
        // handed off, or gave up as it stops) goes to that member at once, which holds it until
        // it has the lease: not held here for a lease read of this node's own, which a sender
        // reading the new owner first would overtake
        if (!(closing || desiredOwner(shard) !== selfName) || (owner = nextOwner(shard)) === undefined) return HOLD
      }
      const region = regionOf(owner, reg)
      if (region === undefined) {
        return { _tag: "Hold", missingRegion: missingRegions.has(regionKey(owner, reg.entity.type)) }
      }
      return { _tag: "Remote", owner, region }
    }

    /**
     * Sends a tell on its way (or holds it); false when it had to be held and the buffer is full,
     * the error when the entity, running here, refused it at once.
     */
    const dispatchTell = (
      reg: Registered,
      key: string,
      message: unknown,
      hops: number,
      until?: number,
      early = hops >= MAX_HOPS
    ): boolean | unknown => {
      const shard = Hash.shardOf(key, shards)
      if (!shardStates.has(shard)) markTold(entityId(reg.entity.type, key))
      const queued = held.get(shard)
      // behind what is held for the shard already: order per sender is kept
      if (queued !== undefined && queued.length > 0) return holdTell(shard, reg, key, message, hops, until, early)
      // a tell another node sent here, for a shard this node should own and does not hold yet, is
      // held until it has the lease: not sent back to the owner this node last read, which may
      // have handed the shard over already and would hold it past the acquisition, behind the
      // sender's next tells sent here directly
      if (hops > 0 && !closing && !shardStates.has(shard) && desiredOwner(shard) === selfName && !holderKeeps(shard, until)) {
        return holdTell(shard, reg, key, message, hops, until, early)
      }
      const r = route(shard, reg)
      switch (r._tag) {
        case "Local":
          return deliverLocal(r.state, reg, key, message)
        case "Remote": {
          if (hops >= MAX_HOPS) return holdTell(shard, reg, key, message, hops, until, early)
          const encoded = reg.encode(message)
          if (Exit.isFailure(encoded)) {
            run(Effect.logWarning(`sharding: a message to ${reg.entity.type}/${key} does not encode: ${issueOf(encoded)}`))
            return true
          }
          try {
            r.region.tellUnsafe(RegionProtocol.Deliver({ key, message: encoded.value, hops }))
          } catch (e) {
            tellRefused(reg.entity.type, key, e)
          }
          return true
        }
        case "Hold":
          return holdTell(shard, reg, key, message, hops, until, early)
      }
    }
    /**
     * Whether a tell held for two lease TTLs (`until`: the end of its holding) for a shard this node
     * should own goes to the member that holds the shard's lease after all: a handoff to this node
     * would have released the lease by then; a holder that keeps renewing it sees other members
     * than this node does (it does not count this node), and may keep the shard for good.
     */
    const holderKeeps = (shard: number, until: number | undefined): boolean => {
      const owner = owners[shard]
      return until !== undefined && now() >= until - holdMillis + 2 * t.leaseTtlMillis && owner !== undefined && owner !== selfId && members.has(owner)
    }
    /** bumped each time a direct entry stops being live: refs holding one look again */
    let directsRetired = 0
    const retired = () => {
      directsRetired++
      routesChanged()
    }
    const setDirect = (id: string, direct: Direct) => {
      const previous = directs.get(id)
      if (previous !== undefined) {
        previous.live = false
        retired()
      } else if (directs.size >= MAX_DIRECTS) {
        retired()
        for (const d of directs.values()) d.live = false
        directs.clear()
        directsClearedAt = ++directSeq
      }
      directs.set(id, direct)
    }
    const markTold = (id: string) => setDirect(id, { owner: "", ref: undefined, told: ++directSeq, live: true })
    /** A region's reply to an ask sent at `sentAt` (a `directSeq`) names the running entity. */
    const learnDirect = (id: string, owner: string, ref: ActorRef<any>, sentAt: number) => {
      if (sentAt < directsClearedAt || nodeKey(ref.address.node) !== owner) return
      const d = directs.get(id)
      if (d !== undefined && d.told > sentAt) return
      setDirect(id, { owner, ref, told: d?.told ?? 0, live: true })
    }
    /** The entity's ref to ask directly, if known and its owner still owns the shard here. */
    const directOf = (id: string, shard: number): Direct | undefined => {
      const d = directs.get(id)
      return d !== undefined && directUsable(d, shard) ? d : undefined
    }
    /** Whether a direct ref may be asked: its owner still owns the shard here, and nothing is held for the shard. */
    const directUsable = (d: Direct, shard: number): boolean => d.ref !== undefined && ownerUsable(d.owner, shard)
    const ownerUsable = (owner: string, shard: number): boolean =>
      owners[shard] === owner && members.has(owner) && !shardStates.has(shard) && (held.get(shard)?.length ?? 0) === 0
    const forgetDirect = (id: string, d: Direct) => {
      if (directs.get(id) === d) setDirect(id, { owner: "", ref: undefined, told: d.told, live: true })
    }

    /** `until`: the end of its holding, kept when it is held again (a tell held first now gets `holdMillis`) */
    const holdTell = (shard: number, reg: Registered, key: string, message: unknown, hops: number, until?: number, early = false) =>
      hold(shard, { kind: "tell", reg, key, message, hops, until: until ?? now() + holdMillis, early })

    // -------------------------------------------------------------------------
    // local entities
    // -------------------------------------------------------------------------

    /**
     * Activations, asks and tells to an entity of a shard held here that is not running (it
     * must be activated, or is starting), and held asks woken by a flush go on from here by
     * slices of a few ms, each after I/O (a sender's messages keep their order: it waits for
     * each). A burst
     * of them (`Effect.forEach` with concurrency runs each ask or tell in the caller's loop
     * until it suspends; the activations it forks are then one scheduler batch) would otherwise
     * make every activation, and its spawn, in one stretch of the event loop: seconds for tens
     * of thousands, with the node's lease timers, and so its renewals, starved past the renew
     * deadline (every shard lost, its entities stopped). With virtual time a slice is a count:
     * what runs in one tick must not depend on the machine's speed for a simulation to replay.
     */
    const virtualTime = !Kernel.isLiveClock(clock)
    let admitting: Array<() => void> = []
    let admitScheduled = false
    const admitSlice = () => {
      const start = performance.now()
      let i = 0
      while (i < admitting.length) {
        admitting[i++]!()
        if ((i & 15) === 0 && (virtualTime ? i >= ADMIT_SLICE_COUNT : performance.now() - start > ADMIT_SLICE_MILLIS)) {
          admitting = admitting.slice(i)
          setImmediate(admitSlice)
          return
        }
      }
      admitting = []
      admitScheduled = false
    }
    const admit = (f: () => void) => {
      admitting.push(f)
      if (!admitScheduled) {
        admitScheduled = true
        setImmediate(admitSlice)
      }
    }
    const admitted: Effect.Effect<void> = Effect.callback<void>((resume) => admit(() => resume(Effect.void)))

    const entityId = (type: string, key: string) => `${type}\u0000${key}`

    /** Waits until `target`'s mailbox has room, or its actor stops. */
    const roomIn = (target: Kernel.Target): Effect.Effect<void> =>
      Effect.callback<void>((resume) => {
        const cancel = target.waitForSpace(() => resume(Effect.void))
        return Effect.sync(cancel)
      })

    /** An entity's entry; its actor calls `StoppingHook` as it begins to stop (see `onEntityStopping`). */
    class Entry implements EntityEntry {
      readonly protocol: Actor.ActorProtocol<any>
      readonly init: Effect.Effect<any, any, any>
      readonly id: string
      readonly reg: Registered
      readonly shard: ShardState
      readonly key: string
      status: "starting" | "running" | "stopping" = "starting"
      ref: ActorRef<any> | undefined = undefined
      queue: Array<unknown> = []
      spawned: ActorRef<any> | undefined = undefined
      actor: Kernel.LocalActor | undefined = undefined
      seen = -1
      lastActive = now()
      stopKind: "passivated" | "stopped" = "stopped"
      context: EntityContextShape | undefined = undefined
      constructor(reg: Registered, shard: ShardState, key: string, id: string) {
        this.protocol = reg.entity.protocol
        this.init = entityInit(reg)
        this.id = id
        this.reg = reg
        this.shard = shard
        this.key = key
      }
      [Kernel.StoppingHook](actor: Kernel.LocalActor): void {
        onEntityStopping(this, actor)
      }
    }

    const entryFor = (state: ShardState, reg: Registered, key: string): EntityEntry => {
      const id = entityId(reg.entity.type, key)
      let entry = state.entities.get(id)
      if (entry === undefined) {
        entry = new Entry(reg, state, key, id)
        state.entities.set(id, entry)
        const fiber = fork(activate(state, entry).pipe(Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logWarning(`sharding: ${Cause.pretty(cause)}`)
        )))
        state.activating.add(fiber)
        fiber.addObserver(() => state.activating.delete(fiber))
      }
      return entry
    }

    /**
     * false when the entity is not running yet and the buffer is full: the tell is refused; the
     * error when the running entity refused it at once (its full `fail` mailbox)
     */
    const deliverLocal = (state: ShardState, reg: Registered, key: string, message: unknown): boolean | unknown => {
      const entry = entryFor(state, reg, key)
      if (entry.status === "running") {
        try {
          entry.ref!.tellUnsafe(message as any)
        } catch (e) {
          return e
        }
      } else {
        // bounded with the held messages: a key that cannot start does not grow the node
        if (buffered >= bufferSize) return false
        buffered++
        entry.queue.push(message)
      }
      return true
    }

    /** Stops an entity's actor: within the stop budget, then killed. */
    const stopActor = (ref: ActorRef<any>) => Kernel.awaitStop(ref, ExitReason.shutdown, t.stopBudgetMillis)

    /**
     * Stops a shard's entities: activations under way are interrupted (an init interrupted stops
     * its actor), then every actor spawned is stopped, all at once, each within the stop budget.
     */
    const stopEntities = (state: ShardState) =>
      Effect.gen(function*() {
        yield* Effect.forEach(Array.from(state.activating), Fiber.interrupt, { concurrency: "unbounded", discard: true })
        yield* Effect.forEach(
          Array.from(state.entities.values()),
          (entry) => (entry.spawned === undefined ? Effect.void : stopActor(entry.spawned)),
          { concurrency: "unbounded", discard: true }
        )
      })

    /**
     * Waits until the shard's running entities have handled what they were sent before it
     * stopped taking messages (its stop comes behind them, as Akka's handoff stop message does;
     * what reaches an entity later — an ask in flight from another node that asks it directly —
     * is not waited for): at most until its `drainUntil`, and never past its `validUntil` (while
     * its lease is surely held).
     */
    const drainEntities = (state: ShardState) =>
      Effect.gen(function*() {
        // what each entity had accepted into its mailbox when the drain began
        const marks: Array<[Kernel.LocalActor, number]> = []
        for (const entry of state.entities.values()) {
          if (entry.status === "running" && entry.actor !== undefined) marks.push([entry.actor, entry.actor.delivered])
        }
        const drained = ([actor, mark]: [Kernel.LocalActor, number]) => {
          if (!actor.isAlive) return true
          // taken out of its mailbox: handled, or being handled (one at a time)
          const taken = actor.delivered - actor.mailbox.size
          return taken > mark || (taken >= mark && !actor.busy && actor.forked === 0)
        }
        while (true) {
          const end = Math.min(state.drainUntil, state.validUntil)
          if (now() >= end || marks.every(drained)) return
          yield* Effect.sleep(Math.max(1, Math.min(10, end - now())))
        }
      })

    /**
     * Moves what an entry queued to the shard's held queue (its shard is stopping, or it
     * stopped); an ask taken from its actor's mailbox fails with `NoProc` (not delivered: its
     * asker routes it again, to the shard's next owner).
     */
    const requeue = (state: ShardState, entry: EntityEntry) => {
      const queue = entry.queue
      entry.queue = []
      buffered -= queue.length
      for (const message of queue) {
        if (message instanceof QueuedAsk) message.reply(Exit.fail(new NoProc({ actor: `${entry.reg.entity.type}/${entry.key}` })))
        else holdTell(state.shard, entry.reg, entry.key, message, 0)
      }
    }

    /** Drops what an entry queued (its activation failed): its asks fail with `error`; returns the count of tells dropped. */
    const dropQueue = (entry: EntityEntry, error: ShardingError): number => {
      const queue = entry.queue
      entry.queue = []
      buffered -= queue.length
      let tells = 0
      for (const message of queue) {
        if (message instanceof QueuedAsk) message.reply(Exit.fail(error))
        else tells++
      }
      return tells
    }

    const activate = (state: ShardState, entry: EntityEntry) =>
      Effect.gen(function*() {
        // after the caller that made the entry has queued its message or its wait for it
        yield* admitted
        // recorded as it is spawned, so that the shard's stop finds it even if this fiber is interrupted just after
        const ref = yield* Effect.uninterruptibleMask((restore) =>
          restore(
            spawnEntity(entry).pipe(
              // bounded as a held message's wait is: an init that never ends must not hold its tells (and the node's buffer) for good
              Effect.timeoutOrElse({
                duration: holdMillis,
                orElse: () => Effect.fail(new Error(`it did not complete within ${holdMillis} ms`))
              })
            )
          ).pipe(Effect.tap((ref) =>
            Effect.sync(() => {
              entry.spawned = ref
            })
          ))
        )
        if (entry.status !== "starting") {
          // the shard is stopping (it may have looked for this actor before it was spawned)
          yield* stopActor(ref)
          return
        }
        if (Option.isNone(system.info(ref))) {
          // it stopped during its start (its finalizer found no ref to match)
          if (state.entities.get(entry.id) === entry) state.entities.delete(entry.id)
          const error = new ShardingError({ reason: "ActivationFailed", entityType: entry.reg.entity.type, key: entry.key, message: "it stopped as it started" })
          dropQueue(entry, error)
          return
        }
        entry.ref = ref
        entry.status = "running"
        const queue = entry.queue
        entry.queue = []
        buffered -= queue.length
        for (const message of queue) {
          if (message instanceof QueuedAsk) {
            // as the tells: past a full mailbox under back-pressure, refused under `fail`
            const target = Kernel.targetOf(ref)
            const result = target.offer(message.message, message.reply, message.sender)
            if (result === Kernel.Offer.Full) target.offer(message.message, message.reply, message.sender, true)
            else if (result === Kernel.Offer.Rejected) message.reply(Exit.fail(ref.mailboxFull(target)))
            else if (result === Kernel.Offer.Dead) message.reply(Exit.fail(new NoProc({ actor: ref.key })))
            continue
          }
          try {
            ref.tellUnsafe(message as any)
          } catch (e) {
            tellRefused(entry.reg.entity.type, entry.key, e)
          }
        }
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.gen(function*() {
            if (state.entities.get(entry.id) === entry) state.entities.delete(entry.id)
            if (state.status !== "active" || entry.status !== "starting") {
              // the shard stops: what waited goes to its next owner
              requeue(state, entry)
              flush(state.shard)
              return
            }
            const text = Cause.pretty(cause).split("\n")[0]
            const error = new ShardingError({ reason: "ActivationFailed", entityType: entry.reg.entity.type, key: entry.key, message: text })
            const dropped = dropQueue(entry, error)
            yield* Effect.logWarning(
              `sharding: activation of ${entry.reg.entity.type}/${entry.key} failed: ${text}${dropped > 0 ? ` (dropped ${dropped} tell${dropped === 1 ? "" : "s"} sent to it)` : ""}`
            )
          })
        )
      )

    /**
     * Asks an entity that does not run yet (starting, or stopping: its next activation): the ask
     * is queued with the tells sent to it meanwhile, in the order sent, and its activation
     * delivers them all. Its outcome is the entity's answer (an `Exit`), or `NoProc` if the shard
     * stopped first (not delivered: routed again); `None` past `remainingMillis`.
     */
    const askQueued = (entry: EntityEntry, message: unknown, sender: ActorRef<any> | undefined, remainingMillis: number) =>
      Effect.callback<Exit.Exit<unknown, unknown>, ShardingError>((resume) => {
        if (buffered >= bufferSize) return resume(Effect.fail(bufferFull(entry.reg.entity.type, entry.key)))
        buffered++
        let done = false
        const reply: Kernel.Reply = (exit) => {
          if (done) return
          done = true
          resume(Effect.succeed(exit))
        }
        const queued = new QueuedAsk(message, reply, sender)
        entry.queue.push(queued)
        return Effect.sync(() => {
          if (done) return
          done = true
          // still queued here: taken out (moved to a next activation, it is delivered and its answer ignored)
          const i = entry.queue.indexOf(queued)
          if (i >= 0) {
            entry.queue.splice(i, 1)
            buffered--
          }
        })
      }).pipe(Effect.timeoutOption(remainingMillis))

    /**
     * The caller's context an entity's actor is spawned in: the runtime's, with `Sharding` (made
     * once: every actor spawned from one context shares what it derives from it).
     */
    let spawnBase: Context.Context<any> | undefined
    let spawnContext: Context.Context<any> | undefined
    const withSharding = (context: Context.Context<any>): Context.Context<any> => {
      if (context !== spawnBase) {
        spawnBase = context
        spawnContext = Context.add(context, Sharding, service)
      }
      return spawnContext!
    }
    const spawnEntity = (entry: EntityEntry) =>
      Effect.updateContext(
        system.spawn(entry as Actor.Behavior<any, any, any>, { mailbox: entry.reg.entity.mailbox }),
        withSharding
      ) as Effect.Effect<ActorRef<any>, unknown>

    /**
     * The init of an entity type's actors: the user's behaviour with its context, durable state
     * and restart rules. Made once per type; each actor finds its entry from its context.
     */
    const entityInit = (reg: Registered): Effect.Effect<any, any, any> => {
      if (reg.init !== undefined) return reg.init
      const entity = reg.entity
      const { type } = entity
      const stateSchema = entity.state?.schema
      const encodeState = stateSchema !== undefined ? encoderFor(stateSchema) : undefined
      const decodeState = stateSchema !== undefined ? decoderFor(stateSchema) : undefined

      /** one incarnation (run again by an in-place restart: its state is loaded again) */
      const incarnation = Effect.fnUntraced(function*(actx: ActorContextShape) {
        const entry = entryOf(actx)
        const state = entry.shard
        const key = entry.key
        const lease = state.lease
        if (entity.state === undefined) {
          // nothing to save: the context goes into the actor's own (once: it does not change
          // across restarts) and its handlers run as written, with no wrapper per message
          let ctx = entry.context
          if (ctx === undefined) {
            ctx = entry.context = { entityType: type, entityKey: key, shard: state.shard, epoch: lease.epoch, node: selfName, state: undefined }
            Kernel.provideToHandlers(actx, (c) => Context.add(c, EntityContext, ctx!))
          }
          return yield* Effect.provideService(entity.behavior.init, EntityContext, ctx)
        }
        let value: unknown
        let dirty = false
        // a write of an earlier incarnation or activation of the key, under this same lease (so
        // the fence lets it through), may still be on its way: loaded before it lands, the state
        // would miss it, and its late landing would undo what this incarnation saves
        const inFlight = state.saves?.get(entry.id)
        if (inFlight !== undefined) yield* Fiber.await(inFlight)
        const saved = yield* store.loadState(type, key)
        // the load may have outlasted the lease (a slow store, a pause): the state read must not
        // be served under a lease that lapsed meanwhile
        if (lapsed(state)) return yield* Effect.die(leaseLapsed(type, key, "while its state was loaded"))
        if (Option.isSome(saved)) {
          const decoded = decodeState!(JSON.parse(saved.value))
          if (Exit.isFailure(decoded)) {
            return yield* Effect.die(new Error(`the saved state of ${type}/${key} does not decode: ${issueOf(decoded)}`))
          }
          value = decoded.value
        } else {
          const initial = entity.state.initial
          value = typeof initial === "function" ? (initial as (k: string) => unknown)(key) : initial
        }
        const handle: EntityState<unknown> = {
          get: Effect.sync(() => value),
          set: (v) =>
            Effect.sync(() => {
              if (v !== value) dirty = true
              value = v
            }),
          update: (f) =>
            Effect.sync(() => {
              const v = f(value)
              if (v !== value) dirty = true
              value = v
            })
        }
        const ctx: EntityContextShape = { entityType: type, entityKey: key, shard: state.shard, epoch: lease.epoch, node: selfName, state: handle }
        const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, EntityContext, ctx)
        // one write of the key at a time (forked handlers save concurrently): a later save, which
        // writes the newer value, must not reach the store before an earlier one still in flight.
        // The write runs in a fiber of its own, kept in the shard's `saves` until it settles: its
        // handler may be interrupted (its actor stopping) once the request is sent, and the
        // request goes on; what comes next (a save, the next incarnation's load) waits for it
        /** The outcome of a write of this key, as its handler's: a write refused or failed is the handler's failure. */
        const settled = (write: Fiber.Fiber<void, ShardStore.ShardStoreError | ShardStore.StaleEpoch>): Effect.Effect<void> =>
          Fiber.join(write).pipe(
            Effect.catchTag("StaleEpoch", (e) =>
              Effect.sync(() => loseShard(state, `a fenced write was refused: ${e.message}`)).pipe(
                Effect.andThen(Effect.die(new ShardingError({ reason: "ShardLost", entityType: type, key, message: e.message })))
              )),
            Effect.catchTag("ShardStoreError", (e) => Effect.die(stateNotSaved(type, key, e.message)))
          )
        /** After a handler: its change saved. `reply`: an ask's (its reply acknowledges what it saw). */
        const save = (reply: boolean): Effect.Effect<void> => Effect.suspend(() => {
          if (!dirty) {
            // nothing changed since the last write began, but that write may still be on its way
            // with this ask's change in it (a concurrent handler's save took it, or the ask read
            // what it holds): the reply waits until it has landed, and fails with it
            const pending = reply ? state.saves?.get(entry.id) : undefined
            return pending === undefined ? Effect.void : settled(pending)
          }
          // a forked handler goes on across an in-place restart: what it changed is the state of
          // an incarnation that ended, and its write would undo what the next one saved since
          if (ended) return Effect.die(stateNotSaved(type, key, "its incarnation ended (the entity restarted or stopped) before its state was saved"))
          const saves = state.saves ??= new Map()
          const previous = saves.get(entry.id)
          if (previous !== undefined) return Effect.andThen(Fiber.await(previous), save(reply))
          dirty = false
          const encoded = encodeState!(value)
          if (Exit.isFailure(encoded)) {
            return Effect.die(stateNotSaved(type, key, `the state does not encode: ${issueOf(encoded)}`))
          }
          // (forked in the handler's context: the store's calls see its clock)
          return Effect.forkDetach(store.saveState(type, key, lease, JSON.stringify(encoded.value))).pipe(
            Effect.flatMap((write) => {
              if (write.pollUnsafe() === undefined) {
                saves.set(entry.id, write)
                write.addObserver(() => {
                  if (saves.get(entry.id) === write) saves.delete(entry.id)
                })
              }
              return settled(write)
            })
          )
        })
        // set as the incarnation's scope closes (an in-place restart, or the actor stopping)
        let ended = false
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            ended = true
          })
        )
        const handlers: Record<string, any> = yield* provide(entity.behavior.init)
        const wrapped: Record<string, any> = {}
        for (const tag of Object.keys(entity.protocol.defs)) {
          const h = handlers[tag]
          const saved = save(Actor.isAsk(entity.protocol, tag))
          wrapped[tag] = (message: unknown) => {
            const effect = h(message)
            const run = provide(effect).pipe(Effect.exit, Effect.flatMap((exit) => Effect.andThen(saved, exit)))
            return effect[Actor.ForkTypeId] === true ? Actor.fork(run) : run
          }
        }
        if (handlers.onDown !== undefined) wrapped.onDown = (d: unknown) => provide(handlers.onDown(d))
        if (handlers.onExit !== undefined) wrapped.onExit = (e: unknown) => provide(handlers.onExit(e))
        return wrapped
      })
      const inner: Actor.Behavior<any, any, any> = { protocol: entity.protocol, init: ActorContext.use(incarnation) }
      // a lost shard stops its entities: never restarted in place
      const rules: Array<Supervise.Rule> = [
        { match: (e) => e instanceof ShardingError && e.reason === "ShardLost", directive: "stop" },
        ...entity.restart
      ]
      // a failing activation is the runtime's to handle (its waiting messages fail with
      // ActivationFailed at once; the next message, or a singleton's next round, tries again)
      const supervised = Supervise.behavior(inner, rules, { retryStart: false })
      return reg.init = ActorContext.use((actx) => {
        const entry = entryOf(actx)
        const state = entry.shard
        const self = actx.self
        // the lease is checked again here, not only by the watchdog and the first message of a
        // turn: an activation under way when the process paused (SIGSTOP, a VM stall) past its
        // lease must not start under the lease it lost once the process resumes
        if (lapsed(state)) return Effect.die(leaseLapsed(type, entry.key, "as it started"))
        entry.actor = Kernel.localOf(actx)
        emit({ kind: "activated", entityType: type, key: entry.key, node: selfName, owner: selfId, shard: state.shard, epoch: state.lease.epoch, at: wall() })
        return Effect.andThen(Effect.addFinalizer(() => Effect.sync(() => onEntityStopped(state, entry, self))), supervised.init)
      })
    }

    const stateNotSaved = (type: string, key: string, message: string) =>
      new ShardingError({ reason: "StateNotSaved", entityType: type, key, message })

    const onEntityStopped = (state: ShardState, entry: EntityEntry, ref: ActorRef<any>) => {
      emit({
        kind: entry.stopKind,
        entityType: entry.reg.entity.type,
        key: entry.key,
        node: selfName,
        owner: selfId,
        shard: state.shard,
        epoch: state.lease.epoch,
        at: wall()
      })
      // a start that failed is the activation's to report (to what waits for it), not to retry here
      if (state.entities.get(entry.id) !== entry || entry.ref === undefined || !entry.ref.equals(ref)) return
      state.entities.delete(entry.id)
      entry.status = "stopping"
      state.leftRunning++
      if (entry.queue.length === 0) return
      if (state.status === "active") {
        // messages came while it stopped: a new activation takes them, in order (still counted
        // in `buffered` until it runs)
        const next = entryFor(state, entry.reg, entry.key)
        next.queue = entry.queue
        entry.queue = []
        next.lastActive = now()
      } else {
        requeue(state, entry)
      }
    }

    /**
     * An entity's actor begins to stop — it stopped itself, failed past its restarts, was
     * passivated or stopped with its shard: what is sent to the key from now on waits for its
     * next activation here (or, its shard stopping, for the next owner), and what its mailbox
     * still holds goes first (`onEntityStopped` hands it on): a message never meets a stopping
     * entity.
     */
    const onEntityStopping = (entry: EntityEntry, actor: Kernel.LocalActor) => {
      const state = entry.shard
      if (entry.actor !== actor || state.entities.get(entry.id) !== entry) return
      if (entry.status === "running") {
        entry.status = "stopping"
        state.leftRunning++
      } else if (entry.status !== "stopping") {
        // it failed as it started: its activation reports that to what waits for it
        return
      }
      const taken = Kernel.takeQueued(actor)
      if (taken.length === 0) return
      const messages: Array<unknown> = []
      for (const q of taken) messages.push(q.reply === undefined ? q.message : new QueuedAsk(q.message, q.reply, q.sender))
      // accepted before what came since it was marked stopping
      entry.queue = entry.queue.length === 0 ? messages : messages.concat(entry.queue)
      buffered += messages.length
    }

    const passivate = (state: ShardState, entry: EntityEntry) => {
      entry.status = "stopping"
      state.leftRunning++
      entry.stopKind = "passivated"
      run(stopActor(entry.ref!))
    }

    // -------------------------------------------------------------------------
    // shards
    // -------------------------------------------------------------------------

    /** Stops a shard's entities, then gives its lease up (`release`) or lets it go (`lost`). */
    const stopShard = (state: ShardState, why: "handoff" | "lost", detail: string) => {
      if (state.status === "stopping") {
        // lost while its handoff drains: its entities stop now
        if (why === "lost") state.drainUntil = 0
        return
      }
      // a handoff lets the entities handle what they were sent first
      beginStop(state, why === "handoff" ? now() + holdMillis : 0)
      run(Effect.gen(function*() {
        yield* drainEntities(state)
        yield* stopEntities(state)
        if (why === "handoff" && shardStates.get(state.shard) === state) yield* forwardHeld([state])
        if (why === "handoff" || shardStates.get(state.shard) === state) {
          // a lost lease of the same epoch is released too, so the next owner need not wait for it to expire
          yield* store.release(selfId, [state.lease]).pipe(Effect.timeout(t.renewIntervalMillis), Effect.ignore)
        }
        for (const entry of state.entities.values()) requeue(state, entry)
        state.entities.clear()
        if (shardStates.get(state.shard) === state) shardStates.delete(state.shard)
        if (owners[state.shard] === selfId) owners[state.shard] = undefined
        routesChanged()
        emit({
          kind: why === "handoff" ? "shardReleased" : "shardLost",
          node: selfName,
          owner: selfId,
          shard: state.shard,
          epoch: state.lease.epoch,
          at: wall(),
          reason: detail
        })
        flush(state.shard)
      }))
    }
    const loseShard = (state: ShardState, detail: string) => stopShard(state, "lost", detail)

    /**
     * Before handed-off shards' leases are released (a handoff, or a graceful stop): what this
     * node holds for them (tells that came while their entities drained, and those queued for
     * entities that did not come to run) goes to the members that should own them next, and
     * those members have received it — their node actors answered an ask sent after them on
     * the same connection — so each holds them before it can acquire the shard, and delivers
     * them before what senders send it once it owns the shard, however slow the link from here.
     * Bounded by a lease TTL (a next owner that cannot be reached does not hold the shards up
     * longer), and by the leases' renewals.
     */
    const forwardHeld = (states: ReadonlyArray<ShardState>) =>
      Effect.gen(function*() {
        for (const state of states) {
          state.forwarding = true
          for (const entry of state.entities.values()) requeue(state, entry)
          state.entities.clear()
          flush(state.shard)
        }
        const until = now() + t.leaseTtlMillis
        // (with no member to take a shard over, nothing is sent: nothing to wait for)
        const waiting = (s: ShardState) => now() < Math.min(until, s.validUntil) && s.drainUntil !== 0 && nextOwner(s.shard) !== undefined
        const holding = (s: ShardState) => held.get(s.shard)?.some((item) => item.kind === "tell") ?? false
        // sent once the next owner's region is known (a lookup, then `flushAll`)
        while (states.some((s) => waiting(s) && holding(s))) yield* Effect.sleep(10)
        let end = until
        const targets = new Set<string>()
        for (const s of states) {
          if (!waiting(s)) continue
          end = Math.min(end, s.validUntil)
          const target = nextOwner(s.shard)
          if (target !== undefined) targets.add(target)
        }
        yield* Effect.forEach(targets, (target) => {
          const ref = nodeRefs.get(target)
          return ref === undefined ? Effect.void : ref.ask(NodeProtocol.Owner(), { timeout: Math.max(1, end - now()) }).pipe(Effect.ignore)
        }, { concurrency: "unbounded", discard: true })
      })

    /** The shard takes no more messages (they are held, for its next owner); `drainUntil`: see `drainEntities`. */
    const beginStop = (state: ShardState, drainUntil: number) => {
      state.status = "stopping"
      state.drainUntil = drainUntil
      for (const entry of state.entities.values()) {
        if (entry.status === "starting") entry.status = "stopping"
        entry.stopKind = "stopped"
      }
    }

    const addShard = (lease: ShardStore.Lease, sentAt: number) => {
      const state: ShardState = {
        shard: lease.shard,
        lease,
        status: "active",
        validUntil: sentAt + t.renewDeadlineMillis,
        drainUntil: 0,
        activating: new Set(),
        entities: new Map(),
        leftRunning: 0,
        forwarding: false,
        saves: undefined
      }
      shardStates.set(lease.shard, state)
      if (lease.epoch > heldEpochs[lease.shard]!) heldEpochs[lease.shard] = lease.epoch
      routesChanged()
      validFloor = Math.min(validFloor, state.validUntil)
      owners[lease.shard] = selfId
      emit({ kind: "shardAcquired", node: selfName, owner: selfId, shard: lease.shard, epoch: lease.epoch, at: wall() })
      startSingletons(state)
      flush(lease.shard)
    }

    const startSingletons = (state: ShardState) => {
      for (const reg of registry.values()) {
        if (!reg.entity.singleton) continue
        const key = reg.entity.type
        if (Hash.shardOf(key, shards) === state.shard && !state.entities.has(entityId(reg.entity.type, key))) {
          entryFor(state, reg, key)
        }
      }
    }

    // -------------------------------------------------------------------------
    // membership: self and the peers up (failure detector) that run sharding
    // -------------------------------------------------------------------------

    /** A peer the failure detector (or a refused send) says is down: not a member until probed again. */
    const forgetMember = (owner: string) => {
      if (!members.has(owner)) return
      members.delete(owner)
      routesChanged()
      confirmed.delete(owner)
      placementMembers = memberNames()
    }

    /**
     * A member says it stops gracefully: from now on, what this node sends for its shards is held
     * here until their next owner has them, so nothing is sent to it as its regions go away; and
     * its shards are placed on the others at once (acquired once it has given them up).
     */
    const memberLeaving = (owner: string) => {
      if (owner === selfId) return
      leaving.add(owner)
      forgetMember(owner)
      nodeRefs.delete(owner)
    }

    const refreshMembers = () => {
      if (node === undefined) return
      const next = new Map<string, string>()
      const listed = new Set<string>()
      for (const p of node.peers()) {
        if (p.node !== undefined) listed.add(nodeKey(p.node))
        if (!p.up || p.node === undefined || p.listen === undefined) continue
        const id = nodeKey(p.node)
        if (leaving.has(id) || proxyRefs.has(id)) continue
        if (confirmed.has(id)) {
          next.set(id, p.name)
        } else if (!probing.has(id)) {
          probing.add(id)
          run(
            node.lookup(p.name, NodeProtocol, NODE_NAME, { timeout: "2 seconds" }).pipe(
              Effect.tap((ref) =>
                Effect.sync(() => {
                  if (nodeKey(ref.address.node) !== id || leaving.has(id)) return
                  confirmed.add(id)
                  nodeRefs.set(id, ref)
                })
              ),
              // not a member: a proxy, if it has a proxy's node actor (a hosting node tells it when it leaves)
              Effect.catchTag("ActorNotFound", () =>
                config.hosting
                  ? Effect.tap(node.lookup(p.name, NodeProtocol, PROXY_NAME, { timeout: "2 seconds" }), (ref) =>
                    Effect.sync(() => {
                      if (nodeKey(ref.address.node) === id) proxyRefs.set(id, ref)
                    }))
                  : Effect.void),
              Effect.ignore,
              Effect.ensuring(Effect.sync(() => probing.delete(id)))
            )
          )
        }
      }
      for (const id of confirmed) if (!next.has(id)) confirmed.delete(id)
      for (const id of nodeRefs.keys()) if (!confirmed.has(id)) nodeRefs.delete(id)
      for (const id of proxyRefs.keys()) if (!listed.has(id)) proxyRefs.delete(id)
      // an incarnation gone from the peers will not come back (a restart is another id)
      for (const id of leaving) if (!listed.has(id)) leaving.delete(id)
      members = next
      routesChanged()
      placementMembers = memberNames()
    }

    // -------------------------------------------------------------------------
    // the lease loop
    // -------------------------------------------------------------------------

    const storeCall = <A, E>(effect: Effect.Effect<A, E>) =>
      effect.pipe(Effect.timeout(t.renewIntervalMillis), Effect.result)

    const startedAt = now()
    /** set once `minMembers` members were seen: from then on, shards are placed among whoever is up */
    let enoughMembers = config.minMembers <= 1
    /**
     * Whether this node's view of the members is worth acquiring by: once `minMembers` were seen,
     * and on a node with peers, not before a renew interval since start (its seeds connect and are
     * probed meanwhile) — else a node starting with others would take every free shard, then hand
     * most of them off.
     */
    const settledMembers = () => {
      if (!enoughMembers) {
        if (placementMembers.length < config.minMembers) return false
        enoughMembers = true
      }
      return node === undefined || now() - startedAt >= t.renewIntervalMillis || node.peers().length === 0
    }

    /** set when the layer closes: the loops change nothing more */
    let closing = false
    /**
     * monotonic ms: until then, the tells held for shards this node should own are kept past
     * their hold limit (Infinity while its lease reads fail; a hold limit once they succeed again)
     */
    let storeCutEnd = 0

    /**
     * Renews every lease held, in one call (also while the node stops: its entities drain). Its
     * own loop, one call every `renewInterval` from the previous send, whatever the lease reads
     * and acquisitions of the placement round take: a renewal is confirmed before the renew
     * deadline as long as one store call takes less than a renew interval.
     */
    const renewLeases = Effect.gen(function*() {
      const renewing = Array.from(shardStates.values())
      if (renewing.length === 0) return
      const sentAt = now()
      const renewed = yield* storeCall(store.renew(selfId, renewing.map((s) => s.lease), ttl))
      if (renewed._tag === "Success") {
        const kept = new Set(renewed.success.filter((l) => l.owner === selfId).map((l) => `${l.shard}/${l.epoch}`))
        for (const s of renewing) {
          if (shardStates.get(s.shard) !== s) continue
          if (kept.has(`${s.shard}/${s.lease.epoch}`)) s.validUntil = Math.max(s.validUntil, sentAt + t.renewDeadlineMillis)
          else loseShard(s, "the store no longer has this node's lease")
        }
        validFloor = Infinity
        for (const s of shardStates.values()) if (s.status === "active") validFloor = Math.min(validFloor, s.validUntil)
      } else {
        yield* Effect.logDebug(`sharding: renewing ${renewing.length} leases failed: ${String(renewed.failure)}`)
      }
    })
    const renewLoop = Effect.gen(function*() {
      while (true) {
        const t0 = now()
        yield* renewLeases.pipe(Effect.catchCause((cause) => Effect.logWarning(`sharding: ${Cause.pretty(cause)}`)))
        yield* Effect.sleep(Math.max(1, t0 + t.renewIntervalMillis - now()))
      }
    })

    /** A placement round: who owns what, handoffs and acquisitions, passivation, held messages. */
    const tick = Effect.gen(function*() {
      if (closing) return
      // 1. who owns what (for routing)
      const all = yield* storeCall(store.leases())
      if (all._tag === "Failure") storeCutEnd = Infinity
      else if (storeCutEnd === Infinity) storeCutEnd = now() + holdMillis
      if (all._tag === "Success") {
        owners.fill(undefined)
        staleLeases.clear()
        for (const l of all.success) {
          if (l.shard < 0 || l.shard >= shards) continue
          owners[l.shard] = l.owner
          if (l.owner === selfId && !shardStates.has(l.shard) && l.epoch <= heldEpochs[l.shard]!) staleLeases.set(l.shard, l)
        }
        for (const s of shardStates.values()) owners[s.shard] = selfId
        routesChanged()
      }
      // 2. placement: hand off what another member should own, acquire what this node should
      refreshMembers()
      const want: Array<number> = []
      for (let shard = 0; shard < shards; shard++) {
        const desired = desiredOwner(shard)
        const local = shardStates.get(shard)
        if (desired === selfName) {
          // a lease of an epoch this node already held: left to expire (or given back), see `heldEpochs`
          if (local === undefined && !staleLeases.has(shard)) want.push(shard)
        } else if (local !== undefined && local.status === "active") {
          stopShard(local, "handoff", `${desired} joined`)
        }
      }
      if (want.length > 0 && !closing && config.hosting && settledMembers()) {
        const sentAt = now()
        const acquired = yield* storeCall(store.acquire(selfId, want, ttl))
        if (acquired._tag === "Success") {
          const giveBack: Array<ShardStore.Lease> = []
          // an answer read past the renew deadline of its send (the node paused, or the answer
          // and the call's timeout both late): the leases may have expired and been taken since
          const late = now() >= sentAt + t.renewDeadlineMillis
          for (const lease of acquired.success) {
            if (lease.owner !== selfId || shardStates.has(lease.shard)) continue
            if (lease.epoch <= heldEpochs[lease.shard]!) {
              staleLeases.set(lease.shard, lease)
              giveBack.push(lease)
              continue
            }
            // the node began to stop while acquiring (its stop drains and releases the shards it
            // had then, no others), or placement changed: given back at once
            if (!closing && !late && desiredOwner(lease.shard) === selfName) addShard(lease, sentAt)
            else giveBack.push(lease)
          }
          if (giveBack.length > 0) yield* store.release(selfId, giveBack).pipe(Effect.timeout(t.renewIntervalMillis), Effect.ignore)
        }
      }
      if (staleLeases.size > 0 && all._tag === "Success") {
        // given back (again: the release as the shard stopped may have been lost), so that the
        // next acquisition gets a new epoch without waiting for the lease to expire
        const stale = Array.from(staleLeases.values())
        run(store.release(selfId, stale).pipe(Effect.timeout(t.renewIntervalMillis), Effect.ignore))
      }
      // 3. passivation and singletons: an entity is busy at a round when messages were delivered
      // to it since the previous one, wait in its mailbox, or one is being handled (a handler
      // longer than passivateAfter, run in the actor's turn or forked with `Actor.fork`, is not
      // interrupted by a passivation: the entity is not idle);
      // nothing is counted per message here
      const t0 = now()
      for (const s of shardStates.values()) {
        if (s.status !== "active") continue
        for (const entry of s.entities.values()) {
          const after = entry.reg.entity.passivateAfterMillis
          if (after === undefined || entry.status !== "running") continue
          const actor = entry.actor
          if (actor !== undefined && (actor.delivered !== entry.seen || actor.mailbox.size > 0 || actor.busy || actor.forked > 0)) {
            entry.seen = actor.delivered
            entry.lastActive = t0
          } else if (t0 - entry.lastActive > after) passivate(s, entry)
        }
        startSingletons(s)
      }
      // 4. what is held may go now
      flushAll()
    })

    /**
     * Stops every shard whose last successful renew was sent longer than the renew deadline ago;
     * returns the earliest end of the others' validity (Infinity: none).
     */
    const expireLeases = (t0: number): number => {
      let next = Infinity
      if (!closing) for (const s of shardStates.values()) {
        if (s.status !== "active") continue
        if (s.validUntil <= t0) loseShard(s, `no renewal confirmed within ${t.renewDeadlineMillis} ms`)
        else next = Math.min(next, s.validUntil)
      }
      return next
    }
    const watchdog = Effect.gen(function*() {
      while (true) {
        const t0 = now()
        const next = Math.min(t0 + t.renewIntervalMillis, expireLeases(t0))
        yield* Effect.sleep(Math.max(1, next - t0))
      }
    })
    /**
     * The watchdog's check, made again by the first message of each turn of the event loop that
     * reaches a shard held here: a process that resumes after a pause (SIGSTOP, a VM or GC
     * stall) runs the I/O that waited before its overdue timers, and the shards whose leases
     * it may have lost meanwhile must stop before they serve any of it. One clock read per turn
     * (`validFloor`, the earliest validity, tells whether any shard is due).
     */
    let turnChecked = false
    let validFloor = Infinity
    const endTurn = () => {
      turnChecked = false
    }
    /** Expires the leases past their safe time, now (the earliest of them is `validFloor`). */
    const expireLapsed = () => {
      const t0 = now()
      if (t0 >= validFloor) validFloor = expireLeases(t0)
    }
    const checkLeases = () => {
      if (turnChecked) return
      turnChecked = true
      setImmediate(endTurn)
      expireLapsed()
    }
    /**
     * Whether `state` is no longer held here, its lease checked now (not once per turn): an
     * entity's start checks it, since the process may have paused past the lease while the
     * activation was under way, and what resumes first is that activation.
     */
    const lapsed = (state: ShardState): boolean => {
      expireLapsed()
      return state.status !== "active"
    }
    const leaseLapsed = (entityType: string, key: string, when: string) =>
      new ShardingError({ reason: "ShardLost", entityType, key, message: `its shard's lease lapsed ${when}` })

    // -------------------------------------------------------------------------
    // asks
    // -------------------------------------------------------------------------

    /**
     * A timeout rounded up to 50 ms: asks with one timeout share one deadline queue and timer
     * (ActorRef), so the time left of an ask is not a new timeout every time.
     */
    const bucket = (millis: number) => Math.max(50, Math.ceil(millis / 50) * 50)

    /** what is left of an ask's timeout after `elapsedMillis` */
    const timeLeft = (timeoutMillis: number, elapsedMillis: number) => Math.max(1, Math.min(timeoutMillis, timeoutMillis - elapsedMillis))

    const notOwner = (shard: number): Reply => ({ _tag: "NotOwner", owner: owners[shard] ?? null })

    /**
     * Asks entity `key`, wherever it lives; retries while its shard has no owner or moves, until
     * `deadline`. `remote`: the request came from another node's region (then this node answers
     * for its own shards only, and `NotOwner` otherwise).
     */
    const askEntity = (
      reg: Registered,
      key: string,
      message: { readonly _tag: string },
      timeoutMillis: number,
      remote: boolean
    ): Effect.Effect<unknown, unknown> =>
      Effect.gen(function*() {
        const type = reg.entity.type
        const shard = Hash.shardOf(key, shards)
        const id = entityId(type, key)
        const deadline = now() + timeoutMillis
        let encoded: unknown = undefined
        let missingRegion = false
        /** NotOwner answers followed at once: one, then the next lease round (two stale views must not ping-pong) */
        let redirects = 0
        while (true) {
          const remaining = deadline - now()
          if (remaining <= 0) {
            if (missingRegion) {
              return yield* new ShardingError({
                reason: "UnknownEntityType",
                entityType: type,
                key,
                message: `the owner of shard ${shard} has no region for entity type ${type} (does it declare the entity?)`
              })
            }
            return yield* new AskTimeout({ actor: `${type}/${key}`, message: message._tag, timeoutMillis })
          }
          const local = shardStates.get(shard)
          if (remote && (local === undefined ? closing || desiredOwner(shard) !== selfName : local.status === "stopping")) {
            // a shard handed off or lost, or a node stopping: the asker holds the ask until the shard has an owner
            return { _tag: "NotOwner-local", reply: local === undefined && !closing ? notOwner(shard) : { _tag: "NotOwner", owner: null } }
          }
          if (!remote && local === undefined) {
            const d = directOf(id, shard)
            if (d !== undefined) {
              const got = yield* Effect.result(d.ref!.ask(message as any, { timeout: bucket(remaining) }))
              if (got._tag === "Success") return got.success
              const f = got.failure as { readonly _tag?: string; readonly reason?: unknown }
              if (f._tag === "NoProc") {
                // the entity stopped (passivated, its shard moved): not delivered; the region routes it
                forgetDirect(id, d)
                continue
              }
              if (f._tag === "NodeDown" || f._tag === "ActorStopped" || f._tag === "ProtocolMismatch") {
                forgetDirect(id, d)
                if (f._tag === "NodeDown" && f.reason === "not connected") {
                  // refused before it left: never sent, so routed again
                  forgetMember(d.owner)
                  continue
                }
              }
              return yield* Effect.fail(got.failure)
            }
          }
          const r = route(shard, reg)
          if (r._tag === "Local") {
            const entry = entryFor(r.state, reg, key)
            if (entry.status !== "running") {
              const sender = yield* Effect.withFiber((fiber) => Effect.succeed(Kernel.currentSelf(fiber)))
              const got = yield* askQueued(entry, message, sender, remaining)
              // its time is up (a timer may fire a little early): it may have been handed to the
              // entity already, so it is not sent again
              if (Option.isNone(got)) return yield* new AskTimeout({ actor: `${type}/${key}`, message: message._tag, timeoutMillis })
              // its shard stopped first: not delivered, routed again
              if (Exit.isFailure(got.value) && isNoProc(got.value.cause)) continue
              return yield* got.value
            }
            const ref = entry.ref!
            const answer = yield* Effect.result(ref.ask(message as any, { timeout: bucket(deadline - now()) }))
            if (answer._tag === "Success") return answer.success
            // its actor began to stop as the ask reached it: not delivered, and its entry no
            // longer runs (see `onEntityStopping`): it waits for the next activation
            if ((answer.failure as { readonly _tag?: unknown })._tag === "NoProc" && !(entry.status === "running" && entry.ref === ref)) continue
            return yield* Effect.fail(answer.failure)
          }
          if (r._tag === "Remote") {
            if (remote) return { _tag: "NotOwner-local", reply: notOwner(shard) }
            if (encoded === undefined) {
              const e = reg.encode(message)
              if (Exit.isFailure(e)) {
                return yield* new InvalidMessage({ actor: `${type}/${key}`, protocol: reg.entity.protocol.name, issue: issueOf(e) })
              }
              encoded = e.value
            }
            const sentAt = directSeq
            const sent = yield* r.region.ask(
              RegionProtocol.Ask({ key, message: encoded, timeoutMillis: Math.min(remaining, MAX_ASK_MILLIS) }),
              { timeout: bucket(remaining) }
            ).pipe(Effect.result)
            if (sent._tag === "Failure") {
              // refused before it left (the owner's node is not connected): never sent, so routed again
              if (sent.failure._tag === "NodeDown" && sent.failure.reason === "not connected") {
                forgetMember(r.owner)
                continue
              }
              if (sent.failure._tag === "NoProc") {
                // its node has no such region (any more: it is stopping): not delivered; routed
                // again at the next lease read (its next owner's, once its node has let it go)
                if (owners[shard] === r.owner) owners[shard] = undefined
                routesChanged()
                yield* waitChange(shard, type, key, deadline - now())
                continue
              }
              return yield* Effect.fail(sent.failure)
            }
            // decoded by the transport with the Reply schema already
            const v = sent.success as Reply
            switch (v._tag) {
              case "Ok": {
                if (v.entity !== undefined) learnDirect(id, r.owner, v.entity, sentAt)
                const out = decoderFor(reg.entity.protocol.defs[message._tag]!.success ?? Schema.Void)(v.value)
                if (Exit.isFailure(out)) {
                  return yield* new InvalidMessage({ actor: `${type}/${key}`, protocol: reg.entity.protocol.name, issue: `reply: ${issueOf(out)}` })
                }
                return out.value
              }
              case "Fail": {
                const out = decoderFor(reg.entity.protocol.defs[message._tag]!.error ?? Schema.Never)(v.error)
                if (Exit.isFailure(out)) {
                  return yield* new InvalidMessage({ actor: `${type}/${key}`, protocol: reg.entity.protocol.name, issue: `error: ${issueOf(out)}` })
                }
                return yield* Effect.fail(out.value)
              }
              case "Runtime": {
                const out = decodeRuntime(v.error)
                return yield* Effect.fail(Exit.isSuccess(out) ? out.value : new InvalidMessage({ actor: `${type}/${key}`, protocol: RegionProtocol.name, issue: "runtime error" }))
              }
              case "NotOwner": {
                // the owner we knew moved on: take its hint, or wait for the next lease read
                owners[shard] = v.owner !== null && v.owner !== r.owner ? v.owner : undefined
                routesChanged()
                if (owners[shard] !== undefined && redirects++ === 0) continue
              }
            }
          } else {
            missingRegion = r.missingRegion
          }
          yield* waitChange(shard, type, key, deadline - now())
        }
      })

    /** A request from another node's region, answered with an encoded `Reply`. */
    const remoteAsk = (reg: Registered, key: string, raw: unknown, timeoutMillis: number): Effect.Effect<Reply> =>
      Effect.suspend(() => {
        // as for local refs: a key with a lone surrogate would be another key once forwarded
        if (!key.isWellFormed()) return Effect.succeed(runtimeReply(malformedKey(reg, key)))
        const decoded = reg.decode(raw)
        if (Exit.isFailure(decoded)) {
          const error = new InvalidMessage({ actor: `${reg.entity.type}/${key}`, protocol: reg.entity.protocol.name, issue: issueOf(decoded) })
          return Effect.succeed(runtimeReply(error))
        }
        const message = decoded.value as { readonly _tag: string }
        if (!Actor.isAsk(reg.entity.protocol, message._tag)) {
          const error = new InvalidMessage({ actor: `${reg.entity.type}/${key}`, protocol: reg.entity.protocol.name, issue: `${message._tag} is not a request` })
          return Effect.succeed(runtimeReply(error))
        }
        const def = reg.entity.protocol.defs[message._tag]!
        const shard = Hash.shardOf(key, shards)
        const id = entityId(reg.entity.type, key)
        // the common case first: the entity runs here
        checkLeases()
        const local = shardStates.get(shard)
        const entry = local?.status === "active" ? local.entities.get(id) : undefined
        const asked = entry !== undefined && entry.status === "running"
          ? Effect.withFiber((fiber) =>
            askIn(entry.ref!, fiber, message, Duration.millis(bucket(timeoutMillis)), (exit, elapsed) =>
              // it began to stop: not delivered; routed as the first message to a key is
              isNoProc(exit.cause) ? Effect.suspend(() => askEntity(reg, key, message, timeLeft(timeoutMillis, elapsed), true)) : undefined)
          )
          : askEntity(reg, key, message, timeoutMillis, true)
        return asked.pipe(
          Effect.map((value): Reply => {
            if (typeof value === "object" && value !== null && (value as any)._tag === "NotOwner-local") return (value as any).reply
            const out = encoderFor(def.success)(value)
            if (Exit.isFailure(out)) {
              return runtimeReply(new InvalidMessage({ actor: `${reg.entity.type}/${key}`, protocol: reg.entity.protocol.name, issue: `reply: ${issueOf(out)}` }))
            }
            // the entity that answered, if it still runs here: the asker may ask it directly
            const s = shardStates.get(shard)
            const running = s?.status === "active" ? s.entities.get(id) : undefined
            return running !== undefined && running.status === "running"
              ? { _tag: "Ok", value: out.value, entity: running.ref! }
              : { _tag: "Ok", value: out.value }
          }),
          Effect.catchCause((cause): Effect.Effect<Reply> => {
            const error = Cause.findErrorOption(cause)
            if (error._tag === "Some") {
              if (isRuntimeError(error.value)) return Effect.succeed(runtimeReply(error.value))
              const out = encoderFor(def.error)(error.value)
              if (Exit.isSuccess(out)) return Effect.succeed({ _tag: "Fail", error: out.value })
            }
            return Effect.succeed(runtimeReply(new ActorStopped({ actor: `${reg.entity.type}/${key}`, reason: { _tag: "Error", message: Cause.pretty(cause).split("\n")[0] ?? "failed" } })))
          })
        )
      })

    const runtimeReply = (error: unknown): Reply => {
      const out = encodeRuntime(error)
      return { _tag: "Runtime", error: Exit.isSuccess(out) ? out.value : null }
    }

    // -------------------------------------------------------------------------
    // regions and the public service
    // -------------------------------------------------------------------------

    const regionBehavior = (reg: Registered) =>
      RegionProtocol.behavior(Effect.succeed({
        Deliver: ({ key, message, hops }) =>
          Effect.suspend(() => {
            if (!key.isWellFormed()) {
              return Effect.logWarning(`sharding: refused a message for ${reg.entity.type} from another node: ${malformedKey(reg, key).issue}`)
            }
            const decoded = reg.decode(message)
            if (Exit.isFailure(decoded)) {
              return Effect.logWarning(`sharding: refused a message for ${reg.entity.type}/${key} from another node: ${issueOf(decoded)}`)
            }
            const sent = dispatchTell(reg, key, decoded.value, hops + 1)
            if (sent !== true) tellRefused(reg.entity.type, key, sent)
            return Effect.void
          }),
        Ask: ({ key, message, timeoutMillis }) => Actor.fork(remoteAsk(reg, key, message, timeoutMillis))
      }))

    const register = (entity: Entity<any, any>): Effect.Effect<Registered> =>
      Effect.suspend(() => {
        const existing = registry.get(entity.type)
        if (existing !== undefined) {
          if (existing.entity === entity) return Effect.succeed(existing)
          // its refs would send with the first definition's protocol, to its behaviour
          return Effect.die(new Error(
            `Sharding: entity type ${entity.type} is already hosted on ${selfName} with another definition (protocol ${existing.entity.protocol.name}); define each entity type once (Entity.make) and use that value everywhere`
          ))
        }
        const reg: Registered = { entity, encode: encoderFor(entity.protocol.schema), decode: decoderFor(entity.protocol.schema), init: undefined }
        registry.set(entity.type, reg)
        // a proxy owns no shard: nobody sends to it
        if (!config.hosting) return Effect.succeed(reg)
        return system.spawn(regionBehavior(reg), { name: regionName(entity.type) }).pipe(
          Effect.orDie,
          Effect.andThen(Effect.sync(() => {
            for (const s of shardStates.values()) if (s.status === "active") startSingletons(s)
            return reg
          }))
        )
      })

    /**
     * An entity's ref. It remembers the running entity it reached last — here, or on another
     * node asked directly — and checks it before each use, so an ask to a running entity looks
     * nothing up by its id.
     */
    class Ref implements EntityRef<any> {
      // what an ask to a running entity reads comes first (fields are laid out in this order):
      // with many keys, each ref is a cache miss per line of it that an ask reads
      /** `routeEpoch` when an ask last found its way usable: the next one takes it again unchecked */
      routeSeen = -1
      /** that way: the shard's state here (the running entity here), or undefined (`direct`'s entity) */
      routeLocal: ShardState | undefined = undefined
      readonly shard: number
      /** the actor of `entry` while it runs: valid while `runningIn` is active with `leftRunning` at `runningSeen` */
      runningIn: ShardState | undefined = undefined
      runningSeen = 0
      runningActor: ActorRef<any> | undefined = undefined
      /** `runningActor`'s delivery target (kept here: the ask reaches it without a read of the actor's ref) */
      runningTarget: Kernel.Target | undefined = undefined
      /** `direct`'s ref and owner, valid while no direct entry was retired since (`directsRetired` at `directSeen`) */
      directSeen = -1
      directActor: ActorRef<any> | undefined = undefined
      directTarget: Kernel.Target | undefined = undefined
      directOwner = ""
      /** the entity on another node this ref asked last, while the cache still holds it */
      direct: Direct | undefined = undefined
      readonly reg: Registered
      readonly key: string
      readonly id: string
      /** the running entity here this ref asked last, if it still runs */
      entry: EntityEntry | undefined = undefined
      readonly entityType: string

      constructor(reg: Registered, key: string) {
        this.reg = reg
        this.entityType = reg.entity.type
        this.key = key
        this.shard = Hash.shardOf(key, shards)
        this.id = entityId(this.entityType, key)
      }

      /** The running entity here (`undefined`: not one, or the shard is not active here). */
      running(local: ShardState): EntityEntry | undefined {
        let entry = this.entry
        if (entry !== undefined && entry.status === "running" && entry.shard === local && local.status === "active") return entry
        entry = local.status === "active" ? local.entities.get(this.id) : undefined
        this.entry = entry !== undefined && entry.status === "running" ? entry : undefined
        return this.entry
      }

      /**
       * The actor of the running entity here, as `running`, without reaching its entry while no
       * entity of the shard has stopped running since it was seen.
       */
      runningRef(local: ShardState): ActorRef<any> | undefined {
        checkLeases()
        if (this.runningIn === local && local.leftRunning === this.runningSeen && local.status === "active") return this.runningActor
        const entry = this.running(local)
        if (entry === undefined) {
          this.runningIn = this.runningActor = this.runningTarget = undefined
          return undefined
        }
        this.runningIn = local
        this.runningSeen = local.leftRunning
        this.runningTarget = Kernel.targetOf(entry.ref!)
        return this.runningActor = entry.ref!
      }

      tell(message: unknown): Effect.Effect<void, TellError | ShardingError> {
        return Effect.suspend((): Effect.Effect<void, TellError | ShardingError> => {
          // the local fast path keeps the mailbox's back-pressure
          const local = shardStates.get(this.shard)
          if (local !== undefined && (held.get(this.shard)?.length ?? 0) === 0) {
            const ref = this.runningRef(local)
            if (ref !== undefined) return this.tellRunning(ref, message)
            // to be activated, or starting: admitted first (see `admitted`)
            if (local.status === "active") return Effect.andThen(admitted, Effect.suspend(() => this.dispatch(message)))
          }
          return this.dispatch(message)
        })
      }

      /**
       * A tell to the running entity here, as `ActorRef.tell` sends it (its mailbox's
       * back-pressure kept), except that a sender that waited for room routes it again: the
       * entity may have begun to stop meanwhile, and its next activation takes it then.
       */
      private tellRunning(ref: ActorRef<any>, message: unknown): Effect.Effect<void, TellError | ShardingError> {
        const target = Kernel.targetOf(ref)
        const invalid = target.validate(message)
        if (invalid !== undefined) return Effect.fail(invalid)
        const result = target.offer(message, undefined, undefined)
        if (result === Kernel.Offer.Ok) return Effect.void
        if (result === Kernel.Offer.Full) return Effect.andThen(roomIn(target), this.tell(message))
        if (result === Kernel.Offer.Rejected) return Effect.fail(ref.mailboxFull(target))
        if (typeof result === "object") return Effect.fail(result)
        return Effect.void
      }

      private dispatch(message: unknown): Effect.Effect<void, TellError | ShardingError> {
        const sent = dispatchTell(this.reg, this.key, message, 0)
        // refused at once by the running entity (its full `fail` mailbox): the sender learns it
        return sent === true ? Effect.void : sent === false ? Effect.fail(bufferFull(this.entityType, this.key)) : Effect.fail(sent as TellError)
      }

      ask(message: any, options?: { readonly timeout?: Duration.Input | undefined }): Effect.Effect<any, any> {
        // looked up when the ask runs, not when it is made: an ask effect kept and run again
        // (retry, repeat) finds the entity as it is then, with its whole timeout from then
        // (`withFiber`: the actor's ask is then made in this fiber, as `ActorRef.ask` would, with
        // one fiber step per ask instead of two)
        return Effect.withFiber((fiber) => this.askNow(fiber, message, options))
      }

      private askNow(
        fiber: Fiber.Fiber<unknown, unknown>,
        message: any,
        options: { readonly timeout?: Duration.Input | undefined } | undefined
      ): Effect.Effect<any, any> {
        if (options?.timeout === undefined) {
          // nothing that decides the way of an ask has changed since the last one found it
          // usable: the same way (the common case: a running entity, asked again), with the
          // refs' default timeout (5 s) as is and failure handlers made once, not per ask
          if (this.routeSeen === routeEpoch) {
            const local = this.routeLocal
            if (local === undefined) {
              return askIn(this.directActor!, fiber, message, defaultAskTimeout, directAskFailed, this.directTarget, this)
            }
            const ref = this.runningRef(local)
            if (ref !== undefined) return askIn(ref, fiber, message, defaultAskTimeout, localAskFailed, this.runningTarget, this)
          }
          return this.route(fiber, message, defaultAskMillis, defaultAskTimeout, true)
        }
        const timeoutMillis = Duration.toMillis(timeoutOf(options.timeout))
        return this.route(fiber, message, timeoutMillis, Duration.millis(bucket(timeoutMillis)), false)
      }

      /**
       * An ask's way, checked: the running entity here, or on another node asked directly, or
       * through the regions. `byDefault`: with the default timeout (its failure handlers are
       * then the shared ones).
       */
      private route(
        fiber: Fiber.Fiber<unknown, unknown>,
        message: any,
        timeoutMillis: number,
        askTimeout: Duration.Duration,
        byDefault: boolean
      ): Effect.Effect<any, any> {
        const shard = this.shard
        // the common cases first: a running entity here, or on another node, asked directly;
        // their failures are seen by the ask's own reply (`AskFailed`), with the time it took
        // (what is left of the timeout if the ask must be routed again)
        const epoch = routeEpoch
        const local = shardStates.get(shard)
        if (local !== undefined) {
          const ref = this.runningRef(local)
          if (ref === undefined) {
            return Effect.andThen(admitted, Effect.suspend(() => askEntity(this.reg, this.key, message, timeoutMillis, false)))
          }
          this.routeSeen = epoch
          this.routeLocal = local
          return askIn(
            ref,
            fiber,
            message,
            askTimeout,
            byDefault ? localAskFailed : (exit, elapsed) => this.localFailed(exit, message, timeLeft(timeoutMillis, elapsed)),
            this.runningTarget,
            this
          )
        }
        // the direct entry itself is reached only when some entry was retired since it was seen
        let d = this.direct
        if (d === undefined || this.directSeen !== directsRetired) {
          if (d === undefined || !d.live) this.direct = d = directs.get(this.id)
          if (d === undefined) return askEntity(this.reg, this.key, message, timeoutMillis, false)
          this.directSeen = directsRetired
          this.directActor = d.ref
          this.directTarget = d.ref === undefined ? undefined : Kernel.targetOf(d.ref)
          this.directOwner = d.owner
        }
        const actor = this.directActor
        // `ownerUsable`, knowing that the shard is not active here and that nothing is held when
        // nothing is buffered
        const owner = this.directOwner
        if (actor === undefined || owners[shard] !== owner || !members.has(owner) || (buffered > 0 && (held.get(shard)?.length ?? 0) > 0)) {
          return askEntity(this.reg, this.key, message, timeoutMillis, false)
        }
        this.routeSeen = epoch
        this.routeLocal = undefined
        return askIn(
          actor,
          fiber,
          message,
          askTimeout,
          byDefault ? directAskFailed : (exit, elapsed) => this.directFailed(d, exit, message, timeLeft(timeoutMillis, elapsed)),
          this.directTarget,
          this
        )
      }

      /** What follows the failure of an ask made to the running entity here: routed again if it had stopped (not delivered). */
      localFailed(exit: Exit.Failure<unknown, unknown>, message: any, remaining: number): Effect.Effect<any, any> | undefined {
        return isNoProc(exit.cause) ? Effect.suspend(() => askEntity(this.reg, this.key, message, remaining, false)) : undefined
      }

      /**
       * What follows the failure of an ask made directly to the entity on another node (see
       * `AskFailed`): routed again by the regions when it was not delivered, the entry let go
       * when the entity or its node is gone.
       */
      directFailed(direct: Direct, exit: Exit.Failure<unknown, unknown>, message: unknown, remaining: number): Effect.Effect<any, any> | undefined {
        const e = failureOf(exit.cause) as { readonly _tag?: unknown; readonly reason?: unknown } | undefined
        switch (e?._tag) {
          case "NoProc":
            // it stopped (passivated, its shard moved): not delivered; routed by the regions
            return Effect.suspend(() => {
              forgetDirect(this.id, direct)
              return askEntity(this.reg, this.key, message as { readonly _tag: string }, remaining, false)
            })
          case "NodeDown":
            return Effect.suspend(() => {
              forgetDirect(this.id, direct)
              if (e.reason !== "not connected") return exit
              // refused before it left: never sent
              forgetMember(direct.owner)
              return askEntity(this.reg, this.key, message as { readonly _tag: string }, remaining, false)
            })
          case "ActorStopped":
          case "ProtocolMismatch":
            return Effect.suspend(() => {
              forgetDirect(this.id, direct)
              return exit
            })
          default:
            return undefined
        }
      }
    }
    /**
     * The failure handlers of asks made with the default timeout (`AskFailed`, with the ref as
     * `arg`): made once. The direct entry is the ref's at the failure (a later ask may have
     * replaced it, which only costs that entry a region hop).
     */
    const defaultAskMillis = Duration.toMillis(defaultAskTimeout)
    const localAskFailed: AskFailed = (exit, elapsed, message, ref: Ref) => ref.localFailed(exit, message, timeLeft(defaultAskMillis, elapsed))
    const directAskFailed: AskFailed = (exit, elapsed, message, ref: Ref) =>
      ref.directFailed(ref.direct ?? noDirect, exit, message, timeLeft(defaultAskMillis, elapsed))
    /** no entry (the cache was cleared since): nothing to forget */
    const noDirect: Direct = { owner: "", ref: undefined, told: 0, live: false }
    const makeRef = (reg: Registered, key: string): EntityRef<any> =>
      key.isWellFormed() ? new Ref(reg, key) : malformedKeyRef(reg, key)

    /** A ref whose key has a lone surrogate: it would reach other nodes as another key (U+FFFD), so nothing is sent. */
    const malformedKey = (reg: Registered, key: string) =>
      new InvalidMessage({
        actor: `${reg.entity.type}/${key}`,
        protocol: reg.entity.protocol.name,
        issue: "the entity key is not well-formed UTF-16 (a lone surrogate): it has no UTF-8 form"
      })
    const malformedKeyRef = (reg: Registered, key: string): EntityRef<any> => {
      const refused = Effect.suspend(() => Effect.fail(malformedKey(reg, key)))
      return { entityType: reg.entity.type, key, shard: Hash.shardOf(key, shards), tell: () => refused, ask: () => refused }
    }

    service = {
      node: selfName,
      owner: selfId,
      shards,
      timing: t,
      shardOf: (key) => Hash.shardOf(key, shards),
      entity: (entity) =>
        Effect.map(register(entity), (reg): EntityClient<any> => ({ entity, ref: (key) => makeRef(reg, key) })),
      singleton: (entity) => Effect.map(register(entity), (reg) => makeRef(reg, entity.type)),
      events: Stream.fromPubSub(events),
      ownedShards: () => Array.from(shardStates.values()).filter((s) => s.status === "active").map((s) => s.lease),
      activeEntities: () => {
        let n = 0
        for (const s of shardStates.values()) n += s.entities.size
        return n
      },
      members: () => memberNames()
    }

    return {
      service,
      register,
      start: Effect.gen(function*() {
        // the node actor: its presence makes this node a sharding member for its peers
        // (a proxy's under another name: it is told when members leave, and is no member)
        yield* system.spawn(
          NodeProtocol.behavior(Effect.succeed({
            Owner: () => Effect.succeed(selfId),
            Leaving: ({ owner }) => Effect.sync(() => memberLeaving(owner))
          })),
          { name: config.hosting ? NODE_NAME : PROXY_NAME }
        ).pipe(Effect.orDie)
        // graceful stop: entities stop, leases are given up, so the next owners need not wait for them to expire
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            closing = true
            routesChanged()
            // the other members stop routing to this node now, not at their next lease read
            const told: Array<ActorRef<typeof NodeProtocol.defs>> = []
            for (const ref of [...nodeRefs.values(), ...proxyRefs.values()]) {
              try {
                ref.tellUnsafe(NodeProtocol.Leaving({ owner: selfId }))
                told.push(ref)
              } catch {
                // not connected: it routes nothing here
              }
            }
            const states = Array.from(shardStates.values())
            // as at a handoff: the entities handle what they were sent first (the leases are still renewed meanwhile)
            const drainUntil = now() + holdMillis
            for (const s of states) if (s.status === "active") beginStop(s, drainUntil)
            // meanwhile each node told answers an ask sent after its Leaving: it has read it, and
            // what it sent here before has arrived (one connection, in order), so what it sent
            // for these shards is held here when it is forwarded below, not after the release
            const barrier = states.length === 0 ? Effect.void : Effect.forEach(
              told,
              (ref) => ref.ask(NodeProtocol.Owner(), { timeout: t.leaseTtlMillis }).pipe(Effect.ignore),
              { concurrency: "unbounded", discard: true }
            )
            yield* Effect.all([
              Effect.forEach(states, (s) => Effect.andThen(drainEntities(s), stopEntities(s)), { concurrency: "unbounded", discard: true }),
              barrier
            ], { concurrency: "unbounded", discard: true })
            if (states.length > 0) {
              // as at a handoff, what is held for the shards reaches their next owners before the leases are released
              yield* forwardHeld(states)
              yield* store.release(selfId, states.map((s) => s.lease)).pipe(Effect.timeout(t.renewIntervalMillis), Effect.ignore)
            }
            shardStates.clear()
            routesChanged()
            // asks from other nodes waiting here are answered NotOwner (their nodes hold them);
            // tells held here go to the shards' next owners
            flushAll()
            if (states.length > 0 && members.size > 0 && !virtualTime) {
              // the other members route to this node until their next lease read shows the
              // leases given up (within a renew interval, and its store call's): meanwhile the
              // tells that still reach it are forwarded, the asks answered NotOwner (not with
              // virtual time: nothing moves the clock while a simulation's scope closes)
              const lingerUntil = now() + 2 * t.renewIntervalMillis
              while (now() < lingerUntil) {
                yield* Effect.sleep(Math.min(50, lingerUntil - now()))
                flushAll()
              }
            }
          })
        )
        if (node !== undefined) {
          // a lost peer stops being routed to at once, not at the next round
          const subscription = yield* node.subscribe
          fork(Effect.forever(Effect.flatMap(PubSub.take(subscription), (event) =>
            Effect.sync(() => {
              if (event._tag === "NodeDown") forgetMember(nodeKey(event.node))
            }))))
        }
        fork(tick.pipe(
          Effect.catchCause((cause) => Effect.logWarning(`sharding: ${Cause.pretty(cause)}`)),
          Effect.andThen(Effect.sleep(t.renewIntervalMillis)),
          Effect.forever
        ))
        fork(renewLoop)
        fork(watchdog)
      })
    }
  })
