/**
 * Closing a producer with messages accepted but not yet confirmed: each gets its outcome
 * (`Failed(ProducerClosed)` through `onOutcome`, and as the failure of its `send`); `drain`
 * waits until every accepted message has its outcome, so a producer can close with none left.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import { ActorSystem, Reliable } from "../../src/index.ts"

const Order = Schema.Struct({ n: Schema.Int })

const withSystem = <A, E>(f: (system: ActorSystem["Service"]) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(ActorSystem.layer({ node: "local" }))
    return yield* f(Context.get(ctx, ActorSystem))
  }))

describe("closing a reliable producer", () => {
  it.live("messages offered but unconfirmed at close: each gets Failed(ProducerClosed), once; a pending send fails", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const consumer = yield* system.spawn(
          Reliable.consumer({ id: "slow", schema: Order, handle: () => Deferred.await(gate) }),
          { name: "slow" }
        )
        const outcomes: Array<Reliable.Outcome> = []
        const scope = yield* Scope.make()
        const producer = yield* Reliable.producer({
          id: "close-test",
          schema: Order,
          consumer,
          onOutcome: (o) => void outcomes.push(o)
        }).pipe(Effect.provideService(ActorSystem, system), Scope.provide(scope))
        for (let n = 1; n <= 5; n++) yield* producer.offer({ n })
        const send = yield* producer.send({ n: 6 }).pipe(Effect.forkChild)
        const drain = yield* producer.drain.pipe(Effect.forkChild)
        yield* Effect.sleep("50 millis")
        assert.deepStrictEqual(outcomes, [], "nothing settled while the consumer is stuck")
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(
          outcomes.map((o) => [o._tag, o.seq, o._tag === "Failed" ? o.error._tag : ""]),
          [1, 2, 3, 4, 5, 6].map((seq) => ["Failed", seq, "ProducerClosed"])
        )
        const sent = yield* Effect.flip(Fiber.join(send))
        assert.strictEqual(sent._tag, "ProducerClosed")
        assert.strictEqual((yield* Effect.flip(Fiber.join(drain)))._tag, "ProducerClosed")
        assert.strictEqual((yield* Effect.flip(producer.offer({ n: 7 })))._tag, "ProducerClosed")
        assert.strictEqual((yield* Effect.flip(producer.drain))._tag, "ProducerClosed")
        yield* Deferred.succeed(gate, undefined)
      })))

  it.live("drain waits until every accepted message is confirmed; closing after it reports nothing more", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const seen: Array<number> = []
        const consumer = yield* system.spawn(
          Reliable.consumer({ id: "quick", schema: Order, handle: ({ n }) => Effect.sleep("1 millis").pipe(Effect.andThen(Effect.sync(() => void seen.push(n)))) }),
          { name: "quick" }
        )
        const outcomes: Array<Reliable.Outcome> = []
        const scope = yield* Scope.make()
        const producer = yield* Reliable.producer({
          id: "drain-test",
          schema: Order,
          consumer,
          onOutcome: (o) => void outcomes.push(o)
        }).pipe(Effect.provideService(ActorSystem, system), Scope.provide(scope))
        yield* producer.drain // nothing accepted: returns at once
        for (let n = 1; n <= 50; n++) yield* producer.offer({ n })
        yield* producer.drain.pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(producer.stats().unconfirmed, 0)
        assert.deepStrictEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1))
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(outcomes.length, 50)
        assert.isTrue(outcomes.every((o) => o._tag === "Confirmed"))
      })))
})
