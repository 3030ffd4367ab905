/**
 * The shard store a cluster config names (`ShardStoreConfig`): the schema (what it accepts and
 * refuses), the default SQLite file beside the config, relative paths, a PostgreSQL URL from the
 * environment, and opening on the first call (a failed open is tried again by the next call).
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Exit, Redacted, Schema } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import * as ShardStoreConfig from "../../src/sharding/ShardStoreConfig.ts"
import { pgSkip, pgUrl, tempDir } from "./_backends.ts"

const decode = Schema.decodeUnknownExit(ShardStoreConfig.StoreConfig)

describe("ShardStoreConfig", () => {
  it("accepts the sqlite and postgres kinds; refuses another kind, a memory store and a bad table prefix", () => {
    assert.isTrue(Exit.isSuccess(decode({ kind: "sqlite" })))
    assert.isTrue(Exit.isSuccess(decode({ kind: "sqlite", path: "data/shards.db" })))
    assert.isTrue(Exit.isSuccess(decode({ kind: "postgres", urlEnv: "PG", tablePrefix: "app_" })))
    assert.isTrue(Exit.isFailure(decode({ kind: "memory" })))
    assert.isTrue(Exit.isFailure(decode({ kind: "mysql" })))
    assert.isTrue(Exit.isFailure(decode({ kind: "sqlite", path: "" })))
    assert.isTrue(Exit.isFailure(decode({ kind: "postgres", tablePrefix: "Drop Table;" })))
  })

  it.live("the default is a SQLite file .telex/<cluster>.shards.db beside the config, created on the first call", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("telex-store-config-")
      const store = yield* ShardStoreConfig.lazy(ShardStoreConfig.open(undefined, { dir, cluster: "my demo" }))
      const file = join(dir, ".telex", "my_demo.shards.db")
      assert.isFalse(existsSync(file), "not opened before its first call")
      assert.deepStrictEqual(yield* store.acquire("n1", [1], "10 seconds"), [{ shard: 1, owner: "n1", epoch: 1 }])
      assert.isTrue(existsSync(file))
      // a second node of the host opens the same file and sees the lease
      const other = yield* ShardStoreConfig.open({ kind: "sqlite" }, { dir, cluster: "my demo" })
      assert.deepStrictEqual(yield* other.leases(), [{ shard: 1, owner: "n1", epoch: 1 }])
    }).pipe(Effect.scoped))

  it.live("a relative SQLite path is relative to the config's directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("telex-store-config-")
      const store = yield* ShardStoreConfig.open({ kind: "sqlite", path: "data/s.db" }, { dir, cluster: "c" })
      yield* store.leases()
      assert.isTrue(existsSync(join(dir, "data", "s.db")))
    }).pipe(Effect.scoped))

  it.live("postgres without a URL: each call fails with a ShardStoreError naming the variable", () =>
    Effect.gen(function*() {
      const store = yield* ShardStoreConfig.lazy(
        ShardStoreConfig.open({ kind: "postgres", urlEnv: "TELEX_TEST_NO_SUCH_VARIABLE" }, { dir: ".", cluster: "c" })
      )
      for (let i = 0; i < 2; i++) {
        const exit = yield* Effect.exit(store.leases())
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(error, ShardStore.ShardStoreError)
        assert.include((error as ShardStore.ShardStoreError).message, "export TELEX_TEST_NO_SUCH_VARIABLE=")
      }
    }).pipe(Effect.scoped))

  it.live.skipIf(pgSkip !== undefined)("postgres with the URL in the environment", () =>
    Effect.gen(function*() {
      const tablePrefix = `telex_cfg_${process.pid}_`
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
      yield* sql.unsafe("SELECT 1") // connected now: a pool cannot connect in a finalizer of its own scope
      yield* Effect.addFinalizer(() =>
        sql.unsafe(`DROP TABLE IF EXISTS ${tablePrefix}shard_lease, ${tablePrefix}entity_state`).pipe(Effect.ignore)
      )
      process.env.TELEX_TEST_PG_URL = pgUrl
      const store = yield* ShardStoreConfig.open({ kind: "postgres", urlEnv: "TELEX_TEST_PG_URL", tablePrefix }, { dir: ".", cluster: "c" })
      const [lease] = yield* store.acquire("n1", [3], "10 seconds")
      yield* store.saveState("E", "k", lease!, "{}")
      assert.deepStrictEqual(yield* store.leases(), [{ shard: 3, owner: "n1", epoch: 1 }])
    }).pipe(Effect.scoped))

  it.effect("lazy: an open that fails fails the call; the next call opens again", () =>
    Effect.gen(function*() {
      let attempts = 0
      const store = yield* ShardStoreConfig.lazy(Effect.suspend(() =>
        ++attempts === 1
          ? Effect.fail(new ShardStore.ShardStoreError({ message: "not yet" }))
          : Effect.succeed(ShardStore.memory())
      ))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(store.leases())))
      assert.deepStrictEqual(yield* store.acquire("n1", [0], 1000), [{ shard: 0, owner: "n1", epoch: 1 }])
      assert.deepStrictEqual(yield* store.leases(), [{ shard: 0, owner: "n1", epoch: 1 }])
      assert.strictEqual(attempts, 2, "opened once it succeeded")
    }).pipe(Effect.scoped))
})
