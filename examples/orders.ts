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
import { type Duration, Effect, Schema } from "effect"
import { Actor, type ActorRef, Reliable } from "../src/index.ts"

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
