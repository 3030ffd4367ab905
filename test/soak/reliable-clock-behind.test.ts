/**
 * A reliable producer restarted without its outbox (a new process on a memory store) opens a new
 * session, numbered from its wall clock. When that clock is behind the one that numbered the
 * previous session (an NTP step back, another host), the consumer takes the new session for a
 * stale one. The consumer then answers with an Ack of its own session, and a producer whose
 * session is new (nothing confirmed in it, not continued from a store) moves to a session after
 * the consumer's: the channel goes on, exactly once and in order, instead of every message
 * ending in `DeliveryTimeout`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Scope } from "effect"
import { vi } from "vitest"
import { ActorSystem, DeliveryStore, Reliable } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const Order = Schema.Struct({ n: Schema.Int })

const realNow = Date.now.bind(Date)

describe("soak: a reliable producer restarted with its wall clock behind", () => {
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
})
