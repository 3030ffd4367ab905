/**
 * Cases from OTP's supervisor_SUITE not covered elsewhere: a restart where another child fails
 * to start (one_for_all / rest_for_one), a child that unlinks from its supervisor, which specs
 * are kept per restart type and how each was ended, and count_children along the way.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ExitReason, Supervisor } from "../../src/index.ts"
import { childInfo, Probe, settle, settledChildren, supervisorError, Worker, worker, workerSpec, withSystem } from "./helpers.ts"

/** A child that can unlink itself from its supervisor (supervisor_SUITE's naughty_child) or hang. */
const N = Actor.make("test/Naughty", {
  UnlinkParent: Actor.ask({ parent: ActorRef.schema }),
  Hang: Actor.tell({})
})
const naughty = (log: Array<string>, trap: boolean) =>
  N.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    if (trap) yield* ctx.trapExit(true)
    yield* Effect.addFinalizer(() => Effect.sync(() => log.push("stopped")))
    return {
      UnlinkParent: ({ parent }) => ctx.unlink(parent),
      Hang: () => Effect.never
    }
  }))

describe("supervisor_SUITE: a restart where another child fails to start", () => {
  it.effect("one_for_all_other_child_fails_restart: the restarted child is stopped again, then all restart", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          intensity: 3,
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("b", probe, { failOnStart: (n) => n === 2 })]
        }))
        const a1 = probe.ref("a")
        probe.take()
        yield* system.exit(a1, ExitReason.error("die"))
        assert.strictEqual((yield* system.awaitExit(a1))._tag, "Error")
        const kids = yield* settledChildren(sup)
        assert.deepStrictEqual(probe.take(), ["stop:a", "stop:b", "start:a", "failed:b", "stop:a", "start:a", "start:b"])
        assert.deepStrictEqual(kids.map((c) => [c.id, c.status]), [["a", "running"], ["b", "running"]])
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 2, active: 2, supervisors: 0, workers: 2 })
        assert.strictEqual(yield* probe.ref("b").ask(Worker.Ping()), "b")
      })
    ))

  it.effect("rest_for_one_other_child_fails_restart: only the failed child is started again", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "rest_for_one",
          intensity: 3,
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("b", probe, { failOnStart: (n) => n === 2 })]
        }))
        const a1 = probe.ref("a")
        probe.take()
        yield* system.exit(a1, ExitReason.error("die"))
        yield* system.awaitExit(a1)
        const kids = yield* settledChildren(sup)
        assert.deepStrictEqual(probe.take(), ["stop:a", "stop:b", "start:a", "failed:b", "start:b"])
        assert.deepStrictEqual(kids.map((c) => [c.id, c.status]), [["a", "running"], ["b", "running"]])
      })
    ))
})

describe("supervisor_SUITE child_unlink", () => {
  it.effect("a child that unlinked from its supervisor is still terminated, trapping or not; the supervisor keeps serving", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({
          children: [
            Supervisor.child("plain", naughty(log, false), { shutdown: "1 second" }),
            Supervisor.child("trapping", naughty(log, true), { shutdown: "1 second" })
          ]
        }))
        for (const id of ["plain", "trapping"]) {
          const ref = (yield* childInfo(sup, id)).ref!
          yield* ref.ask(N.UnlinkParent({ parent: sup }))
          yield* Supervisor.terminateChild(sup, id)
          assert.strictEqual((yield* system.awaitExit(ref))._tag, "Shutdown")
          assert.strictEqual((yield* childInfo(sup, id)).status, "stopped")
        }
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 2, active: 0, supervisors: 0, workers: 2 })
      })
    ))
})

describe("supervisor_SUITE sup_stop_timeout, stopped mid-restart (OTP-9549)", () => {
  it.effect("a supervisor stopped while it waits for a trapping child's budget still kills that child before it exits", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff: false,
          children: [Supervisor.child("t", naughty(log, true), { shutdown: "1 second" }), workerSpec("b", probe)]
        }))
        const t = (yield* childInfo(sup, "t")).ref!
        yield* t.tell(N.Hang())
        // b's crash makes the supervisor stop t (one_for_all): t traps exits and hangs
        yield* system.exit(probe.ref("b"), ExitReason.error("die"))
        yield* settle()
        const stopping = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        assert.isTrue(t.target.isAlive, "t is within its budget")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(stopping)
        assert.strictEqual((yield* system.awaitExit(t))._tag, "Killed")
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))

  it.effect("the same while terminateChild waits for it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({
          children: [Supervisor.child("t", naughty(log, true), { shutdown: "1 second" })]
        }))
        const t = (yield* childInfo(sup, "t")).ref!
        yield* t.tell(N.Hang())
        const terminating = yield* Effect.forkChild(Effect.exit(Supervisor.terminateChild(sup, "t")))
        yield* settle()
        const stopping = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(stopping)
        yield* Fiber.join(terminating)
        assert.strictEqual((yield* system.awaitExit(t))._tag, "Killed")
      })
    ))
})

