/**
 * Regressions for supervisor admin calls, from OTP's supervisor_SUITE: a failed `restart_child`
 * leaves the child stopped (and retryable), and bad arguments to any admin call are a typed
 * error while the supervisor and its children keep running.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Supervisor } from "../../src/index.ts"
import { childInfo, Probe, Worker, workerSpec , supervisorError, withSystem } from "./helpers.ts"

describe("restartChild whose start fails (supervisor_SUITE restart_child)", () => {
  it.effect("leaves the child stopped, and a later restartChild can start it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          children: [workerSpec("a", probe, { failOnStart: (n) => n === 2 })]
        }))
        yield* Supervisor.terminateChild(sup, "a")
        const e = yield* supervisorError(Supervisor.restartChild(sup, "a"))
        assert.deepStrictEqual([e.reason, e.childId], ["StartFailed", "a"])
        const info = yield* childInfo(sup, "a")
        assert.strictEqual(info.status, "stopped")
        assert.isUndefined(info.actor)
        // retryable
        const ref = yield* Supervisor.restartChild(sup, "a")
        assert.strictEqual(yield* ref.ask(Worker.Ping()), "a")
        assert.strictEqual((yield* childInfo(sup, "a")).status, "running")
        // and deletable once stopped again
        yield* Supervisor.terminateChild(sup, "a")
        yield* Supervisor.deleteChild(sup, "a")
        assert.deepStrictEqual(yield* Supervisor.whichChildren(sup), [])
      })
    ))
})

describe("admin calls with bad arguments", () => {
  it.effect("a wrong-typed id is a typed error; the supervisor and its children keep running", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe)] }))
        const a = probe.ref("a")
        for (const bad of [42, undefined, null, { id: "a" }, ["a"]] as Array<any>) {
          for (const call of [Supervisor.terminateChild, Supervisor.restartChild, Supervisor.deleteChild, Supervisor.whichChild]) {
            const e = yield* supervisorError(call(sup, bad) as Effect.Effect<unknown, unknown>)
            assert.strictEqual(e.reason, "InvalidArgument", `${call.name}(${JSON.stringify(bad)})`)
          }
        }
        for (const bad of [undefined, null, 42, "spec", { id: 1 }, { id: "x" }] as Array<any>) {
          const e = yield* supervisorError(Supervisor.startChild(sup, bad))
          assert.strictEqual(e.reason, "InvalidSpec", JSON.stringify(bad))
        }
        assert.isTrue(a.target.isAlive)
        assert.strictEqual(yield* a.ask(Worker.Ping()), "a")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(sup)).map((c) => [c.id, c.status]), [["a", "running"]])
      })
    ))

  it.effect("startDynamic on a static supervisor and a template returning a bad spec are typed errors", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ children: [workerSpec("a", probe)] }))
        const e = yield* supervisorError(Supervisor.startDynamic(sup, 1))
        assert.strictEqual(e.reason, "NotDynamic")
        const dyn = yield* system.spawn(Supervisor.dynamic({
          template: (n: number) => (n === 0 ? { id: "w" } as any : workerSpec("w", probe, { restart: "temporary" }))
        }))
        const bad = yield* supervisorError(Supervisor.startDynamic(dyn, 0))
        assert.strictEqual(bad.reason, "InvalidSpec")
        const ref = yield* Supervisor.startDynamic(dyn, 1)
        assert.strictEqual(yield* ref.ask(Worker.Ping()), "w")
      })
    ))
})
