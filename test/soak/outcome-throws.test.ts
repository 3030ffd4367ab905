/**
 * A reliable producer whose `onOutcome` callback throws: the throw is the caller's bug, logged;
 * the channel goes on — every later message is delivered and confirmed — and nothing escapes as
 * an uncaught exception (which ends a node's process). Before, the throw left the producer's
 * window half-advanced: later sends never got an outcome, and its pump threw a TypeError from a
 * microtask.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ActorSystem, Reliable } from "../../src/index.ts"

describe("soak: a reliable producer's onOutcome throws", () => {
  it.live("the channel goes on: every message delivered once and confirmed", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const delivered: Array<number> = []
      const consumer = yield* system.spawn(Reliable.consumer({
        id: "outcome-throws",
        schema: Schema.Int,
        handle: (n) => Effect.sync(() => void delivered.push(n))
      }))
      const outcomes: Array<number> = []
      const producer = yield* Reliable.producer({
        id: "outcome-throws",
        schema: Schema.Int,
        consumer,
        onOutcome: (o) => {
          outcomes.push(o.seq)
          if (o.seq % 2 === 0) throw new Error(`onOutcome throws for ${o.seq}`)
        }
      })
      const sent: Array<string> = []
      for (let n = 1; n <= 5; n++) {
        sent.push(
          yield* producer.send(n).pipe(
            Effect.match({ onSuccess: () => "confirmed", onFailure: (e) => e._tag }),
            Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.succeed("no outcome after 3 s") })
          )
        )
      }
      assert.deepStrictEqual(sent, ["confirmed", "confirmed", "confirmed", "confirmed", "confirmed"])
      assert.deepStrictEqual(delivered, [1, 2, 3, 4, 5])
      assert.deepStrictEqual(outcomes, [1, 2, 3, 4, 5])
    }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer())), 30_000)
})
