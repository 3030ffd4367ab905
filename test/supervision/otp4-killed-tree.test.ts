/**
 * A supervision tree whose middle is killed, or shut down. Telex's rule: a supervisor told to
 * stop stops its subtree in order (everything below exits `Shutdown`); a supervisor killed
 * (brutally, or past its budget) kills its whole subtree at once (everything below exits
 * `Killed`). OTP differs for the second: a child supervisor traps its parent's `killed` and shuts
 * its own children down in order, so a restart of the killed supervisor may find a name still
 * held by an old grandchild (`already_started`); in Telex the names are free at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ExitReason, Supervisor } from "../../src/index.ts"
import { Probe, settle, withSystem, Worker, workerSpec } from "./helpers.ts"

/** outer: [inner: [w1, w2], x] */
const tree = (probe: Probe, inner: Partial<Supervisor.ChildSpec<never>> = {}, w2: Parameters<typeof workerSpec>[2] = {}) =>
  Supervisor.make({
    children: [
      Supervisor.child("inner", Supervisor.make({ children: [workerSpec("w1", probe), workerSpec("w2", probe, w2)] }), inner),
      workerSpec("x", probe)
    ]
  })

const refs = Effect.fnUntraced(function*(outer: Supervisor.SupervisorRef, probe: Probe) {
  const inner = (yield* Supervisor.whichChild(outer, "inner")).ref as Supervisor.SupervisorRef
  return { inner, w1: probe.ref("w1"), w2: probe.ref("w2"), x: probe.ref("x") }
})

describe("an outer supervisor killed while its tree runs", () => {
  for (const how of ["system.kill", "an exit signal Killed"] as const) {
    it.effect(`${how}: its children and its child supervisor's children exit Killed, their finalizers run`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const probe = new Probe()
          const outer = yield* system.spawn(tree(probe))
          const { inner, w1, w2, x } = yield* refs(outer, probe)
          probe.take()
          const exits = yield* Effect.forkChild(Effect.all([inner, w1, w2, x].map((r) => system.awaitExit(r))))
          yield* how === "system.kill" ? system.kill(outer) : system.exit(outer, ExitReason.killed)
          assert.deepStrictEqual(yield* system.awaitExit(outer), ExitReason.killed)
          assert.deepStrictEqual(yield* Fiber.join(exits), [ExitReason.killed, ExitReason.killed, ExitReason.killed, ExitReason.killed])
          yield* settle()
          assert.sameMembers(probe.take(), ["stop:x", "stop:w2", "stop:w1"])
        })))
  }

  it.effect("a grandchild whose finalizer never ends does not hold its supervisor: both are gone at once", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe, {}, { hangOnStop: true, shutdown: "1 hour" }))
        const { inner, w2 } = yield* refs(outer, probe)
        yield* system.kill(outer)
        assert.deepStrictEqual(yield* system.awaitExit(inner), ExitReason.killed)
        assert.deepStrictEqual(yield* system.awaitExit(w2), ExitReason.killed)
      })))
})

const named = (trap: boolean, release: Deferred.Deferred<void>) =>
  Worker.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    if (trap) yield* ctx.trapExit(true)
    // a cleanup that waits for the test's end: the name would be held until then, were it waited for
    yield* Effect.addFinalizer(() => Deferred.await(release))
    return {
      Crash: () => Effect.die(new Error("boom")),
      Stop: () => ctx.stop(),
      Ping: () => Effect.succeed("w"),
      CrashAsk: () => Effect.die(new Error("boom"))
    }
  }))

describe("the restart of a killed supervisor whose subtree registers names", () => {
  for (const trap of [false, true]) {
    it.effect(`finds them free at once (grandchild trapping exits: ${trap}); its parent does not give up`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const release = yield* Deferred.make<void>()
          const inner = Supervisor.make({
            backoff: false,
            children: [Supervisor.child("w", named(trap, release), { options: { name: "w" } })]
          })
          const outer = Supervisor.make({
            backoff: false,
            children: [Supervisor.child("inner", inner, { options: { name: "inner" } })]
          })
          const top = yield* system.spawn(Supervisor.make({
            intensity: 1,
            backoff: false,
            children: [Supervisor.child("outer", outer, { options: { name: "outer" } })]
          }))
          const whereis = (name: string) => Option.getOrThrow(system.whereis(name))
          const [outer1, inner1, w1] = [whereis("outer"), whereis("inner"), whereis("w")]
          yield* system.kill(outer1)
          yield* settle(50)
          const [outer2, inner2, w2] = [whereis("outer"), whereis("inner"), whereis("w")]
          assert.isFalse(outer2.equals(outer1) || inner2.equals(inner1) || w2.equals(w1), "a new tree under the same names")
          assert.strictEqual(yield* (w2 as ActorRef.ActorRef<Worker>).ask(Worker.Ping()), "w")
          assert.deepStrictEqual((yield* Supervisor.whichChildren(top)).map((c) => [c.id, c.status, c.restarts]), [["outer", "running", 1]])
          yield* Deferred.succeed(release, undefined)
        })))
  }
})

