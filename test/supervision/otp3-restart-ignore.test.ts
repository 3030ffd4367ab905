/**
 * A static child whose restart yields `Supervisor.ignore` (OTP: a restart whose start function
 * returns `ignore` leaves the child's spec with no pid): it stays `stopped` with its spec kept,
 * the restart counts for the intensity, its group runs without it, and `restartChild` starts it
 * later.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Supervisor } from "../../src/index.ts"
import { crash, ignoring, Probe, settledChildren, Worker, worker, withSystem } from "./helpers.ts"

const statuses = (infos: ReadonlyArray<Supervisor.ChildInfo>) => infos.map((c) => `${c.id}:${c.status}`)

describe("a static child whose restart yields ignore", () => {
  for (const strategy of ["one_for_one", "one_for_all", "rest_for_one"] as const) {
    it.effect(`${strategy}: kept stopped, its group runs; restartChild starts it later`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          let ignore = false
          const sup = yield* system.spawn(Supervisor.make({
            strategy,
            backoff: false,
            children: [
              Supervisor.child("a", ignoring("a", probe, () => ignore)),
              Supervisor.child("b", worker("b", probe))
            ]
          }))
          const b1 = probe.ref("b")
          probe.take()
          ignore = true
          yield* crash(system, sup, probe.ref("a"))
          const after = yield* settledChildren(sup)
          assert.deepStrictEqual(statuses(after), ["a:stopped", "b:running"])
          assert.isUndefined(after[0]!.ref)
          assert.deepStrictEqual(
            probe.take(),
            strategy === "one_for_one" ? ["stop:a", "ignored:a"] : ["stop:a", "stop:b", "ignored:a", "start:b"]
          )
          assert.strictEqual(after[1]!.ref === b1, strategy === "one_for_one", "b restarted with its group")
          assert.deepStrictEqual(yield* Supervisor.countChildren(sup), { specs: 2, active: 1, supervisors: 0, workers: 2 })
          assert.strictEqual((yield* Supervisor.describeSupervisor(sup)).recentRestarts, 1, "the ignored restart counts")
          ignore = false
          const a2 = yield* Supervisor.restartChild(sup, "a")
          assert.deepStrictEqual(statuses(yield* Supervisor.whichChildren(sup)), ["a:running", "b:running"])
          assert.strictEqual((yield* Supervisor.whichChild(sup, "a")).ref, a2)
        })
      ))
  }

  it.effect("the ignored restart counts for the intensity: the next exit past it makes the supervisor give up", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        let ignore = false
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          intensity: 1,
          children: [
            Supervisor.child("a", ignoring("a", probe, () => ignore)),
            Supervisor.child("b", worker("b", probe))
          ]
        }))
        ignore = true
        yield* crash(system, sup, probe.ref("a"))
        yield* probe.ref("b").tell(Worker.Crash())
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
      })
    ))
})
