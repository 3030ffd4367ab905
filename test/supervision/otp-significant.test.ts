/**
 * Significant children and auto_shutdown, from OTP's supervisor_SUITE significant group:
 * significant_bystander (siblings stopped by a group restart do not count),
 * significant_escalation (a supervisor that shuts itself down is itself a significant child that
 * exited), significant_simple (no auto_shutdown for a dynamic supervisor).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Supervisor } from "../../src/index.ts"
import { childInfo, Probe, Worker, workerSpec, withSystem } from "./helpers.ts"

describe("supervisor_SUITE significant_bystander", () => {
  for (const strategy of ["one_for_one", "one_for_all", "rest_for_one"] as const) {
    for (const autoShutdown of ["any_significant", "all_significant"] as const) {
      it.effect(`${strategy}, ${autoShutdown}: significant siblings stopped by a restart do not shut the supervisor down`, () =>
        withSystem((system) =>
          Effect.gen(function*() {
            const probe = new Probe()
            const sup = yield* system.spawn(Supervisor.make({
              strategy,
              autoShutdown,
              intensity: 5,
              backoff: false,
              children: [
                workerSpec("c1", probe, { restart: "transient", significant: true }),
                workerSpec("c2", probe, { restart: "transient" }),
                workerSpec("c3", probe, { restart: "transient", significant: true })
              ]
            }))
            const c2 = probe.ref("c2")
            yield* system.kill(c2)
            const kids = yield* Supervisor.whichChildren(sup)
            assert.deepStrictEqual(kids.map((c) => [c.id, c.status]), [["c1", "running"], ["c2", "running"], ["c3", "running"]])
            assert.deepStrictEqual(kids.map((c) => c.restarts), strategy === "one_for_one" ? [0, 1, 0] : strategy === "one_for_all" ? [1, 1, 1] : [0, 1, 1])
            assert.isTrue(sup.target.isAlive)
          })
        ))
    }
  }
})

describe("supervisor_SUITE significant_escalation", () => {
  it.effect("a significant supervisor child that auto-shuts down makes its parent shut down; a non-significant one does not", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const inner = (id: string) =>
          Supervisor.make({ autoShutdown: "any_significant", children: [workerSpec(id, probe, { restart: "transient", significant: true })] })
        const a = yield* system.spawn(Supervisor.make({
          autoShutdown: "any_significant",
          children: [Supervisor.child("b", inner("c"), { restart: "transient", significant: true })]
        }))
        const b = (yield* childInfo(a, "b")).ref!
        yield* probe.ref("c").tell(Worker.Stop())
        assert.strictEqual((yield* system.awaitExit(b))._tag, "Shutdown")
        assert.strictEqual((yield* system.awaitExit(a))._tag, "Shutdown")

        const a2 = yield* system.spawn(Supervisor.make({
          autoShutdown: "any_significant",
          children: [Supervisor.child("b", inner("c2"), { restart: "transient" })]
        }))
        const b2 = (yield* childInfo(a2, "b")).ref!
        yield* probe.ref("c2").tell(Worker.Stop())
        assert.strictEqual((yield* system.awaitExit(b2))._tag, "Shutdown")
        assert.strictEqual((yield* childInfo(a2, "b")).status, "stopped")
        assert.isTrue(a2.target.isAlive)
      })
    ))
})

describe("supervisor_SUITE significant_simple", () => {
  it("a dynamic supervisor refuses autoShutdown (OTP: bad_combination with simple_one_for_one)", () => {
    for (const autoShutdown of ["any_significant", "all_significant"] as const) {
      assert.throws(
        () => Supervisor.dynamic({ autoShutdown, template: () => workerSpec("d", new Probe()) }),
        Supervisor.SupervisorSpecError
      )
    }
    Supervisor.dynamic({ autoShutdown: "never", template: () => workerSpec("d", new Probe()) })
  })
})

describe("supervisor_SUITE significant_temporary / significant_transient: a killed significant child", () => {
  it.effect("temporary: its kill shuts the supervisor down; transient: it is restarted and the supervisor lives on", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const temp = yield* system.spawn(Supervisor.make({
          autoShutdown: "any_significant",
          intensity: 5,
          backoff: false,
          children: [workerSpec("t", probe, { restart: "temporary", significant: true }), workerSpec("a", probe)]
        }))
        yield* system.kill(probe.ref("t"))
        assert.strictEqual((yield* system.awaitExit(temp))._tag, "Shutdown")
        assert.strictEqual((yield* system.awaitExit(probe.ref("a")))._tag, "Shutdown")
        const trans = yield* system.spawn(Supervisor.make({
          autoShutdown: "any_significant",
          intensity: 5,
          backoff: false,
          children: [workerSpec("r", probe, { restart: "transient", significant: true }), workerSpec("b", probe)]
        }))
        const first = probe.ref("r")
        yield* system.kill(first)
        yield* system.awaitExit(first)
        const r = yield* childInfo(trans, "r")
        assert.strictEqual(r.status, "running")
        assert.strictEqual(r.restarts, 1)
        assert.isTrue(trans.target.isAlive)
      })
    ))
})