describe("a child supervisor told to shut down, or killed itself", () => {
  it.effect("the outer's stop and terminateChild: everything below exits Shutdown", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe))
        const first = yield* refs(outer, probe)
        const exits = yield* Effect.forkChild(Effect.all([first.inner, first.w1, first.w2].map((r) => system.awaitExit(r))))
        yield* Supervisor.terminateChild(outer, "inner")
        assert.deepStrictEqual(yield* Fiber.join(exits), [ExitReason.shutdown, ExitReason.shutdown, ExitReason.shutdown])
        yield* Supervisor.restartChild(outer, "inner")
        const again = yield* refs(outer, probe)
        const all = yield* Effect.forkChild(Effect.all([again.inner, again.w1, again.w2, again.x].map((r) => system.awaitExit(r))))
        yield* system.stop(outer)
        assert.deepStrictEqual(yield* Fiber.join(all), [ExitReason.shutdown, ExitReason.shutdown, ExitReason.shutdown, ExitReason.shutdown])
      })))

  it.effect("killed itself (erl's exit(Inner, kill)): its children are Killed; the outer restarts it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const probe = new Probe()
        const outer = yield* system.spawn(tree(probe))
        const { inner, w1, w2 } = yield* refs(outer, probe)
        const exits = yield* Effect.forkChild(Effect.all([inner, w1, w2].map((r) => system.awaitExit(r))))
        yield* system.kill(inner)
        assert.deepStrictEqual(yield* Fiber.join(exits), [ExitReason.killed, ExitReason.killed, ExitReason.killed])
        yield* settle()
        const restarted = yield* Supervisor.whichChild(outer, "inner")
        assert.strictEqual(restarted.status, "running")
        assert.notStrictEqual(restarted.ref!.key, inner.key)
      })))
})

const T = Actor.make("test/otp4/TrappingWorker", {
  Ping: Actor.ask({}, { success: Schema.String })
})

describe("a worker that traps exits, under a supervisor that is killed", () => {
  it.effect("is killed: it does not handle an exit signal, its finalizer runs", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        let self: ActorRef.ActorRef<typeof T.defs> | undefined
        const trapping = T.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext.for(T)
          self = ctx.self
          yield* ctx.trapExit(true)
          yield* Effect.addFinalizer(() => Effect.sync(() => log.push("finalizer")))
          return {
            Ping: () => Effect.succeed("pong"),
            onExit: (signal) => Effect.sync(() => log.push(`onExit:${signal.reason._tag}`))
          }
        }))
        const sup = yield* system.spawn(Supervisor.make({ children: [Supervisor.child("t", trapping)] }))
        const ref = self!
        yield* system.kill(sup)
        assert.deepStrictEqual(yield* system.awaitExit(ref), ExitReason.killed)
        yield* settle()
        assert.deepStrictEqual(log, ["finalizer"])
      })))
})

describe("a supervisor killed while a child's init runs (startChild, or a restart)", () => {
  for (const how of ["system.kill", "an exit signal Killed"] as const) {
    it.effect(`${how}: the child exits Killed, its finalizer runs; the startChild call fails`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          const gate = yield* Deferred.make<void>()
          const log: Array<string> = []
          let self: ActorRef.ActorRef<Worker> | undefined
          const slow = Worker.behavior(Effect.gen(function*() {
            const ctx = yield* ActorContext
            self = ctx.self as ActorRef.ActorRef<Worker>
            yield* Effect.addFinalizer(() => Effect.sync(() => log.push("finalizer")))
            yield* Deferred.await(gate)
            log.push("started")
            return { Crash: () => Effect.void, Stop: () => ctx.stop(), Ping: () => Effect.succeed("s"), CrashAsk: () => Effect.succeed("s") }
          }))
          const sup = yield* system.spawn(Supervisor.make({ children: [] }))
          const start = yield* Effect.forkChild(Effect.exit(Supervisor.startChild(sup, Supervisor.child("s", slow))))
          yield* settle()
          assert.isDefined(self, "the child's init runs")
          const childExit = yield* Effect.forkChild(system.awaitExit(self!))
          yield* how === "system.kill" ? system.kill(sup) : system.exit(sup, ExitReason.killed)
          assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.killed)
          assert.strictEqual((yield* Fiber.join(start))._tag, "Failure")
          yield* Deferred.succeed(gate, undefined)
          yield* settle()
          assert.deepStrictEqual(log, ["finalizer"])
        })))
  }

  it.effect("system.stop: the child exits Shutdown (its init interrupted, as a stop interrupts a handler)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        let self: ActorRef.ActorRef<Worker> | undefined
        const slow = Worker.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          self = ctx.self as ActorRef.ActorRef<Worker>
          return yield* Effect.never
        }))
        const sup = yield* system.spawn(Supervisor.make({ children: [] }))
        yield* Effect.forkChild(Effect.exit(Supervisor.startChild(sup, Supervisor.child("s", slow))))
        yield* settle()
        const childExit = yield* Effect.forkChild(system.awaitExit(self!))
        yield* system.stop(sup)
        assert.strictEqual((yield* Fiber.join(childExit))._tag, "Shutdown")
      })))
})
