/**
 * An actor that is stopping (its finalizers run) takes no more messages: an ask then fails at
 * once with `NoProc` — not delivered, so safe to send again elsewhere (sharding reroutes on it) —
 * rather than waiting for the exit as an OTP call would.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Schema } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import { withSystem } from "./_helpers.ts"

const R = Actor.make("test/OtpAskStopping", {
  Ping: Actor.ask({}, { success: Schema.Number }),
  Wait: Actor.tell({}),
  Note: Actor.tell({})
})

const errorOf = (exit: Exit.Exit<unknown, unknown>): any =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? (exit.cause.reasons[0] as any).error : undefined

const slowToStop = (finalizing: Deferred.Deferred<void>, release: Deferred.Deferred<void>) =>
  R.behavior(Effect.gen(function*() {
    yield* Effect.addFinalizer(() => Deferred.succeed(finalizing, undefined).pipe(Effect.andThen(Deferred.await(release))))
    return { Ping: () => Effect.succeed(1), Wait: () => Effect.never, Note: () => Effect.void }
  }))

describe("sending to an actor that is stopping", () => {
  it.effect("an ask made while its finalizer runs fails at once with NoProc", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const finalizing = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const ref = yield* system.spawn(slowToStop(finalizing, release))
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* Deferred.await(finalizing)
      assert.strictEqual(errorOf(yield* Effect.exit(ref.ask(R.Ping(), { timeout: "1 hour" })))?._tag, "NoProc")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(stop)
    })))
})
