/**
 * Managing a running supervisor: startChild / terminateChild / restartChild / deleteChild
 * with their errors, and dynamic supervisors (`Supervisor.dynamic` + `startDynamic`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Supervisor } from "../../src/index.ts"
import { childInfo, crash, Probe, settle, Worker, workerSpec , supervisorError, withSystem } from "./helpers.ts"

describe("Supervisor options", () => {
  it("rejects duplicate child ids and invalid policies when the behaviour is made", () => {
    const probe = new Probe()
    assert.throws(() => Supervisor.make({ children: [workerSpec("a", probe), workerSpec("a", probe)] }), /duplicate child id "a"/)
    assert.throws(() => Supervisor.make({ intensity: -1, children: [] }), /intensity/)
    assert.throws(() => Supervisor.make({ intensity: 1.5, children: [] }), /intensity/)
    assert.throws(() => Supervisor.make({ period: 0, children: [] }), /period/)
    assert.throws(() => Supervisor.make({ backoff: { jitter: 1.5 }, children: [] }), /jitter/)
    assert.doesNotThrow(() => Supervisor.make({ intensity: 0, backoff: { jitter: 1 }, children: [] }))
  })
})

describe("Supervisor.startChild", () => {
  it.effect("starts a child after the static ones; it is supervised like them", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [workerSpec("a", probe)] }))
        const ref = yield* Supervisor.startChild(sup, workerSpec("b", probe))
        assert.strictEqual(ref.key, probe.ref("b").key)
        assert.strictEqual(yield* probe.ref("b").ask(Worker.Ping()), "b")
        const infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos.map((c) => [c.id, c.status, c.actor]), [["a", "running", probe.ref("a").key], ["b", "running", ref.key]])
        const after = yield* crash(system, sup, probe.ref("b"))
        assert.deepStrictEqual(after.map((c) => [c.id, c.restarts]), [["a", 0], ["b", 1]])
        // and stopped in reverse start order with the others
        probe.take()
        yield* system.stop(sup)
        assert.deepStrictEqual(probe.log, ["stop:b", "stop:a"])
      })
    ))

  it.effect("AlreadyStarted (with the running ref) for a running id, AlreadyPresent for a stopped one; nothing is started", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe)] }))
        const e1 = yield* supervisorError(Supervisor.startChild(sup, workerSpec("a", probe)))
        assert.deepStrictEqual([e1.reason, e1.childId], ["AlreadyStarted", "a"])
        assert.strictEqual(e1.actor?.key, probe.ref("a").key)
        yield* Supervisor.terminateChild(sup, "a")
        const e2 = yield* supervisorError(Supervisor.startChild(sup, workerSpec("a", probe)))
        assert.strictEqual(e2.reason, "AlreadyPresent")
        assert.strictEqual(probe.starts.get("a"), 1)
      })
    ))

  it.effect("StartFailed when the child's init fails; its spec is not kept", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe)] }))
        const e = yield* supervisorError(Supervisor.startChild(sup, workerSpec("bad", probe, { failOnStart: () => true })))
        assert.deepStrictEqual([e.reason, e.childId], ["StartFailed", "bad"])
        assert.include(e.message, "bad refuses to start")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["a"])
        // the id is free again
        yield* Supervisor.startChild(sup, workerSpec("bad", probe))
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["a", "bad"])
      })
    ))

  it.effect("startDynamic on a static supervisor fails with NotDynamic", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        const e = yield* supervisorError(Supervisor.startDynamic(sup, { any: 1 }))
        assert.strictEqual(e.reason, "NotDynamic")
      })
    ))
})

describe("Supervisor.terminateChild / restartChild / deleteChild", () => {
  it.effect("terminateChild stops a child with Shutdown, keeps its spec, and it is not restarted", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [workerSpec("a", probe), workerSpec("b", probe)] }))
        const a = probe.ref("a")
        yield* Supervisor.terminateChild(sup, "a")
        assert.strictEqual((yield* system.awaitExit(a))._tag, "Shutdown")
        yield* settle()
        const infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos[0], { id: "a", type: "worker", restart: "permanent", status: "stopped", restarts: 0 })
        assert.strictEqual(infos[1]!.status, "running")
        assert.strictEqual(probe.starts.get("a"), 1)
        // terminating a stopped child is fine
        yield* Supervisor.terminateChild(sup, "a")
      })
    ))

  it.effect("terminateChild of a temporary child removes it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe), workerSpec("t", probe, { restart: "temporary" })] }))
        yield* Supervisor.terminateChild(sup, "t")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["a"])
      })
    ))

  it.effect("NotFound for unknown ids", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        for (const effect of [Supervisor.terminateChild(sup, "nope"), Supervisor.restartChild(sup, "nope"), Supervisor.deleteChild(sup, "nope")]) {
          const e = yield* supervisorError(effect as Effect.Effect<unknown, unknown>)
          assert.deepStrictEqual([e.reason, e.childId], ["NotFound", "nope"])
        }
      })
    ))

  it.effect("restartChild: Running while it runs; after terminateChild it starts a new incarnation", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe), workerSpec("b", probe)] }))
        const e = yield* supervisorError(Supervisor.restartChild(sup, "a"))
        assert.deepStrictEqual([e.reason, e.childId], ["Running", "a"])
        const old = probe.ref("a")
        yield* Supervisor.terminateChild(sup, "a")
        const ref = yield* Supervisor.restartChild(sup, "a")
        assert.notStrictEqual(ref.key, old.key)
        assert.strictEqual(ref.key, probe.ref("a").key)
        const info = yield* childInfo(sup, "a")
        assert.deepStrictEqual([info.status, info.actor], ["running", ref.key])
        assert.strictEqual(yield* probe.ref("a").ask(Worker.Ping()), "a")
        // it is supervised again
        const after = yield* crash(system, sup, probe.ref("a"))
        assert.strictEqual(after[0]!.status, "running")
        assert.notStrictEqual(after[0]!.actor, ref.key)
      })
    ))

  it.effect("deleteChild: Running while it runs; removes a stopped child's spec", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe), workerSpec("b", probe)] }))
        const e = yield* supervisorError(Supervisor.deleteChild(sup, "a"))
        assert.deepStrictEqual([e.reason, e.childId], ["Running", "a"])
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["a", "b"])
        yield* Supervisor.terminateChild(sup, "a")
        yield* Supervisor.deleteChild(sup, "a")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["b"])
        const again = yield* supervisorError(Supervisor.restartChild(sup, "a"))
        assert.strictEqual(again.reason, "NotFound")
        // the id can be reused
        yield* Supervisor.startChild(sup, workerSpec("a", probe))
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["b", "a"])
      })
    ))
})

describe("Supervisor.dynamic", () => {
  const dynamicSup = (probe: Probe) =>
    Supervisor.dynamic({
      backoff: false,
      template: (args: { readonly name: string }, index: number) => workerSpec(`${args.name}${index}`, probe)
    })

  it.effect("startDynamic creates children from the template; each crash restarts only that child", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(dynamicSup(probe))
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
        const refs = []
        for (const name of ["x", "y", "z"]) refs.push(yield* Supervisor.startDynamic(sup, { name }))
        assert.deepStrictEqual(probe.log, ["start:x0", "start:y1", "start:z2"])
        const infos = yield* Supervisor.whichChildren(sup)
        assert.deepStrictEqual(infos.map((c) => c.id), ["x0-0", "y1-1", "z2-2"])
        assert.deepStrictEqual(infos.map((c) => c.actor), refs.map((r) => r.key))
        probe.take()
        const after = yield* crash(system, sup, probe.ref("y1"))
        assert.deepStrictEqual(probe.log, ["stop:y1", "start:y1"])
        assert.deepStrictEqual(after.map((c) => c.restarts), [0, 1, 0])
        assert.strictEqual(after[0]!.actor, refs[0]!.key)
        assert.notStrictEqual(after[1]!.actor, refs[1]!.key)
        assert.strictEqual(after[2]!.actor, refs[2]!.key)
        const again = yield* crash(system, sup, probe.ref("z2"))
        assert.deepStrictEqual(again.map((c) => c.restarts), [0, 1, 1])
        assert.strictEqual(yield* probe.ref("y1").ask(Worker.Ping()), "y1")
      })
    ))

  it.effect("dynamic children can be terminated and deleted like static ones", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(dynamicSup(probe))
        yield* Supervisor.startDynamic(sup, { name: "a" })
        yield* Supervisor.startDynamic(sup, { name: "b" })
        yield* Supervisor.terminateChild(sup, "a0-0")
        yield* Supervisor.deleteChild(sup, "a0-0")
        yield* Supervisor.startDynamic(sup, { name: "c" })
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => c.id), ["b1-1", "c2-2"])
      })
    ))
})
