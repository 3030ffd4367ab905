/**
 * The kill signal reaches an actor that is already stopping (its finalizers run), as
 * `exit(Pid, kill)` ends a process that is running its `terminate/2` in OTP: it exits with
 * `Killed` at once, and `system.kill` returns, instead of both waiting for the cleanup to end.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ActorSystem, ExitReason } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const R = Actor.make("test/KillStopping", { Ping: Actor.ask({}, { success: Schema.Number }) })

const hangingCleanup = (finalizing: Deferred.Deferred<void>) =>
  R.behavior(Effect.gen(function*() {
    yield* Effect.addFinalizer(() => Deferred.succeed(finalizing, undefined).pipe(Effect.andThen(Effect.never)))
    return { Ping: () => Effect.succeed(1) }
  }))

describe("killing an actor that is stopping", () => {
  for (const how of ["system.kill", "system.exit(Killed)"] as const) {
    it.effect(`${how}: Killed at once, the pending stop returns`, () =>
      withSystem()(Effect.gen(function*() {
        const system = yield* ActorSystem
        const finalizing = yield* Deferred.make<void>()
        const ref = yield* system.spawn(hangingCleanup(finalizing), { shutdown: "infinity" })
        const exit = yield* Effect.forkChild(system.awaitExit(ref))
        const stop = yield* Effect.forkChild(system.stop(ref))
        yield* Deferred.await(finalizing)
        const kill = yield* Effect.forkChild(how === "system.kill" ? system.kill(ref) : system.exit(ref, ExitReason.killed))
        yield* settle()
        assert.isDefined(kill.pollUnsafe(), `${how} waits for the cleanup`)
        assert.isDefined(exit.pollUnsafe(), "the actor is still stopping")
        assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.killed)
        assert.isDefined(stop.pollUnsafe(), "system.stop still waits")
      })))
  }

  it.effect("stopped during an init that does not end, then killed: Killed at once, the spawn fails", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const started = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
      const spawn = yield* Effect.forkChild(Effect.exit(system.spawn(R.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        yield* Deferred.succeed(started, ctx.self as ActorRef.ActorRef<typeof R.defs>)
        return yield* Effect.never
      })), { shutdown: "infinity" })))
      const ref = yield* Deferred.await(started)
      const exit = yield* Effect.forkChild(system.awaitExit(ref))
      yield* Effect.forkChild(system.stop(ref))
      yield* settle()
      assert.isUndefined(exit.pollUnsafe(), "an infinite budget: the stop waits for the init")
      yield* system.kill(ref)
      yield* settle()
      assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.killed)
      yield* Fiber.interrupt(spawn)
    })))

  it.effect("ended by an exit signal (not trapping): its cleanup has its stop budget, then Killed; with infinity, until a kill", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      for (const shutdown of ["1 second", "infinity"] as const) {
        const finalizing = yield* Deferred.make<void>()
        const ref = yield* system.spawn(hangingCleanup(finalizing), { shutdown })
        const exit = yield* Effect.forkChild(system.awaitExit(ref))
        yield* system.exit(ref, ExitReason.error("linked crash"))
        yield* Deferred.await(finalizing)
        yield* TestClock.adjust("1 second")
        yield* settle()
        if (shutdown === "infinity") {
          assert.isUndefined(exit.pollUnsafe(), "an infinite budget: it waits for its cleanup")
          yield* system.kill(ref)
          yield* settle()
        }
        assert.isDefined(exit.pollUnsafe(), `${shutdown}: still stopping`)
        assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.killed, shutdown)
      }
    })))
})
