/**
 * The supervisor actor with real children: start/stop order, strategies on real crashes,
 * restart types, intensity and escalation, backoff (TestClock), start failures, shutdown budgets.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ActorSystem, type ActorSystemShape, Supervisor } from "../../src/index.ts"
import { childInfo, crash, Probe, selfStop, settle, settledChildren, Worker, workerSpec } from "./helpers.ts"

const withSystem = <A, E>(f: (system: ActorSystemShape) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

const keysOf = (infos: ReadonlyArray<Supervisor.ChildInfo>) => Object.fromEntries(infos.map((c) => [c.id, c.actor]))
const restartsOf = (infos: ReadonlyArray<Supervisor.ChildInfo>) => Object.fromEntries(infos.map((c) => [c.id, c.restarts]))

describe("Supervisor: start and stop", () => {
  it.effect("starts its children in order, each running with its own ref", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), workerSpec("b", probe, { restart: "transient" }), workerSpec("c", probe, { restart: "temporary" })]
        }))
        assert.deepStrictEqual(probe.log, ["start:a", "start:b", "start:c"])
        const infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos, [
          { id: "a", actor: probe.ref("a").key, ref: probe.ref("a"), type: "worker", restart: "permanent", status: "running", restarts: 0 },
          { id: "b", actor: probe.ref("b").key, ref: probe.ref("b"), type: "worker", restart: "transient", status: "running", restarts: 0 },
          { id: "c", actor: probe.ref("c").key, ref: probe.ref("c"), type: "worker", restart: "temporary", status: "running", restarts: 0 }
        ])
        assert.strictEqual(yield* probe.ref("b").ask(Worker.Ping()), "b")
      })
    ))

  it.effect("a nested supervisor is typed `supervisor` and starts its own children in order, depth first", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ children: [workerSpec("x", probe), workerSpec("y", probe)] })
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), Supervisor.child("inner", inner, { options: { name: "inner" } }), workerSpec("b", probe)]
        }))
        assert.deepStrictEqual(probe.log, ["start:a", "start:x", "start:y", "start:b"])
        const infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos.map((c) => [c.id, c.type]), [["a", "worker"], ["inner", "supervisor"], ["b", "worker"]])
        const innerRef = yield* system.lookup(Supervisor.Protocol, "inner")
        assert.strictEqual(infos[1]!.actor, innerRef.key)
        assert.deepStrictEqual((yield* Supervisor.whichChildren(innerRef)).map((c) => c.id), ["x", "y"])
      })
    ))

  it.effect("system.stop stops the children in reverse start order (nested supervisors depth first), with Shutdown", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ children: [workerSpec("x", probe), workerSpec("y", probe)] })
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), Supervisor.child("inner", inner), workerSpec("b", probe), workerSpec("c", probe)]
        }))
        const refs = ["a", "x", "y", "b", "c"].map((n) => probe.ref(n))
        probe.take()
        yield* system.stop(sup)
        assert.deepStrictEqual(probe.log, ["stop:c", "stop:b", "stop:y", "stop:x", "stop:a"])
        for (const ref of refs) assert.strictEqual((yield* system.awaitExit(ref))._tag, "Shutdown")
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))

  it.effect("the stop order stays the reverse of the START order after a child was restarted", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("b", probe), workerSpec("c", probe)]
        }))
        yield* crash(system, sup, probe.ref("a"))
        assert.deepStrictEqual(probe.take(), ["start:a", "start:b", "start:c", "stop:a", "start:a"])
        yield* system.stop(sup)
        assert.deepStrictEqual(probe.log, ["stop:c", "stop:b", "stop:a"])
      })
    ))
})

describe("Supervisor: strategies with real crashes", () => {
  it.effect("one_for_one restarts only the crashed child", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_one",
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("b", probe), workerSpec("c", probe)]
        }))
        const before = keysOf(yield* Supervisor.whichChildren(sup))
        const oldB = probe.ref("b")
        probe.take()
        const after = yield* crash(system, sup, oldB)
        assert.deepStrictEqual(probe.log, ["stop:b", "start:b"])
        const keys = keysOf(after)
        assert.strictEqual(keys.a, before.a)
        assert.strictEqual(keys.c, before.c)
        assert.notStrictEqual(keys.b, before.b)
        assert.strictEqual(keys.b, probe.ref("b").key)
        assert.deepStrictEqual(restartsOf(after), { a: 0, b: 1, c: 0 })
        assert.isTrue(after.every((c) => c.status === "running"))
        assert.strictEqual(yield* probe.ref("b").ask(Worker.Ping()), "b")
        // again: the count goes on
        assert.deepStrictEqual(restartsOf(yield* crash(system, sup, probe.ref("b"))), { a: 0, b: 2, c: 0 })
      })
    ))

  it.effect("one_for_all stops the others in reverse order, then starts all in order", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("b", probe), workerSpec("c", probe)]
        }))
        const before = keysOf(yield* Supervisor.whichChildren(sup))
        const [oldA, oldC] = [probe.ref("a"), probe.ref("c")]
        probe.take()
        const after = yield* crash(system, sup, probe.ref("b"))
        assert.deepStrictEqual(probe.log, ["stop:b", "stop:c", "stop:a", "start:a", "start:b", "start:c"])
        const keys = keysOf(after)
        for (const id of ["a", "b", "c"]) {
          assert.notStrictEqual(keys[id], before[id], id)
          assert.strictEqual(keys[id], probe.ref(id).key, id)
        }
        assert.deepStrictEqual(restartsOf(after), { a: 1, b: 1, c: 1 })
        // the siblings were stopped in an orderly way, not crashed
        assert.strictEqual((yield* system.awaitExit(oldA))._tag, "Shutdown")
        assert.strictEqual((yield* system.awaitExit(oldC))._tag, "Shutdown")
      })
    ))

  it.effect("rest_for_one restarts the crashed child and those started after it, in order", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "rest_for_one",
          backoff: false,
          children: ["a", "b", "c", "d"].map((n) => workerSpec(n, probe))
        }))
        const before = keysOf(yield* Supervisor.whichChildren(sup))
        probe.take()
        const after = yield* crash(system, sup, probe.ref("b"))
        assert.deepStrictEqual(probe.log, ["stop:b", "stop:d", "stop:c", "start:b", "start:c", "start:d"])
        const keys = keysOf(after)
        assert.strictEqual(keys.a, before.a)
        for (const id of ["b", "c", "d"]) assert.notStrictEqual(keys[id], before[id], id)
        assert.deepStrictEqual(restartsOf(after), { a: 0, b: 1, c: 1, d: 1 })
        // the last child only restarts itself
        probe.take()
        const last = yield* crash(system, sup, probe.ref("d"))
        assert.deepStrictEqual(probe.log, ["stop:d", "start:d"])
        assert.deepStrictEqual(restartsOf(last), { a: 0, b: 1, c: 1, d: 2 })
      })
    ))
})

describe("Supervisor: restart types", () => {
  it.effect("a transient child that stops normally is not restarted; after a crash it is", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("t", probe, { restart: "transient" }), workerSpec("u", probe, { restart: "transient" })]
        }))
        probe.take()
        const infos = yield* selfStop(system, sup, probe.ref("t"))
        assert.deepStrictEqual(infos.find((c) => c.id === "t"), {
          id: "t",
          type: "worker",
          restart: "transient",
          status: "stopped",
          restarts: 0
        })
        yield* settle()
        assert.deepStrictEqual(probe.log, ["stop:t"])
        assert.strictEqual((yield* childInfo(sup, "t")).status, "stopped")
        // an abnormal exit of a transient child is restarted
        const oldU = probe.ref("u")
        const after = yield* crash(system, sup, oldU)
        const u = after.find((c) => c.id === "u")!
        assert.strictEqual(u.status, "running")
        assert.strictEqual(u.restarts, 1)
        assert.notStrictEqual(u.actor, oldU.key)
      })
    ))

  it.effect("a permanent child that stops normally is restarted", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [workerSpec("p", probe)] }))
        const old = probe.ref("p")
        const infos = yield* selfStop(system, sup, old)
        assert.strictEqual(infos[0]!.status, "running")
        assert.strictEqual(infos[0]!.restarts, 1)
        assert.notStrictEqual(infos[0]!.actor, old.key)
      })
    ))

  it.effect("exits caused from outside: Shutdown restarts permanent but not transient children; Killed restarts both", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("p", probe), workerSpec("t", probe, { restart: "transient" })]
        }))
        yield* system.stop(probe.ref("p"))
        yield* system.stop(probe.ref("t"))
        let infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos.map((c) => [c.id, c.status, c.restarts]), [["p", "running", 1], ["t", "stopped", 0]])
        // a kill is abnormal: the transient child comes back
        yield* Supervisor.restartChild(sup, "t")
        yield* system.kill(probe.ref("t"))
        yield* system.kill(probe.ref("p"))
        infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos.map((c) => [c.id, c.status, c.restarts]), [["p", "running", 2], ["t", "running", 1]])
      })
    ))

  it.effect("a temporary child is never restarted and is removed, whether it crashes or stops", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("x", probe, { restart: "temporary" }), workerSpec("y", probe, { restart: "temporary" })]
        }))
        probe.take()
        const afterCrash = yield* crash(system, sup, probe.ref("x"))
        assert.deepStrictEqual(afterCrash.map((c) => c.id), ["a", "y"])
        const afterStop = yield* selfStop(system, sup, probe.ref("y"))
        assert.deepStrictEqual(afterStop.map((c) => c.id), ["a"])
        yield* settle()
        assert.deepStrictEqual(probe.log, ["stop:x", "stop:y"])
        assert.strictEqual(probe.starts.get("x"), 1)
        assert.strictEqual(probe.starts.get("y"), 1)
      })
    ))

  it.effect("a temporary sibling stopped by a one_for_all restart is removed, not restarted", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("tmp", probe, { restart: "temporary" }), workerSpec("c", probe)]
        }))
        probe.take()
        const after = yield* crash(system, sup, probe.ref("a"))
        assert.deepStrictEqual(probe.log, ["stop:a", "stop:c", "stop:tmp", "start:a", "start:c"])
        assert.deepStrictEqual(after.map((c) => [c.id, c.status, c.restarts]), [["a", "running", 1], ["c", "running", 1]])
      })
    ))
})

describe("Supervisor: intensity and escalation", () => {
  it.effect("more than `intensity` restarts terminates the supervisor and its children with Shutdown (OTP)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 2,
          backoff: false,
          children: [workerSpec("a", probe), workerSpec("b", probe)]
        }))
        const b = probe.ref("b")
        assert.strictEqual((yield* crash(system, sup, probe.ref("a")))[0]!.restarts, 1)
        assert.strictEqual((yield* crash(system, sup, probe.ref("a")))[0]!.restarts, 2)
        probe.take()
        const a = probe.ref("a")
        yield* a.tell(Worker.Crash())
        const reason = yield* system.awaitExit(sup)
        assert.strictEqual(reason._tag, "Shutdown")
        assert.match((reason as { detail: string }).detail, /more than 2 restarts/)
        assert.strictEqual((yield* system.awaitExit(b))._tag, "Shutdown")
        assert.deepStrictEqual(probe.log, ["stop:a", "stop:b"])
        assert.strictEqual(probe.starts.get("a"), 3)
        // the supervisor is gone
        const asked = yield* Effect.flip(Supervisor.whichChildren(sup))
        assert.strictEqual(asked._tag, "NoProc")
      })
    ))

  it.effect("crashes spread over more than the period do not escalate", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 1,
          period: "1 second",
          backoff: false,
          children: [workerSpec("a", probe)]
        }))
        for (let i = 1; i <= 4; i++) {
          const infos = yield* crash(system, sup, probe.ref("a"))
          assert.strictEqual(infos[0]!.restarts, i)
          // (a restart exactly a period ago still counts)
          yield* TestClock.adjust("1001 millis")
        }
        // two within the period do
        yield* crash(system, sup, probe.ref("a"))
        yield* probe.ref("a").tell(Worker.Crash())
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))

  it.effect("escalation: a parent supervisor restarts the child supervisor that gave up", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ intensity: 2, backoff: false, children: [workerSpec("w", probe), workerSpec("v", probe)] })
        const parent = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("a", probe), Supervisor.child("inner", inner, { options: { name: "inner" } }), workerSpec("z", probe)]
        }))
        const before = keysOf(yield* Supervisor.whichChildren(parent))
        const oldInner = yield* system.lookup(Supervisor.Protocol, "inner")
        yield* crash(system, oldInner, probe.ref("w"))
        yield* crash(system, oldInner, probe.ref("w"))
        probe.take()
        yield* probe.ref("w").tell(Worker.Crash())
        const reason = yield* system.awaitExit(oldInner)
        assert.strictEqual(reason._tag, "Shutdown")
        // the parent handled the exit: the inner supervisor is back with fresh children
        const after = yield* Supervisor.whichChildren(parent)
        const keys = keysOf(after)
        assert.strictEqual(keys.a, before.a)
        assert.strictEqual(keys.z, before.z)
        assert.notStrictEqual(keys.inner, before.inner)
        assert.deepStrictEqual(restartsOf(after), { a: 0, inner: 1, z: 0 })
        assert.deepStrictEqual(probe.log, ["stop:w", "stop:v", "start:w", "start:v"])
        const newInner = yield* system.lookup(Supervisor.Protocol, "inner")
        assert.strictEqual(newInner.key, keys.inner)
        const innerChildren = yield* Supervisor.whichChildren(newInner)
        assert.deepStrictEqual(restartsOf(innerChildren), { w: 0, v: 0 })
        assert.strictEqual(yield* probe.ref("w").ask(Worker.Ping()), "w")
      })
    ))
})

describe("Supervisor: backoff (TestClock)", () => {
  const backoff = { initial: "100 millis", factor: 2, max: "1 second", jitter: 0, resetAfter: "5 seconds" } as const

  it.effect("the first crash restarts at once; consecutive crashes wait for the growing delay; quiet resets it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff, children: [workerSpec("a", probe), workerSpec("b", probe)] }))
        // crash 1: immediate
        let a = yield* crash(system, sup, probe.ref("a")).pipe(Effect.map((cs) => cs[0]!))
        assert.deepStrictEqual([a.status, a.restarts], ["running", 1])
        // crash 2: 100 ms
        const old = probe.ref("a")
        a = (yield* crash(system, sup, old))[0]!
        assert.deepStrictEqual([a.status, a.restarts, a.actor], ["restarting", 1, undefined])
        yield* settle()
        yield* TestClock.adjust("99 millis")
        a = yield* childInfo(sup, "a")
        assert.deepStrictEqual([a.status, a.restarts], ["restarting", 1])
        assert.strictEqual(probe.ref("a"), old, "restarted before its backoff delay")
        yield* TestClock.adjust("1 millis")
        a = yield* childInfo(sup, "a")
        assert.deepStrictEqual([a.status, a.restarts], ["running", 2])
        assert.strictEqual(a.actor, probe.ref("a").key)
        // crash 3 (right after the restart): 200 ms
        a = (yield* crash(system, sup, probe.ref("a")))[0]!
        assert.strictEqual(a.status, "restarting")
        yield* settle()
        yield* TestClock.adjust("199 millis")
        assert.strictEqual((yield* childInfo(sup, "a")).status, "restarting")
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual([(yield* childInfo(sup, "a")).status, (yield* childInfo(sup, "a")).restarts], ["running", 3])
        // the sibling was never touched
        assert.strictEqual((yield* childInfo(sup, "b")).restarts, 0)
        // 5 s of quiet: the next crash restarts at once again
        yield* TestClock.adjust("5 seconds")
        a = (yield* crash(system, sup, probe.ref("a")))[0]!
        assert.deepStrictEqual([a.status, a.restarts], ["running", 4])
      })
    ))

  it.effect("terminateChild during a pending backoff restart cancels that restart", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff, children: [workerSpec("a", probe)] }))
        yield* crash(system, sup, probe.ref("a"))
        assert.strictEqual((yield* crash(system, sup, probe.ref("a")))[0]!.status, "restarting")
        yield* Supervisor.terminateChild(sup, "a")
        yield* settle()
        yield* TestClock.adjust("1 second")
        const a = yield* childInfo(sup, "a")
        assert.deepStrictEqual([a.status, a.restarts], ["stopped", 1])
        assert.strictEqual(probe.starts.get("a"), 2)
        // and it can be restarted by hand
        yield* Supervisor.restartChild(sup, "a")
        assert.strictEqual((yield* childInfo(sup, "a")).status, "running")
      })
    ))

  it.effect("a group restart waits for the backoff, with the group stopped meanwhile", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff,
          children: [workerSpec("a", probe), workerSpec("b", probe)]
        }))
        yield* crash(system, sup, probe.ref("b"))
        probe.take()
        const infos = yield* crash(system, sup, probe.ref("b"))
        assert.deepStrictEqual(infos.map((c) => c.status), ["restarting", "restarting"])
        assert.deepStrictEqual(probe.take(), ["stop:b", "stop:a"])
        yield* settle()
        yield* TestClock.adjust("99 millis")
        assert.deepStrictEqual(probe.log, [])
        yield* TestClock.adjust("1 millis")
        const after = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(probe.log, ["start:a", "start:b"])
        assert.deepStrictEqual(after.map((c) => [c.status, c.restarts]), [["running", 2], ["running", 2]])
      })
    ))
})

describe("Supervisor: start failures", () => {
  it.effect("a child that fails to start makes the supervisor fail to start, after stopping the started ones", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const before = system.actorCount()
        const error = yield* Effect.flip(system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), workerSpec("z", probe), workerSpec("b", probe, { failOnStart: () => true }), workerSpec("c", probe)]
        })))
        assert.strictEqual(error._tag, "SpawnError")
        assert.include(error.message, `"b"`)
        assert.deepStrictEqual(probe.log, ["start:a", "start:z", "failed:b", "stop:z", "stop:a"])
        assert.isFalse(probe.starts.has("c"))
        assert.strictEqual((yield* system.awaitExit(probe.ref("a")))._tag, "Shutdown")
        assert.strictEqual(system.actorCount(), before)
      })
    ))

  it.effect("a restart that fails to start counts as another failure and is retried", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("a", probe, { failOnStart: (n) => n === 2 || n === 3 })]
        }))
        yield* crash(system, sup, probe.ref("a"))
        const infos = yield* settledChildren(sup)
        assert.deepStrictEqual(probe.log, ["start:a", "stop:a", "failed:a", "failed:a", "start:a"])
        assert.deepStrictEqual([infos[0]!.status, infos[0]!.restarts], ["running", 1])
      })
    ))

  it.effect("a child that keeps failing to restart escalates", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 3,
          backoff: false,
          children: [workerSpec("a", probe, { failOnStart: (n) => n > 1 })]
        }))
        yield* probe.ref("a").tell(Worker.Crash())
        const reason = yield* system.awaitExit(sup)
        assert.strictEqual(reason._tag, "Shutdown")
        // 1 crash + failed restarts: the 4th restart within the period escalates
        assert.strictEqual(probe.starts.get("a"), 4)
      })
    ))
})

describe("Supervisor: shutdown budgets", () => {
  it.effect("terminateChild kills a child whose cleanup outlasts its shutdown budget (and not before)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), workerSpec("h", probe, { hangOnStop: true, shutdown: "1 second" })]
        }))
        const h = probe.ref("h")
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "h"))
        yield* settle()
        assert.include(probe.log, "stopping:h")
        assert.isUndefined(terminating.pollUnsafe())
        yield* TestClock.adjust("999 millis")
        yield* settle()
        assert.isUndefined(terminating.pollUnsafe(), "killed before its shutdown budget")
        yield* TestClock.adjust("1 millis")
        yield* settle()
        assert.isDefined(terminating.pollUnsafe(), "not killed after its shutdown budget")
        yield* Fiber.join(terminating)
        assert.strictEqual((yield* system.awaitExit(h))._tag, "Killed")
        assert.strictEqual((yield* childInfo(sup, "h")).status, "stopped")
        assert.strictEqual((yield* childInfo(sup, "a")).status, "running")
      })
    ))

  it.effect("workers get 5 seconds by default", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("h", probe, { hangOnStop: true })] }))
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "h"))
        yield* settle()
        yield* TestClock.adjust("4999 millis")
        yield* settle()
        assert.isUndefined(terminating.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        yield* settle()
        assert.isDefined(terminating.pollUnsafe())
        assert.strictEqual((yield* system.awaitExit(probe.ref("h")))._tag, "Killed")
      })
    ))

  it.effect("stopping the supervisor: a hanging child is killed after its budget and the supervisor still stops, in order", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe), workerSpec("h", probe, { hangOnStop: true, shutdown: "2 seconds" }), workerSpec("c", probe)]
        }))
        const h = probe.ref("h")
        probe.take()
        const stopping = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        assert.deepStrictEqual(probe.log, ["stop:c", "stopping:h"])
        assert.isUndefined(stopping.pollUnsafe())
        yield* TestClock.adjust("2 seconds")
        yield* settle()
        assert.isDefined(stopping.pollUnsafe(), "the supervisor did not stop after its child's shutdown budget")
        assert.deepStrictEqual(probe.log, ["stop:c", "stopping:h", "stop:a"])
        assert.strictEqual((yield* system.awaitExit(h))._tag, "Killed")
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))

  it.effect("a supervisor child gets an infinite budget by default: its parent waits for its own children's budgets", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ children: [workerSpec("a", probe), workerSpec("h", probe, { hangOnStop: true, shutdown: "10 seconds" })] })
        const outer = yield* system.spawn(Supervisor.make({ children: [Supervisor.child("inner", inner, { options: { name: "inner" } })] }))
        const innerRef = yield* system.lookup(Supervisor.Protocol, "inner")
        probe.take()
        const stopping = yield* Effect.forkChild(system.stop(outer))
        yield* settle()
        // past a worker's default 5 s the inner supervisor is still waiting for h
        yield* TestClock.adjust("9999 millis")
        yield* settle()
        assert.isUndefined(stopping.pollUnsafe())
        assert.deepStrictEqual(probe.log, ["stopping:h"])
        yield* TestClock.adjust("1 millis")
        yield* settle()
        assert.isDefined(stopping.pollUnsafe())
        assert.deepStrictEqual(probe.log, ["stopping:h", "stop:a"])
        assert.strictEqual((yield* system.awaitExit(probe.ref("h")))._tag, "Killed")
        assert.strictEqual((yield* system.awaitExit(innerRef))._tag, "Shutdown")
      })
    ))

  it.effect("brutal_kill kills at once, without waiting for the child's cleanup", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [
            workerSpec("a", probe),
            workerSpec("k1", probe, { hangOnStop: true, shutdown: "brutal_kill" }),
            workerSpec("k2", probe, { hangOnStop: true, shutdown: "brutal_kill" })
          ]
        }))
        const [k1, k2] = [probe.ref("k1"), probe.ref("k2")]
        const terminating = yield* Effect.forkChild(Supervisor.terminateChild(sup, "k1"))
        yield* settle()
        assert.isDefined(terminating.pollUnsafe(), "brutal_kill waited")
        assert.strictEqual((yield* system.awaitExit(k1))._tag, "Killed")
        // and when the supervisor stops
        const stopping = yield* Effect.forkChild(system.stop(sup))
        yield* settle()
        assert.isDefined(stopping.pollUnsafe(), "stopping the supervisor waited for a brutal_kill child")
        assert.strictEqual((yield* system.awaitExit(k2))._tag, "Killed")
        assert.include(probe.log, "stop:a")
      })
    ))
})
