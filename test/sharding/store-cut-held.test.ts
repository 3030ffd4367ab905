/**
 * The member that should own a shard, cut off from the shard store for longer than a held tell
 * is kept (max(10 s, 3 × leaseTtl)): nobody can take the shard meanwhile (the others place it on
 * that member), so the tells the others send it for the shard wait there — bounded by
 * `bufferSize`, not by time, as Akka's region buffers messages for a shard with no home — and
 * reach the entity, in order, once the member reaches the store again and acquires the shard.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, References } from "effect"
import { ClusterApp } from "../../src/index.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { recordingSharding, Seq, SeqEntity, stepClock } from "./_runtime.ts"

const SHARDS = 16

describe("sharding: the member that should own a shard, cut off from the store", () => {
  it.effect("holds the tells sent to it for the shard past the hold limit, and delivers them all once it reaches the store", () =>
    Effect.gen(function*() {
      const shardings = new Map<string, Sharding["Service"]>()
      const cluster = yield* SimCluster.start({
        app: ClusterApp.make({ modules: {} }),
        seed: 1,
        heartbeatInterval: "200 millis",
        acceptablePause: "1 second",
        nodes: [{ name: "a" }, { name: "b" }],
        sharding: { layer: recordingSharding(shardings, [SeqEntity], SHARDS) }
      })
      let key = ""
      for (let i = 0; key === ""; i++) if (Hash.owner(["a", "b"], Hash.shardOf(`k${i}`, SHARDS)) === "a") key = `k${i}`
      yield* stepClock(2_000)
      const a = shardings.get("a")!
      assert.isTrue(a.ownedShards().some((l) => l.shard === a.shardOf(key)), "a owns the key's shard")

      yield* cluster.partitionStore("a")
      yield* stepClock(2_000)
      assert.isFalse(a.ownedShards().some((l) => l.shard === a.shardOf(key)), "a gave the shard up")
      // b sends the key's tells to a (the shard's placement) for 12 s, longer than a tell is held
      const onB = yield* shardings.get("b")!.entity(SeqEntity)
      let n = 0
      const sending = yield* Effect.forkChild(Effect.gen(function*() {
        while (n < 24) {
          yield* Effect.orDie(onB.ref(key).tell(Seq.Next({ n: ++n })))
          yield* Effect.sleep("500 millis")
        }
      }))
      yield* stepClock(12_500)
      yield* Fiber.join(sending)
      yield* cluster.healStore("a")
      yield* stepClock(2_000)
      assert.isTrue(a.ownedShards().some((l) => l.shard === a.shardOf(key)), "a owns the shard again")
      const asked = yield* Effect.forkChild(onB.ref(key).ask(Seq.Report(), { timeout: "5 seconds" }))
      yield* stepClock(200)
      assert.deepStrictEqual(yield* Fiber.join(asked), { last: 24, count: 24, gaps: 0 }, "every tell once, in order")
    }).pipe(
      Effect.scoped,
      Effect.provide(SimCluster.testClock),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ), 60_000)
})
