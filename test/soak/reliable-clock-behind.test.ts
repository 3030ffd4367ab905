/**
 * A reliable producer restarted without its outbox (a new process on a memory store) opens a new
 * session, numbered from its wall clock. When that clock is behind the one that numbered the
 * previous session (an NTP step back, another host), the consumer takes the new session for a
 * stale one. The consumer then answers with an Ack of its own session, and a producer whose
 * session is new (nothing confirmed in it, not continued from a store) moves to a session after
 * the consumer's: the channel goes on, exactly once and in order, instead of every message
 * ending in `DeliveryTimeout`.
 *
 * A producer's resends after silence are timed on the monotonic clock: a step of the wall clock
 * back while a message is unconfirmed (lost on a link that was cut) does not hold its resend
 * back for as long as the step (before, an hour back stalled the channel for an hour).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Scope } from "effect"
import { vi } from "vitest"
import { ActorSystem, DeliveryStore, Reliable } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const Order = Schema.Struct({ n: Schema.Int })

const realNow = Date.now.bind(Date)

describe("soak: reliable channels and steps of the wall clock", () => {
  it.live("its new session is taken after the consumer's, and the channel goes on", () =>
    Effect.gen(function*() {
      const { system } = yield* startNode("solo")
      const seen: Array<number> = []
      const events: Array<string> = []
      const consumer = yield* system.spawn(Reliable.consumer({
        id: "billing",
        schema: Order,
        handle: ({ n }) => Effect.sync(() => void seen.push(n)),
        onEvent: (e) => Effect.sync(() => void events.push(e._tag))
      }))
      const open = (scope: Scope.Scope) =>
        Reliable.producer({
          id: "shop->billing",
          schema: Order,
          consumer,
          // a process's memory store: gone with the process
          store: DeliveryStore.memory(),
          resendInterval: "100 millis",
          resendIntervalMax: "200 millis",
          deadline: "5 seconds"
        }).pipe(Effect.provideService(ActorSystem, system), Scope.provide(scope))

      const first = yield* Scope.make()
      const p1 = yield* open(first)
      for (let n = 1; n <= 3; n++) yield* p1.send({ n })
      yield* Scope.close(first, Effect.void as any)

      // the next process's clock is an hour behind
      const spy = vi.spyOn(Date, "now").mockImplementation(() => realNow() - 3_600_000)
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      const second = yield* Scope.make()
      const p2 = yield* open(second)
      const outcomes = yield* Effect.forEach([4, 5, 6], (n) => Effect.result(p2.send({ n })))
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Success", "Success", "Success"], JSON.stringify(outcomes))
      assert.deepStrictEqual(seen, [1, 2, 3, 4, 5, 6])
      assert.includeMembers(events, ["UnknownChannel"], "the stale session was reported")
      yield* Scope.close(second, Effect.void as any)
    }).pipe(Effect.scoped), 20_000)

  it.live("a step back of the wall clock while a message is unconfirmed does not hold its resend back", () =>
    Effect.gen(function*() {
      const { system } = yield* startNode("solo")
      const seen: Array<number> = []
      // a consumer that drops what comes while it is busy: the last message sent is lost, and
      // nothing after it tells the producer so (no gap, no Down): only the silence does
      const consumer = yield* system.spawn(
        Reliable.consumer({
          id: "billing",
          schema: Order,
          handle: ({ n }) => Effect.andThen(Effect.sleep("100 millis"), Effect.sync(() => void seen.push(n)))
        }),
        { mailbox: { capacity: 1, overflow: "dropNewest" } }
      )
      const producer = yield* Reliable.producer({
        id: "shop->billing",
        schema: Order,
        consumer,
        resendInterval: "100 millis",
        resendIntervalMax: "200 millis"
      }).pipe(Effect.provideService(ActorSystem, system))
      yield* producer.send({ n: 1 })
      for (let n = 2; n <= 4; n++) {
        yield* producer.offer({ n })
        yield* Effect.sleep("5 millis")
      }
      // 2 and 3 confirmed (the last progress, on the clock before the step), 4 lost
      while (producer.stats().confirmed < 3) yield* Effect.sleep("5 millis")
      const spy = vi.spyOn(Date, "now").mockImplementation(() => realNow() - 3_600_000)
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      const outcome = yield* producer.drain.pipe(
        Effect.as("drained"),
        Effect.timeoutOrElse({ duration: "8 seconds", orElse: () => Effect.succeed(`still unconfirmed after 8 s (seen ${seen.join(",")})`) })
      )
      assert.strictEqual(outcome, "drained")
      assert.deepStrictEqual(seen, [1, 2, 3, 4])
    }).pipe(Effect.scoped), 20_000)
})
