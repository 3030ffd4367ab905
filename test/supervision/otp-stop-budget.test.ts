/**
 * A stop that comes without a budget of its own (`system.stop`, a parent stopping, the system or
 * node stopping) is bounded by the actor's `shutdown` (`SpawnOptions`, default 5 seconds, as a
 * worker's child spec in OTP; a supervisor's is infinity): past it the actor is killed, as OTP's
 * shutdown kills a child that has not exited in time. A finalizer that never ends then no longer
 * hangs the stop.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, Supervise, Supervisor } from "../../src/index.ts"
import { settle } from "./helpers.ts"

const P = Actor.make("test/StopBudget", {
  Ping: Actor.ask({}, { success: Schema.Number }),
  Spawn: Actor.ask({}, { success: Schema.Number })
})

const hanging = (log: Array<string>): Actor.Behavior<typeof P.defs> =>
  P.behavior(Effect.gen(function*() {
    yield* Effect.addFinalizer(() => Effect.sync(() => log.push("finalizing")).pipe(Effect.andThen(Effect.never)))
    return {
      Ping: () => Effect.succeed(1),
      Spawn: () => Effect.succeed(0)
    }
  }))

const supervised = (log: Array<string>) => Supervise.behavior(hanging(log), [{ match: "Nope", directive: "resume" }])

const withSystem = <A, E>(f: (system: ActorSystem["Service"]) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

describe("stop budget of an actor whose finalizer never ends", () => {
  it.effect("system.stop of a Supervise actor: killed after the default 5 s, not before", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const ref = yield* system.spawn(supervised(log))
        const exit = yield* Effect.forkChild(system.awaitExit(ref))
        const stop = yield* Effect.forkChild(system.stop(ref))
        yield* settle()
        assert.deepStrictEqual(log, ["finalizing"])
        yield* TestClock.adjust("4999 millis")
        yield* settle()
        assert.isUndefined(stop.pollUnsafe(), "stopped before its budget")
        yield* TestClock.adjust("1 millis")
        yield* settle()
        assert.isDefined(stop.pollUnsafe(), "system.stop still waits past the budget")
        assert.strictEqual((yield* Fiber.join(exit))._tag, "Killed")
      })
    ))

  it.effect("SpawnOptions.shutdown sets the budget; brutal_kill kills at once", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const a = yield* system.spawn(supervised(log), { shutdown: "1 second" })
        const stopA = yield* Effect.forkChild(system.stop(a))
        yield* settle()
        assert.isUndefined(stopA.pollUnsafe())
        yield* TestClock.adjust("1 second")
        yield* settle()
        assert.isDefined(stopA.pollUnsafe(), "past its 1 s budget")
        const b = yield* system.spawn(supervised(log), { shutdown: "brutal_kill" })
        const exitB = yield* Effect.forkChild(system.awaitExit(b))
        yield* system.stop(b)
        assert.strictEqual((yield* Fiber.join(exitB))._tag, "Killed")
        // a budget that is not one is a defect of the spawn
        assert.throws(() => Effect.runSync(system.spawn(hanging(log), { shutdown: "soon" as any })))
      })
    ))

  it.effect("an actor already stopping by itself (a hanging finalizer after ctx.stop) is killed within the budget of a later stop", () =>
    withSystem((system) =>
      Effect.gen(function*() {
          const S = Actor.make("test/StopBudgetSelf", { Quit: Actor.tell({}) })
        const ref = yield* system.spawn(S.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          yield* Effect.addFinalizer(() => Effect.never)
          return { Quit: () => ctx.stop() }
        })))
        yield* ref.tell(S.Quit())
        yield* settle()
        const stop = yield* Effect.forkChild(system.stop(ref))
        yield* settle()
        assert.isUndefined(stop.pollUnsafe())
        yield* TestClock.adjust("5 seconds")
        yield* settle()
        assert.isDefined(stop.pollUnsafe(), "system.stop waits forever for an actor stopping by itself")
      })
    ))

  it.effect("a parent whose child's finalizer never ends stops within the child's budget", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const parent = yield* system.spawn(P.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          return { Ping: () => Effect.succeed(1), Spawn: () => Effect.as(Effect.orDie(ctx.spawn(supervised(log))), 1) }
        })))
        yield* parent.ask(P.Spawn())
        const stop = yield* Effect.forkChild(system.stop(parent))
        yield* settle()
        yield* TestClock.adjust("5 seconds")
        yield* settle()
        assert.isDefined(stop.pollUnsafe(), "the parent's stop waits for its child forever")
      })
    ))

  it.effect("a supervisor keeps OTP's infinity by default: it waits for its children, each within its own budget", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({
          children: [Supervisor.child("a", supervised(log), { shutdown: "10 seconds" })]
        }))
        const stop = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        yield* TestClock.adjust("9 seconds")
        yield* settle()
        assert.isUndefined(stop.pollUnsafe(), "the supervisor was cut short by a default budget")
        yield* TestClock.adjust("1 second")
        yield* settle()
        assert.isDefined(stop.pollUnsafe())
      })
    ))

  it.live("the system (a node) stops although a top-level actor's finalizer never ends", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const system = yield* ActorSystem
        yield* system.spawn(supervised(log), { shutdown: "20 millis" })
        yield* system.spawn(hanging(log), { shutdown: "20 millis" })
      }).pipe(Effect.provide(Layer.fresh(ActorSystem.layer()))) as Effect.Effect<void, unknown, never>)
      assert.deepStrictEqual(log, ["finalizing", "finalizing"])
    }))
})

describe("a supervisor child's stop budget", () => {
  it.effect("system.stop of a supervised child uses the shutdown of its child spec", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [Supervisor.child("a", supervised(log), { shutdown: "1 second", restart: "temporary" })]
        }))
        const a = (yield* Supervisor.whichChild(sup, "a")).ref!
        const stop = yield* Effect.forkChild(system.stop(a))
        yield* settle()
        yield* TestClock.adjust("1 second")
        yield* settle()
        assert.isDefined(stop.pollUnsafe(), "the child's stop waits its default 5 s, not its spec's 1 s")
      })
    ))
})

describe("a child whose init failed and whose cleanup never ends", () => {
  const failing = (log: Array<string>) =>
    P.behavior(Effect.gen(function*() {
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push("finalizing")).pipe(Effect.andThen(Effect.never)))
      return yield* Effect.die(new Error("init failed"))
    }))

  it.effect("startChild fails; the supervisor's stop kills it within its shutdown budget and completes", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        const started = yield* Effect.flip(Supervisor.startChild(sup, Supervisor.child("f", failing(log), { shutdown: "1 second" })))
        assert.strictEqual((started as Supervisor.SupervisorError).reason, "StartFailed")
        yield* settle()
        assert.deepStrictEqual(log, ["finalizing"])
        const stop = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        yield* TestClock.adjust("999 millis")
        yield* settle()
        assert.isUndefined(stop.pollUnsafe(), "stopped before the child's budget")
        yield* TestClock.adjust("1 millis")
        yield* settle()
        assert.isDefined(stop.pollUnsafe(), "the supervisor's stop waits for the failed child's cleanup for ever")
        yield* Fiber.join(stop)
      })
    ))
})
