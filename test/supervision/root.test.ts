/**
 * The node's root supervisor, and stopping everything by closing the ActorSystem layer.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { ActorSystem, type ActorSystemShape, Supervisor } from "../../src/index.ts"
import { crash, Probe, Worker, worker, workerSpec } from "./helpers.ts"

const withSystem = <A, E>(f: (system: ActorSystemShape) => Effect.Effect<A, E, never>, options?: Parameters<typeof ActorSystem.layer>[0]) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer(options)))

/** Builds an actor system in a scope the test closes itself. */
const openSystem = (options?: Parameters<typeof ActorSystem.layer>[0]) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(ActorSystem.layer(options), scope)
    return { scope, system: Context.get(context, ActorSystem) }
  })

describe("root supervisor", () => {
  it.effect("system.root accepts startChild and supervises the child (one_for_one)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const ref = yield* Supervisor.startChild(system.root, workerSpec("r1", probe))
        yield* Supervisor.startChild(system.root, workerSpec("r2", probe))
        assert.strictEqual(yield* ref.ask(Worker.Ping()), "r1")
        const infos = yield* Supervisor.whichChildren(system.root)
        assert.deepStrictEqual(infos.map((c) => [c.id, c.status, c.actor]), [["r1", "running", ref.key], ["r2", "running", probe.ref("r2").key]])
        assert.strictEqual(system.whereis("telex/root")._tag, "Some")
        // the root's default policy restarts the first crash at once
        const after = yield* crash(system, system.root, probe.ref("r1"))
        assert.deepStrictEqual(after.map((c) => [c.id, c.status, c.restarts]), [["r1", "running", 1], ["r2", "running", 0]])
        assert.notStrictEqual(after[0]!.actor, ref.key)
        const dup = yield* Effect.flip(Supervisor.startChild(system.root, workerSpec("r1", probe)))
        assert.strictEqual((dup as Supervisor.SupervisorError).reason, "AlreadyStarted")
      })
    ))

  it.effect("a root that gives up completes rootExit with its Shutdown (OTP), saying why", () =>
    withSystem(
      (system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          yield* Supervisor.startChild(system.root, workerSpec("r", probe))
          yield* crash(system, system.root, probe.ref("r"))
          yield* probe.ref("r").tell(Worker.Crash())
          const reason = yield* system.rootExit
          assert.strictEqual(reason._tag, "Shutdown")
          assert.match((reason as { detail: string }).detail, /more than 1 restarts/)
        }),
      { root: { intensity: 1, backoff: false } }
    ))

  it.effect("the services supervisor is apart from the root: the root giving up leaves it and its children running", () =>
    withSystem(
      (system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const service = yield* Supervisor.startChild(system.services, workerSpec("svc", probe))
          yield* Supervisor.startChild(system.root, workerSpec("r", probe))
          yield* crash(system, system.root, probe.ref("r"))
          yield* probe.ref("r").tell(Worker.Crash())
          const reason = yield* system.rootExit
          assert.strictEqual(reason._tag, "Shutdown")
          assert.match((reason as { detail: string }).detail, /more than 1 restarts/)
          assert.strictEqual(yield* service.ask(Worker.Ping()), "svc")
          const infos = yield* Supervisor.whichChildren(system.services)
          assert.deepStrictEqual(infos.map((c) => [c.id, c.status, c.actor]), [["svc", "running", service.key]])
          assert.strictEqual(system.whereis("telex/services")._tag, "Some")
        }),
      { root: { intensity: 1, backoff: false } }
    ))

  it.effect("closing the layer's scope stops top-level actors (reverse spawn order), then the root's children (reverse start order), then the services", () =>
    Effect.gen(function*() {
      const probe = new Probe()
      const { scope, system } = yield* openSystem()
      const app = Supervisor.make({ children: [workerSpec("x", probe), workerSpec("y", probe)] })
      yield* Supervisor.startChild(system.root, workerSpec("r1", probe))
      yield* Supervisor.startChild(system.root, Supervisor.child("app", app))
      yield* Supervisor.startChild(system.root, workerSpec("r2", probe))
      yield* Supervisor.startChild(system.services, workerSpec("s1", probe))
      yield* system.spawn(worker("t1", probe))
      yield* system.spawn(worker("t2", probe))
      // a restart must not change the stop order
      yield* crash(system, system.root, probe.ref("r1"))
      const refs = ["r1", "x", "y", "r2", "s1", "t1", "t2"].map((n) => probe.ref(n))
      probe.take()
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(probe.log, ["stop:t2", "stop:t1", "stop:r2", "stop:y", "stop:x", "stop:r1", "stop:s1"])
      for (const ref of refs) assert.strictEqual((yield* system.awaitExit(ref))._tag, "Shutdown")
      assert.strictEqual((yield* system.rootExit)._tag, "Shutdown")
      assert.strictEqual(system.actorCount(), 0)
      const late = yield* Effect.flip(system.spawn(worker("late", probe)))
      assert.strictEqual(late._tag, "SpawnError")
    }))
})
