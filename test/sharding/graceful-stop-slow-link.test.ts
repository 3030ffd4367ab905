/**
 * One sender's tells across a graceful stop while the link from the stopping node to the next
 * owner is slow (SimCluster, TestClock): the stopping node forwards what it held for its shards
 * to their next owner, and has that member receive it, before it releases the leases, and the
 * next owner puts those forwarded tells ahead of what senders that learned the node is leaving
 * sent it directly meanwhile. Every tell arrives once, in order, from a sender on another node
 * and from one on the next owner itself.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, References, Scope } from "effect"
import { ClusterApp } from "../../src/index.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { seqEntity, seqProtocol, simTiming, stepClock } from "./_runtime.ts"

// slower on a than its senders: a's handoff or graceful stop drains a backlog
const Seq = seqProtocol("test/GracefulSlowLink")
const SeqEntity = seqEntity(Seq, "a")
const SHARDS = 64

describe("sharding: a graceful stop over a slow link", () => {
  it.effect("the held tells reach the next owner before it takes the shard, ahead of what senders sent it directly", () =>
    Effect.gen(function*() {
      const shardings = new Map<string, Sharding["Service"]>()
      const stops = new Map<string, Effect.Effect<void>>()
      yield* SimCluster.start({
        app: ClusterApp.make({ modules: {} }),
        seed: 1,
        heartbeatInterval: "200 millis",
        acceptablePause: "2 seconds",
        nodes: [{ name: "a" }, { name: "b" }, { name: "c" }],
        sharding: {
          // each node's sharding in a scope of its own: closing it is the sharding's graceful stop
          layer: (node) =>
            Layer.effectDiscard(Effect.gen(function*() {
              const scope = yield* Scope.make()
              yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
              const context = yield* Layer.buildWithScope(Sharding.layer({ ...simTiming, shards: SHARDS, entities: [SeqEntity] }), scope)
              shardings.set(node, Context.get(context, Sharding))
              stops.set(node, Scope.close(scope, Exit.void))
            }))
        }
      }).pipe(Effect.flatMap((cluster) => Effect.gen(function*() {
        const step = (millis: number) => stepClock(millis)
        yield* step(2_000)
        // keys of a's shards that go to c when a stops
        const keys: Array<string> = []
        for (let i = 0; keys.length < 4; i++) {
          const shard = Hash.shardOf(`seq-${i}`, SHARDS)
          if (Hash.owner(["a", "b", "c"], shard) === "a" && Hash.owner(["b", "c"], shard) === "c") keys.push(`seq-${i}`)
        }
        const senders = ["b", "c"] as const
        const clients = yield* Effect.forEach(senders, (s) => shardings.get(s)!.entity(SeqEntity))
        let n = 0
        let sending = true
        const loop = yield* Effect.forkChild(Effect.gen(function*() {
          while (sending) {
            n++
            for (let i = 0; i < keys.length; i++) yield* Effect.orDie(clients[i % 2]!.ref(keys[i]!).tell(Seq.Next({ n })))
            yield* Effect.sleep("10 millis")
          }
        }))
        yield* step(200)
        // what a sends to c takes 400 ms
        cluster.network.setFaults("a", "c", { delayMillis: 400 })
        const stopping = yield* Effect.forkChild(stops.get("a")!)
        yield* step(4_000)
        yield* Fiber.join(stopping)
        sending = false
        yield* step(50)
        yield* Fiber.join(loop)
        yield* step(2_000)
        const c = shardings.get("c")!
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i]!
          assert.isTrue(c.ownedShards().some((l) => l.shard === c.shardOf(key)), `${key} moved to c`)
          const asked = yield* Effect.forkChild(clients[0]!.ref(key).ask(Seq.Report(), { timeout: "5 seconds" }))
          yield* step(100)
          assert.deepStrictEqual(yield* Fiber.join(asked), { last: n, count: n, gaps: 0 }, `${key} (told from ${senders[i % 2]}): every tell once, in order`)
        }
      })))
    }).pipe(
      Effect.scoped,
      Effect.provide(SimCluster.testClock),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ), 60_000)
})
