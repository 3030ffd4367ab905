/**
 * The `ShardStore` contract, run against every implementation: leases (acquire, renew, expiry,
 * release, epochs that only grow) and entity state fenced by the lease epoch. The memory store
 * runs on `TestClock`; SQLite and PostgreSQL on real time, with ttls chosen so that a lease that
 * must stay held has a long ttl and one that must expire a short one followed by a longer wait
 * (waits are lower bounds even on a loaded machine, so nothing here depends on speed).
 *
 * PostgreSQL runs when `TELEX_PG_URL` names a reachable server (each store gets tables of its own
 * prefix, dropped at the end); otherwise one line says why it is skipped.
 */
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { join } from "node:path"
import { Cause, Effect, Exit, Fiber, Option, Redacted, Scope } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { TestClock } from "effect/testing"
import { vi } from "vitest"
import * as PgShardStore from "../../src/sharding/PgShardStore.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import * as SqliteShardStore from "../../src/sharding/SqliteShardStore.ts"
import { backends, pgSkip, pgUrl, tempDir } from "./_backends.ts"

if (pgSkip !== undefined) console.log(`shard store on PostgreSQL skipped: ${pgSkip}`)

const LONG = "60 seconds"
const SHORT = 100

describe.each(backends)("ShardStore contract: $name", (backend) => {
  const test = (name: string, body: (store: ShardStore.ShardStore) => Effect.Effect<void, unknown, Scope.Scope>) =>
    (backend.live ? it.live : it.effect).skipIf(backend.skip !== undefined)(name, () =>
      Effect.gen(function*() {
        const store = yield* backend.make
        yield* body(store)
      }).pipe(Effect.scoped))
  /** long enough for a lease of ttl SHORT to be expired, whatever the machine's load */
  const expire = backend.live ? Effect.sleep(3 * SHORT) : TestClock.adjust(3 * SHORT)

  test("acquires free shards with epoch 1, and leases() lists them", (store) =>
    Effect.gen(function*() {
      const got = yield* store.acquire("a", [3, 1, 2, 1], LONG)
      assert.deepStrictEqual(got, [1, 2, 3].map((shard) => ({ shard, owner: "a", epoch: 1 })))
      assert.deepStrictEqual(yield* store.leases(), got)
    }))

  test("a held shard is refused to another owner; the free ones are granted", (store) =>
    Effect.gen(function*() {
      yield* store.acquire("a", [1, 2], LONG)
      const got = yield* store.acquire("b", [1, 2, 3], LONG)
      assert.deepStrictEqual(got, [{ shard: 3, owner: "b", epoch: 1 }])
      assert.deepStrictEqual((yield* store.leases()).map((l) => [l.shard, l.owner]), [[1, "a"], [2, "a"], [3, "b"]])
    }))

  test("renew and re-acquire by the holder keep the epoch and extend the lease", (store) =>
    Effect.gen(function*() {
      // a second is the ttl that must not run out before the renew, however loaded the machine
      const [lease] = yield* store.acquire("a", [7], 1000)
      const renewed = yield* store.renew("a", [lease!], LONG)
      assert.deepStrictEqual(renewed, [lease])
      yield* backend.live ? Effect.sleep(1200) : TestClock.adjust(1200)
      assert.deepStrictEqual(yield* store.acquire("b", [7], LONG), [], "renewed with the long ttl: still a's")
      assert.deepStrictEqual(yield* store.acquire("a", [7], LONG), [lease], "a re-acquire by the holder is a renewal")
    }))

  test("after expiry another owner acquires with epoch + 1; the old owner's renew gets nothing", (store) =>
    Effect.gen(function*() {
      const [old] = yield* store.acquire("a", [5], SHORT)
      yield* expire
      assert.deepStrictEqual(yield* store.leases(), [], "expired leases are not listed")
      assert.deepStrictEqual(yield* store.acquire("b", [5], LONG), [{ shard: 5, owner: "b", epoch: 2 }])
      assert.deepStrictEqual(yield* store.renew("a", [old!], LONG), [])
      assert.deepStrictEqual(yield* store.acquire("a", [5], LONG), [])
    }))

  test("an expired lease is not renewed even if nobody took it; its owner re-acquires with a new epoch", (store) =>
    Effect.gen(function*() {
      const [old] = yield* store.acquire("a", [4], SHORT)
      yield* expire
      assert.deepStrictEqual(yield* store.renew("a", [old!], LONG), [])
      assert.deepStrictEqual(yield* store.acquire("a", [4], LONG), [{ shard: 4, owner: "a", epoch: 2 }])
    }))

  test("renew ignores leases of another owner or epoch", (store) =>
    Effect.gen(function*() {
      const [lease] = yield* store.acquire("a", [9], LONG)
      assert.deepStrictEqual(yield* store.renew("b", [{ ...lease!, owner: "b" }], LONG), [])
      assert.deepStrictEqual(yield* store.renew("a", [{ ...lease!, epoch: 2 }], LONG), [])
      assert.deepStrictEqual(yield* store.renew("a", [lease!, { shard: 10, owner: "a", epoch: 1 }], LONG), [lease])
    }))

  test("release frees the lease at once (epochs keep growing); a release with a stale epoch is ignored", (store) =>
    Effect.gen(function*() {
      const [lease] = yield* store.acquire("a", [1], LONG)
      yield* store.release("a", [{ ...lease!, epoch: 0 }])
      assert.deepStrictEqual(yield* store.acquire("b", [1], LONG), [], "a stale release changed nothing")
      yield* store.release("b", [{ ...lease!, owner: "b" }])
      assert.deepStrictEqual(yield* store.acquire("b", [1], LONG), [], "another owner's release changed nothing")
      yield* store.release("a", [lease!])
      assert.deepStrictEqual(yield* store.leases(), [])
      assert.deepStrictEqual(yield* store.acquire("b", [1], LONG), [{ shard: 1, owner: "b", epoch: 2 }])
      yield* store.release("b", [{ shard: 1, owner: "b", epoch: 2 }])
      assert.deepStrictEqual(yield* store.acquire("a", [1], LONG), [{ shard: 1, owner: "a", epoch: 3 }])
    }))

  test("saveState under the current lease is loaded back; overwrite and delete too", (store) =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* store.loadState("Cart", "k1")))
      const [fence] = yield* store.acquire("a", [2], LONG)
      yield* store.saveState("Cart", "k1", fence!, `{"items":["book"]}`)
      yield* store.saveState("Cart", "k2", fence!, `{"items":[]}`)
      assert.deepStrictEqual(yield* store.loadState("Cart", "k1"), Option.some(`{"items":["book"]}`))
      assert.isTrue(Option.isNone(yield* store.loadState("Other", "k1")), "entity types are separate")
      yield* store.saveState("Cart", "k1", fence!, `{"items":["book","pen"]}`)
      assert.deepStrictEqual(yield* store.loadState("Cart", "k1"), Option.some(`{"items":["book","pen"]}`))
      yield* store.deleteState("Cart", "k1", fence!)
      assert.isTrue(Option.isNone(yield* store.loadState("Cart", "k1")))
      assert.deepStrictEqual(yield* store.loadState("Cart", "k2"), Option.some(`{"items":[]}`))
    }))

  test("fencing: a stale owner's late write and delete are refused with StaleEpoch, the new owner's kept", (store) =>
    Effect.gen(function*() {
      const [old] = yield* store.acquire("a", [6], LONG)
      yield* store.saveState("E", "k", old!, "a1")
      assert.deepStrictEqual(yield* store.renew("a", [old!], SHORT), [old], "a renewal may shorten the lease")
      yield* expire
      const expired = yield* Effect.exit(store.saveState("E", "k", old!, "a-expired"))
      assertStale(expired, 6, 1)
      const [fresh] = yield* store.acquire("b", [6], LONG)
      assertStale(yield* Effect.exit(store.saveState("E", "k", old!, "a-late")), 6, 1)
      assertStale(yield* Effect.exit(store.deleteState("E", "k", old!)), 6, 1)
      assert.deepStrictEqual(yield* store.loadState("E", "k"), Option.some("a1"))
      yield* store.saveState("E", "k", fresh!, "b1")
      assertStale(yield* Effect.exit(store.saveState("E", "k", { ...fresh!, owner: "a" }, "wrong owner")), 6, 2)
      assertStale(yield* Effect.exit(store.saveState("E", "k", { ...fresh!, epoch: 3 }, "future epoch")), 6, 3)
      assertStale(yield* Effect.exit(store.saveState("E", "k", { shard: 8, owner: "b", epoch: 1 }, "never held")), 8, 1)
      assert.deepStrictEqual(yield* store.loadState("E", "k"), Option.some("b1"))
      yield* store.release("b", [fresh!])
      assertStale(yield* Effect.exit(store.saveState("E", "k", fresh!, "after release")), 6, 2)
      assert.deepStrictEqual(yield* store.loadState("E", "k"), Option.some("b1"))
    }))

  test("state text round-trips: unicode, quotes, an empty string and a large value", (store) =>
    Effect.gen(function*() {
      const [fence] = yield* store.acquire("a", [0], LONG)
      const values = ["", `{"q":"it's \\"x\\""}`, "κλειδί ✓ \\u0000 end", "x".repeat(200_000)]
      for (const [i, v] of values.entries()) yield* store.saveState("T", `key ${i} ✓`, fence!, v)
      for (const [i, v] of values.entries()) {
        assert.deepStrictEqual(yield* store.loadState("T", `key ${i} ✓`), Option.some(v))
      }
    }))

  test("a ttl that grants no time fails with ShardStoreError", (store) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(store.acquire("a", [1], 0))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(yield* store.leases(), [])
    }))

  test("1 024 shards in one call: acquire, renew, release", (store) =>
    Effect.gen(function*() {
      const all = Array.from({ length: 1024 }, (_, i) => i)
      const got = yield* store.acquire("a", all, LONG)
      assert.strictEqual(got.length, 1024)
      assert.strictEqual((yield* store.acquire("b", all, LONG)).length, 0)
      assert.strictEqual((yield* store.renew("a", got, LONG)).length, 1024)
      yield* store.release("a", got.slice(0, 512))
      const b = yield* store.acquire("b", all, LONG)
      assert.deepStrictEqual(b.map((l) => [l.shard, l.epoch]), all.slice(0, 512).map((s) => [s, 2]))
    }))
})

