/**
 * `system.supervisionEvents`: what supervisors publish, with their fields.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { ActorSystem, type ActorSystemShape, type SupervisionEvent, Supervisor } from "../../src/index.ts"
import { bySupervisor, collectEvents, crash, joinEvents, Probe, settle, Worker, workerSpec } from "./helpers.ts"

const withSystem = <A, E>(f: (system: ActorSystemShape) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

type Ev<T extends SupervisionEvent["_tag"]> = Extract<SupervisionEvent, { _tag: T }>
const as = <T extends SupervisionEvent["_tag"]>(e: SupervisionEvent | undefined, tag: T): Ev<T> => {
  assert.isDefined(e)
  assert.strictEqual(e!._tag, tag)
  return e as Ev<T>
}

describe("supervision events", () => {
  it.effect("ChildStarted for each child, in start order, with the supervisor, child id, actor and Clock time", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        yield* TestClock.adjust("1234 millis")
        const events = yield* collectEvents(system, 3, (e) => e._tag === "ChildStarted" && ["a", "b", "c"].includes(e.childId))
        const sup = yield* system.spawn(Supervisor.make({ children: ["a", "b", "c"].map((n) => workerSpec(n, probe)) }))
        const got = yield* joinEvents(events)
        assert.deepStrictEqual(got, ["a", "b", "c"].map((id) => ({
          _tag: "ChildStarted" as const,
          supervisor: sup.key,
          at: 1234,
          childId: id,
          actor: probe.ref(id).key
        })))
      })
    ))

  it.effect("a crash: ChildExited, then ChildStarted and ChildRestarted; with backoff RestartScheduled first", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: { initial: "100 millis", factor: 2, jitter: 0 },
          children: [workerSpec("a", probe), workerSpec("b", probe)]
        }))
        const events = yield* collectEvents(system, 7, bySupervisor(sup))
        const first = probe.ref("a")
        yield* crash(system, sup, first)
        const second = probe.ref("a")
        yield* crash(system, sup, second)
        yield* settle()
        yield* TestClock.adjust("100 millis")
        yield* Supervisor.whichChildren(sup)
        const third = probe.ref("a")
        const got = yield* joinEvents(events)
        assert.deepStrictEqual(got.map((e) => e._tag), [
          "ChildExited",
          "ChildStarted",
          "ChildRestarted",
          "ChildExited",
          "RestartScheduled",
          "ChildStarted",
          "ChildRestarted"
        ])
        const exited = as(got[0], "ChildExited")
        assert.strictEqual(exited.supervisor, sup.key)
        assert.strictEqual(exited.childId, "a")
        assert.strictEqual(exited.actor, first.key)
        assert.strictEqual(exited.at, 0)
        assert.strictEqual(exited.reason._tag, "Error")
        assert.include((exited.reason as { message: string }).message, "boom a")
        assert.deepStrictEqual(got[1], { _tag: "ChildStarted", supervisor: sup.key, at: 0, childId: "a", actor: second.key })
        assert.deepStrictEqual(got[2], { _tag: "ChildRestarted", supervisor: sup.key, at: 0, childId: "a", actor: second.key, restarts: 1 })
        assert.strictEqual(as(got[3], "ChildExited").actor, second.key)
        assert.deepStrictEqual(got[4], { _tag: "RestartScheduled", supervisor: sup.key, at: 0, childIds: ["a"], delayMillis: 100 })
        assert.deepStrictEqual(got[5], { _tag: "ChildStarted", supervisor: sup.key, at: 100, childId: "a", actor: third.key })
        assert.deepStrictEqual(got[6], { _tag: "ChildRestarted", supervisor: sup.key, at: 100, childId: "a", actor: third.key, restarts: 2 })
      })
    ))

  it.effect("a normal exit of a transient child: ChildExited with Normal and nothing else", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("t", probe, { restart: "transient" })] }))
        const events = yield* collectEvents(system, 2, bySupervisor(sup))
        const t = probe.ref("t")
        yield* t.tell(Worker.Stop())
        yield* system.awaitExit(t)
        yield* Supervisor.whichChildren(sup)
        // a later, unrelated event closes the window: nothing was published in between
        yield* Supervisor.startChild(sup, workerSpec("later", probe))
        const got = yield* joinEvents(events)
        assert.deepStrictEqual(got[0], { _tag: "ChildExited", supervisor: sup.key, at: 0, childId: "t", actor: t.key, reason: { _tag: "Normal" } })
        assert.strictEqual(as(got[1], "ChildStarted").childId, "later")
      })
    ))

  it.effect("a group restart publishes ChildStarted/ChildRestarted for every restarted child, in start order", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "rest_for_one",
          backoff: false,
          children: ["a", "b", "c"].map((n) => workerSpec(n, probe))
        }))
        const events = yield* collectEvents(system, 5, bySupervisor(sup))
        yield* crash(system, sup, probe.ref("b"))
        const got = yield* joinEvents(events)
        assert.deepStrictEqual(got.map((e) => [e._tag, "childId" in e ? e.childId : undefined]), [
          ["ChildExited", "b"],
          ["ChildStarted", "b"],
          ["ChildRestarted", "b"],
          ["ChildStarted", "c"],
          ["ChildRestarted", "c"]
        ])
      })
    ))

  it.effect("a failed restart: ChildStartFailed, then the retry", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("a", probe, { failOnStart: (n) => n === 2 })]
        }))
        const events = yield* collectEvents(system, 4, bySupervisor(sup))
        yield* crash(system, sup, probe.ref("a"))
        const got = yield* joinEvents(events)
        assert.deepStrictEqual(got.map((e) => e._tag), ["ChildExited", "ChildStartFailed", "ChildStarted", "ChildRestarted"])
        const failed = as(got[1], "ChildStartFailed")
        assert.strictEqual(failed.childId, "a")
        assert.include(failed.message, "a refuses to start")
        assert.strictEqual(as(got[3], "ChildRestarted").restarts, 1)
      })
    ))

  it.effect("escalation: IntensityExceeded and Escalated from the child supervisor, then the parent restarts it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = Supervisor.make({ intensity: 1, period: "3 seconds", backoff: false, children: [workerSpec("w", probe)] })
        const parent = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [Supervisor.child("inner", inner, { options: { name: "inner" } })]
        }))
        const oldInner = yield* system.lookup(Supervisor.Protocol, "inner")
        yield* crash(system, oldInner, probe.ref("w"))
        const innerEvents = yield* collectEvents(system, 3, bySupervisor(oldInner))
        const parentEvents = yield* collectEvents(system, 3, bySupervisor(parent))
        const w = probe.ref("w")
        yield* TestClock.adjust("7 millis")
        yield* w.tell(Worker.Crash())
        yield* system.awaitExit(oldInner)
        yield* Supervisor.whichChildren(parent)
        const newInner = yield* system.lookup(Supervisor.Protocol, "inner")

        const ig = yield* joinEvents(innerEvents)
        assert.deepStrictEqual(ig.map((e) => e._tag), ["ChildExited", "IntensityExceeded", "Escalated"])
        assert.strictEqual(as(ig[0], "ChildExited").actor, w.key)
        assert.deepStrictEqual(ig[1], { _tag: "IntensityExceeded", supervisor: oldInner.key, at: 7, restarts: 2, periodMillis: 3_000 })
        const escalated = as(ig[2], "Escalated")
        assert.strictEqual(escalated.supervisor, oldInner.key)
        assert.strictEqual(escalated.at, 7)
        assert.strictEqual(escalated.reason._tag, "Shutdown")
        assert.match((escalated.reason as { detail: string }).detail, /more than 1 restarts within 3000 ms/)

        const pg = yield* joinEvents(parentEvents)
        assert.deepStrictEqual(pg.map((e) => e._tag), ["ChildExited", "ChildStarted", "ChildRestarted"])
        const exited = as(pg[0], "ChildExited")
        assert.deepStrictEqual([exited.childId, exited.actor], ["inner", oldInner.key])
        assert.deepStrictEqual(exited.reason, escalated.reason)
        assert.deepStrictEqual(pg[1], { _tag: "ChildStarted", supervisor: parent.key, at: 7, childId: "inner", actor: newInner.key })
        assert.deepStrictEqual(pg[2], { _tag: "ChildRestarted", supervisor: parent.key, at: 7, childId: "inner", actor: newInner.key, restarts: 1 })
      })
    ))
})
