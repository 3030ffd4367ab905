/**
 * One entity ref object kept across a move of its shard (a node joins and takes shards over):
 * the ref remembers the running entity it reached last (here or on another node) and must notice
 * that it moved, before and after the handoff: each ask of the same ref is answered by the one
 * activation, with the state the previous asks left, from the node that owns the shard now.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, connect, quiet, settled, startNode } from "./_runtime.ts"

const keys = Array.from({ length: 24 }, (_, i) => `moving-${i}`)

describe("sharding: the same ref across a shard move", () => {
  it.live("asks of kept refs before and after a join: every answer counts every add, from the new owner", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const counters = yield* a.sharding.entity(CounterEntity)
      // one ref per key, kept: asked on a (local) and on b (direct) before the move
      const refs = keys.map((k) => counters.ref(k))
      for (const ref of refs) {
        yield* ref.tell(Counter.Add({ by: 1 }))
        assert.strictEqual(yield* ref.ask(Counter.Get()), 1)
        assert.strictEqual(yield* ref.ask(Counter.Get()), 1)
      }
      const c = yield* startNode("c", store)
      yield* connect(c, a)
      yield* connect(c, b)
      yield* settled([a, b, c])
      const moved = keys.filter((k) => c.sharding.ownedShards().some((l) => l.shard === c.sharding.shardOf(k)))
      assert.isAtLeast(moved.length, 1, "some key's shard moved to c")
      for (const [i, ref] of refs.entries()) {
        assert.strictEqual(yield* ref.ask(Counter.Get(), { timeout: "10 seconds" }), 1, keys[i])
        yield* ref.tell(Counter.Add({ by: 1 }))
        assert.strictEqual(yield* ref.ask(Counter.Get(), { timeout: "10 seconds" }), 2, keys[i])
        const where = yield* ref.ask(Counter.Where(), { timeout: "10 seconds" })
        if (moved.includes(keys[i]!)) assert.strictEqual(where, "c", keys[i])
      }
      // one activation per key at a time: each key activated on c at most once
      for (const k of moved) {
        assert.isAtMost(c.events.filter((e) => e.kind === "activated" && "key" in e && e.key === k).length, 1, k)
      }
    })), 60_000)
})
