/**
 * An ask served by a handler marked with `Actor.fork` is a call like any other: when the actor is
 * gone its caller gets `ActorStopped` with the actor's exit reason (gen_server_SUITE: a call to a
 * server that dies fails with the server's reason), also when the actor is killed — or gone past
 * its stop budget — while the forked handler still runs, and a result the handler comes to later
 * goes nowhere (a dead process does not reply). And a forked handler that stops its actor
 * (`ctx.stop`) stops it once it has ended, as any handler: its caller gets the reply first (a
 * gen_server's `{stop, Reason, Reply, State}`). A forked handler that runs on after its actor is
 * gone links and monitors nothing (a dead process cannot).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, ExitReason } from "../../src/index.ts"
import { settle, waitUntil, withSystem } from "./_helpers.ts"

const F = Actor.make("test/otp3/ForkedAsks", {
  /** forked: answers 7 once released */
  Slow: Actor.ask({}, { success: Schema.Number }),
  /** a handler that cannot be interrupted, until released */
  Hang: Actor.tell({})
})

const setup = (shutdown: "brutal_kill" | 0 | "50 millis") =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const release = yield* Deferred.make<void>()
    const busy = yield* Deferred.make<void>()
    const forked = yield* Deferred.make<void>()
    const ref = yield* system.spawn(
      F.behavior(Effect.succeed({
        Slow: () => Actor.fork(Effect.andThen(Deferred.succeed(forked, undefined), Effect.as(Deferred.await(release), 7))),
        Hang: () => Effect.uninterruptible(Effect.andThen(Deferred.succeed(busy, undefined), Deferred.await(release)))
      })),
      { shutdown }
    )
    const ask = yield* Effect.forkChild(Effect.exit(ref.ask(F.Slow(), { timeout: "1 hour" })))
    yield* Deferred.await(forked)
    // the actor's own fiber is now stuck in a handler no stop can interrupt
    yield* ref.tell(F.Hang())
    yield* Deferred.await(busy)
    return { system, ref, ask, release }
  })

/** The ask has failed with ActorStopped carrying `reason`, and releasing the handler changes nothing. */
const assertStopped = Effect.fnUntraced(function*(
  ask: Fiber.Fiber<Exit.Exit<number, unknown>>,
  release: Deferred.Deferred<void>,
  reason: string
) {
  yield* waitUntil("the forked ask fails", () => ask.pollUnsafe() !== undefined)
  const exit = yield* Fiber.join(ask)
  assert.isTrue(Exit.isFailure(exit), "a dead actor does not reply")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  assert.strictEqual((error as any)?.error?._tag, "ActorStopped")
  assert.strictEqual((error as any)?.error?.reason?._tag, reason)
  yield* Deferred.succeed(release, undefined)
  yield* settle()
})

describe("an ask served by a forked handler when its actor is gone (the actor's own fiber stuck)", () => {
  it.effect("system.kill: it fails with Killed when the actor is gone, not at its timeout", () =>
    Effect.gen(function*() {
      const { system, ref, ask, release } = yield* setup("brutal_kill")
      yield* system.kill(ref)
      yield* assertStopped(ask, release, "Killed")
    }).pipe(withSystem()))

  it.effect("system.stop past the actor's budget: it fails with Killed at the budget", () =>
    Effect.gen(function*() {
      const { system, ref, ask, release } = yield* setup("50 millis")
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* settle()
      assert.isUndefined(ask.pollUnsafe(), "still served within the budget")
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(stop)
      yield* assertStopped(ask, release, "Killed")
    }).pipe(withSystem()))

  it.effect("system.stop with a budget of 0: it fails with Shutdown at once", () =>
    Effect.gen(function*() {
      const { system, ref, ask, release } = yield* setup(0)
      yield* system.stop(ref)
      yield* assertStopped(ask, release, "Shutdown")
    }).pipe(withSystem()))
})

const Q = Actor.make("test/otp3/ForkedStop", {
  /** forked: stops the actor with `reason`, works on, then answers 4 */
  Quit: Actor.ask({ reason: Schema.Any }, { success: Schema.Number }),
  /** forked tell: stops the actor, works on, then logs */
  QuitTell: Actor.tell({})
})

const quitting = (log: Array<string>) =>
  Q.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Quit: ({ reason }) =>
        Actor.fork(Effect.gen(function*() {
          yield* ctx.stop(reason as ExitReason.ExitReason)
          yield* Effect.yieldNow
          log.push("answered")
          return 4
        })),
      QuitTell: () =>
        Actor.fork(Effect.gen(function*() {
          yield* ctx.stop()
          yield* Effect.yieldNow
          log.push("ended")
        }))
    }
  }))

describe("a forked handler that stops its actor (ctx.stop)", () => {
  for (const reason of [ExitReason.normal, ExitReason.error("bye")]) {
    it.effect(`an ask: its caller gets the reply, then the actor exits with ${reason._tag}`, () =>
      Effect.gen(function*() {
        const system = yield* ActorSystem
        const log: Array<string> = []
        const ref = yield* system.spawn(quitting(log))
        assert.strictEqual(yield* ref.ask(Q.Quit({ reason })), 4)
        assert.strictEqual((yield* system.awaitExit(ref))._tag, reason._tag)
        assert.deepStrictEqual(log, ["answered"])
      }).pipe(withSystem()))
  }

  it.effect("a tell: the handler runs to its end before the actor stops", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const ref = yield* system.spawn(quitting(log))
      yield* ref.tell(Q.QuitTell())
      assert.strictEqual((yield* system.awaitExit(ref))._tag, "Normal")
      assert.deepStrictEqual(log, ["ended"])
    }).pipe(withSystem()))
})

const L = Actor.make("test/otp3/ForkedLink", {
  /** forked: once released, links to and monitors `other` */
  Later: Actor.tell({ other: Schema.Any }),
  Hang: Actor.tell({})
})

describe("a forked handler still running after its actor is gone", () => {
  it.effect("links and monitors nothing: the other actor holds no link or watcher of the dead one", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const release = yield* Deferred.make<void>()
      const busy = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      const other = yield* system.spawn(F.behavior(Effect.succeed({ Slow: () => Effect.succeed(1), Hang: () => Effect.void })))
      const ref = yield* system.spawn(L.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        return {
          Later: ({ other }: { readonly other: unknown }) =>
            Actor.fork(Effect.gen(function*() {
              yield* Deferred.await(release)
              yield* ctx.link(other as ActorRef.ActorRef<any>)
              yield* ctx.monitor(other as ActorRef.ActorRef<any>)
              yield* Deferred.succeed(done, undefined)
            })),
          Hang: () => Effect.uninterruptible(Effect.andThen(Deferred.succeed(busy, undefined), Effect.never))
        }
      })))
      yield* ref.tell(L.Later({ other }))
      yield* ref.tell(L.Hang())
      yield* Deferred.await(busy)
      yield* system.kill(ref)
      yield* Deferred.succeed(release, undefined)
      yield* Deferred.await(done)
      const info = Option.getOrThrow(system.info(other))
      assert.deepStrictEqual(info.links.map((r) => r.key), [])
      assert.deepStrictEqual(info.monitoredBy.map((r) => r.key), [])
    }).pipe(withSystem()))
})
