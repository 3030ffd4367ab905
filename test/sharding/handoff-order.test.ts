/**
 * One sender's tells to one key across a handoff (a node joins and takes the key's shard over):
 * the old owner holds what reaches it while the shard's entities drain and, once it has given the
 * lease up, forwards it at once to the member that should own the shard next (which holds it
 * until it has the lease), not after a lease read of its own: the tells arrive in the order sent,
 * none lost, none twice, even while the old owner's lease reads lag (they return a snapshot from
 * before the join) and the sender learns the new owner first.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, fast, laggingView, quiet, Seq, SeqEntity, settled, startNode } from "./_runtime.ts"

describe("sharding: one sender's tells across a handoff", () => {
  it.live("arrive in order at the new owner, each once, while the old owner's lease reads lag", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const lagging = laggingView(store)
      const options = { entities: [SeqEntity] }
      const a = yield* startNode("a", lagging.view, options)
      const b = yield* startNode("b", store, options)
      yield* connect(a, b)
      yield* settled([a, b])
      // keys of a's shards that c takes over when it joins
      const keys: Array<string> = []
      for (let i = 0; keys.length < 4; i++) {
        const shard = Hash.shardOf(`seq-${i}`, fast.shards)
        if (Hash.owner(["a", "b"], shard) === "a" && Hash.owner(["a", "b", "c"], shard) === "c") keys.push(`seq-${i}`)
      }
      const onB = yield* b.sharding.entity(SeqEntity)
      yield* lagging.freeze
      let n = 0
      let joined = false
      // from b, a tell to each key every 3 ms, from before c joins until 300 ms after it owns the keys
      const loop = yield* Effect.forkChild(Effect.gen(function*() {
        let after = 0
        while (after < 100) {
          if (joined) after++
          n++
          for (const key of keys) yield* Effect.orDie(onB.ref(key).tell(Seq.Next({ n })))
          yield* Effect.sleep("3 millis")
        }
      }))
      yield* Effect.sleep("50 millis")
      const c = yield* startNode("c", store, options)
      yield* connect(c, a)
      yield* connect(c, b)
      yield* settled([a, b, c])
      joined = true
      yield* Fiber.join(loop)
      yield* lagging.thaw
      for (const key of keys) {
        let report = yield* onB.ref(key).ask(Seq.Report(), { timeout: "10 seconds" })
        for (let i = 0; i < 10 && report.count < n; i++) {
          yield* Effect.sleep("200 millis")
          report = yield* onB.ref(key).ask(Seq.Report(), { timeout: "10 seconds" })
        }
        assert.deepStrictEqual(report, { last: n, count: n, gaps: 0 }, `${key}: every tell once, in order`)
        assert.strictEqual(yield* Effect.succeed(c.sharding.ownedShards().some((l) => l.shard === c.sharding.shardOf(key))), true)
      }
    })), 60_000)
})
