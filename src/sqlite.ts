/**
 * `telex/sqlite`: the durable `DeliveryStore` of reliable channels, in a SQLite file
 * (`import { SqliteStore } from "telex/sqlite"`). The only entry point that loads the native
 * better-sqlite3 — an optional peer dependency: `npm install better-sqlite3` to use it.
 *
 * @example
 * import { SqliteStore } from "telex/sqlite"
 *
 * const store = SqliteStore.make(":memory:")
 * store.close()
 *
 * @since 0.1.0
 */
export * as SqliteStore from "./reliable/SqliteStore.ts"