describe("calls to a supervisor busy stopping a child (OTP: supervisor calls wait, with no timeout)", () => {
  it.effect("whichChildren, whichChild and countChildren wait out a child's 10 s shutdown budget, not the 5 s default ask timeout", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const sup = yield* system.spawn(Supervisor.make({
          children: [Supervisor.child("t", naughty(log, true), { shutdown: "10 seconds" })]
        }))
        const t = (yield* childInfo(sup, "t")).ref!
        yield* t.tell(N.Hang())
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "t"))
        yield* settle()
        const calls = yield* Effect.forkChild(Effect.all([
          Supervisor.whichChildren(sup),
          Supervisor.whichChild(sup, "t"),
          Supervisor.countChildren(sup)
        ], { concurrency: "unbounded" }))
        yield* settle()
        yield* TestClock.adjust("6 seconds")
        yield* settle()
        const early = calls.pollUnsafe()
        yield* TestClock.adjust("4 seconds")
        yield* settle()
        yield* Fiber.join(terminating)
        assert.isUndefined(early, "the calls ended before the supervisor could answer them")
        const [which, one, counts] = yield* Fiber.join(calls)
        assert.deepStrictEqual([which.map((c) => c.status), one.status, counts.active], [["stopped"], "stopped", 0])
        assert.strictEqual((yield* system.awaitExit(t))._tag, "Killed")
      })
    ))
})

describe("supervisor_SUITE sup_stop_race: a child already exiting by itself", () => {
  it.effect("its shutdown budget still holds: terminateChild and the supervisor's own stop kill it past the budget", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const spec = (id: string) => workerSpec(id, probe, { hangOnStop: true, shutdown: "1 second", restart: "temporary" })
        const sup = yield* system.spawn(Supervisor.make({ children: [spec("a"), spec("b")] }))
        const [a, b] = [probe.ref("a"), probe.ref("b")]
        // both stop themselves and hang in their finalizers
        yield* a.tell(Worker.Stop())
        yield* b.tell(Worker.Stop())
        yield* settle()
        assert.isFalse(a.target.isAlive)
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "a"))
        yield* settle()
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(terminating)
        assert.strictEqual((yield* system.awaitExit(a))._tag, "Killed")
        const stopping = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(stopping)
        assert.strictEqual((yield* system.awaitExit(b))._tag, "Killed")
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))
})

describe("supervisor_SUITE simple_one_for_one_restart_ignore", () => {
  for (const restart of ["transient", "permanent"] as const) {
    it.effect(`a ${restart} dynamic child whose restart returns ignore is forgotten`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          let starts = 0
          const child = Worker.behavior(Effect.gen(function*() {
            if (++starts === 3) return yield* Supervisor.ignore
            return yield* worker("d", probe).init
          }))
          const sup = yield* system.spawn(Supervisor.dynamic({
            intensity: 10,
            backoff: false,
            template: () => Supervisor.child("d", child, { restart })
          }))
          yield* Supervisor.startDynamic(sup, undefined)
          for (let i = 0; i < 2; i++) {
            const ref = (yield* Supervisor.whichChildren(sup))[0]!.ref!
            yield* system.kill(ref)
            yield* system.awaitExit(ref)
          }
          assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
          assert.strictEqual(starts, 3)
          assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 1, active: 0, supervisors: 0, workers: 0 })
        })
      ))
  }
})

