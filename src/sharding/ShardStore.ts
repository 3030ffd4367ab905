/**
 * Where the cluster keeps who owns each shard, and the durable state of entities: an existing
 * database, not a consensus protocol of Telex's own. A node owns a shard while it holds that
 * shard's lease here and renews it; every acquisition of a lease by an owner gets a new, larger
 * epoch, and every state write names the epoch it was made under, so a stale owner's late write
 * is refused (fencing).
 *
 * Lease time is the store's own clock (the database server's `now()`, or the process clock of
 * an embedded store): nodes never compare their clocks with each other. A node judges its own
 * leases from its monotonic clock, measured from the moment it *sent* the acquire or renew that
 * succeeded (which is no later than the moment the store stamped it).
 *
 * Implementations: `ShardStore.memory()` (one process; `ShardStore.severable` gives a node a view
 * of it that a simulation can cut off), SQLite (`SqliteShardStore`: a file shared by the nodes of
 * one host) and PostgreSQL (`PgShardStore` in `telex/postgres`, on `effect/sql`).
 *
 * Semantics every implementation keeps:
 * - a lease is free when it was never held, was released, or is expired (its end <= now);
 * - acquiring a free lease gives epoch (previous epoch of that shard) + 1, so epochs of a shard
 *   only grow, across releases too; acquiring a lease the owner still holds renews it (same epoch);
 * - `renew` extends only unexpired leases with the given owner and epoch: once a lease has
 *   expired it is gone for good, even if nobody took it (its owner acquires it anew, epoch + 1);
 * - `saveState`/`deleteState` succeed only while their fence is the shard's current, unexpired
 *   lease, checked atomically with the write (the store serialises them with lease changes).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"

/** A shard's lease as the store granted it. */
export interface Lease {
  readonly shard: number
  /** the node id (name) holding it */
  readonly owner: string
  /** grows by one at every acquisition (never at a renewal); fences state writes */
  readonly epoch: number
}

/** The store could not be reached, or failed; the caller treats its leases as unconfirmed. */
export class ShardStoreError extends Schema.TaggedError<ShardStoreError>()("ShardStoreError", {
  message: Schema.String
}) {}

/** A state write named an epoch that is no longer the shard's current lease: refused. */
export class StaleEpoch extends Schema.TaggedError<StaleEpoch>()("StaleEpoch", {
  shard: Schema.Number,
  epoch: Schema.Number,
  message: Schema.String
}) {
  /** The refusal of a write fenced by `fence`. */
  static of(fence: Lease): StaleEpoch {
    return new StaleEpoch({
      shard: fence.shard,
      epoch: fence.epoch,
      message: `shard ${fence.shard}: epoch ${fence.epoch} of ${fence.owner} is not the current lease`
    })
  }
}

export interface ShardStore {
  /**
   * Takes the leases of `shards` that are free (never held, released, or expired) or already held
   * by `owner` (then it is a renewal: same epoch), for `ttl` from now on the store's clock.
   * Returns the leases `owner` holds afterwards among `shards`; one statement/transaction.
   */
  acquire(owner: string, shards: ReadonlyArray<number>, ttl: Duration.Input): Effect.Effect<ReadonlyArray<Lease>, ShardStoreError>
  /**
   * Extends `owner`'s leases with the same epoch by `ttl` from now; returns the ones still held
   * (a lease that expired and was taken by another node, or reacquired, is missing).
   */
  renew(owner: string, leases: ReadonlyArray<Lease>, ttl: Duration.Input): Effect.Effect<ReadonlyArray<Lease>, ShardStoreError>
  /** Gives leases up at once (handoff, graceful stop); a lease with another epoch is untouched. */
  release(owner: string, leases: ReadonlyArray<Lease>): Effect.Effect<void, ShardStoreError>
  /** Every unexpired lease (for placement decisions, status and the observer). */
  leases(): Effect.Effect<ReadonlyArray<Lease>, ShardStoreError>

  /** An entity's saved state (its schema's encoded form, as JSON text), if any. */
  loadState(entityType: string, key: string): Effect.Effect<Option.Option<string>, ShardStoreError>
  /**
   * Saves an entity's state if `fence` is still its shard's current, unexpired lease (checked in
   * the same statement/transaction as the write); else fails with `StaleEpoch`.
   */
  saveState(
    entityType: string,
    key: string,
    fence: Lease,
    state: string
  ): Effect.Effect<void, ShardStoreError | StaleEpoch>
  /** Deletes an entity's saved state, fenced like `saveState`. */
  deleteState(entityType: string, key: string, fence: Lease): Effect.Effect<void, ShardStoreError | StaleEpoch>
}

