/**
 * OTP supervisor API, ported from supervisor_SUITE: check_childspecs, `ignore`, significant
 * children with auto_shutdown, which_child / count_children, terminate_child by ref for dynamic
 * children, restart/delete while a restart is pending, what a supervisor that gives up exits
 * with, an infinite period, and the parallel stop of dynamic children.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ExitReason, Supervisor } from "../../src/index.ts"
import { childInfo, crash, ignoring, Probe, settle, Worker, workerSpec , supervisorError, withSystem } from "./helpers.ts"

const specError = (f: () => unknown, pattern: RegExp) => {
  try {
    f()
  } catch (e) {
    assert.strictEqual((e as { _tag?: string })._tag, "SupervisorSpecError", String(e))
    assert.match((e as Error).message, pattern)
    return
  }
  assert.fail(`expected a SupervisorSpecError matching ${pattern}`)
}

describe("check_childspecs: flags and child specs are validated (JS callers too)", () => {
  it("make throws a typed SupervisorSpecError for each kind of mistake", () => {
    const probe = new Probe()
    const ok = workerSpec("a", probe)
    const make = (options: any) => () => Supervisor.make(options)
    specError(make({ strategy: "one-for-one", children: [] }), /strategy/)
    specError(make({ strategy: "simple_one_for_one", children: [] }), /strategy/)
    specError(make({ intensity: "3", children: [] }), /intensity/)
    specError(make({ period: -5, children: [] }), /period/)
    specError(make({ period: "soon", children: [] }), /period/)
    specError(make({ autoShutdown: "sometimes", children: [] }), /autoShutdown/)
    specError(make({ backoff: { factor: 0.5 }, children: [] }), /factor/)
    specError(make({ children: "a" }), /children/)
    specError(make({ children: [{ ...ok, restart: "permanant" }] }), /restart must be permanent, transient or temporary/)
    specError(make({ children: [{ ...ok, shutdown: -1 }] }), /shutdown/)
    specError(make({ children: [{ ...ok, shutdown: "eventually" }] }), /shutdown/)
    specError(make({ children: [{ ...ok, type: "manager" }] }), /type must be worker or supervisor/)
    specError(make({ children: [{ ...ok, id: undefined }] }), /child id/)
    specError(make({ children: [{ ...ok, id: 7 }] }), /child id/)
    specError(make({ children: [{ id: "x", behavior: {} }] }), /behaviour/)
    specError(make({ children: [ok, ok] }), /duplicate child id "a"/)
    specError(make({ children: [{ ...ok, significant: "yes" }] }), /significant must be a boolean/)
    // OTP: a permanent child cannot be significant; significant needs an auto_shutdown
    specError(make({ autoShutdown: "any_significant", children: [{ ...ok, significant: true }] }), /permanent child cannot be significant/)
    specError(make({ children: [{ ...ok, restart: "transient", significant: true }] }), /autoShutdown/)
    specError(() => Supervisor.dynamic({ template: "nope" } as any), /template/)
    assert.doesNotThrow(() =>
      Supervisor.make({
        autoShutdown: "all_significant",
        period: "infinity",
        children: [{ ...ok, restart: "temporary", significant: true, shutdown: "brutal_kill" }, workerSpec("b", probe, { shutdown: 250 })]
      })
    )
  })

  it.effect("startChild with a misspelt restart type is InvalidSpec, and nothing starts", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        const e = yield* supervisorError(Supervisor.startChild(sup, { ...workerSpec("a", probe), restart: "transiant" } as any))
        assert.deepStrictEqual([e.reason, e.childId], ["InvalidSpec", "a"])
        assert.match(e.message, /restart must be/)
        assert.isUndefined(probe.starts.get("a"))
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
      })
    ))
})

describe("ignore (supervisor_SUITE sup_start_ignore_child, sup_start_ignore_temporary_child)", () => {
  it.effect("a static child that ignores is kept stopped; the supervisor starts; restartChild starts it later", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        let ignore = true
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), Supervisor.child("i", ignoring("i", probe, () => ignore)), workerSpec("b", probe)]
        }))
        assert.deepStrictEqual(probe.take(), ["start:a", "ignored:i", "start:b"])
        // a static temporary child that ignores is not kept (sup_start_ignore_temporary_child)
        const withTemp = yield* system.spawn(Supervisor.make({
          children: [Supervisor.child("ti", ignoring("ti", probe, () => true), { restart: "temporary" }), workerSpec("c", probe, { restart: "temporary" })]
        }))
        assert.deepStrictEqual((yield* Supervisor.whichChildren(withTemp)).map((c) => c.id), ["c"])
        assert.deepStrictEqual(yield* Supervisor.countChildren(withTemp), { specs: 1, active: 1, supervisors: 0, workers: 1 })
        probe.take()
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => [c.id, c.status]), [["a", "running"], [
          "i",
          "stopped"
        ], ["b", "running"]])
        const again = yield* supervisorError(Supervisor.restartChild(sup, "i"))
        assert.deepStrictEqual([again.reason, again.childId], ["Ignored", "i"])
        assert.strictEqual((yield* childInfo(sup, "i")).status, "stopped")
        ignore = false
        const ref = yield* Supervisor.restartChild(sup, "i")
        assert.strictEqual(yield* ref.ask(Worker.Ping()), "i")
        // an ignored spawn outside a supervisor is a plain SpawnError
        ignore = true
        const spawnError = yield* Effect.flip(system.spawn(ignoring("j", probe, () => ignore)))
        assert.strictEqual(spawnError._tag, "SpawnError")
      })
    ))

  it.effect("startChild of a child that ignores: Ignored, spec kept (static) or forgotten (dynamic)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        const e = yield* supervisorError(Supervisor.startChild(sup, Supervisor.child("i", ignoring("i", probe, () => true))))
        assert.strictEqual(e.reason, "Ignored")
        assert.strictEqual((yield* Supervisor.whichChild(sup, "i")).status, "stopped")
        // a temporary child that ignores: its spec is not kept (sup_start_ignore_temporary_child_start_child)
        const t = yield* supervisorError(Supervisor.startChild(sup, Supervisor.child("t", ignoring("t", probe, () => true), { restart: "temporary" })))
        assert.strictEqual(t.reason, "Ignored")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["i"])
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 1, active: 0, supervisors: 0, workers: 1 })
        const dyn = yield* system.spawn(Supervisor.dynamic({ template: (n: number) => Supervisor.child("d", ignoring(`d${n}`, probe, () => n === 0)) }))
        assert.strictEqual((yield* supervisorError(Supervisor.startDynamic(dyn, 0))).reason, "Ignored")
        assert.deepStrictEqual(yield* Supervisor.whichChildren(dyn), [])
        yield* Supervisor.startDynamic(dyn, 1)
        assert.strictEqual((yield* Supervisor.countChildren(dyn)).active, 1)
      })
    ))
})

describe("significant children and autoShutdown (supervisor_SUITE auto_shutdown)", () => {
  it.effect("any_significant: a significant child's normal exit stops the supervisor with Shutdown, siblings first", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          autoShutdown: "any_significant",
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("s", probe, { restart: "transient", significant: true }), workerSpec("b", probe)]
        }))
        // a crash is restarted (transient): no auto shutdown
        yield* crash(system, sup, probe.ref("s"))
        assert.strictEqual((yield* childInfo(sup, "s")).status, "running")
        probe.take()
        yield* probe.ref("s").tell(Worker.Stop())
        const reason = yield* system.awaitExit(sup)
        assert.strictEqual(reason._tag, "Shutdown")
        assert.deepStrictEqual(probe.log, ["stop:s", "stop:b", "stop:a"])
      })
    ))

  it.effect("any_significant: terminateChild of a significant child does not stop the supervisor (OTP)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          autoShutdown: "any_significant",
          children: [workerSpec("s", probe, { restart: "temporary", significant: true }), workerSpec("a", probe)]
        }))
        yield* Supervisor.terminateChild(sup, "s")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["a"])
        assert.isTrue(sup.target.isAlive)
      })
    ))

  it.effect("all_significant: the supervisor stops once every significant child has exited", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          autoShutdown: "all_significant",
          children: [
            workerSpec("s1", probe, { restart: "temporary", significant: true }),
            workerSpec("s2", probe, { restart: "transient", significant: true }),
            workerSpec("a", probe)
          ]
        }))
        yield* crash(system, sup, probe.ref("s1"))
        assert.isTrue(sup.target.isAlive)
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["s2", "a"])
        yield* probe.ref("s2").tell(Worker.Stop())
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
        assert.strictEqual((yield* system.awaitExit(probe.ref("a")))._tag, "Shutdown")
      })
    ))
})

describe("introspection: whichChild, countChildren, whichChildren refs", () => {
  it.effect("report ids, refs, status and counts as OTP's which_children / count_children", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ children: [] })
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), Supervisor.child("inner", inner), workerSpec("b", probe)]
        }))
        const a = yield* Supervisor.whichChild(sup, "a")
        assert.strictEqual(a.ref, probe.ref("a"))
        assert.strictEqual(yield* a.ref!.ask(Worker.Ping()), "a")
        assert.deepStrictEqual([a.id, a.status, a.type], ["a", "running", "worker"])
        assert.strictEqual((yield* Supervisor.whichChild(sup, "inner")).type, "supervisor")
        assert.strictEqual((yield* supervisorError(Supervisor.whichChild(sup, "zz"))).reason, "NotFound")
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 3, active: 3, supervisors: 1, workers: 2 })
        yield* Supervisor.terminateChild(sup, "b")
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 3, active: 2, supervisors: 1, workers: 2 })
        const infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos.map((c) => c.ref?.key), [probe.ref("a").key, infos[1]!.actor, undefined])
      })
    ))
})

describe("terminateChild by ref (simple_one_for_one terminate_child(Sup, Pid))", () => {
  it.effect("stops a dynamic child and removes its entry; by id the entry is kept", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.dynamic({ template: (n: string) => workerSpec(n, probe) }))
        const x = yield* Supervisor.startDynamic(sup, "x")
        const y = yield* Supervisor.startDynamic(sup, "y")
        yield* Supervisor.terminateChild(sup, x)
        assert.strictEqual((yield* system.awaitExit(x))._tag, "Shutdown")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.ref?.key), [y.key])
        // a former child that is gone: fine, again (OTP); a live actor that is no child: NotFound
        yield* Supervisor.terminateChild(sup, x)
        assert.strictEqual((yield* supervisorError(Supervisor.terminateChild(sup, sup))).reason, "NotFound")
        assert.isTrue(sup.target.isAlive)
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 1, active: 1, supervisors: 0, workers: 1 })
        // static supervisor, by ref: stopped, spec kept
        const st = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe)] }))
        yield* Supervisor.terminateChild(st, probe.ref("a"))
        assert.deepStrictEqual((yield* Supervisor.whichChildren(st)).map((c) => [c.id, c.status]), [["a", "stopped"]])
      })
    ))
})

describe("restart and delete while a backoff restart is pending (OTP: {error, restarting})", () => {
  it.effect("both are a typed Restarting error and the pending restart still happens", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const backoff = { initial: "100 millis", jitter: 0 } as const
        const sup = yield* system.spawn(Supervisor.make({ backoff, children: [workerSpec("a", probe)] }))
        yield* crash(system, sup, probe.ref("a"))
        assert.strictEqual((yield* crash(system, sup, probe.ref("a")))[0]!.status, "restarting")
        assert.strictEqual((yield* supervisorError(Supervisor.restartChild(sup, "a"))).reason, "Restarting")
        assert.strictEqual((yield* supervisorError(Supervisor.deleteChild(sup, "a"))).reason, "Restarting")
        yield* settle()
        yield* TestClock.adjust("100 millis")
        assert.strictEqual((yield* childInfo(sup, "a")).status, "running")
      })
    ))
})

describe("a supervisor that gives up exits with Shutdown (OTP)", () => {
  it.effect("so a transient parent does not restart it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ intensity: 0, backoff: false, children: [workerSpec("w", probe)] })
        const parent = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [Supervisor.child("inner", inner, { restart: "transient", options: { name: "inner" } })]
        }))
        const innerRef = (yield* Supervisor.whichChild(parent, "inner")).ref!
        yield* probe.ref("w").tell(Worker.Crash())
        const reason = yield* system.awaitExit(innerRef)
        assert.strictEqual(reason._tag, "Shutdown")
        assert.isTrue(ExitReason.isNormalOrShutdown(reason))
        const info = yield* childInfo(parent, "inner")
        assert.deepStrictEqual([info.status, info.restarts], ["stopped", 0])
      })
    ))
})

describe("an infinite period counts every restart the supervisor ever made", () => {
  it.effect("intensity 2, period infinity: the third crash escalates even hours later", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ intensity: 2, period: "infinity", backoff: false, children: [workerSpec("a", probe)] }))
        yield* crash(system, sup, probe.ref("a"))
        yield* TestClock.adjust("5 hours")
        yield* crash(system, sup, probe.ref("a"))
        yield* TestClock.adjust("5 hours")
        yield* probe.ref("a").tell(Worker.Crash())
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))
})

describe("dynamic children stop in parallel, each within its own shutdown budget", () => {
  it.effect("three hanging children with a 1 s budget are all gone after 1 s, not 3 s", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.dynamic({
          template: (n: string) => workerSpec(n, probe, { hangOnStop: true, shutdown: "1 second" })
        }))
        const refs = [yield* Supervisor.startDynamic(sup, "x"), yield* Supervisor.startDynamic(sup, "y"), yield* Supervisor.startDynamic(sup, "z")]
        probe.take()
        const stopping = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        assert.sameMembers(probe.take(), ["stopping:x", "stopping:y", "stopping:z"])
        yield* TestClock.adjust("1 second")
        yield* settle()
        assert.isDefined(stopping.pollUnsafe(), "the supervisor did not stop within one budget")
        yield* Fiber.join(stopping)
        for (const r of refs) assert.strictEqual((yield* system.awaitExit(r))._tag, "Killed")
      })
    ))

  it.effect("static children still stop one after another in reverse start order", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe), workerSpec("b", probe)] }))
        probe.take()
        yield* system.stop(sup)
        assert.deepStrictEqual(probe.log, ["stop:b", "stop:a"])
      })
    ))
})

describe("shutdown as an exit signal to a trapping child (OTP's exit(Child, shutdown))", () => {
  const T = Actor.make("test/TrappingChild", {
    Slow: Actor.tell({}),
    Ping: Actor.ask({}, { success: Schema.String })
  })
  type Mode = "default" | "ownReason" | "hang"
  const trapping = (log: Array<string>, gate: Deferred.Deferred<void>, mode: Mode) =>
    T.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext
      yield* ctx.trapExit(true)
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push("finalizer")))
      return {
        Slow: () => Effect.andThen(Effect.sync(() => log.push("slow:start")), Effect.andThen(Deferred.await(gate), Effect.sync(() => log.push("slow:end")))),
        Ping: () => Effect.succeed("pong"),
        onExit: (exit) =>
          Effect.gen(function*() {
            log.push(`exit:${exit.reason._tag}:${exit.from.key === ctx.self.key ? "self" : "other"}`)
            if (mode === "ownReason") yield* ctx.stop(ExitReason.shutdownWith("flushed"))
            if (mode === "hang") yield* Effect.never
          })
      }
    }))

  it.effect("the child finishes its current message, handles the signal, then exits with Shutdown", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const gate = yield* Deferred.make<void>()
        const sup = yield* system.spawn(Supervisor.make({ children: [Supervisor.child("t", trapping(log, gate, "default"))] }))
        const t = (yield* Supervisor.whichChild(sup, "t")).ref!
        yield* t.tell(T.Slow())
        yield* settle()
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "t"))
        yield* settle()
        assert.deepStrictEqual(log, ["slow:start"])
        assert.isTrue(t.target.isAlive)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(terminating)
        assert.deepStrictEqual(log, ["slow:start", "slow:end", "exit:Shutdown:other", "finalizer"])
        assert.strictEqual((yield* system.awaitExit(t))._tag, "Shutdown")
      })
    ))

  it.effect("a child may exit with its own reason; one that outlives its budget is killed", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const gate = yield* Deferred.make<void>()
        const sup = yield* system.spawn(Supervisor.make({
          children: [
            Supervisor.child("own", trapping(log, gate, "ownReason")),
            Supervisor.child("hang", trapping(log, gate, "hang"), { shutdown: "1 second" })
          ]
        }))
        const own = (yield* Supervisor.whichChild(sup, "own")).ref!
        const hang = (yield* Supervisor.whichChild(sup, "hang")).ref!
        yield* Supervisor.terminateChild(sup, "own")
        assert.deepStrictEqual(yield* system.awaitExit(own), ExitReason.shutdownWith("flushed"))
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "hang"))
        yield* settle()
        assert.isTrue(hang.target.isAlive)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(terminating)
        assert.strictEqual((yield* system.awaitExit(hang))._tag, "Killed")
      })
    ))
})

describe("what a child's init returns (a JS caller's mistake)", () => {
  it.effect("an init that returns no handlers object fails to start: StartFailed, nothing left running", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const bad = { protocol: Worker, init: Effect.succeed(undefined) } as any
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        const e = yield* supervisorError(Supervisor.startChild(sup, Supervisor.child("bad", bad)))
        assert.strictEqual(e.reason, "StartFailed")
        assert.match(e.message, /must return its handlers/)
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
        const spawnError = yield* Effect.flip(system.spawn(bad) as Effect.Effect<unknown, unknown>) // bad is untyped, as from JS
        assert.strictEqual((spawnError as { _tag: string })._tag, "SpawnError")
      })
    ))
})

describe("many dynamic children (supervisor_SUITE count_children, scale_many_temporary_children)", () => {
  it.effect("500 temporary children: counted, listed, and gone from the counts once killed or terminated by ref", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.dynamic({ template: (n: number) => workerSpec(`w${n}`, probe, { restart: "temporary" }) }))
        const refs = []
        for (let i = 0; i < 500; i++) refs.push(yield* Supervisor.startDynamic(sup, i))
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 1, active: 500, supervisors: 0, workers: 500 })
        assert.strictEqual((yield* Supervisor.whichChildren(sup)).length, 500)
        for (const r of refs.slice(0, 250)) yield* system.kill(r)
        for (const r of refs.slice(250)) yield* Supervisor.terminateChild(sup, r)
        assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 1, active: 0, supervisors: 0, workers: 0 })
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
      })
    ))
})

describe("a restarted child supervisor starts its static children only (supervisor_SUITE tree)", () => {
  it.effect("children added by startChild are not restarted with their supervisor", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ intensity: 0, backoff: false, children: [workerSpec("s", probe)] })
        const top = yield* system.spawn(Supervisor.make({ backoff: false, children: [Supervisor.child("inner", inner)] }))
        const first = (yield* Supervisor.whichChild(top, "inner")).ref! as Supervisor.SupervisorRef
        yield* Supervisor.startChild(first, workerSpec("added", probe))
        yield* probe.ref("added").tell(Worker.Crash())
        assert.strictEqual((yield* system.awaitExit(first))._tag, "Shutdown")
        const second = (yield* Supervisor.whichChild(top, "inner")).ref! as Supervisor.SupervisorRef
        assert.notStrictEqual(second.key, first.key)
        assert.deepStrictEqual((yield* Supervisor.whichChildren(second)).map((c) => c.id), ["s"])
      })
    ))
})