const assertStale = (exit: Exit.Exit<void, unknown>, shard: number, epoch: number) => {
  assert.isTrue(Exit.isFailure(exit), "expected StaleEpoch, the write succeeded")
  const failure = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  assert.instanceOf(failure, ShardStore.StaleEpoch)
  assert.deepInclude(failure, { shard, epoch })
}

describe("ShardStore.severable and the memory store's events", () => {
  it.effect("a severed view fails every call with ShardStoreError and changes nothing; heal restores it", () =>
    Effect.gen(function*() {
      const events: Array<ShardStore.StoreEvent> = []
      const shared = ShardStore.memory({ onEvent: (e) => events.push(e) })
      const n1 = ShardStore.severable(shared, "n1")
      const n2 = ShardStore.severable(shared, "n2")
      const [lease] = yield* n1.store.acquire("n1", [1], 1000)
      n1.sever()
      assert.isTrue(n1.isSevered())
      const calls: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
        n1.store.acquire("n1", [2], 1000),
        n1.store.renew("n1", [lease!], 1000),
        n1.store.release("n1", [lease!]),
        n1.store.leases(),
        n1.store.loadState("E", "k"),
        n1.store.saveState("E", "k", lease!, "x"),
        n1.store.deleteState("E", "k", lease!)
      ]
      for (const call of calls) {
        const exit = yield* Effect.exit(call)
        assert.isTrue(Exit.isFailure(exit))
        assert.instanceOf(Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined, ShardStore.ShardStoreError)
      }
      // the other node still reaches the store, and sees n1's lease run out
      assert.deepStrictEqual(yield* n2.store.leases(), [lease])
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(yield* n2.store.acquire("n2", [1], 1000), [{ shard: 1, owner: "n2", epoch: 2 }])
      n1.heal()
      assert.deepStrictEqual(yield* n1.store.renew("n1", [lease!], 1000), [])
      yield* n2.store.saveState("E", "k", { shard: 1, owner: "n2", epoch: 2 }, "v")
      yield* n2.store.release("n2", [{ shard: 1, owner: "n2", epoch: 2 }])
      assert.deepStrictEqual(events, [
        { _tag: "Acquired", lease: { shard: 1, owner: "n1", epoch: 1 }, at: 0, until: 1000 },
        { _tag: "Acquired", lease: { shard: 1, owner: "n2", epoch: 2 }, at: 1000, until: 2000 },
        { _tag: "StateSaved", entityType: "E", key: "k", fence: { shard: 1, owner: "n2", epoch: 2 }, state: "v", at: 1000 },
        { _tag: "Released", lease: { shard: 1, owner: "n2", epoch: 2 }, at: 1000 }
      ])
    }))

  it.effect("a degraded view: calls reach the store late and answer late (a cut meanwhile loses the reply), some fail; heal ends it", () =>
    Effect.gen(function*() {
      const shared = ShardStore.memory()
      const n1 = ShardStore.severable(shared, "n1")
      n1.degrade({ requestMillis: 100, replyMillis: 50 })
      const acquiring = yield* Effect.forkChild(n1.store.acquire("n1", [1], 1000))
      yield* TestClock.adjust(99)
      assert.deepStrictEqual(yield* shared.leases(), [], "not at the store yet")
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(yield* shared.leases(), [{ shard: 1, owner: "n1", epoch: 1 }], "applied at the store")
      assert.isUndefined(acquiring.pollUnsafe(), "its reply still on its way")
      yield* TestClock.adjust(50)
      assert.deepStrictEqual(yield* Fiber.join(acquiring), [{ shard: 1, owner: "n1", epoch: 1 }])
      // cut while the reply is on its way: applied, and the caller gets an error
      const cut = yield* Effect.forkChild(Effect.exit(n1.store.acquire("n1", [2], 1000)))
      yield* TestClock.adjust(100)
      n1.sever()
      yield* TestClock.adjust(50)
      assert.isTrue(Exit.isFailure(yield* Fiber.join(cut)))
      assert.deepStrictEqual((yield* shared.leases()).map((l) => l.shard), [1, 2])
      n1.heal()
      // failing: a share of the calls fail without reaching the store (rate 1: all)
      n1.degrade({ failRate: 1 })
      assert.isTrue(Exit.isFailure(yield* Effect.exit(n1.store.release("n1", [{ shard: 1, owner: "n1", epoch: 1 }]))))
      n1.heal()
      yield* n1.store.release("n1", [{ shard: 1, owner: "n1", epoch: 1 }])
      assert.deepStrictEqual((yield* shared.leases()).map((l) => l.shard), [2])
    }))
})

