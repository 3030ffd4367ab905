/**
 * Entity keys at the edges (Pekko's ClusterShardingSpec extractors, Orleans' string grain keys):
 * the empty key, a 100 000-character key, non-ASCII keys, keys with a NUL or a slash — each its
 * own entity with its own state, on its owner's node and through another node, and its shard is
 * FNV-1a 32 of its UTF-8 bytes (docs/protocol.md 14.1, computed here independently of the
 * implementation). A key that is not well-formed UTF-16 (a lone surrogate) has no UTF-8 form: it
 * would reach another node as U+FFFD — another key's entity — so its sends are refused with
 * `InvalidMessage` wherever it is sent from.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, connect, fast, quiet, settled, soloLayer, startNode } from "./_runtime.ts"

const fnv1a32Utf8 = (key: string): number => {
  let h = 0x811c9dc5
  for (const b of Buffer.from(key, "utf8")) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

const keys = ["", "x".repeat(100_000), "é", "e\u0301", "日本", "🙂", "\uFFFD", "a\u0000b", "a\u0000", " ", "a/b", "a#1"]
const lone = ["\uD800", "a\uDC00b", "\uDBFF", "🙂".slice(0, 1)]

describe("sharding: keys at the edges", () => {
  it.live("each key is its own entity with its own state, its shard the FNV-1a 32 of its UTF-8 bytes", () =>
    quiet(Effect.gen(function*() {
      const sharding = yield* Sharding
      const counters = yield* Sharding.entity(CounterEntity)
      for (const [i, k] of keys.entries()) {
        assert.strictEqual(sharding.shardOf(k), fnv1a32Utf8(k) % fast.shards, `shard of key #${i}`)
        assert.strictEqual(counters.ref(k).shard, sharding.shardOf(k))
        yield* counters.ref(k).tell(Counter.Add({ by: i + 1 }))
      }
      for (const [i, k] of keys.entries()) {
        assert.strictEqual(yield* counters.ref(k).ask(Counter.Get()), i + 1, `key #${i}`)
        assert.strictEqual(yield* counters.ref(k).ask(Counter.Key()), k, `key #${i}`)
      }
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [CounterEntity] })))), 30_000)

  it.live("across nodes: every key reaches its own entity from either node; a lone surrogate is refused, never aliased", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const ca = yield* a.sharding.entity(CounterEntity)
      const cb = yield* b.sharding.entity(CounterEntity)
      for (const [i, k] of keys.entries()) yield* ca.ref(k).tell(Counter.Add({ by: i + 1 }))
      for (const [i, k] of keys.entries()) {
        assert.strictEqual(yield* ca.ref(k).ask(Counter.Get()), i + 1, `key #${i} from a`)
        assert.strictEqual(yield* cb.ref(k).ask(Counter.Get()), i + 1, `key #${i} from b`)
        assert.strictEqual(yield* cb.ref(k).ask(Counter.Key()), k, `key #${i} from b`)
      }
      for (const k of lone) {
        for (const client of [ca, cb]) {
          const told = yield* Effect.flip(client.ref(k).tell(Counter.Add({ by: 100 })))
          assert.strictEqual(told._tag, "InvalidMessage")
          assert.include((told as any).issue, "surrogate")
          const asked = yield* Effect.flip(client.ref(k).ask(Counter.Get()))
          assert.strictEqual(asked._tag, "InvalidMessage")
        }
      }
      // U+FFFD's entity got nothing meant for the lone surrogates
      assert.strictEqual(yield* cb.ref("\uFFFD").ask(Counter.Get()), keys.indexOf("\uFFFD") + 1)
    })), 60_000)
})
