/**
 * Orders that must be billed exactly once: a `Shop` actor takes orders and hands each to
 * billing over a reliable channel; `Billing` (a `Reliable.consumer`) charges it to the
 * customer's account. Links can drop, partitions can come and go: every order the shop
 * confirmed is charged exactly once, in the order placed, and an order billing cannot take
 * (its schema refuses it, or no confirmation comes before the deadline) is reported to the
 * customer as a typed error instead of vanishing.
 *
 * The producer is created inside the `Shop` actor, so its endpoint is the shop's child and its
 * outbox survives the shop's restarts (the node's memory store; pass a `SqliteStore` to
 * survive a crash of the process too).
 */
import { Context, type Duration, Effect, Fiber, Layer, Redacted, References, Schema } from "effect"
import { Actor, type ActorRef, ActorSystem, Node, Reliable } from "../src/index.ts"

export const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  cents: Schema.Int.check(Schema.isGreaterThan(0))
})
export type Order = typeof Order.Type

export class OrderNotBilled extends Schema.TaggedError<OrderNotBilled>()("OrderNotBilled", {
  id: Schema.String,
  reason: Schema.String
}) {}

export const Shop = Actor.make("Orders/Shop", {
  /** replies once billing has charged the order */
  PlaceOrder: Actor.ask({ order: Order }, { error: OrderNotBilled })
})

export const Ledger = Actor.make("Orders/Ledger", {
  Balance: Actor.ask({ customer: Schema.String }, { success: Schema.Int }),
  Charged: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

/** The billing consumer: charges each order once. `accounts` is its (in-memory) ledger. */
export const makeBilling = (accounts: Map<string, number>, charged: Array<string>) =>
  Reliable.consumer({
    id: "billing",
    schema: Order,
    handle: (order) =>
      Effect.sync(() => {
        accounts.set(order.customer, (accounts.get(order.customer) ?? 0) + order.cents)
        charged.push(order.id)
      })
  })

export const makeShop = (
  billing: Effect.Effect<ActorRef.ActorRef<any>, unknown>,
  options?: { readonly deadline?: Duration.Input }
) =>
  Shop.behavior(Effect.gen(function*() {
    const toBilling = yield* Reliable.producer({
      id: "shop->billing",
      schema: Order,
      consumer: billing,
      consumerId: "billing",
      resendInterval: "200 millis",
      deadline: options?.deadline ?? "30 seconds"
    })
    return {
      // forked: the shop keeps taking orders while earlier ones wait for billing
      PlaceOrder: ({ order }) =>
        Actor.fork(toBilling.send(order).pipe(
          Effect.asVoid,
          Effect.catch((e) => Effect.fail(new OrderNotBilled({ id: order.id, reason: e._tag })))
        ))
    }
  }))

// `node examples/orders.ts`: billing on node "billing", the shop on node "shop" (two nodes in
// this process over loopback TCP); 100 orders placed while the link is cut three times
if (import.meta.main) {
  const secret = Redacted.make("orders example")
  const startNode = (name: string) =>
    Layer.build(Node.layerWithSystem({ name, cluster: "orders", secret })).pipe(
      Effect.map((ctx) => ({ node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem) }))
    )
  const program = Effect.gen(function*() {
    const billingNode = yield* startNode("billing")
    const shopNode = yield* startNode("shop")
    yield* shopNode.node.connect({ name: "billing", host: "127.0.0.1", port: billingNode.node.address.port })
    const accounts = new Map<string, number>()
    const charged: Array<string> = []
    yield* billingNode.system.spawn(makeBilling(accounts, charged), { name: "billing" })
    const shop = yield* shopNode.system.spawn(makeShop(shopNode.node.lookup("billing", Reliable.ConsumerProtocol, "billing")))
    const placing = yield* Effect.forEach(
      Array.from({ length: 100 }, (_, i) => i + 1),
      (i) => shop.ask(Shop.PlaceOrder({ order: { id: `o${i}`, customer: `c${i % 3}`, cents: 100 + i } }), { timeout: "20 seconds" }),
      { concurrency: 20, discard: true }
    ).pipe(Effect.forkChild)
    for (let cut = 1; cut <= 3; cut++) {
      // cut while orders are in flight: after a quarter, half, three quarters have been charged
      while (charged.length < cut * 25 && placing.pollUnsafe() === undefined) yield* Effect.sleep("2 millis")
      yield* shopNode.node.disconnect("billing", "cut by the example")
      console.log(`link shop–billing cut (${cut}/3) with ${charged.length} orders charged so far`)
    }
    yield* Fiber.join(placing)
    console.log(`${charged.length} orders confirmed to the shop, ${new Set(charged).size} distinct charges (each exactly once)`)
    for (const [customer, cents] of [...accounts].sort()) console.log(`  ${customer}: ${cents} cents`)
    const bad = yield* Effect.flip(shop.ask(Shop.PlaceOrder({ order: { id: "bad", customer: "c0", cents: -5 } })))
    console.log(`an order of -5 cents: ${bad._tag} (${bad._tag === "OrderNotBilled" ? bad.reason : bad.message}); nothing charged`)
  })
  Effect.runPromise(program.pipe(
    Effect.scoped,
    Effect.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  ))
}
