/**
 * A member that should own a shard by its view of the members while another member keeps the
 * lease — their views differ: the holder does not count the first as a member (here it was told
 * that node is leaving), and a third node routes the shard's tells to the first — holds those
 * tells only for two lease TTLs (a handoff to it would have released the lease by then), then
 * forwards them to the lease holder: none is dropped, however long the views differ.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, References } from "effect"
import { TestClock } from "effect/testing"
import { ClusterApp } from "../../src/index.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { NODE_NAME, NodeProtocol } from "../../src/sharding/internal/protocol.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { recordingSharding, Seq, SeqEntity, stepClock } from "./_runtime.ts"

const SHARDS = 64

describe("sharding: the member that should own a shard another member keeps", () => {
  it.effect("forwards the tells it holds for it to the lease holder after two lease TTLs: none dropped", () =>
    Effect.gen(function*() {
      const shardings = new Map<string, Sharding["Service"]>()
      const cluster = yield* SimCluster.start({
        app: ClusterApp.make({ modules: {} }),
        seed: 1,
        heartbeatInterval: "200 millis",
        acceptablePause: "2 seconds",
        nodes: [{ name: "a", join: true }, { name: "b" }, { name: "c" }],
        sharding: {
          layer: recordingSharding(shardings, [SeqEntity], SHARDS)
        }
      })
      const step = (millis: number) => stepClock(millis)
      const nodeActor = (name: string) =>
        Effect.gen(function*() {
          const looking = yield* Effect.forkChild(cluster.client.node.lookup(name, NodeProtocol, NODE_NAME, { timeout: "5 seconds" }))
          yield* step(200)
          return yield* Effect.orDie(Fiber.join(looking))
        })
      const connected = (from: string, to: string) =>
        cluster.services(from).node.peers().some((p) => p.name === to && p.up && p.node !== undefined)
      // a key whose shard a should own among a, b and c, b among b and c
      let key = ""
      for (let i = 0; key === ""; i++) {
        const shard = Hash.shardOf(`k-${i}`, SHARDS)
        if (Hash.owner(["a", "b", "c"], shard) === "a" && Hash.owner(["b", "c"], shard) === "b") key = `k-${i}`
      }
      yield* step(2_000)
      // a starts cut off; b is told a is leaving as soon as it is connected to a (it never counts
      // a as a member: it keeps the shard), and c that b is (it sends the shard's tells to a,
      // which should own it in c's view)
      const [onB, onC_] = [yield* nodeActor("b"), yield* nodeActor("c")]
      onC_.tellUnsafe(NodeProtocol.Leaving({ owner: shardings.get("b")!.owner }))
      yield* cluster.isolate("a")
      yield* cluster.join("a")
      yield* step(500)
      yield* cluster.heal()
      while (!connected("b", "a")) yield* TestClock.adjust("1 millis")
      onB.tellUnsafe(NodeProtocol.Leaving({ owner: shardings.get("a")!.owner }))
      yield* step(2_000)
      const onC = yield* shardings.get("c")!.entity(SeqEntity)
      let n = 0
      let sending = true
      const loop = yield* Effect.forkChild(Effect.gen(function*() {
        while (sending) {
          yield* Effect.orDie(onC.ref(key).tell(Seq.Next({ n: ++n })))
          yield* Effect.sleep("100 millis")
        }
      }))
      // longer than a held tell is kept (max(10 s, 3 × leaseTtl))
      yield* step(12_000)
      sending = false
      yield* step(100)
      yield* Fiber.join(loop)
      yield* step(3_000)
      const b = shardings.get("b")!
      assert.isTrue(b.ownedShards().some((l) => l.shard === b.shardOf(key)), "b kept the shard")
      const asked = yield* Effect.forkChild((yield* b.entity(SeqEntity)).ref(key).ask(Seq.Report(), { timeout: "5 seconds" }))
      yield* step(100)
      assert.deepStrictEqual(yield* Fiber.join(asked), { last: n, count: n, gaps: 0 }, "every tell once, in order")
    }).pipe(
      Effect.scoped,
      Effect.provide(SimCluster.testClock),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ), 60_000)
})
