/**
 * A stop asked while an actor's init runs waits for the init (it runs in the spawner's fiber),
 * but no longer than the stop's budget: an init that never ends is then killed — the stop and
 * the system's own stop complete, monitors get `Down(Killed)`, the name is free — and the spawn
 * fails with `SpawnError` if the init ever ends (OTP: `exit(Pid, shutdown)` ends a process in
 * its `init/1`). An init that ends within the budget leaves the actor in its cleanup, which is
 * bounded by what is left of that budget, and which a later exit signal or kill ends as it would
 * any stopping actor's (OTP's supervisor kills a child that has not exited within its shutdown,
 * counted from its `exit(Pid, shutdown)`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, type ActorRef } from "../../src/index.ts"
import { settle } from "./_helpers.ts"

const R = Actor.make("test/OtpStopDuringInit", { Ping: Actor.ask({}, { success: Schema.Number }) })

/** an init that hands out its ref, then waits for `gate` (never opened: an init that never ends) */
const slowInit = (self: Deferred.Deferred<ActorRef.ActorRef<typeof R.defs>>, gate: Deferred.Deferred<void>, log: Array<string>) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(R)
    yield* Effect.addFinalizer(() => Effect.sync(() => void log.push("finalized")))
    yield* Deferred.succeed(self, ctx.self)
    yield* Deferred.await(gate)
    return { Ping: () => Effect.succeed(1) }
  }))

describe("stop of an actor whose init does not end", () => {
  it.effect("system.stop is bounded by the budget; the actor is killed; the spawn fails when the init ends", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const selfRef = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
      const gate = yield* Deferred.make<void>()
      const spawn = yield* Effect.forkChild(Effect.exit(system.spawn(slowInit(selfRef, gate, log), { name: "slow", shutdown: "1 second" })))
      const ref = yield* Deferred.await(selfRef)
      const exit = yield* Effect.forkChild(system.awaitExit(ref))
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* settle()
      yield* TestClock.adjust("999 millis")
      yield* settle()
      assert.isUndefined(stop.pollUnsafe(), "stopped before the budget")
      yield* TestClock.adjust("1 millis")
      yield* settle()
      assert.isDefined(stop.pollUnsafe(), "system.stop waits for the init for ever")
      assert.strictEqual((yield* Fiber.join(exit))._tag, "Killed")
      assert.isTrue(Option.isNone(system.whereis("slow")), "the name is free")
      assert.strictEqual((yield* Effect.flip(ref.ask(R.Ping())))._tag, "NoProc")
      // the init ends at last: the spawn fails, the scope is closed
      assert.isUndefined(spawn.pollUnsafe())
      yield* Deferred.succeed(gate, undefined)
      const spawned = yield* Fiber.join(spawn)
      assert.isTrue(Exit.isFailure(spawned))
      yield* settle()
      assert.deepStrictEqual(log, ["finalized"])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("an init that ends within the budget: the actor starts and stops as before", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const selfRef = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
      const gate = yield* Deferred.make<void>()
      const spawn = yield* Effect.forkChild(Effect.exit(system.spawn(slowInit(selfRef, gate, log), { shutdown: "1 second" })))
      const ref = yield* Deferred.await(selfRef)
      const exit = yield* Effect.forkChild(system.awaitExit(ref))
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* TestClock.adjust("500 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(stop)
      assert.isTrue(Exit.isFailure(yield* Fiber.join(spawn)))
      assert.strictEqual((yield* Fiber.join(exit))._tag, "Shutdown")
      assert.deepStrictEqual(log, ["finalized"])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.live("the system (a node) stops although an actor's init never ends", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const selfRef = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
      const gate = yield* Deferred.make<void>()
      yield* Effect.scoped(Effect.gen(function*() {
        const system = yield* ActorSystem
        // spawned from a fiber outside the system, which the system's stop does not interrupt
        yield* Effect.forkDetach(system.spawn(slowInit(selfRef, gate, log), { shutdown: "20 millis" }))
        yield* Deferred.await(selfRef)
      }).pipe(Effect.provide(Layer.fresh(ActorSystem.layer()))) as Effect.Effect<void, unknown, never>)
      assert.deepStrictEqual(log, [])
    }))
})

describe("kill and exit signals to an actor whose init does not end", () => {
  it.effect("system.kill ends it at once (Killed); an exit signal ends it within its own budget", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const spawnSlow = Effect.gen(function*() {
        const selfRef = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
        yield* Effect.forkChild(Effect.exit(system.spawn(slowInit(selfRef, gate, log), { shutdown: "2 seconds" })))
        return yield* Deferred.await(selfRef)
      })
      const a = yield* spawnSlow
      const killed = yield* Effect.forkChild(system.awaitExit(a))
      const kill = yield* Effect.forkChild(system.kill(a))
      yield* settle()
      assert.isDefined(kill.pollUnsafe(), "system.kill waits for the init")
      assert.strictEqual((yield* Fiber.join(killed))._tag, "Killed")

      const b = yield* spawnSlow
      const exited = yield* Effect.forkChild(system.awaitExit(b))
      yield* system.exit(b, { _tag: "Error", message: "go" })
      yield* settle()
      yield* TestClock.adjust("1999 millis")
      yield* settle()
      assert.isUndefined(exited.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      yield* settle()
      assert.strictEqual((yield* Fiber.join(exited))._tag, "Killed")
    }).pipe(Effect.provide(ActorSystem.layer())))
})

