/**
 * `telex/postgres`: the shard store of sharded entities in PostgreSQL, for clusters spanning
 * hosts (`import { PgShardStore } from "telex/postgres"`). It runs on `@effect/sql-pg`, an
 * optional peer dependency: `npm install @effect/sql-pg` to use it (without it, importing this
 * entry fails with one line saying so).
 *
 * @example
 * import { PgShardStore } from "telex/postgres"
 *
 * const layer = PgShardStore.layer({ url: "postgres://telex:telex@127.0.0.1:5432/telex" })
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"

// resolved, not loaded: the store loads the client when it connects
try {
  createRequire(import.meta.url).resolve("@effect/sql-pg")
} catch {
  const message = "telex/postgres needs the package @effect/sql-pg (an optional peer dependency of telex): npm install @effect/sql-pg"
  const error = new Error(message)
  error.stack = `Error: ${message}` // printed as one line: the message says it all
  throw error
}

export * as PgShardStore from "./sharding/PgShardStore.ts"
