/**
 * One sender's tells across a handoff while the link from the old owner to the new one is slow
 * (SimCluster, TestClock): the old owner forwards what it held for the shard to the next owner
 * and releases the lease only once that member has received it, so the next owner holds the
 * forwarded tells before it can acquire the shard, and delivers them before what the sender
 * sends it directly once it learns the new owner. Every tell arrives once, in order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, References } from "effect"
import { ClusterApp } from "../../src/index.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { recordingSharding, seqEntity, seqProtocol, stepClock } from "./_runtime.ts"

// slower on a than its senders: a's handoff or graceful stop drains a backlog
const Seq = seqProtocol("test/HandoffSlowLink")
const SeqEntity = seqEntity(Seq, "a")
const SHARDS = 64


describe("sharding: a handoff over a slow link", () => {
  it.effect("the old owner's forward reaches the next owner before it takes the shard: one sender's tells in order", () =>
    Effect.gen(function*() {
      const shardings = new Map<string, Sharding["Service"]>()
      const cluster = yield* SimCluster.start({
        app: ClusterApp.make({ modules: {} }),
        seed: 1,
        heartbeatInterval: "200 millis",
        acceptablePause: "2 seconds",
        nodes: [{ name: "a" }, { name: "b" }, { name: "c", join: true }],
        sharding: {
          layer: recordingSharding(shardings, [SeqEntity], SHARDS)
        }
      })
      const step = (millis: number) => stepClock(millis)
      yield* step(2_000)
      // keys of a's shards that c takes over when it joins
      const keys: Array<string> = []
      for (let i = 0; keys.length < 4; i++) {
        const shard = Hash.shardOf(`seq-${i}`, SHARDS)
        if (Hash.owner(["a", "b"], shard) === "a" && Hash.owner(["a", "b", "c"], shard) === "c") keys.push(`seq-${i}`)
      }
      const onB = yield* shardings.get("b")!.entity(SeqEntity)
      let n = 0
      let sending = true
      const loop = yield* Effect.forkChild(Effect.gen(function*() {
        while (sending) {
          n++
          for (const key of keys) yield* Effect.orDie(onB.ref(key).tell(Seq.Next({ n })))
          yield* Effect.sleep("10 millis")
        }
      }))
      yield* step(200)
      // what a sends to c takes 400 ms
      cluster.network.setFaults("a", "c", { delayMillis: 400 })
      yield* cluster.join("c")
      yield* step(4_000)
      sending = false
      yield* step(50)
      yield* Fiber.join(loop)
      yield* step(2_000)
      const c = shardings.get("c")!
      for (const key of keys) {
        assert.isTrue(c.ownedShards().some((l) => l.shard === c.shardOf(key)), `${key} moved to c`)
        const asked = yield* Effect.forkChild(onB.ref(key).ask(Seq.Report(), { timeout: "5 seconds" }))
        yield* step(100)
        assert.deepStrictEqual(yield* Fiber.join(asked), { last: n, count: n, gaps: 0 }, `${key}: every tell once, in order`)
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(SimCluster.testClock),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ), 60_000)
})
