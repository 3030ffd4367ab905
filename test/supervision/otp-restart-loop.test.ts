/**
 * supervisor_SUITE hanging_restart_loop (OTP-9549): a child that keeps failing to start does not
 * hang its supervisor. Each retry of a failed start is a message to self (OTP's
 * `try_again_restart`), so the calls queued meanwhile are served between the attempts: the child
 * is `restarting`, `restartChild` and `deleteChild` fail with `Restarting`, `startChild` of its
 * spec with `AlreadyPresent`, and `terminateChild` ends the loop. The retry restarts the
 * child's group as it is then (OTP runs the whole restart again).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Actor, Supervisor } from "../../src/index.ts"
import { childInfo, settle, supervisorError, withSystem } from "./helpers.ts"

const C = Actor.make("test/RestartLoop", { Crash: Actor.tell({}) })

/** A child whose start, while `failing.on`, takes 2 s and then fails (supervisor_deadlock's child). */
const child = (failing: { on: boolean }) =>
  C.behavior(Effect.gen(function*() {
    if (failing.on) {
      yield* Effect.sleep("2 seconds")
      return yield* Effect.die(new Error("start failed"))
    }
    return { Crash: () => Effect.die(new Error("crash")) }
  }))

describe("a child that keeps failing to start", () => {
  it.effect("its supervisor serves calls between the attempts; terminateChild ends the loop", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const failing = { on: false }
        const spec = Supervisor.child("c", child(failing), { shutdown: "brutal_kill" })
        // 8 restarts in 10 s: a start every 2 s never exceeds it
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, intensity: 8, period: "10 seconds", children: [spec] }))
        const first = (yield* childInfo(sup, "c")).ref!
        failing.on = true
        yield* first.tell(C.Crash())
        yield* settle()
        // the supervisor is in the first failing start: this call waits for it, not for the loop
        const which = yield* Effect.forkChild(Supervisor.whichChildren(sup))
        yield* TestClock.adjust("2 seconds")
        yield* settle()
        assert.isDefined(which.pollUnsafe(), "the supervisor hangs in the restart loop")
        assert.deepStrictEqual((yield* Fiber.join(which)).map((c) => [c.id, c.status]), [["c", "restarting"]])
        const calls = yield* Effect.forkChild(Effect.all([
          supervisorError(Supervisor.restartChild(sup, "c")),
          supervisorError(Supervisor.deleteChild(sup, "c")),
          supervisorError(Supervisor.startChild(sup, spec)),
          Supervisor.terminateChild(sup, "c")
        ], { concurrency: "unbounded" }))
        yield* TestClock.adjust("2 seconds")
        yield* settle()
        const [restart, del, start] = yield* Fiber.join(calls)
        assert.deepStrictEqual([restart.reason, del.reason, start.reason], ["Restarting", "Restarting", "AlreadyPresent"])
        assert.strictEqual((yield* childInfo(sup, "c")).status, "stopped")
        yield* TestClock.adjust("10 seconds")
        yield* settle()
        assert.strictEqual((yield* childInfo(sup, "c")).status, "stopped", "the loop goes on after terminateChild")
        failing.on = false
        yield* Supervisor.restartChild(sup, "c")
        assert.strictEqual((yield* childInfo(sup, "c")).status, "running")
      })
    ))

  it.effect("rest_for_one: only it is restarting, the children after it wait stopped; terminateChild of it ends the group's restart", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const failing = { on: false }
        const other = C.behavior(Effect.succeed({ Crash: () => Effect.die(new Error("crash")) }))
        const spec2 = Supervisor.child("c2", child(failing), { shutdown: "brutal_kill" })
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "rest_for_one",
          backoff: false,
          intensity: 8,
          period: "10 seconds",
          children: [
            Supervisor.child("c1", other, { shutdown: "brutal_kill" }),
            spec2,
            Supervisor.child("c3", other, { shutdown: "brutal_kill" })
          ]
        }))
        const statuses = () => Effect.map(Supervisor.whichChildren(sup), (cs) => cs.map((c) => [c.id, c.status]))
        const c2 = (yield* childInfo(sup, "c2")).ref!
        failing.on = true
        yield* c2.tell(C.Crash())
        yield* settle()
        const which = yield* Effect.forkChild(statuses())
        yield* TestClock.adjust("2 seconds")
        yield* settle()
        assert.deepStrictEqual(yield* Fiber.join(which), [["c1", "running"], ["c2", "restarting"], ["c3", "stopped"]])
        // (the next attempt is under way: these calls are served after it)
        const calls = yield* Effect.forkChild(Effect.all([Supervisor.countChildren(sup), Supervisor.terminateChild(sup, "c2")], {
          concurrency: "unbounded"
        }))
        yield* TestClock.adjust("2 seconds")
        yield* settle()
        const [counts] = yield* Fiber.join(calls)
        assert.deepStrictEqual(counts, { specs: 3, active: 1, supervisors: 0, workers: 3 })
        yield* TestClock.adjust("10 seconds")
        yield* settle()
        assert.deepStrictEqual(yield* statuses(), [["c1", "running"], ["c2", "stopped"], ["c3", "stopped"]])
        failing.on = false
        yield* Supervisor.restartChild(sup, "c2")
        yield* TestClock.adjust("10 seconds")
        yield* settle()
        assert.deepStrictEqual(yield* statuses(), [["c1", "running"], ["c2", "running"], ["c3", "stopped"]])
      })
    ))

  it.effect("terminateChild of a child waiting for its group's retry does not leave it out: it starts with the group (OTP)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        for (const [strategy, terminated] of [["one_for_all", ["c1", "c3"]], ["rest_for_one", ["c3"]]] as const) {
          const failing = { on: false }
          const other = C.behavior(Effect.succeed({ Crash: () => Effect.die(new Error("crash")) }))
          const sup = yield* system.spawn(Supervisor.make({
            strategy,
            backoff: false,
            children: ["c1", "c2", "c3"].map((id) =>
              Supervisor.child(id, id === "c2" ? child(failing) : other, { shutdown: "brutal_kill" })
            )
          }))
          failing.on = true
          yield* (yield* childInfo(sup, "c2")).ref!.tell(C.Crash())
          yield* settle()
          // the first start of c2 is under way (it fails in 2 s); the next one succeeds
          failing.on = false
          const calls = yield* Effect.forkChild(
            Effect.forEach(terminated, (id) => Supervisor.terminateChild(sup, id), { concurrency: "unbounded" })
          )
          yield* settle()
          yield* TestClock.adjust("2 seconds")
          yield* settle()
          yield* Fiber.join(calls)
          const statuses = (yield* Supervisor.whichChildren(sup)).map((c) => [c.id, c.status])
          assert.deepStrictEqual(statuses, [["c1", "running"], ["c2", "running"], ["c3", "running"]], strategy)
        }
      })
    ))

  it.effect("restartChild of a child waiting for its group's retry: the retry restarts it again, after the children before it (OTP)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        for (const strategy of ["one_for_all", "rest_for_one"] as const) {
          const failing = { on: false }
          const log: Array<string> = []
          const logged = (id: string) =>
            C.behavior(Effect.gen(function*() {
              log.push(`start:${id}`)
              yield* Effect.addFinalizer(() => Effect.sync(() => log.push(`stop:${id}`)))
              return { Crash: () => Effect.die(new Error("crash")) }
            }))
          const sup = yield* system.spawn(Supervisor.make({
            strategy,
            backoff: false,
            children: ["c1", "c2", "c3"].map((id) =>
              Supervisor.child(id, id === "c2" ? child(failing) : logged(id), { shutdown: "brutal_kill" })
            )
          }))
          failing.on = true
          yield* (yield* childInfo(sup, "c2")).ref!.tell(C.Crash())
          yield* settle()
          log.length = 0
          // served after the first start of c2 fails (in 2 s), before its retry, which succeeds
          failing.on = false
          const calls = yield* Effect.forkChild(Effect.all([
            Effect.map(Supervisor.whichChildren(sup), (cs) => cs.map((c) => [c.id, c.status])),
            supervisorError(Supervisor.restartChild(sup, "c1")),
            Supervisor.restartChild(sup, "c3")
          ], { concurrency: "unbounded" }))
          yield* settle()
          yield* TestClock.adjust("2 seconds")
          yield* settle()
          const [waiting, c1, c3] = yield* Fiber.join(calls)
          // as the failed attempt left them: c1 runs (started before c2), c3 waits
          assert.deepStrictEqual(waiting, [["c1", "running"], ["c2", "restarting"], ["c3", "stopped"]], strategy)
          assert.strictEqual(c1.reason, "Running", strategy)
          const restarted = strategy === "one_for_all" ? ["stop:c1", "start:c1"] : []
          // c3, started by the call before c2, is stopped and started again after it
          assert.deepStrictEqual(log, ["start:c3", "stop:c3", ...restarted, "start:c3"], strategy)
          const after = yield* Supervisor.whichChildren(sup)
          assert.deepStrictEqual(after.map((c) => [c.id, c.status]), [["c1", "running"], ["c2", "running"], ["c3", "running"]])
          assert.notStrictEqual(after[2]!.actor, c3.key, strategy)
          assert.isFalse(c3.target.isAlive, strategy)
        }
      })
    ))
})
