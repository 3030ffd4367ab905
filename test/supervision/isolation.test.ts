/**
 * A defect in a handler kills only that actor, never the node.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { Actor, ActorSystem, type ActorSystemShape, Supervisor } from "../../src/index.ts"
import { crash, Probe, Worker, worker, workerSpec } from "./helpers.ts"

const withSystem = <A, E>(f: (system: ActorSystemShape) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

const Counter = Actor.make("test/Counter", {
  Increment: Actor.tell({}),
  Get: Actor.ask({}, { success: Schema.Int })
})
const CounterLive = Counter.behavior(Effect.sync(() => {
  let n = 0
  return {
    Increment: () => Effect.sync(() => void n++),
    Get: () => Effect.sync(() => n)
  }
}))

describe("crash isolation", () => {
  it.effect("many crashing actors: each dies alone, the system keeps serving the others", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const counter = yield* system.spawn(CounterLive)
        const probe = new Probe()
        const baseline = system.actorCount()
        for (let i = 0; i < 200; i++) {
          const w = yield* system.spawn(worker(`w${i}`, probe))
          yield* counter.tell(Counter.Increment())
          // alternately a crashing tell and a crashing ask
          if (i % 2 === 0) {
            yield* w.tell(Worker.Crash())
          } else {
            const e = yield* Effect.flip(w.ask(Worker.CrashAsk()))
            assert.strictEqual(e._tag, "ActorStopped")
            assert.strictEqual((e as { reason: { _tag: string } }).reason._tag, "Error")
          }
          const reason = yield* system.awaitExit(w)
          assert.strictEqual(reason._tag, "Error")
          assert.include((reason as { message: string }).message, `boom w${i}`)
        }
        assert.strictEqual(yield* counter.ask(Counter.Get()), 200)
        // nothing leaked, the root supervisor is untouched
        assert.strictEqual(system.actorCount(), baseline)
        const root = yield* Effect.exit(Effect.timeoutOption(system.rootExit, 0))
        assert.isTrue(Exit.isSuccess(root) && root.value._tag === "None")
        // a dead actor is NoProc for asks, not a defect
        const dead = probe.ref("w0")
        assert.strictEqual((yield* Effect.flip(dead.ask(Worker.Ping())))._tag, "NoProc")
        // new actors still spawn and work
        const fresh = yield* system.spawn(worker("fresh", probe))
        assert.strictEqual(yield* fresh.ask(Worker.Ping()), "fresh")
      })
    ))

  it.effect("a supervised child crashing hundreds of times: only it restarts, its siblings and the rest keep serving", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const counter = yield* system.spawn(CounterLive)
        const sup = yield* system.spawn(Supervisor.make({
          intensity: 10_000,
          backoff: false,
          children: [workerSpec("sibling", probe), workerSpec("crasher", probe)]
        }))
        const sibling = probe.ref("sibling")
        const baseline = system.actorCount()
        for (let i = 1; i <= 300; i++) {
          const infos = yield* crash(system, sup, probe.ref("crasher"))
          assert.strictEqual(infos[1]!.restarts, i)
          yield* counter.tell(Counter.Increment())
        }
        assert.strictEqual(yield* counter.ask(Counter.Get()), 300)
        assert.strictEqual(yield* sibling.ask(Worker.Ping()), "sibling")
        assert.strictEqual(probe.ref("sibling"), sibling)
        assert.strictEqual(yield* probe.ref("crasher").ask(Worker.Ping()), "crasher")
        assert.strictEqual(system.actorCount(), baseline)
      })
    ))

  it.effect("a defect in init fails only that spawn", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const baseline = system.actorCount()
        const e = yield* Effect.flip(system.spawn(worker("bad", probe, { failOnStart: () => true })))
        assert.strictEqual(e._tag, "SpawnError")
        assert.strictEqual(system.actorCount(), baseline)
        const ok = yield* system.spawn(worker("ok", probe))
        assert.strictEqual(yield* ok.ask(Worker.Ping()), "ok")
      })
    ))
})
