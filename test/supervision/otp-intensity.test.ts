/**
 * Restart intensity and the restart path as OTP's supervisor_SUITE pins them down: a group
 * restart (one_for_all, rest_for_one) is ONE restart for the intensity, whatever the group's
 * size; the window slides (a restart older than the period no longer counts, newer ones and one
 * exactly a period ago still do); a transient child exiting with `{shutdown, Term}` is not restarted; a supervisor stopped
 * while a restart waits for its backoff exits with the stop's reason and starts nothing later;
 * a child that crashes in its init on restart counts as another restart and ends the
 * supervisor once the intensity is exceeded.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { ActorSystem, type ActorSystemShape, ExitReason, Supervisor } from "../../src/index.ts"
import { childInfo, crash, Probe, settle, Worker, workerSpec } from "./helpers.ts"

const withSystem = <A, E>(f: (system: ActorSystemShape) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

describe("Supervisor intensity (OTP supervisor_SUITE)", () => {
  for (const strategy of ["one_for_all", "rest_for_one"] as const) {
    it.effect(`${strategy}: a group restart of three children is one restart for the intensity`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const sup = yield* system.spawn(Supervisor.make({
            strategy,
            intensity: 2,
            period: "10 seconds",
            backoff: false,
            children: [workerSpec("a", probe), workerSpec("b", probe), workerSpec("c", probe)]
          }))
          // two group restarts: within the intensity
          yield* crash(system, sup, probe.ref("a"))
          const infos = yield* crash(system, sup, probe.ref("a"))
          assert.deepStrictEqual(infos.map((c) => [c.id, c.status, c.restarts]), [
            ["a", "running", 2],
            ["b", "running", 2],
            ["c", "running", 2]
          ])
          assert.isTrue(sup.target.isAlive, "the supervisor survived two restarts with intensity 2")
          // the third within the period is one too many
          yield* probe.ref("a").tell(Worker.Crash())
          const reason = yield* system.awaitExit(sup)
          assert.strictEqual(reason._tag, "Shutdown")
        })
      ))
  }

  it.effect("the window slides: restarts older than the period stop counting one by one", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 2,
          period: "10 seconds",
          backoff: false,
          children: [workerSpec("a", probe)]
        }))
        yield* crash(system, sup, probe.ref("a")) // t = 0
        yield* TestClock.adjust("6 seconds")
        yield* crash(system, sup, probe.ref("a")) // t = 6: two in the window
        yield* TestClock.adjust("5 seconds")
        // t = 11: the one at 0 has left the window, the one at 6 has not: two again, no escalation
        assert.strictEqual((yield* crash(system, sup, probe.ref("a")))[0]!.restarts, 3)
        yield* TestClock.adjust("2 seconds")
        // t = 13: the ones at 6 and 11 are still in the window: three is one too many
        yield* probe.ref("a").tell(Worker.Crash())
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
        assert.strictEqual(probe.starts.get("a"), 4)
      })
    ))

  it.effect("a restart exactly `period` ago still counts (OTP's add_restart keeps R >= Now - Period)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 1,
          period: "10 seconds",
          backoff: false,
          children: [workerSpec("a", probe)]
        }))
        yield* crash(system, sup, probe.ref("a")) // t = 0
        yield* TestClock.adjust("10 seconds")
        // t = 10: the one at 0 is still in the window: two is one too many
        yield* probe.ref("a").tell(Worker.Crash())
        assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
        assert.strictEqual(probe.starts.get("a"), 2)
      })
    ))

  it.effect("a transient child exiting with {shutdown, Term} is not restarted; with any other reason it is", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          backoff: false,
          children: [workerSpec("t", probe, { restart: "transient" })]
        }))
        const first = probe.ref("t")
        yield* system.stop(first, ExitReason.shutdownWith("done here"))
        yield* system.awaitExit(first)
        const info = yield* childInfo(sup, "t")
        assert.deepStrictEqual([info.status, info.restarts], ["stopped", 0])
        yield* Supervisor.restartChild(sup, "t")
        const second = probe.ref("t")
        yield* crash(system, sup, second)
        assert.deepStrictEqual([(yield* childInfo(sup, "t")).status, (yield* childInfo(sup, "t")).restarts], ["running", 1])
      })
    ))

  it.effect("a supervisor stopped while a restart waits for its backoff exits at once and starts nothing after", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff: { initial: "1 second", factor: 2, max: "10 seconds", jitter: 0, resetAfter: "1 minute" },
          children: [workerSpec("a", probe), workerSpec("b", probe)]
        }))
        yield* crash(system, sup, probe.ref("a")) // the first restart is immediate
        const infos = yield* crash(system, sup, probe.ref("a"))
        assert.deepStrictEqual(infos.map((c) => c.status), ["restarting", "restarting"])
        yield* settle()
        probe.take()
        yield* system.stop(sup)
        const reason = yield* system.awaitExit(sup)
        assert.strictEqual(reason._tag, "Shutdown")
        yield* TestClock.adjust("30 seconds")
        yield* settle()
        assert.deepStrictEqual(probe.log, [], "nothing started (or stopped) after the supervisor stopped")
        assert.strictEqual(probe.starts.get("a"), 2)
        assert.strictEqual(probe.starts.get("b"), 2)
      })
    ))

  it.effect("a child that crashes in init on each restart: each failed start counts; the supervisor gives up with Shutdown", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 3,
          period: "1 minute",
          backoff: false,
          children: [workerSpec("s", probe), workerSpec("a", probe, { failOnStart: (n) => n > 1 })]
        }))
        const sibling = probe.ref("s")
        yield* probe.ref("a").tell(Worker.Crash())
        const reason = yield* system.awaitExit(sup)
        assert.strictEqual(reason._tag, "Shutdown")
        assert.match((reason as { detail: string }).detail, /more than 3 restarts/)
        // the crash, then three failed starts: the fourth failure is the one too many
        assert.strictEqual(probe.starts.get("a"), 4)
        assert.strictEqual((yield* system.awaitExit(sibling))._tag, "Shutdown")
      })
    ))
})
