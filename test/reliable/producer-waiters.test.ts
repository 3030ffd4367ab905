/**
 * Offers waiting for room in a reliable producer's buffer: taken in the order they came, one per
 * free place; those that give up meanwhile are never accepted, and leave their place to the next.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { ActorSystem, Reliable } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const Order = Schema.Struct({ n: Schema.Int })

describe("reliable producer: offers waiting for room", () => {
  it.live("taken in order as room comes; the interrupted ones never accepted", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("pwb")
      const a = yield* TestNode.startNode("pwa")
      yield* a.node.connect({ name: "pwb", host: b.node.address.host, port: b.node.address.port })
      const gate = yield* Deferred.make<void>()
      const seen: Array<number> = []
      yield* b.system.spawn(
        Reliable.consumer({ id: "c", schema: Order, handle: ({ n }) => Effect.andThen(Deferred.await(gate), Effect.sync(() => void seen.push(n))) }),
        { name: "c" }
      )
      const producer = yield* Reliable.producer({
        id: "p",
        schema: Order,
        bufferSize: 2,
        consumer: a.node.lookup("pwb", Reliable.ConsumerProtocol, "c")
      }).pipe(Effect.provideService(ActorSystem, a.system))
      yield* producer.offer({ n: 1 })
      yield* producer.offer({ n: 2 })
      // 3..12 wait, in that order
      const waiting: Array<Fiber.Fiber<number, unknown>> = []
      for (let n = 3; n <= 12; n++) {
        waiting.push(yield* Effect.forkChild(producer.offer({ n })))
        yield* Effect.yieldNow
      }
      yield* Effect.sleep("50 millis")
      assert.strictEqual(producer.stats().accepted, 2)
      // 5..9 give up
      for (const f of waiting.slice(2, 7)) yield* Fiber.interrupt(f)
      yield* Deferred.succeed(gate, undefined)
      const seqs = yield* Effect.forEach([...waiting.slice(0, 2), ...waiting.slice(7)], Fiber.join)
      const t0 = Date.now()
      while (seen.length < 7 && Date.now() - t0 < 10_000) yield* Effect.sleep("10 millis")
      assert.deepStrictEqual(seen, [1, 2, 3, 4, 10, 11, 12])
      assert.deepStrictEqual(seqs, [3, 4, 5, 6, 7])
      assert.strictEqual(producer.stats().accepted, 7)
    }).pipe(Effect.scoped), 20_000)
})