describe("supervisor_SUITE hanging_restart_loop_simple", () => {
  it.effect("terminateChild by the last ref of a dynamic child waiting for its restart cancels the restart and removes it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.dynamic({ template: () => workerSpec("d", probe) }))
        yield* Supervisor.startDynamic(sup, undefined)
        // the first crash restarts at once, the second waits for the backoff
        let last = (yield* Supervisor.whichChildren(sup))[0]!.ref!
        for (let i = 0; i < 2; i++) {
          last = (yield* Supervisor.whichChildren(sup))[0]!.ref!
          yield* system.exit(last, ExitReason.error("crash"))
          yield* system.awaitExit(last)
        }
        assert.strictEqual((yield* Supervisor.whichChildren(sup))[0]!.status, "restarting")
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 1, active: 0, supervisors: 0, workers: 1 })
        yield* Supervisor.terminateChild(sup, last)
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
        yield* TestClock.adjust("2 seconds")
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
        assert.strictEqual(probe.starts.get("d"), 2)
      })
    ))
})

describe("supervisor_SUITE temporary_bystander", () => {
  for (const strategy of ["one_for_all", "rest_for_one"] as const) {
    it.effect(`${strategy}: a temporary child stopped by a group restart is removed, not restarted; the supervisor lives on`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const sup = yield* system.spawn(Supervisor.make({
            strategy,
            intensity: 2,
            backoff: false,
            children: [workerSpec("p1", probe), workerSpec("t", probe, { restart: "temporary" }), workerSpec("p2", probe)]
          }))
          const p1 = probe.ref("p1")
          const t = probe.ref("t")
          yield* p1.tell(Worker.Stop())
          yield* system.awaitExit(p1)
          const kids = yield* Supervisor.whichChildren(sup)
          assert.deepStrictEqual(kids.map((c) => [c.id, c.status]), [["p1", "running"], ["p2", "running"]])
          assert.strictEqual((yield* system.awaitExit(t))._tag, "Shutdown")
          assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 2, active: 2, supervisors: 0, workers: 2 })
          assert.isTrue(sup.target.isAlive)
        })
      ))
  }
})

const terminateHow = ["kill", "normal", "abnormal", "supervisor"] as const
type How = (typeof terminateHow)[number]

describe("supervisor_SUITE do_not_save_child_specs_for_temporary_children", () => {
  for (const strategy of ["one_for_one", "one_for_all", "rest_for_one"] as const) {
    for (const how of terminateHow) {
      it.effect(`${strategy}, ended by ${how}: permanent kept, transient kept, temporary forgotten`, () =>
        withSystem((system) =>
          Effect.gen(function*() {
            const probe = new Probe()
            const sup = yield* system.spawn(Supervisor.make({ strategy, intensity: 10, backoff: false, children: [] }))
            const end = Effect.fnUntraced(function*(id: string, h: How) {
              const ref = (yield* childInfo(sup, id)).ref!
              if (h === "supervisor") return yield* Supervisor.terminateChild(sup, id)
              if (h === "kill") yield* system.kill(ref)
              else yield* ref.tell(h === "normal" ? Worker.Stop() : Worker.Crash())
              yield* system.awaitExit(ref)
            })
            // permanent: restarted unless terminated by the supervisor
            yield* Supervisor.startChild(sup, workerSpec("p", probe))
            yield* end("p", how)
            const p = yield* supervisorError(Supervisor.startChild(sup, workerSpec("p", probe)))
            assert.strictEqual(p.reason, how === "supervisor" ? "AlreadyPresent" : "AlreadyStarted")
            if (how === "supervisor") yield* Supervisor.restartChild(sup, "p")
            // transient: restarted only after an abnormal exit
            yield* Supervisor.startChild(sup, workerSpec("t", probe, { restart: "transient" }))
            yield* end("t", how)
            const t = yield* supervisorError(Supervisor.startChild(sup, workerSpec("t", probe, { restart: "transient" })))
            assert.strictEqual(t.reason, how === "supervisor" || how === "normal" ? "AlreadyPresent" : "AlreadyStarted")
            if (how === "supervisor" || how === "normal") yield* Supervisor.restartChild(sup, "t")
            // temporary: forgotten, so it can be started again
            yield* Supervisor.startChild(sup, workerSpec("x", probe, { restart: "temporary" }))
            yield* end("x", how)
            yield* Supervisor.startChild(sup, workerSpec("x", probe, { restart: "temporary" }))
            assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => [c.id, c.status]), [
              ["p", "running"],
              ["t", "running"],
              ["x", "running"]
            ])
            assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 3, active: 3, supervisors: 0, workers: 3 })
          })
        ))
    }
  }
})