/** The shard store of the node's sharding. */
export class Service extends Context.Service<Service, ShardStore>()("telex/ShardStore") {
  static readonly layer = (store: ShardStore): Layer.Layer<Service> => Layer.succeed(Service, store)
}

/** The ttl in milliseconds, or a `ShardStoreError` for a ttl that would grant no time. */
export const ttlMillis = (ttl: Duration.Input): Effect.Effect<number, ShardStoreError> => {
  const ms = Duration.toMillis(ttl)
  return ms > 0 && Number.isFinite(ms)
    ? Effect.succeed(ms)
    : Effect.fail(new ShardStoreError({ message: `lease ttl must be a positive, finite duration (got ${ms} ms)` }))
}

/** Distinct shard numbers in ascending order (every store locks them in this order). */
export const sortedShards = (shards: ReadonlyArray<number>): Array<number> =>
  Array.from(new Set(shards)).sort((a, b) => a - b)

/** What a store granted or wrote, with the store's clock (for checkers' histories). */
export type StoreEvent =
  | { readonly _tag: "Acquired"; readonly lease: Lease; readonly at: number; readonly until: number }
  | { readonly _tag: "Renewed"; readonly lease: Lease; readonly at: number; readonly until: number }
  | { readonly _tag: "Released"; readonly lease: Lease; readonly at: number }
  | {
    readonly _tag: "StateSaved"
    readonly entityType: string
    readonly key: string
    readonly fence: Lease
    readonly state: string
    readonly at: number
  }
  | { readonly _tag: "StateDeleted"; readonly entityType: string; readonly key: string; readonly fence: Lease; readonly at: number }

export interface MemoryOptions {
  /** called for every lease granted, renewed or released and every state written, in store order */
  readonly onEvent?: ((event: StoreEvent) => void) | undefined
}

/**
 * A store in this process's memory, shared by every node given it (a `SimCluster`'s nodes).
 * Its time is Effect's `Clock` of the calling fiber, so it runs under `TestClock`; every call
 * is atomic (it never yields between reading and writing).
 */
export const memory = (options?: MemoryOptions): ShardStore => {
  const leases = new Map<number, { owner: string; epoch: number; until: number }>()
  const states = new Map<string, string>()
  const emit = options?.onEvent ?? (() => {})
  const stateKey = (entityType: string, key: string) => `${entityType}\u0000${key}`
  const current = (fence: Lease, now: number) => {
    const row = leases.get(fence.shard)
    return row !== undefined && row.owner === fence.owner && row.epoch === fence.epoch && row.until > now
  }

  return {
    acquire: (owner, shards, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const held: Array<Lease> = []
          for (const shard of sortedShards(shards)) {
            const row = leases.get(shard)
            if (row !== undefined && row.until > now && row.owner !== owner) continue
            const renewal = row !== undefined && row.until > now
            const epoch = renewal ? row.epoch : (row?.epoch ?? 0) + 1
            leases.set(shard, { owner, epoch, until: now + ms })
            const lease: Lease = { shard, owner, epoch }
            held.push(lease)
            emit({ _tag: renewal ? "Renewed" : "Acquired", lease, at: now, until: now + ms })
          }
          return held
        })),
    renew: (owner, toRenew, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const held: Array<Lease> = []
          for (const lease of toRenew) {
            const row = leases.get(lease.shard)
            if (row === undefined || row.owner !== owner || row.epoch !== lease.epoch || row.until <= now) continue
            row.until = now + ms
            const renewed: Lease = { shard: lease.shard, owner, epoch: row.epoch }
            held.push(renewed)
            emit({ _tag: "Renewed", lease: renewed, at: now, until: row.until })
          }
          return held
        })),
    release: (owner, toRelease) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        for (const lease of toRelease) {
          const row = leases.get(lease.shard)
          if (row === undefined || row.owner !== owner || row.epoch !== lease.epoch || row.until <= now) continue
          // the epoch stays: the next acquisition gets a larger one
          row.until = now
          emit({ _tag: "Released", lease: { shard: lease.shard, owner, epoch: row.epoch }, at: now })
        }
      }),
    leases: () =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const out: Array<Lease> = []
        for (const [shard, row] of leases) if (row.until > now) out.push({ shard, owner: row.owner, epoch: row.epoch })
        return out.sort((a, b) => a.shard - b.shard)
      }),
    loadState: (entityType, key) => Effect.sync(() => Option.fromUndefinedOr(states.get(stateKey(entityType, key)))),
    saveState: (entityType, key, fence, state) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (!current(fence, now)) return Effect.fail(StaleEpoch.of(fence))
        states.set(stateKey(entityType, key), state)
        emit({ _tag: "StateSaved", entityType, key, fence, state, at: now })
        return Effect.void
      }),
    deleteState: (entityType, key, fence) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (!current(fence, now)) return Effect.fail(StaleEpoch.of(fence))
        states.delete(stateKey(entityType, key))
        emit({ _tag: "StateDeleted", entityType, key, fence, at: now })
        return Effect.void
      })
  }
}

