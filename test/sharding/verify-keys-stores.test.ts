/**
 * Entity keys at the edges with durable state in every shard store (SQLite, PostgreSQL): a key
 * with a NUL (PostgreSQL's text refuses the byte), keys of many kilobytes (past a B-tree index
 * entry's limit, about 2.7 kB in PostgreSQL, even compressed when they are random), keys that
 * differ only after their first kilobytes. Each keeps its own state across activations and
 * nodes, as in the memory store: no raw driver error, no two keys sharing a row.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgShardStore from "../../src/sharding/PgShardStore.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import type { ActorSystem } from "../../src/system/ActorSystem.ts"
import { backends, pgSkip, pgUrl } from "./_backends.ts"
import { Counter, CounterEntity, fast, quiet, soloLayer } from "./_runtime.ts"

/** `n` characters that compress badly (a B-tree entry cannot shrink them) */
const noisy = (seed: number, n: number): string => {
  let x = seed >>> 0 || 1
  let s = ""
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    s += String.fromCharCode(0x21 + (x % 0x5e))
  }
  return s
}

const long = noisy(7, 20_000)
const keys = [
  "a\u0000b",
  "a\u0000",
  "a",
  "\u0000",
  "\u0001",
  "\u0001x",
  "x".repeat(100_000),
  noisy(1, 3_000),
  noisy(2, 50_000),
  long,
  `${long}!`,
  `${long.slice(0, -1)}?`,
  `é${"日本".repeat(2_000)}\u0000🙂`
]

describe("sharding: keys at the edges, with state in each store", () => {
  for (const backend of backends.filter((b) => b.live)) {
    it.live.skipIf(backend.skip !== undefined)(`${backend.name}: each key keeps its own state across activations`, () =>
      quiet(Effect.gen(function*() {
        const store = yield* backend.make
        const run = <A, E>(effect: Effect.Effect<A, E, Sharding | ActorSystem>) =>
          effect.pipe(Effect.provide(soloLayer({ ...fast, entities: [CounterEntity] }, store)))
        yield* run(Effect.gen(function*() {
          const counters = yield* Sharding.entity(CounterEntity)
          for (const [i, k] of keys.entries()) {
            assert.strictEqual(yield* counters.ref(k).ask(Counter.Get()), 0, `key #${i} starts from nothing`)
            yield* counters.ref(k).tell(Counter.Add({ by: i + 1 }))
            assert.strictEqual(yield* counters.ref(k).ask(Counter.Get()), i + 1, `key #${i}`)
          }
        }))
        // another node (the first released its leases): every key's state is loaded from the store
        yield* run(Effect.gen(function*() {
          const counters = yield* Sharding.entity(CounterEntity)
          for (const [i, k] of keys.entries()) {
            assert.strictEqual(yield* counters.ref(k).ask(Counter.Get(), { timeout: "10 seconds" }), i + 1, `key #${i} after a restart`)
            assert.strictEqual(yield* counters.ref(k).ask(Counter.Key()), k, `key #${i}`)
          }
        }))
      }).pipe(Effect.scoped)), 60_000)
  }

  it.live.skipIf(pgSkip !== undefined)("postgres: a long key's state saved as the key itself (by an earlier version) is still found, and deleted", () =>
    Effect.gen(function*() {
      const prefix = `telex_keys_${process.pid}_${Math.random().toString(36).slice(2, 8)}_`
      const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl), maxConnections: 2 }).pipe(Effect.provide(Reactivity.layer))
      yield* Effect.addFinalizer(() => sql.unsafe(`DROP TABLE IF EXISTS ${prefix}shard_lease, ${prefix}entity_state`).pipe(Effect.ignore))
      const store = yield* PgShardStore.fromClient(sql, prefix, { maxConnections: 2 })
      const key = "y".repeat(5_000)
      assert.notStrictEqual(PgShardStore.storedKey(key), key)
      yield* sql.unsafe(`INSERT INTO ${prefix}entity_state (entity_type, key, state, shard, epoch) VALUES ('T', $1, '41', 0, 1)`, [key])
      assert.deepStrictEqual(yield* store.loadState("T", key), Option.some("41"))
      const [lease] = yield* store.acquire("n#1", [0], "10 seconds")
      yield* store.saveState("T", key, lease!, "42")
      assert.deepStrictEqual(yield* store.loadState("T", key), Option.some("42"), "the stored key's row first")
      yield* store.deleteState("T", key, lease!)
      assert.deepStrictEqual(yield* store.loadState("T", key), Option.none())
      const left = yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${prefix}entity_state`)
      assert.strictEqual(left[0]!.n, 0)
    }).pipe(Effect.scoped), 30_000)
})
