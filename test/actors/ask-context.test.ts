/**
 * An ask reads two things from its fiber's context — the asking actor (the receiver's
 * `ctx.sender`) and whether the clock is the live one (deadline queue) or another (TestClock).
 * They are kept for the last context seen; these tests alternate contexts to show that each ask
 * still gets its own.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ActorSystem, type AskTimeout } from "../../src/index.ts"
import { isDone, withSystem } from "./_helpers.ts"

const Echo = Actor.make("CtxEcho", {
  WhoSent: Actor.ask({}, { success: Schema.String }),
  Hang: Actor.ask({}, { success: Schema.String })
})
const makeEcho = (hanging: Deferred.Deferred<void>) =>
  Echo.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      WhoSent: () => Effect.sync(() => ctx.sender?.key ?? "nobody"),
      Hang: () => Deferred.succeed(hanging, undefined).pipe(Effect.andThen(Effect.never))
    }
  }))

const Asker = Actor.make("CtxAsker", {
  AskOther: Actor.ask({ other: ActorRef.schemaFor(Echo) }, { success: Schema.String })
})
const AskerLive = Asker.behavior(Effect.succeed({
  AskOther: ({ other }) => other.ask(Echo.WhoSent()).pipe(Effect.orDie)
}))

describe("ask: what it reads from its fiber's context", () => {
  it.effect("an ask on the TestClock after asks on the live clock times out by the TestClock", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const hanging = yield* Deferred.make<void>()
      const echo = yield* system.spawn(makeEcho(hanging))
      // asks from a context on the live clock first
      const live = Clock.Clock.defaultValue()
      for (let i = 0; i < 3; i++) {
        assert.strictEqual(yield* echo.ask(Echo.WhoSent()).pipe(Effect.provideService(Clock.Clock, live)), "nobody")
      }
      // an hour on the TestClock: with the live clock's deadline queue it would never end here
      const fiber = yield* Effect.forkChild(Effect.flip(echo.ask(Echo.Hang(), { timeout: "1 hour" })))
      yield* Deferred.await(hanging)
      yield* TestClock.adjust("59 minutes")
      assert.isFalse(isDone(fiber))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "AskTimeout")
      assert.strictEqual((error as AskTimeout).timeoutMillis, 3_600_000)
    }).pipe(withSystem()))

  it.effect("senders alternate correctly between asks from outside and from two actors", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const echo = yield* system.spawn(makeEcho(yield* Deferred.make<void>()))
      const a = yield* system.spawn(AskerLive)
      const b = yield* system.spawn(AskerLive)
      for (let i = 0; i < 3; i++) {
        assert.strictEqual(yield* echo.ask(Echo.WhoSent()), "nobody")
        assert.strictEqual(yield* a.ask(Asker.AskOther({ other: echo })), a.key)
        assert.strictEqual(yield* b.ask(Asker.AskOther({ other: echo })), b.key)
        assert.strictEqual(yield* b.ask(Asker.AskOther({ other: echo })), b.key)
      }
    }).pipe(withSystem()))
})
