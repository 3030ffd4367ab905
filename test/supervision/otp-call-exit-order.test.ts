/**
 * What a caller of a crashing server sees next (OTP's gen_server_SUITE call cases, with the
 * server under a supervisor as in supervisor_SUITE): once a call has failed because the server
 * stopped, the server's exit has reached its supervisor, so the supervisor's next answer already
 * reflects it (in ERTS an exiting process signals its links before a caller gets its DOWN).
 * Also one_for_all_escalation / rest_for_one_escalation with a nested supervisor.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Actor, ExitReason, Supervisor } from "../../src/index.ts"
import { childInfo, Probe, settle, Worker, workerSpec, withSystem } from "./helpers.ts"

describe("a failed call is answered after the server's links have its exit", () => {
  it.effect("a call whose handler crashes: the supervisor's next which_children shows the restarted child", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [workerSpec("a", probe)] }))
        const a1 = probe.ref("a")
        const e = yield* Effect.flip(a1.ask(Worker.CrashAsk()))
        assert.strictEqual(e._tag, "ActorStopped")
        const info = yield* childInfo(sup, "a")
        assert.notStrictEqual(info.actor, a1.key)
        assert.strictEqual(info.restarts, 1)
      })
    ))

  it.effect("a call queued behind a crash: the same", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [workerSpec("a", probe)] }))
        const a1 = probe.ref("a")
        a1.tellUnsafe(Worker.Crash())
        const e = yield* Effect.flip(a1.ask(Worker.Ping()))
        assert.strictEqual(e._tag, "ActorStopped")
        const info = yield* childInfo(sup, "a")
        assert.notStrictEqual(info.actor, a1.key)
        assert.strictEqual(info.restarts, 1)
      })
    ))
})

const F = Actor.make("test/ForkedCall", { Hang: Actor.ask({}), Crash: Actor.tell({}) })
const forked = F.behavior(Effect.succeed({ Hang: () => Actor.fork(Effect.never), Crash: () => Effect.die("boom") }))

describe("a call handled in a forked handler (Actor.fork)", () => {
  it.effect("in flight when the server crashes: it fails after the supervisor has the exit", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [Supervisor.child("f", forked)] }))
        const f1 = (yield* childInfo(sup, "f")).ref!
        const hang = yield* Effect.forkChild(Effect.flip(f1.ask(F.Hang())))
        yield* settle()
        yield* f1.tell(F.Crash())
        assert.strictEqual(((yield* Fiber.join(hang)) as { _tag: string })._tag, "ActorStopped")
        assert.notStrictEqual((yield* childInfo(sup, "f")).actor, f1.key)
      })
    ))
})

describe("supervisor_SUITE one_for_all_escalation / rest_for_one_escalation, nested (tree)", () => {
  for (const strategy of ["one_for_all", "rest_for_one"] as const) {
    it.effect(`${strategy}: an inner supervisor that gives up is restarted with its group; the outer gives up in turn`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const inner = Supervisor.make({ intensity: 1, backoff: false, children: [workerSpec("x", probe)] })
          const sup = yield* system.spawn(Supervisor.make({
            strategy,
            intensity: 1,
            backoff: false,
            children: [workerSpec("w1", probe), Supervisor.child("inner", inner), workerSpec("w2", probe)]
          }))
          // crashes x, and waits until its supervisor has handled that (or is gone)
          const crashX = (innerRef: Supervisor.SupervisorRef) =>
            Effect.gen(function*() {
              const x = probe.ref("x")
              yield* system.exit(x, ExitReason.error("x"))
              yield* system.awaitExit(x)
              yield* Effect.exit(Supervisor.whichChildren(innerRef))
            })
          const inner1 = (yield* childInfo(sup, "inner")).ref!
          probe.take()
          yield* crashX(inner1)
          yield* crashX(inner1)
          assert.strictEqual((yield* system.awaitExit(inner1))._tag, "Shutdown")
          const kids = yield* Supervisor.whichChildren(sup)
          assert.deepStrictEqual(probe.take(), strategy === "one_for_all"
            ? ["stop:x", "start:x", "stop:x", "stop:w2", "stop:w1", "start:w1", "start:x", "start:w2"]
            : ["stop:x", "start:x", "stop:x", "stop:w2", "start:x", "start:w2"])
          assert.deepStrictEqual(kids.map((c) => [c.id, c.status, c.restarts]), [
            ["w1", "running", strategy === "one_for_all" ? 1 : 0],
            ["inner", "running", 1],
            ["w2", "running", 1]
          ])
          // the outer's intensity is 1: the inner giving up once more makes it give up too
          const inner2 = kids[1]!.ref!
          yield* crashX(inner2)
          yield* crashX(inner2)
          assert.strictEqual((yield* system.awaitExit(sup))._tag, "Shutdown")
          assert.deepStrictEqual(probe.take(), ["stop:x", "start:x", "stop:x", "stop:w2", "stop:w1"])
        })
      ))
  }
})
