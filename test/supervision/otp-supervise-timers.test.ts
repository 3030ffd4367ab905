/**
 * Timers belong to an incarnation (Pekko typed: timers are cancelled when the actor restarts):
 * after `Supervise.behavior`'s in-place restart, a timer the old incarnation started sends
 * nothing to the new one; the new incarnation's own timers work.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, Supervise } from "../../src/index.ts"
import { settle } from "./helpers.ts"

class Corrupt extends Schema.TaggedError<Corrupt>()("Corrupt", {}) {}

const T = Actor.make("test/SuperviseTimers", {
  Tick: Actor.tell({ from: Schema.Number }),
  Arm: Actor.tell({ key: Schema.String, periodic: Schema.Boolean }),
  Fail: Actor.tell({}),
  Ticks: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

const ticking = (log: Array<string>) => {
  let incarnations = 0
  return Supervise.behavior(
    T.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext.for(T)
      const me = ++incarnations
      return {
        Tick: ({ from }) => Effect.sync(() => void log.push(`${me} got a tick of ${from}`)),
        Arm: ({ key, periodic }) =>
          periodic
            ? ctx.startPeriodicTimer(key, T.Tick({ from: me }), "1 second")
            : ctx.startTimer(key, T.Tick({ from: me }), "1 second"),
        Fail: () => Effect.fail(new Corrupt()),
        Ticks: () => Effect.succeed([...log])
      }
    })),
    [{ match: "Corrupt", directive: "restart" }]
  )
}

describe("Supervise restart and timers", () => {
  it.effect("the old incarnation's timers (single and periodic) are cancelled; the new one's fire", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const ref = yield* system.spawn(ticking(log))
      yield* ref.tell(T.Arm({ key: "once", periodic: false }))
      yield* ref.tell(T.Arm({ key: "every", periodic: true }))
      yield* ref.tell(T.Fail())
      yield* settle()
      yield* TestClock.adjust("3 seconds")
      yield* settle()
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), [])
      yield* ref.tell(T.Arm({ key: "once", periodic: false }))
      yield* settle()
      yield* TestClock.adjust("1 second")
      yield* settle()
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), ["2 got a tick of 2"])
    }).pipe(Effect.provide(ActorSystem.layer())))
})
