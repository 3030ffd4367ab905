/**
 * A supervision tree whose top is killed, or shut down, as OTP's supervisor_SUITE trees are:
 * a killed process's links see `killed`. A child that does not trap exits dies of it; a child
 * supervisor traps it, and, as an OTP supervisor whose parent exits, shuts its own children
 * down in order — each with `shutdown`, within its budget — then exits with `killed`. Only a
 * supervisor killed itself (brutally, or past its budget) kills its children.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ExitReason, Supervisor } from "../../src/index.ts"
import { Probe, settle, withSystem, workerSpec } from "./helpers.ts"

/** outer: [inner: [w1, w2], x] */
const tree = (probe: Probe, inner: Partial<Supervisor.ChildSpec<never>> = {}, w2: Parameters<typeof workerSpec>[2] = {}) =>
  Supervisor.make({
    children: [
      Supervisor.child("inner", Supervisor.make({ children: [workerSpec("w1", probe), workerSpec("w2", probe, w2)] }), inner),
      workerSpec("x", probe)
    ]
  })

const refs = Effect.fnUntraced(function*(outer: Supervisor.SupervisorRef, probe: Probe) {
  const inner = (yield* Supervisor.whichChild(outer, "inner")).ref as Supervisor.SupervisorRef
  return { inner, w1: probe.ref("w1"), w2: probe.ref("w2"), x: probe.ref("x") }
})

describe("an outer supervisor killed while its tree runs (its links see killed)", () => {
  for (const how of ["system.kill", "an exit signal Killed"] as const) {
    it.effect(`${how}: the worker child is Killed; the child supervisor exits Killed after shutting its own children down`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const outer = yield* system.spawn(tree(probe))
          const { inner, w1, w2, x } = yield* refs(outer, probe)
          probe.take()
          const exits = yield* Effect.forkChild(Effect.all([inner, w1, w2, x].map((r) => system.awaitExit(r))))
          yield* how === "system.kill" ? system.kill(outer) : system.exit(outer, ExitReason.killed)
          assert.deepStrictEqual(yield* system.awaitExit(outer), ExitReason.killed)
          const [innerExit, w1Exit, w2Exit, xExit] = yield* Fiber.join(exits)
          assert.deepStrictEqual(xExit, ExitReason.killed)
          assert.deepStrictEqual(innerExit, ExitReason.killed)
          assert.deepStrictEqual([w1Exit, w2Exit], [ExitReason.shutdown, ExitReason.shutdown])
          yield* settle()
          const log = probe.take()
          // the child supervisor's children stop one after another, the newest first
          assert.deepStrictEqual(log.filter((e) => e !== "stop:x"), ["stop:w2", "stop:w1"])
        })))
  }

  it.effect("the grandchildren's budgets hold: a hanging one is killed past its own budget, then the child supervisor exits", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe, {}, { hangOnStop: true, shutdown: "1 second" }))
        const { inner, w1, w2 } = yield* refs(outer, probe)
        const innerExit = yield* Effect.forkChild(system.awaitExit(inner))
        const w1Exit = yield* Effect.forkChild(system.awaitExit(w1))
        const w2Exit = yield* Effect.forkChild(system.awaitExit(w2))
        yield* system.kill(outer)
        yield* settle()
        assert.isUndefined(innerExit.pollUnsafe(), "the child supervisor waits for its hanging child")
        assert.isUndefined(w1Exit.pollUnsafe(), "w1 stops after w2, as in an orderly shutdown")
        yield* TestClock.adjust("1 second")
        yield* settle()
        assert.deepStrictEqual(yield* Fiber.join(w2Exit), ExitReason.killed)
        assert.deepStrictEqual(yield* Fiber.join(w1Exit), ExitReason.shutdown)
        assert.deepStrictEqual(yield* Fiber.join(innerExit), ExitReason.killed)
      })))

  it.effect("a child supervisor with a finite budget that it outlives is killed, and kills what it still stops", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe, { shutdown: "1 second" }, { hangOnStop: true, shutdown: "1 hour" }))
        const { inner, w2 } = yield* refs(outer, probe)
        const innerExit = yield* Effect.forkChild(system.awaitExit(inner))
        const w2Exit = yield* Effect.forkChild(system.awaitExit(w2))
        yield* system.kill(outer)
        yield* settle()
        assert.isUndefined(innerExit.pollUnsafe())
        yield* TestClock.adjust("1 second")
        yield* settle()
        assert.deepStrictEqual(yield* Fiber.join(innerExit), ExitReason.killed)
        assert.deepStrictEqual(yield* Fiber.join(w2Exit), ExitReason.killed)
      })))

  it.effect("a child supervisor with shutdown brutal_kill is killed with its parent, and so are its children", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe, { shutdown: "brutal_kill" }))
        const { inner, w1, w2 } = yield* refs(outer, probe)
        const exits = yield* Effect.forkChild(Effect.all([inner, w1, w2].map((r) => system.awaitExit(r))))
        yield* system.kill(outer)
        assert.deepStrictEqual(yield* Fiber.join(exits), [ExitReason.killed, ExitReason.killed, ExitReason.killed])
      })))
})