/** an init that adds a finalizer that never ends, hands out its ref, waits for `gate`, then starts or fails */
const hangingCleanup = (
  self: Deferred.Deferred<ActorRef.ActorRef<typeof R.defs>>,
  gate: Deferred.Deferred<void>,
  log: Array<string>,
  fail: boolean
) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(R)
    yield* Effect.addFinalizer(() => Effect.sync(() => void log.push("finalizing")).pipe(Effect.andThen(Effect.never)))
    yield* Deferred.succeed(self, ctx.self)
    yield* Deferred.await(gate)
    if (fail) return yield* Effect.die(new Error("init failed"))
    return { Ping: () => Effect.succeed(1) }
  }))

describe("stopped during its init, which then ends within the budget: its cleanup has what is left of the budget", () => {
  for (const how of ["system.stop", "an exit signal"] as const) {
    for (const fail of [false, true]) {
      it.effect(`${how}, the init then ${fail ? "fails" : "returns"}: a finalizer that never ends is killed when the budget is out`, () =>
        Effect.gen(function*() {
          const system = yield* ActorSystem
          const log: Array<string> = []
          const selfRef = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
          const gate = yield* Deferred.make<void>()
          const spawn = yield* Effect.forkChild(Effect.exit(system.spawn(hangingCleanup(selfRef, gate, log, fail), { shutdown: "1 second" })))
          const ref = yield* Deferred.await(selfRef)
          const exit = yield* Effect.forkChild(system.awaitExit(ref))
          yield* Effect.gen(function*() {
            const stop = how === "system.stop"
              ? yield* Effect.forkChild(system.stop(ref))
              : yield* Effect.forkChild(system.exit(ref, { _tag: "Error", message: "go" }))
            yield* settle()
            yield* TestClock.adjust("400 millis")
            yield* Deferred.succeed(gate, undefined)
            assert.isTrue(Exit.isFailure(yield* Fiber.join(spawn)))
            yield* settle()
            assert.deepStrictEqual(log, ["finalizing"])
            yield* TestClock.adjust("599 millis")
            yield* settle()
            assert.isUndefined(exit.pollUnsafe(), "killed before its budget")
            yield* TestClock.adjust("1 millis")
            yield* settle()
            // (the system's own stop would wait for it for ever)
            assert.isDefined(exit.pollUnsafe(), "its finalizer holds it for ever")
            assert.strictEqual((yield* Fiber.join(exit))._tag, "Killed")
            yield* Fiber.join(stop)
          }).pipe(Effect.ensuring(system.kill(ref)))
        }).pipe(Effect.provide(ActorSystem.layer())))
    }
  }
})

describe("stopped during its init, which then ended: in its cleanup, it is a stopping actor as any", () => {
  it.effect("an abnormal exit signal ends it at once with its reason; system.kill with Killed", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      for (const end of ["signal", "kill"] as const) {
        const log: Array<string> = []
        const selfRef = yield* Deferred.make<ActorRef.ActorRef<typeof R.defs>>()
        const gate = yield* Deferred.make<void>()
        const spawn = yield* Effect.forkChild(Effect.exit(system.spawn(hangingCleanup(selfRef, gate, log, false), { shutdown: "infinity" })))
        const ref = yield* Deferred.await(selfRef)
        const exit = yield* Effect.forkChild(system.awaitExit(ref))
        yield* Effect.forkChild(system.stop(ref))
        yield* settle()
        yield* Deferred.succeed(gate, undefined)
        assert.isTrue(Exit.isFailure(yield* Fiber.join(spawn)))
        yield* settle()
        assert.deepStrictEqual(log, ["finalizing"])
        assert.isUndefined(exit.pollUnsafe())
        if (end === "signal") yield* system.exit(ref, { _tag: "Error", message: "late" })
        else yield* Effect.forkChild(system.kill(ref))
        yield* settle()
        assert.isDefined(exit.pollUnsafe(), `${end}: its finalizer holds it for ever`)
        assert.deepStrictEqual(yield* Fiber.join(exit), end === "signal" ? { _tag: "Error", message: "late" } : { _tag: "Killed" })
      }
    }).pipe(Effect.provide(ActorSystem.layer())))
})
