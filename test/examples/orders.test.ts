import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { makeBilling, makeShop, Shop } from "../../examples/orders.ts"
import { Reliable } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const startNode = (name: string) =>
  TestNode.startNode(name, { heartbeatInterval: "100 millis", acceptablePause: "400 millis" })

describe("examples: orders billed exactly once over a reliable channel", () => {
  it.live("300 orders (50 at a time) through repeated link cuts: each charged once, in order; bad orders reported", () =>
    Effect.gen(function*() {
      const billingNode = yield* startNode("billing")
      const shopNode = yield* startNode("shop")
      yield* shopNode.node.connect({ name: "billing", host: "127.0.0.1", port: billingNode.node.address.port })
      const accounts = new Map<string, number>()
      const charged: Array<string> = []
      yield* billingNode.system.spawn(makeBilling(accounts, charged), { name: "billing" })
      const shop = yield* shopNode.system.spawn(
        makeShop(shopNode.node.lookup("billing", Reliable.ConsumerProtocol, "billing"))
      )
      const place = (i: number) =>
        shop.ask(Shop.PlaceOrder({ order: { id: `o${i}`, customer: `c${i % 3}`, cents: 100 + i } }), { timeout: "20 seconds" })
      const placing = yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => i + 1),
        (i) => place(i),
        { concurrency: 50 }
      ).pipe(Effect.forkChild)
      let cutsWhilePlacing = 0
      for (let cut = 0; cut < 4; cut++) {
        yield* Effect.sleep("15 millis")
        if (placing.pollUnsafe() === undefined) cutsWhilePlacing++
        yield* shopNode.node.disconnect("billing", "cut by the test")
      }
      yield* Fiber.join(placing)
      assert.isAtLeast(cutsWhilePlacing, 1, "the link was cut while orders were in flight")
      assert.strictEqual(charged.length, 300)
      assert.strictEqual(new Set(charged).size, 300)
      // placed with concurrency 50, so the order of arrival at the shop is the order of charging
      for (let c = 0; c < 3; c++) {
        let expected = 0
        for (let i = 1; i <= 300; i++) if (i % 3 === c) expected += 100 + i
        assert.strictEqual(accounts.get(`c${c}`), expected)
      }
      // an order the channel's schema refuses never leaves the shop: the customer is told why
      const bad = yield* Effect.flip(shop.ask(Shop.PlaceOrder({ order: { id: "bad", customer: "c0", cents: -5 } })))
      assert.deepStrictEqual({ ...bad }, { _tag: "OrderNotBilled", id: "bad", reason: "InvalidPayload" } as any)
      assert.strictEqual(charged.length, 300)
    }).pipe(Effect.scoped), 60_000)
})