describe.skipIf(pgSkip !== undefined)("PgShardStore", () => {
  it.live("a finalizer of the scope the store was opened in still reaches the server, after its connections were lost", () =>
    Effect.gen(function*() {
      const tablePrefix = `telex_fin_${process.pid}_`
      const applicationName = `telex-test-${process.pid}`
      const admin = yield* PgClient.make({ url: Redacted.make(pgUrl), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
      yield* admin.unsafe("SELECT 1") // connected now: it drops the tables in the last finalizer
      yield* Effect.addFinalizer(() =>
        admin.unsafe(`DROP TABLE IF EXISTS ${tablePrefix}shard_lease, ${tablePrefix}entity_state`).pipe(Effect.ignore)
      )
      const released = yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* PgShardStore.make({ url: pgUrl, tablePrefix, applicationName })
        const [lease] = yield* store.acquire("n1", [1], LONG)
        const result: Array<string> = []
        // as a node's sharding does when it stops: give its leases up
        yield* Effect.addFinalizer(() =>
          store.release("n1", [lease!]).pipe(
            Effect.retry({ times: 2 }), // the first call may get a connection the server closed
            Effect.match({ onFailure: (e) => result.push(`failed: ${e.message}`), onSuccess: () => result.push("released") })
          )
        )
        yield* admin.unsafe("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [applicationName])
        return result
      }))
      assert.deepStrictEqual(released, ["released"])
      const after = yield* Effect.scoped(Effect.flatMap(PgShardStore.make({ url: pgUrl, tablePrefix }), (s) => s.leases()))
      assert.deepStrictEqual(after, [])
    }).pipe(Effect.scoped, Effect.timeout("20 seconds")))
})