describe("a child supervisor told to shut down, or killed itself", () => {
  it.effect("the outer's stop and terminateChild: everything below exits Shutdown", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe))
        const first = yield* refs(outer, probe)
        const exits = yield* Effect.forkChild(Effect.all([first.inner, first.w1, first.w2].map((r) => system.awaitExit(r))))
        yield* Supervisor.terminateChild(outer, "inner")
        assert.deepStrictEqual(yield* Fiber.join(exits), [ExitReason.shutdown, ExitReason.shutdown, ExitReason.shutdown])
        yield* Supervisor.restartChild(outer, "inner")
        const again = yield* refs(outer, probe)
        const all = yield* Effect.forkChild(Effect.all([again.inner, again.w1, again.w2, again.x].map((r) => system.awaitExit(r))))
        yield* system.stop(outer)
        assert.deepStrictEqual(yield* Fiber.join(all), [ExitReason.shutdown, ExitReason.shutdown, ExitReason.shutdown, ExitReason.shutdown])
      })))

  it.effect("killed itself (erl's exit(Inner, kill)): its children are Killed; the outer restarts it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe))
        const { inner, w1, w2 } = yield* refs(outer, probe)
        const exits = yield* Effect.forkChild(Effect.all([inner, w1, w2].map((r) => system.awaitExit(r))))
        yield* system.kill(inner)
        assert.deepStrictEqual(yield* Fiber.join(exits), [ExitReason.killed, ExitReason.killed, ExitReason.killed])
        yield* settle()
        const restarted = yield* Supervisor.whichChild(outer, "inner")
        assert.strictEqual(restarted.status, "running")
        assert.notStrictEqual(restarted.ref!.key, inner.key)
      })))
})

const T = Actor.make("test/otp4/TrappingWorker", {
  Ping: Actor.ask({}, { success: Schema.String })
})

describe("a worker that traps exits, under a supervisor that is killed", () => {
  it.effect("handles the exit signal Killed from its supervisor in onExit, and its finalizer runs before it is gone", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        let self: ActorRef.ActorRef<typeof T.defs> | undefined
        let supKey = ""
        const trapping = T.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext.for(T)
          self = ctx.self
          yield* ctx.trapExit(true)
          yield* Effect.addFinalizer(() => Effect.sync(() => log.push("finalizer")))
          return {
            Ping: () => Effect.succeed("pong"),
            onExit: (signal) => Effect.sync(() => log.push(`onExit:${signal.reason._tag}:${signal.from.key === supKey}`))
          }
        }))
        const sup = yield* system.spawn(Supervisor.make({ children: [Supervisor.child("t", trapping)] }))
        supKey = sup.key
        const ref = self!
        const exit = yield* Effect.forkChild(Effect.map(system.awaitExit(ref), (reason) => {
          log.push(`exit:${reason._tag}`)
          return reason
        }))
        yield* system.kill(sup)
        assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.killed)
        assert.deepStrictEqual(log, ["onExit:Killed:true", "finalizer", "exit:Killed"])
      })))
})