/** A node's view of a shared store that a simulation can cut off from it and reconnect. */
export interface Severable {
  /** the node's store: while cut off, every call fails with `ShardStoreError` and changes nothing */
  readonly store: ShardStore
  readonly sever: () => void
  /** reconnects it, and ends a `degrade` */
  readonly heal: () => void
  readonly isSevered: () => boolean
  /** makes its calls slow or failing (see `Degraded`) until `heal` (or `degrade(undefined)`) */
  readonly degrade: (degraded: Degraded | undefined) => void
}

/** A slow or failing link to the store (on Effect's clock and `Random`: a simulation replays it). */
export interface Degraded {
  /** each call reaches the store this long after it is made (even if its caller gave up meanwhile) */
  readonly requestMillis?: number | undefined
  /** and its caller learns the outcome this long after the store applied it (cut off meanwhile: it fails, applied or not) */
  readonly replyMillis?: number | undefined
  /** this share of the calls fail with `ShardStoreError` without reaching the store */
  readonly failRate?: number | undefined
}

/** Wraps `store` (usually one `memory()` shared by all nodes) in a view one node can be cut off from. */
export const severable = (store: ShardStore, name = "node"): Severable => {
  let severed = false
  let degraded: Degraded | undefined
  const cutOff = () => Effect.fail(new ShardStoreError({ message: `${name} is cut off from the shard store` }))
  const slow = <A, E>(effect: Effect.Effect<A, E>, d: Degraded): Effect.Effect<A, E | ShardStoreError> =>
    Effect.gen(function*() {
      if (d.failRate !== undefined && (yield* Random.next) < d.failRate) {
        return yield* new ShardStoreError({ message: `${name}: a shard store call failed` })
      }
      const arrive = Effect.suspend((): Effect.Effect<A, E | ShardStoreError> => severed ? cutOff() : effect)
      // a request on its way reaches the store whatever becomes of its caller (a statement sent
      // is not taken back): a caller that gives up, or is interrupted, leaves it in flight
      const result = d.requestMillis === undefined
        ? yield* arrive
        : yield* Fiber.join(yield* Effect.forkDetach(Effect.andThen(Effect.sleep(d.requestMillis), arrive)))
      if (d.replyMillis !== undefined) yield* Effect.sleep(d.replyMillis)
      // the reply is lost with the link
      if (severed) return yield* cutOff()
      return result
    })
  const guard = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | ShardStoreError> =>
    Effect.suspend((): Effect.Effect<A, E | ShardStoreError> =>
      severed ? cutOff() : degraded === undefined ? effect : slow(effect, degraded)
    )
  return {
    store: {
      acquire: (owner, shards, ttl) => guard(store.acquire(owner, shards, ttl)),
      renew: (owner, leases, ttl) => guard(store.renew(owner, leases, ttl)),
      release: (owner, leases) => guard(store.release(owner, leases)),
      leases: () => guard(store.leases()),
      loadState: (entityType, key) => guard(store.loadState(entityType, key)),
      saveState: (entityType, key, fence, state) => guard(store.saveState(entityType, key, fence, state)),
      deleteState: (entityType, key, fence) => guard(store.deleteState(entityType, key, fence))
    },
    sever: () => {
      severed = true
    },
    heal: () => {
      severed = false
      degraded = undefined
    },
    isSevered: () => severed,
    degrade: (d) => {
      degraded = d
    }
  }
}
