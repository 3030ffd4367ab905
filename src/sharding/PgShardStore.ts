/**
 * A `ShardStore` in PostgreSQL, for clusters spanning hosts: the ecosystem's client
 * (`@effect/sql-pg` on `effect/sql`, an optional peer dependency loaded by `telex/postgres`).
 *
 * Lease time is the server's clock (`now()`, the start of the statement's transaction, which is
 * no earlier than the moment the node sent it): nodes never compare their own clocks with it or
 * with each other's. Every operation is one statement, so its checks and writes are atomic:
 * - acquire is one `INSERT ... ON CONFLICT (shard) DO UPDATE ... WHERE expired OR same owner
 *   ... RETURNING` over all the shards asked for (in shard order, so concurrent acquisitions
 *   lock rows in one order);
 * - `saveState`/`deleteState` lock the fence's lease row `FOR SHARE` in the statement that
 *   writes: the write happens only while that lease is current and unexpired, and a takeover of
 *   the shard (which updates the row) waits for the write to commit, so the new owner's load
 *   sees it.
 *
 * Tables (`telex_shard_lease`, `telex_entity_state` by default; another `tablePrefix` keeps
 * several clusters in one database) are created if missing.
 *
 * Any entity key keeps its state, as in the other stores: a key that PostgreSQL's `text` or its
 * primary-key index cannot hold as it is — one with a NUL, or longer than 1 024 UTF-8 bytes (an
 * index entry holds about 2.7 kB) — or that starts with U+0001 is stored as
 * `"\u0001sha256:" + hex(sha256(utf8(key)))`; every other key as itself.
 *
 *   import { PgShardStore } from "telex/postgres"
 *   const layer = PgShardStore.layer({ url: "postgres://telex@db.internal/telex" })
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { SqlClient } from "effect/sql/SqlClient"
import { createHash } from "node:crypto"
import { type Lease, Service, type ShardStore, ShardStoreError, sortedShards, StaleEpoch, ttlMillis } from "./ShardStore.ts"

export interface PgShardStoreOptions {
  /** `postgres://user:password@host:port/database` */
  readonly url: string
  /** prefix of the store's table names (default `telex_`): lower-case letters, digits, `_` */
  readonly tablePrefix?: string | undefined
  /** connections of the pool (default 4: a node's sharding makes few, short statements) */
  readonly maxConnections?: number | undefined
  /** the connections' `application_name`, as `pg_stat_activity` shows it (default `telex-shard-store`) */
  readonly applicationName?: string | undefined
  /** how long connecting may take before a call fails with `ShardStoreError` (default 5 seconds) */
  readonly connectTimeout?: Duration.Input | undefined
}

