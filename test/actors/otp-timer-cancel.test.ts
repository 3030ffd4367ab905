/**
 * A cancelled or replaced timer sends nothing more, not even a message it fired while the actor
 * was busy and that still waits in the mailbox (Pekko's TimerScheduler guarantee; gen_statem's
 * cancelled timeouts likewise): `cancelTimer`, `startTimer` with the same key, and
 * `Supervise`'s in-place restart drop it. A message told to the actor is never dropped, even
 * the very object a timer sends. Timer messages have the actor itself as their sender.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem } from "../../src/index.ts"
import { settle } from "./_helpers.ts"

const T = Actor.make("test/OtpTimerCancel", {
  Once: Actor.ask({ key: Schema.String, label: Schema.String }),
  Every: Actor.ask({ key: Schema.String, label: Schema.String }),
  /** busy until the gate opens, then does `then` with timer `key` */
  Hold: Actor.tell({ key: Schema.String, then: Schema.String }),
  Tick: Actor.tell({ label: Schema.String }),
  Ticks: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

const setup = Effect.gen(function*() {
  const system = yield* ActorSystem
  const started = yield* Deferred.make<void>()
  const gate = yield* Deferred.make<void>()
  const ticks: Array<string> = []
  const senders: Array<string> = []
  const ref = yield* system.spawn(T.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(T)
    let last: ReturnType<typeof T.Tick> | undefined
    const tick = (label: string) => (last = T.Tick({ label }))
    return {
      Once: ({ key, label }) => ctx.startTimer(key, tick(label), "1 second"),
      Every: ({ key, label }) => ctx.startPeriodicTimer(key, tick(label), "100 millis"),
      Hold: ({ key, then }) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(gate)
          if (then === "cancel") yield* ctx.cancelTimer(key)
          if (then === "replace") yield* ctx.startTimer(key, tick("new"), "1 second")
          if (then === "tell the same, then cancel") {
            yield* ctx.self.tell(last!)
            yield* ctx.cancelTimer(key)
          }
        }),
      Tick: ({ label }) =>
        Effect.sync(() => {
          ticks.push(label)
          senders.push(ctx.sender?.key ?? "none")
        }),
      Ticks: () => Effect.sync(() => [...ticks])
    }
  })))
  /** makes the actor busy, lets `millis` pass (the timers fire into its mailbox), then lets it go on */
  const busyWhile = (key: string, then: string, millis: number) =>
    Effect.gen(function*() {
      yield* ref.tell(T.Hold({ key, then }))
      yield* Deferred.await(started)
      yield* TestClock.adjust(millis)
      yield* settle()
      yield* Deferred.succeed(gate, undefined)
      yield* settle()
    })
  return { ref, ticks, senders, busyWhile }
})

describe("a timer's message already queued when the timer is cancelled or replaced", () => {
  it.effect("cancelTimer: the queued message of a single timer is dropped", () =>
    Effect.gen(function*() {
      const { busyWhile, ref } = yield* setup
      yield* ref.ask(T.Once({ key: "t", label: "old" }))
      yield* busyWhile("t", "cancel", 1000)
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), [])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("startTimer with the same key: only the new timer's message arrives", () =>
    Effect.gen(function*() {
      const { busyWhile, ref } = yield* setup
      yield* ref.ask(T.Once({ key: "t", label: "old" }))
      yield* busyWhile("t", "replace", 1000)
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), [])
      yield* TestClock.adjust(1000)
      yield* settle()
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), ["new"])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("cancelTimer of a periodic timer: none of its queued ticks arrive", () =>
    Effect.gen(function*() {
      const { busyWhile, ref } = yield* setup
      yield* ref.ask(T.Every({ key: "p", label: "tick" }))
      yield* busyWhile("p", "cancel", 500)
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), [])
      yield* TestClock.adjust(1000)
      yield* settle()
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), [])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("the same message object told to the actor is kept; a timer's message has the actor as its sender", () =>
    Effect.gen(function*() {
      const { busyWhile, ref, senders } = yield* setup
      yield* ref.ask(T.Once({ key: "t", label: "x" }))
      yield* busyWhile("t", "tell the same, then cancel", 1000)
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), ["x"])
      assert.deepStrictEqual(senders, ["none"])
      yield* ref.ask(T.Once({ key: "t2", label: "y" }))
      yield* TestClock.adjust(1000)
      yield* settle()
      assert.deepStrictEqual(yield* ref.ask(T.Ticks()), ["x", "y"])
      assert.deepStrictEqual(senders, ["none", ref.key])
    }).pipe(Effect.provide(ActorSystem.layer())))
})
