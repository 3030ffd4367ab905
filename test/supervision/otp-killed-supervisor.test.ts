/**
 * A supervisor that is killed — past its own stop budget, or brutally — while it stops its
 * children: as OTP's children see their supervisor's `killed`, the child it waits for and those
 * it has not stopped yet are killed (their finalizers still run, nobody waits for them), rather
 * than left running, or stopping for ever, without a supervisor. Killed while its children run,
 * it kills them all (before, the first it stopped exited with `Shutdown` when its stop ended at
 * once).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ExitReason, Supervisor } from "../../src/index.ts"
import { crash, Probe, settle, withSystem, workerSpec } from "./helpers.ts"

describe("a supervisor killed while it stops its children (supervisor_SUITE sup_stop_timeout, one level up)", () => {
  it.effect("past its own budget: the hanging child it waits for and the children left are killed", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), workerSpec("h", probe, { hangOnStop: true, shutdown: "infinity" })]
        }), { shutdown: "1 second" })
        const hExit = yield* Effect.forkChild(system.awaitExit(probe.ref("h")))
        const aExit = yield* Effect.forkChild(system.awaitExit(probe.ref("a")))
        const stop = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        assert.deepStrictEqual(probe.take(), ["start:a", "start:h", "stopping:h"])
        yield* TestClock.adjust("999 millis")
        yield* settle()
        assert.isUndefined(stop.pollUnsafe(), "killed before its budget")
        yield* TestClock.adjust("1 millis")
        yield* settle()
        assert.isDefined(stop.pollUnsafe(), "the supervisor's stop ends at its budget")
        assert.deepStrictEqual(yield* system.awaitExit(sup), ExitReason.killed)
        assert.isDefined(hExit.pollUnsafe(), "the hanging child outlives its supervisor")
        assert.deepStrictEqual(yield* Fiber.join(hExit), ExitReason.killed)
        // the child it had not stopped yet: killed too, its finalizer run
        assert.deepStrictEqual(yield* Fiber.join(aExit), ExitReason.killed)
        assert.deepStrictEqual(probe.take(), ["stop:a"])
      })))

  it.effect("system.kill while it waits for a child's budget: that child is killed at once", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("h", probe, { hangOnStop: true, shutdown: "1 hour" })]
        }))
        const hExit = yield* Effect.forkChild(system.awaitExit(probe.ref("h")))
        const stopping = yield* Effect.forkChild(Supervisor.terminateChild(sup, "h"))
        yield* settle()
        yield* system.kill(sup)
        yield* settle()
        assert.isDefined(hExit.pollUnsafe(), "the child waits out its 1 hour budget without a supervisor")
        assert.deepStrictEqual(yield* Fiber.join(hExit), ExitReason.killed)
        assert.isDefined(stopping.pollUnsafe())
      })))
})

describe("a supervisor killed while its children run (erl's exit(Sup, kill): they see killed over their links)", () => {
  for (const how of ["system.kill", "an exit signal Killed"] as const) {
    it.effect(`${how}: every child exits Killed, also one whose stop would end at once; their finalizers run`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe), workerSpec("b", probe)] }))
          const children = [probe.ref("a"), probe.ref("b")]
          probe.take()
          yield* how === "system.kill" ? system.kill(sup) : system.exit(sup, ExitReason.killed)
          assert.deepStrictEqual(yield* system.awaitExit(sup), ExitReason.killed)
          for (const child of children) assert.deepStrictEqual(yield* system.awaitExit(child), ExitReason.killed)
          yield* settle()
          assert.deepStrictEqual(probe.take(), ["stop:b", "stop:a"])
        })))
  }
})

describe("count_children / which_children while a group restart waits for its backoff (count_restarting_children)", () => {
  it.effect("the group is restarting: counted as specs, not active, with no refs; then all run again", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff: { initial: "1 second", jitter: 0 },
          children: [workerSpec("a", probe), workerSpec("b", probe)]
        }))
        yield* crash(system, sup, probe.ref("a")) // the first restart is at once
        yield* crash(system, sup, probe.ref("a")) // the second waits for the backoff
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 2, active: 0, supervisors: 0, workers: 2 })
        const which = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(which.map((c) => [c.id, c.status, c.ref === undefined]), [["a", "restarting", true], ["b", "restarting", true]])
        yield* TestClock.adjust("5 seconds")
        yield* settle()
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 2, active: 2, supervisors: 0, workers: 2 })
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.status), ["running", "running"])
      })))
})
