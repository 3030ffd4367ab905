/**
 * Which shard store a cluster's nodes share, as the cluster config names it
 * (`"sharding": { "store": ... }`), and the node's `ShardStore.Service` opened from it.
 *
 * - `{ "kind": "sqlite", "path": "shards.db" }` — a SQLite file shared by the nodes of one host
 *   (a relative path is relative to the config file). The default, with the path
 *   `.telex/<cluster>.shards.db` beside the config file: `telex start` needs nothing else.
 * - `{ "kind": "postgres", "urlEnv": "TELEX_PG_URL" }` — PostgreSQL, for nodes on several hosts
 *   (needs `@effect/sql-pg`). The URL is read from the environment variable `urlEnv` (default
 *   `TELEX_PG_URL`) so that its password stays out of the config; `url` may give it instead.
 *   `tablePrefix` keeps several clusters in one database.
 *
 * There is no in-memory kind here: each node of a config is its own process, and nodes with a
 * store each of their own would all own every shard (`ShardStore.memory()` is for `SimCluster`).
 *
 * The store is opened on its first call, not when the node starts: a node whose app uses no
 * sharding never creates the file or connects. A store that cannot be opened fails that call
 * with `ShardStoreError` (the next call tries again).
 *
 * @since 0.1.0
 */
import { mkdirSync } from "node:fs"
import { dirname, isAbsolute, join, resolve } from "node:path"
import { Effect, Layer, Schema, Scope, Semaphore } from "effect"
import * as PgShardStore from "./PgShardStore.ts"
import { Service, type ShardStore, ShardStoreError } from "./ShardStore.ts"
import * as SqliteShardStore from "./SqliteShardStore.ts"

export const SqliteStoreConfig = Schema.Struct({
  kind: Schema.Literal("sqlite"),
  path: Schema.optional(Schema.String.check(Schema.isNonEmpty()).annotate({
    description: "the SQLite file, relative to the config file (default .telex/<cluster>.shards.db)"
  }))
}).annotate({ description: "a SQLite file shared by the nodes of one host" })

export const PgStoreConfig = Schema.Struct({
  kind: Schema.Literal("postgres"),
  url: Schema.optional(Schema.String.annotate({ description: "postgres://user:password@host:port/database (prefer urlEnv)" })),
  urlEnv: Schema.optional(Schema.String.annotate({ description: "the environment variable holding the URL (default TELEX_PG_URL)" })),
  tablePrefix: Schema.optional(Schema.String.check(Schema.isPattern(/^[a-z_][a-z0-9_]{0,40}$/u, {
    message: "lower-case letters, digits and _"
  })).annotate({ description: "prefix of the store's tables (default telex_)" }))
}).annotate({ description: "PostgreSQL, for nodes on several hosts (needs @effect/sql-pg)" })

export const StoreConfig = Schema.Union([SqliteStoreConfig, PgStoreConfig]).annotate({
  description: "where shard leases and entity state are kept (default: { \"kind\": \"sqlite\" })"
})
export type StoreConfig = typeof StoreConfig.Type

export interface Context {
  /** the directory of the config file: relative paths are relative to it */
  readonly dir: string
  /** the cluster's name (names the default SQLite file) */
  readonly cluster: string
}

/** The default SQLite file of a cluster: `.telex/<cluster>.shards.db` in `dir`. */
export const defaultSqlitePath = (context: Context): string =>
  join(context.dir, ".telex", `${context.cluster.replace(/[^A-Za-z0-9_.-]/g, "_")}.shards.db`)

/** Opens the store `config` names (the default SQLite file when undefined), in the scope. */
export const open = (config: StoreConfig | undefined, context: Context): Effect.Effect<ShardStore, ShardStoreError, Scope.Scope> => {
  if (config === undefined || config.kind === "sqlite") {
    const path = config?.path === undefined
      ? defaultSqlitePath(context)
      : isAbsolute(config.path) || config.path === ":memory:"
      ? config.path
      : resolve(context.dir, config.path)
    return Effect.flatMap(
      Effect.try({
        try: () => {
          if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true })
        },
        catch: (e) => new ShardStoreError({ message: `cannot create the directory of ${path}: ${String(e)}` })
      }),
      () => SqliteShardStore.make(path)
    )
  }
  const variable = config.urlEnv ?? "TELEX_PG_URL"
  const url = config.url ?? process.env[variable]
  if (url === undefined || url === "") {
    return Effect.fail(new ShardStoreError({ message: `the shard store's PostgreSQL URL is not set: export ${variable}=postgres://...` }))
  }
  return PgShardStore.make({ url, tablePrefix: config.tablePrefix })
}

/**
 * A store opened on its first call (then kept until the scope closes); an open that fails fails
 * that call, and the next call tries again.
 */
export const lazy = (openStore: Effect.Effect<ShardStore, ShardStoreError, Scope.Scope>): Effect.Effect<ShardStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const lock = yield* Semaphore.make(1)
    let store: ShardStore | undefined
    const get = lock.withPermits(1)(Effect.suspend(() =>
      store !== undefined ? Effect.succeed(store) : openStore.pipe(
        Scope.provide(scope),
        Effect.tap((s) =>
          Effect.sync(() => {
            store = s
          })
        )
      )
    ))
    return {
      acquire: (owner, shards, ttl) => Effect.flatMap(get, (s) => s.acquire(owner, shards, ttl)),
      renew: (owner, leases, ttl) => Effect.flatMap(get, (s) => s.renew(owner, leases, ttl)),
      release: (owner, leases) => Effect.flatMap(get, (s) => s.release(owner, leases)),
      leases: () => Effect.flatMap(get, (s) => s.leases()),
      loadState: (entityType, key) => Effect.flatMap(get, (s) => s.loadState(entityType, key)),
      saveState: (entityType, key, fence, state) => Effect.flatMap(get, (s) => s.saveState(entityType, key, fence, state)),
      deleteState: (entityType, key, fence) => Effect.flatMap(get, (s) => s.deleteState(entityType, key, fence))
    } satisfies ShardStore
  })

/** The node's `ShardStore.Service` from the config, opened on its first call. */
export const layer = (config: StoreConfig | undefined, context: Context): Layer.Layer<Service> =>
  Layer.effect(Service, lazy(open(config, context)))
