/**
 * The shard stores the contract runs against: how to make a fresh one (in the test's scope) and
 * whether it runs on real time. A backend that cannot run here says why in `skip`.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { Scope } from "effect"
import * as PgShardStore from "../../src/sharding/PgShardStore.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import * as SqliteShardStore from "../../src/sharding/SqliteShardStore.ts"

/** a fresh directory, removed when the scope closes */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

export interface Backend {
  readonly name: string
  /** a fresh, empty store */
  readonly make: Effect.Effect<ShardStore.ShardStore, unknown, Scope.Scope>
  /** true: real time (the store's own clock); false: Effect's Clock (TestClock under it.effect) */
  readonly live: boolean
  /** why this backend is skipped here, if it is */
  readonly skip?: string | undefined
}

const PG_URL = process.env.TELEX_PG_URL

/** tables of their own for each store (tests run in parallel on one database), dropped at the end */
const pgStore = (url: string): Effect.Effect<ShardStore.ShardStore, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = `telex_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}_`
    const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
    const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 2, connectTimeout: "3 seconds" }).pipe(
      Effect.provide(Reactivity.layer)
    )
    yield* Effect.addFinalizer(() =>
      sql.unsafe(`DROP TABLE IF EXISTS ${prefix}shard_lease, ${prefix}entity_state`).pipe(Effect.ignore)
    )
    return yield* PgShardStore.fromClient(sql, prefix, { maxConnections: 2 })
  })

/** why the PostgreSQL tests cannot run here, or undefined when they can */
export const pgSkip: string | undefined = PG_URL === undefined
  ? "TELEX_PG_URL is not set"
  : await Effect.runPromise(
    Effect.promise(() => import("@effect/sql-pg")).pipe(
      Effect.flatMap(({ PgClient }) =>
        PgClient.make({ url: Redacted.make(PG_URL), maxConnections: 1, connectTimeout: "3 seconds" })
      ),
      Effect.flatMap((sql) => sql.unsafe("SELECT 1")),
      Effect.provide(Reactivity.layer),
      Effect.scoped,
      Effect.timeout("10 seconds"),
      Effect.match({ onFailure: (e) => `${PG_URL} is unreachable (${String(e)})`, onSuccess: () => undefined })
    )
  )

export const pgUrl: string = PG_URL ?? ""

export const backends: ReadonlyArray<Backend> = [
  { name: "memory", make: Effect.sync(() => ShardStore.memory()), live: false },
  {
    name: "sqlite",
    make: Effect.flatMap(tempDir("telex-shard-store-"), (dir) => SqliteShardStore.make(join(dir, "shards.db"))),
    live: true
  },
  { name: "postgres", make: pgStore(pgUrl), live: true, skip: pgSkip }
]

/**
 * A schema of this run's own in the test database, dropped at the end: the nodes' tables (the
 * config has no table prefix) are then apart from any other cluster using the same database.
 * Returns the URL whose connections use it.
 */
export const ownSchema = (url: string, name: string): Effect.Effect<string, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
    const admin = PgClient.make({ url: Redacted.make(url), maxConnections: 1, connectTimeout: "3 seconds" })
    const run = (statement: string) =>
      Effect.flatMap(admin, (sql) => sql.unsafe(statement)).pipe(Effect.provide(Reactivity.layer), Effect.scoped)
    yield* Effect.acquireRelease(run(`CREATE SCHEMA ${name}`), () => Effect.ignore(run(`DROP SCHEMA ${name} CASCADE`)))
    const withSchema = new URL(url)
    withSchema.searchParams.set("options", `-c search_path=${name}`)
    return withSchema.toString()
  })
