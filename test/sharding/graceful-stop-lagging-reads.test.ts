/**
 * A node stopping gracefully tells the other members it is leaving: they stop routing to it at
 * once (what they send for its shards waits for the next owner) rather than when their own lease
 * reads show its leases given up. Here the sender's lease reads lag (they return what the store
 * held before the stop, for the whole stop and after): every tell it sent to the stopping node's
 * keys is still handled, once, by the next owner, also when the node's regions outlive its
 * sharding's stop (an actor of the app stops slowly after it); and the sender stops routing to
 * the node as its stop begins, while its shards still drain.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, Counter, CounterEntity, eventually, fast, laggingView, quiet, settled, startNode } from "./_runtime.ts"

const Slow = Actor.make("test/LaggingSlow", { Work: Actor.ask({}, { success: Schema.Int }) })
/** every message takes 100 ms: a backlog keeps its node's graceful stop draining */
const SlowEntity = Entity.make(Slow, Slow.behavior(Effect.succeed({ Work: () => Effect.as(Effect.sleep("100 millis"), 1) })))

/** an actor of the app whose stop takes 400 ms: the node's regions stay that much longer after its sharding has stopped */
const Lingering = Actor.make("test/LingeringActor", { Ping: Actor.tell({ n: Schema.Int }) })
const lingering = Lingering.behavior(Effect.gen(function*() {
  yield* Effect.addFinalizer(() => Effect.sleep("400 millis"))
  return { Ping: () => Effect.void }
}))

describe("sharding: a graceful stop seen by a sender whose lease reads lag", () => {
  it.live("every tell sent to the stopping node's keys is handled once by the next owner", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      // b's view of the store, whose lease reads lag while frozen
      const lagging = laggingView(store)
      const a = yield* startNode("a", store, { entities: [CounterEntity, SlowEntity] })
      const b = yield* startNode("b", lagging.view, { entities: [CounterEntity, SlowEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      yield* a.system.spawn(lingering)
      const keys: Array<string> = []
      for (let i = 0; keys.length < 9; i++) {
        if (Hash.owner(["a", "b"], Hash.shardOf(`lag-${i}`, fast.shards)) === "a") keys.push(`lag-${i}`)
      }
      // 10 asks (1 s) wait at one of a's entities when a stops: a drains them before it gives its leases up
      const slow = (yield* b.sharding.entity(SlowEntity)).ref(keys.pop()!)
      assert.strictEqual(yield* slow.ask(Slow.Work(), { timeout: "10 seconds" }), 1)
      const waiting = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 10 }), () => slow.ask(Slow.Work(), { timeout: "20 seconds" }), {
        concurrency: "unbounded"
      }))
      const onB = yield* b.sharding.entity(CounterEntity)
      for (const key of keys) assert.strictEqual(yield* onB.ref(key).ask(Counter.Where(), { timeout: "10 seconds" }), "a")
      yield* lagging.freeze
      let told = 0
      let stopped = false
      // a tell to each key every 5 ms, from before a's stop until 600 ms after it ended
      const loop = yield* Effect.forkChild(Effect.gen(function*() {
        let after = 0
        while (after < 120) {
          if (stopped) after++
          for (const key of keys) {
            yield* Effect.orDie(onB.ref(key).tell(Counter.Add({ by: 1 })))
            told++
          }
          yield* Effect.sleep("5 millis")
        }
      }))
      yield* Effect.sleep("50 millis")
      const stopping = yield* Effect.forkChild(a.stop)
      // b learns it from a as the stop begins, not once a has given its leases up (or its connection closed)
      yield* eventually("b no longer counts a as a member", () => !b.sharding.members().includes("a"), 5_000)
      assert.isUndefined(waiting.pollUnsafe(), "b stopped routing to a while a's shards drained (the asks waiting there not all answered)")
      yield* Fiber.join(stopping)
      yield* Fiber.join(waiting)
      stopped = true
      yield* Fiber.join(loop)
      yield* lagging.thaw
      let counted = 0
      for (let i = 0; i < 15 && counted !== told; i++) {
        if (i > 0) yield* Effect.sleep("200 millis")
        const counts = yield* Effect.forEach(keys, (key) => onB.ref(key).ask(Counter.Get(), { timeout: "10 seconds" }))
        counted = counts.reduce((n, c) => n + c, 0)
      }
      assert.strictEqual(counted, told, "every tell handled once (no loss, no duplicate)")
    })), 60_000)
})
