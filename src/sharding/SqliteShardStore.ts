/**
 * A `ShardStore` in a SQLite file shared by the nodes of one host: the embedded default, needing
 * nothing installed (Node's built-in `node:sqlite`, loaded when a store is opened).
 *
 * Every node opens its own connection to the file. Writes run in `BEGIN IMMEDIATE` transactions,
 * so concurrent processes serialise on the file's write lock; the file is in WAL mode, so readers
 * never wait. A call that finds the file locked by another process blocks its thread for at most
 * a few milliseconds at a time, then waits asynchronously and tries again, up to `busyTimeoutMs`:
 * a node's timers (those that stop a shard's entities before its lease can expire) keep running
 * while another process holds the lock (one paused mid-transaction, say).
 *
 * Lease time is the host's wall clock (`Date.now()`), read inside the transaction, after the lock
 * is taken: all nodes sharing the file share that clock, so a lease's end is compared with the
 * same clock that stamped it. The assumption: the host's clock does not step by more than the
 * safety margin of the lease timing while leases are held (NTP slewing is fine; setting the clock
 * by hand is not). A node never reads this clock to judge its own leases: it measures them on its
 * monotonic clock from the moment it sent the acquire or renew.
 *
 * Durability: `synchronous = NORMAL` by default (a commit survives the process being killed; an
 * OS crash or power loss may lose the last commits, and with them the host's nodes); `"full"`
 * fsyncs every commit.
 *
 *   const layer = SqliteShardStore.layer("/var/lib/app/shards.db")
 *
 * Tables: `telex_shard_lease` and `telex_entity_state` (created if missing); the file may be
 * shared with other Telex stores.
 *
 * @since 0.1.0
 */
import type { DatabaseSync, StatementSync } from "node:sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type Lease, Service, type ShardStore, ShardStoreError, sortedShards, StaleEpoch, ttlMillis } from "./ShardStore.ts"

export interface SqliteShardStoreOptions {
  /** how long a call waits for another connection's lock on the file before it fails (default 5000 ms) */
  readonly busyTimeoutMs?: number | undefined
  /** `"normal"` (default) or `"full"` (an fsync at every commit) */
  readonly synchronous?: "normal" | "full" | undefined
}

/**
 * `expires_at`: milliseconds of the host's wall clock; a released lease keeps its row (and its
 * epoch, so the next acquisition gets a larger one) with `expires_at` set just before the release.
 *
 * The clock is read in whole milliseconds (`Date.now()` truncates), so a lease stamped in the
 * millisecond `t` may have been stamped up to 1 ms after `t`: the holder counts it valid while
 * `now < expires_at`, another node may take it only once `now > expires_at` — never before the
 * ttl has run out in real time. At `now = expires_at` it is neither.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS telex_shard_lease (
  shard      INTEGER NOT NULL PRIMARY KEY,
  owner      TEXT    NOT NULL,
  epoch      INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS telex_entity_state (
  entity_type TEXT    NOT NULL,
  key         TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  shard       INTEGER NOT NULL,
  epoch       INTEGER NOT NULL,
  PRIMARY KEY (entity_type, key)
) WITHOUT ROWID;
`

/** how long one attempt blocks the thread waiting for the file's lock (SQLite's own busy wait) */
const BLOCKING_WAIT_MS = 10

const loadDriver = (): typeof import("node:sqlite") => {
  const sqlite = process.getBuiltinModule("node:sqlite")
  if (sqlite === undefined) throw new Error(`node:sqlite is not available in Node.js ${process.version}`)
  return sqlite
}

