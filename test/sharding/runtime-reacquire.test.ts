/**
 * Shards lost and acquired again by the same node (cut off from the store until its renew
 * deadline passed, then reconnected): the lost shards stop, even with an activation in flight
 * (its state still loading), and their keys answer again once the node owns them again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, eventually, fast, quiet, startNode } from "./_runtime.ts"

/**
 * A memory store behind a node's severable view, whose state loads for `slowKey` take `millis`;
 * `loading()` tells whether a load of `slowKey` has begun.
 */
const slowStore = (slowKey: string, millis: number) => {
  const mem = ShardStore.memory()
  let started = false
  const slow: ShardStore.ShardStore = {
    ...mem,
    loadState: (type, key) =>
      key === slowKey
        ? Effect.andThen(Effect.sync(() => void (started = true)), Effect.delay(mem.loadState(type, key), millis))
        : mem.loadState(type, key)
  }
  return { ...ShardStore.severable(slow, "a"), loading: () => started }
}

describe("sharding: shards lost and acquired again by the same node", () => {
  it.live("a shard lost while one of its entities is starting stops, and its keys answer once it is acquired again", () =>
    quiet(Effect.gen(function*() {
      const view = slowStore("slow", 1_500)
      const a = yield* startNode("a", view.store)
      yield* eventually("a owns every shard", () => a.sharding.ownedShards().length === fast.shards)
      const counters = yield* a.sharding.entity(CounterEntity)
      const slowShard = a.sharding.shardOf("slow")
      const neighbour = Array.from({ length: 1_000 }, (_, i) => `n${i}`).find((k) => k !== "slow" && a.sharding.shardOf(k) === slowShard)!
      yield* counters.ref(neighbour).tell(Counter.Add({ by: 1 }))
      // its activation waits for its state; the shard's supervisor is in the middle of starting it
      const inFlight = yield* Effect.forkChild(Effect.result(counters.ref("slow").ask(Counter.Get(), { timeout: "10 seconds" })))
      yield* eventually("the activation is loading its state", view.loading, 10_000)
      view.sever()
      // every shard stops (the one starting an entity included) and is given up ...
      yield* eventually("every lost shard stopped", () =>
        a.events.filter((e) => e.kind === "shardLost").length === fast.shards, 10_000)
      view.heal()
      // ... and is taken again by the same node
      yield* eventually("a owns every shard again", () => a.sharding.ownedShards().length === fast.shards, 10_000)
      const first = yield* Fiber.join(inFlight)
      assert.strictEqual(first._tag, "Success", "the ask in flight across the loss is answered")
      assert.strictEqual(yield* counters.ref("slow").ask(Counter.Get(), { timeout: "5 seconds" }), 0)
      assert.strictEqual(yield* counters.ref(neighbour).ask(Counter.Get(), { timeout: "5 seconds" }), 1)
    })), 60_000)

  it.live("asks in flight across repeated losses: every key answers after each re-acquisition", () =>
    quiet(Effect.gen(function*() {
      const view = slowStore("k7", 300)
      const a = yield* startNode("a", view.store)
      yield* eventually("a owns every shard", () => a.sharding.ownedShards().length === fast.shards)
      const counters = yield* a.sharding.entity(CounterEntity)
      const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
      for (let round = 0; round < 2; round++) {
        const inFlight = yield* Effect.forkChild(Effect.forEach(keys, (k) =>
          Effect.ignore(counters.ref(k).ask(Counter.Get(), { timeout: "3 seconds" })), { concurrency: 32, discard: true }))
        yield* Effect.sleep("20 millis")
        view.sever()
        yield* eventually("a lost its shards", () => a.sharding.ownedShards().length === 0, 10_000)
        view.heal()
        yield* eventually("a owns every shard again", () => a.sharding.ownedShards().length === fast.shards, 10_000)
        yield* Fiber.join(inFlight)
        const answered = yield* Effect.forEach(keys, (k) =>
          Effect.result(counters.ref(k).ask(Counter.Get(), { timeout: "5 seconds" })), { concurrency: 32 })
        assert.deepStrictEqual(keys.filter((_, i) => answered[i]!._tag === "Failure"), [], `round ${round}: keys that did not answer`)
      }
    })), 60_000)
})