describe("SqliteShardStore", () => {
  it.live("waits for a lock another process holds without blocking the thread, then proceeds; fails past busyTimeoutMs", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir("telex-shard-lock-"), "shards.db")
      const store = yield* SqliteShardStore.make(path)
      const impatient = yield* SqliteShardStore.make(path, { busyTimeoutMs: 100 })
      // another process's connection, in the middle of a write transaction
      const { DatabaseSync } = process.getBuiltinModule("node:sqlite")
      const other = new DatabaseSync(path)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("BEGIN IMMEDIATE")
      const waiting = yield* Effect.forkChild(store.acquire("n1", [1], LONG))
      // this fiber's timer fires while the acquire waits: the thread is not blocked
      yield* Effect.sleep(300)
      assert.isUndefined(waiting.pollUnsafe(), "the acquire waits for the lock")
      const refused = yield* Effect.exit(impatient.acquire("n2", [1], LONG))
      assert.include(String(Exit.isFailure(refused) ? Cause.squash(refused.cause) : ""), "locked for 100 ms")
      other.exec("COMMIT")
      assert.deepStrictEqual(yield* Fiber.join(waiting), [{ shard: 1, owner: "n1", epoch: 1 }])
    }).pipe(Effect.scoped))

  it.effect("a lease's last millisecond (now = expires_at): no other owner may take it, its owner gets a new epoch; the next, anyone may", () =>
    Effect.gen(function*() {
      const store = yield* SqliteShardStore.make(join(yield* tempDir("telex-shard-tick-"), "shards.db"))
      // the store's clock is Date.now(), in whole milliseconds: stamped in the ms t0, a lease may
      // have been stamped up to 1 ms after t0, so in the ms t0 + ttl it may still run in real time
      let t = 1_000_000
      const clock = vi.spyOn(Date, "now").mockImplementation(() => t)
      yield* Effect.addFinalizer(() => Effect.sync(() => clock.mockRestore()))
      const [a1, a2] = yield* store.acquire("a", [1, 2], 100)
      t += 99
      yield* store.saveState("E", "k", a1!, "a1")
      t += 1
      assert.deepStrictEqual(yield* store.acquire("b", [1, 2], 100), [], "another owner waits for the next ms")
      // for its owner the lease is over (it counts it valid while now < expires_at): not renewed, writes refused
      assert.deepStrictEqual(yield* store.renew("a", [a1!], 100), [])
      assertStale(yield* Effect.exit(store.saveState("E", "k", a1!, "a-last-ms")), 1, 1)
      // its owner may acquire it anew (it alone holds both epochs; the old one's writes stay refused)
      assert.deepStrictEqual(yield* store.acquire("a", [1], 100), [{ shard: 1, owner: "a", epoch: 2 }])
      assertStale(yield* Effect.exit(store.saveState("E", "k", a1!, "a-old-epoch")), 1, 1)
      t += 1
      assert.deepStrictEqual(yield* store.acquire("b", [1, 2], 100), [{ shard: 2, owner: "b", epoch: 2 }])
      assert.deepStrictEqual(a2, { shard: 2, owner: "a", epoch: 1 })
      assert.deepStrictEqual(yield* store.loadState("E", "k"), Option.some("a1"))
    }).pipe(Effect.scoped))
})