const storeError = (what: string, path: string) => (cause: unknown) =>
  new ShardStoreError({ message: `SQLite shard store ${path}: ${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

const toLease = (row: Record<string, unknown>): Lease => ({
  shard: Number(row.shard),
  owner: String(row.owner),
  epoch: Number(row.epoch)
})

/** Opens (creating if needed) the store in the SQLite file at `path`; closed with the scope. */
export const make = (path: string, options?: SqliteShardStoreOptions): Effect.Effect<ShardStore, ShardStoreError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.try({
        try: () => open(path, options),
        catch: storeError("cannot open", path)
      }),
      (db) => Effect.sync(() => db.close())
    ),
    (db) => fromDatabase(db, path, options?.busyTimeoutMs ?? 5000)
  )

/** The store as the `ShardStore.Service` of a node's sharding. */
export const layer = (path: string, options?: SqliteShardStoreOptions): Layer.Layer<Service, ShardStoreError> =>
  Layer.effect(Service, make(path, options))

const open = (path: string, options: SqliteShardStoreOptions | undefined): DatabaseSync => {
  const { DatabaseSync } = loadDriver()
  const db = new DatabaseSync(path, { timeout: options?.busyTimeoutMs ?? 5000 })
  try {
    if (path !== ":memory:" && path !== "") {
      const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode
      if (mode !== "wal") throw new Error(`could not put the file in WAL mode (got ${String(mode)})`)
    }
    db.exec(`PRAGMA synchronous = ${options?.synchronous === "full" ? "FULL" : "NORMAL"}`)
    db.exec("BEGIN IMMEDIATE")
    db.exec(SCHEMA)
    db.exec("COMMIT")
    // opening waited as long as it had to; calls wait briefly, then asynchronously (see `attempt`)
    db.exec(`PRAGMA busy_timeout = ${BLOCKING_WAIT_MS}`)
    return db
  } catch (e) {
    db.close()
    throw e
  }
}

/** SQLITE_BUSY (and its extended codes): another connection holds the lock */
const isBusy = (e: unknown): boolean =>
  typeof e === "object" && e !== null && (Number((e as { errcode?: unknown }).errcode) & 0xff) === 5

const fromDatabase = (db: DatabaseSync, path: string, busyTimeoutMs: number): ShardStore => {
  const prepare = (source: string): StatementSync => db.prepare(source)
  // a renewal by the holder keeps the epoch; an acquisition of a free lease increments it
  const acquireOne = prepare(
    "INSERT INTO telex_shard_lease (shard, owner, epoch, expires_at) VALUES (:shard, :owner, 1, :until) " +
      "ON CONFLICT (shard) DO UPDATE SET " +
      "epoch = CASE WHEN owner = excluded.owner AND expires_at > :now THEN epoch ELSE epoch + 1 END, " +
      "owner = excluded.owner, expires_at = excluded.expires_at " +
      "WHERE expires_at < :now OR owner = excluded.owner " +
      "RETURNING shard, owner, epoch"
  )
  const renewOne = prepare(
    "UPDATE telex_shard_lease SET expires_at = :until " +
      "WHERE shard = :shard AND owner = :owner AND epoch = :epoch AND expires_at > :now RETURNING shard, owner, epoch"
  )
  const releaseOne = prepare(
    "UPDATE telex_shard_lease SET expires_at = :now - 1 " +
      "WHERE shard = :shard AND owner = :owner AND epoch = :epoch AND expires_at > :now"
  )
  const selectLeases = prepare("SELECT shard, owner, epoch FROM telex_shard_lease WHERE expires_at > ? ORDER BY shard")
  const selectFence = prepare(
    "SELECT 1 AS ok FROM telex_shard_lease WHERE shard = :shard AND owner = :owner AND epoch = :epoch AND expires_at > :now"
  )
  const selectState = prepare("SELECT state FROM telex_entity_state WHERE entity_type = ? AND key = ?")
  const upsertState = prepare(
    "INSERT INTO telex_entity_state (entity_type, key, state, shard, epoch) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (entity_type, key) DO UPDATE SET state = excluded.state, shard = excluded.shard, epoch = excluded.epoch"
  )
  const removeState = prepare("DELETE FROM telex_entity_state WHERE entity_type = ? AND key = ?")

  /** runs `body` in a write transaction, with the host's time read once the lock is held */
  const write = <A>(body: (now: number) => A): A => {
    db.exec("BEGIN IMMEDIATE")
    try {
      const result = body(Date.now())
      db.exec("COMMIT")
      return result
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK")
      throw e
    }
  }
  const attempt = <A>(what: string, body: () => A): Effect.Effect<A, ShardStoreError> =>
    Effect.suspend(() => {
      const deadline = Date.now() + busyTimeoutMs
      const loop: Effect.Effect<A, ShardStoreError> = Effect.suspend(() => {
        try {
          return Effect.succeed(body())
        } catch (e) {
          if (isBusy(e) && Date.now() < deadline) return Effect.andThen(Effect.sleep(2 + Math.random() * 8), loop)
          return Effect.fail(storeError(isBusy(e) ? `${what} (locked for ${busyTimeoutMs} ms)` : what, path)(e))
        }
      })
      return loop
    })

  const fenced = (what: string, fence: Lease, body: () => void): Effect.Effect<void, ShardStoreError | StaleEpoch> =>
    Effect.flatMap(
      attempt(what, () =>
        write((now) => {
          if (selectFence.get({ shard: fence.shard, owner: fence.owner, epoch: fence.epoch, now }) === undefined) return false
          body()
          return true
        })),
      (written) =>
        written ? Effect.void : Effect.fail(StaleEpoch.of(fence))
    )

  return {
    acquire: (owner, shards, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) =>
        attempt("acquire", () =>
          write((now) => {
            const held: Array<Lease> = []
            for (const shard of sortedShards(shards)) {
              const row = acquireOne.get({ shard, owner, until: now + ms, now })
              if (row !== undefined) held.push(toLease(row))
            }
            return held
          }))),
    renew: (owner, leases, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) =>
        attempt("renew", () =>
          write((now) => {
            const held: Array<Lease> = []
            for (const lease of leases) {
              const row = renewOne.get({ shard: lease.shard, owner, epoch: lease.epoch, until: now + ms, now })
              if (row !== undefined) held.push(toLease(row))
            }
            return held
          }))),
    release: (owner, leases) =>
      attempt("release", () =>
        write((now) => {
          for (const lease of leases) releaseOne.run({ shard: lease.shard, owner, epoch: lease.epoch, now })
        })),
    leases: () => attempt("leases", () => selectLeases.all(Date.now()).map(toLease)),
    loadState: (entityType, key) =>
      attempt("loadState", () => {
        const row = selectState.get(entityType, key)
        return row === undefined ? Option.none() : Option.some(String(row.state))
      }),
    saveState: (entityType, key, fence, state) =>
      fenced("saveState", fence, () => {
        upsertState.run(entityType, key, state, fence.shard, fence.epoch)
      }),
    deleteState: (entityType, key, fence) =>
      fenced("deleteState", fence, () => {
        removeState.run(entityType, key)
      })
  }
}
