/**
 * Link sequence numbers: when a connection is lost, the sender learns how many envelopes never
 * arrived (`LinkGap`), and they are not delivered late.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"

describe("link sequence numbers", () => {
  it.live("after a lost connection, the sender learns how many envelopes never arrived", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a", { reconnect: { initial: "10 millis", max: "50 millis" } })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const gap = yield* a.node.events.pipe(
        Stream.filter((e) => e._tag === "LinkGap"),
        Stream.runHead,
        Effect.forkScoped
      )
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      yield* counter.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 1) // 2 envelopes delivered so far
      // queue 500 tells and cut the connection before the batch is written
      for (let i = 0; i < 500; i++) counter.tellUnsafe(Counter.Increment({ by: 1 }))
      routerOf(a.node).peers.get("b")!.conn!.close("cut by the test")
      const event = yield* Fiber.join(gap).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(event._tag === "Some" && event.value._tag === "LinkGap")
      if (event._tag === "Some" && event.value._tag === "LinkGap") {
        assert.strictEqual(event.value.node.name, "b")
        assert.strictEqual(event.value.lost, 500)
        assert.strictEqual(event.value.sent - event.value.received, 500)
      }
      // the link is back and the 500 tells are gone (at-most-once), not delivered late
      const again = yield* a.node.lookup("b", Counter, "counter")
      assert.strictEqual(yield* again.ask(Counter.Get()), 1)
    }).pipe(Effect.scoped))
})
