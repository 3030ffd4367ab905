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
 * Implementations: `ShardStore.memory()` (one process; `SimCluster` wraps it to cut a node off
 * from the store), SQLite (a file shared by the nodes of one host), PostgreSQL (`effect/sql`).
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Option } from "effect"
import { Context, Layer, Schema } from "effect"

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
}) {}

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