const loadDriver = () =>
  Effect.tryPromise({
    try: () => import("@effect/sql-pg"),
    catch: (e) =>
      new ShardStoreError({
        message: (e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND"
          ? "telex/postgres needs the package @effect/sql-pg (an optional peer dependency of telex): npm install @effect/sql-pg"
          : `cannot load @effect/sql-pg: ${String(e)}`
      })
  })

const storeError = (what: string) => (cause: unknown) =>
  new ShardStoreError({ message: `PostgreSQL shard store: ${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

/** Connects to the server at `url` (a pool, closed with the scope) and opens the store there. */
export const make = (options: PgShardStoreOptions): Effect.Effect<ShardStore, ShardStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const { PgClient } = yield* loadDriver()
    // the pool lives in a scope of its own, closed after the finalizers added to the caller's
    // scope later (a node releasing its leases as it stops): the pool cannot open connections
    // once the scope it was made in is closing
    const own = yield* Scope.fork(yield* Effect.scope)
    const client = yield* PgClient.make({
      url: Redacted.make(options.url),
      maxConnections: options.maxConnections ?? 4,
      connectTimeout: options.connectTimeout ?? "5 seconds",
      applicationName: options.applicationName ?? "telex-shard-store"
    }).pipe(Scope.provide(own), Effect.provide(Reactivity.layer), Effect.mapError(storeError(`cannot connect`)))
    return yield* fromClient(client, options.tablePrefix, { maxConnections: options.maxConnections ?? 4 })
  })

/** The store as the `ShardStore.Service` of a node's sharding. */
export const layer = (options: PgShardStoreOptions): Layer.Layer<Service, ShardStoreError> => Layer.effect(Service, make(options))

/** A list of integers as the text `string_to_array` reads (no array parameter: any PostgreSQL client works). */
const intList = (values: ReadonlyArray<number>): string => values.map((v) => String(Math.trunc(v))).join(",")

const toLease = (row: Record<string, unknown>): Lease => ({
  shard: Number(row.shard),
  owner: String(row.owner),
  epoch: Number(row.epoch)
})

/** the longest key (in UTF-8 bytes) stored as it is: the primary key's index entries stay far below their limit */
const PLAIN_KEY_BYTES = 1024

/** The key column of an entity key (see the module doc). */
export const storedKey = (key: string): string =>
  (key.length * 3 <= PLAIN_KEY_BYTES || Buffer.byteLength(key, "utf8") <= PLAIN_KEY_BYTES) &&
    !key.includes("\u0000") && key.charCodeAt(0) !== 1
    ? key
    : `\u0001sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`

/**
 * The other row an entity's state may be in: a long key or one starting with U+0001 was stored
 * as itself by earlier versions (when its index entry fitted). Loads prefer the stored key's row.
 */
const legacyKey = (key: string, stored: string): string => (stored === key || key.includes("\u0000") ? stored : key)

export interface FromClientOptions {
  /** the client's pool size (default 4): entity state calls use at most one connection fewer */
  readonly maxConnections?: number | undefined
}

/**
 * Opens the store through an existing PostgreSQL `SqlClient` (creating its tables if missing),
 * for an application that already has one; give its pool size as `maxConnections`.
 *
 * Entity state calls (`loadState`, `saveState`, `deleteState`) use at most `maxConnections − 1`
 * of the pool's connections at once (at least one): a burst of activations — thousands of
 * entities loading their state — then never holds every connection, and a node's lease calls
 * do not queue behind it (a renewal that waits there past the renew deadline makes the node
 * give up every shard it holds).
 */
export const fromClient = (
  sql: SqlClient,
  tablePrefix = "telex_",
  options?: FromClientOptions
): Effect.Effect<ShardStore, ShardStoreError> =>
  Effect.gen(function*() {
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(tablePrefix)) {
      return yield* new ShardStoreError({ message: `tablePrefix must be lower-case letters, digits and _ (got ${JSON.stringify(tablePrefix)})` })
    }
    const leases = `${tablePrefix}shard_lease`
    const states = `${tablePrefix}entity_state`
    // an advisory lock: nodes starting together would otherwise race on CREATE TABLE IF NOT EXISTS
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql.unsafe(`SELECT pg_advisory_xact_lock(hashtext($1))`, [leases])
      yield* sql.unsafe(
        `CREATE TABLE IF NOT EXISTS ${leases} (
          shard      integer     PRIMARY KEY,
          owner      text        NOT NULL,
          epoch      bigint      NOT NULL,
          expires_at timestamptz NOT NULL
        )`
      )
      yield* sql.unsafe(
        `CREATE TABLE IF NOT EXISTS ${states} (
          entity_type text    NOT NULL,
          key         text    NOT NULL,
          state       text    NOT NULL,
          shard       integer NOT NULL,
          epoch       bigint  NOT NULL,
          PRIMARY KEY (entity_type, key)
        )`
      )
    })).pipe(Effect.mapError(storeError("cannot create the tables")))

    const until = `now() + $3::float8 * interval '1 millisecond'`
    // a renewal by the holder keeps the epoch; an acquisition of a free lease increments it
    const acquireSql = `INSERT INTO ${leases} AS l (shard, owner, epoch, expires_at)
      SELECT s, $2, 1, ${until} FROM unnest(string_to_array($1, ',')::int[]) AS s ORDER BY s
      ON CONFLICT (shard) DO UPDATE SET
        epoch = CASE WHEN l.owner = excluded.owner AND l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
        owner = excluded.owner,
        expires_at = excluded.expires_at
      WHERE l.expires_at <= now() OR l.owner = excluded.owner
      RETURNING l.shard, l.owner, l.epoch`
    // renew and release lock their rows in shard order first, as acquire does (its ON CONFLICT
    // locks the rows it refuses too): concurrent calls then wait for each other, never deadlock
    const lockOwn = (epochs: string) => `r AS (
        SELECT * FROM unnest(string_to_array($1, ',')::int[], string_to_array(${epochs}, ',')::bigint[]) AS r(shard, epoch)
      ),
      locked AS MATERIALIZED (
        SELECT l.shard FROM ${leases} AS l JOIN r ON l.shard = r.shard AND l.epoch = r.epoch
        WHERE l.owner = $2 ORDER BY l.shard FOR UPDATE OF l
      )`
    const renewSql = `WITH ${lockOwn("$4")}
      UPDATE ${leases} AS l SET expires_at = ${until}
      FROM locked JOIN r USING (shard)
      WHERE l.shard = locked.shard AND l.epoch = r.epoch AND l.owner = $2 AND l.expires_at > now()
      RETURNING l.shard, l.owner, l.epoch`
    // the row (and its epoch) stays: the next acquisition gets a larger epoch
    const releaseSql = `WITH ${lockOwn("$3")}
      UPDATE ${leases} AS l SET expires_at = now()
      FROM locked JOIN r USING (shard)
      WHERE l.shard = locked.shard AND l.epoch = r.epoch AND l.owner = $2 AND l.expires_at > now()`
    const leasesSql = `SELECT shard, owner, epoch FROM ${leases} WHERE expires_at > now() ORDER BY shard`
    const fence = `SELECT 1 AS ok FROM ${leases}
      WHERE shard = $1 AND owner = $2 AND epoch = $3::bigint AND expires_at > now() FOR SHARE`
    const saveSql = `WITH fence AS (${fence})
      INSERT INTO ${states} (entity_type, key, state, shard, epoch)
      SELECT $4, $5, $6, $1, $3::bigint FROM fence
      ON CONFLICT (entity_type, key) DO UPDATE SET state = excluded.state, shard = excluded.shard, epoch = excluded.epoch
      RETURNING 1 AS ok`
    const deleteSql = `WITH fence AS (${fence}),
      gone AS (DELETE FROM ${states} WHERE entity_type = $4 AND key IN ($5, $6) AND EXISTS (SELECT 1 FROM fence))
      SELECT ok FROM fence`
    const loadSql = `SELECT state FROM ${states} WHERE entity_type = $1 AND key IN ($2, $3) ORDER BY key = $2 DESC LIMIT 1`

    const query = (what: string, text: string, params: ReadonlyArray<unknown>) =>
      sql.unsafe<Record<string, unknown>>(text, params).pipe(Effect.mapError(storeError(what)))
    // state calls leave a connection to the lease calls (see `fromClient`)
    const stateSlots = Semaphore.makeUnsafe(Math.max(1, Math.trunc(options?.maxConnections ?? 4) - 1))
    const stateQuery = (what: string, text: string, params: ReadonlyArray<unknown>) =>
      stateSlots.withPermits(1)(query(what, text, params))
    const fenced = (what: string, text: string, lease: Lease, params: ReadonlyArray<unknown>) =>
      Effect.flatMap(
        stateQuery(what, text, [lease.shard, lease.owner, String(lease.epoch), ...params]),
        (rows) => rows.length > 0 ? Effect.void : Effect.fail(StaleEpoch.of(lease))
      )

    const store: ShardStore = {
      acquire: (owner, shards, ttl) =>
        Effect.flatMap(ttlMillis(ttl), (ms) => {
          const sorted = sortedShards(shards)
          if (sorted.length === 0) return Effect.succeed([])
          return Effect.map(
            query("acquire", acquireSql, [intList(sorted), owner, ms]),
            (rows) => rows.map(toLease).sort((a, b) => a.shard - b.shard)
          )
        }),
      renew: (owner, held, ttl) =>
        Effect.flatMap(ttlMillis(ttl), (ms) => {
          if (held.length === 0) return Effect.succeed([])
          const sorted = held.slice().sort((a, b) => a.shard - b.shard)
          return Effect.map(
            query("renew", renewSql, [intList(sorted.map((l) => l.shard)), owner, ms, intList(sorted.map((l) => l.epoch))]),
            (rows) => rows.map(toLease).sort((a, b) => a.shard - b.shard)
          )
        }),
      release: (owner, held) => {
        if (held.length === 0) return Effect.void
        const sorted = held.slice().sort((a, b) => a.shard - b.shard)
        return Effect.asVoid(
          query("release", releaseSql, [intList(sorted.map((l) => l.shard)), owner, intList(sorted.map((l) => l.epoch))])
        )
      },
      leases: () => Effect.map(query("leases", leasesSql, []), (rows) => rows.map(toLease)),
      loadState: (entityType, key) => {
        const stored = storedKey(key)
        return Effect.map(
          stateQuery("loadState", loadSql, [entityType, stored, legacyKey(key, stored)]),
          (rows) => rows.length === 0 ? Option.none() : Option.some(String(rows[0]!.state))
        )
      },
      saveState: (entityType, key, lease, state) => fenced("saveState", saveSql, lease, [entityType, storedKey(key), state]),
      deleteState: (entityType, key, lease) => {
        const stored = storedKey(key)
        return fenced("deleteState", deleteSql, lease, [entityType, stored, legacyKey(key, stored)])
      }
    }
    return store
  })
