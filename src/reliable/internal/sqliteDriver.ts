/**
 * Loads better-sqlite3 (an optional peer dependency: only `telex/sqlite` needs it) when the
 * SQLite store's module is evaluated: on an unsupported Node.js, or without the package
 * installed, importing `telex/sqlite` fails with one line saying what to do.
 *
 * @since 0.1.0
 */
import type BetterSqlite3 from "better-sqlite3"
import { createRequire } from "node:module"
import * as NodeVersion from "./nodeVersion.ts"

export type Driver = typeof BetterSqlite3

export const load = (): Driver => {
  // checked first: a native module built for another Node.js ABI may crash the process
  NodeVersion.check("telex/sqlite")
  try {
    return createRequire(import.meta.url)("better-sqlite3") as Driver
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    if (error.code === "MODULE_NOT_FOUND" && error.message.includes("'better-sqlite3'")) {
      throw NodeVersion.oneLineError(
        "telex/sqlite needs the package better-sqlite3 (an optional peer dependency of telex): npm install better-sqlite3"
      )
    }
    throw e
  }
}
