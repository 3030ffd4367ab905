/**
 * A child spec's `shutdown` as OTP's supervisor applies it: `brutal_kill` kills the child; a
 * time T sends it the `shutdown` exit signal and kills it only if it has not exited after T.
 * With T = 0 the signal still comes first: a child that does not trap exits ends with
 * `Shutdown` (what its monitors see), and only a child still alive after it (one that traps
 * exits) is killed. Ported from supervisor_SUITE's sup_stop_* / child_adm cases.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, type Down, ExitReason, Supervisor } from "../../src/index.ts"
import { settle, withSystem } from "./helpers.ts"

const C = Actor.make("test/otp3/ShutdownChild", {
  /** a handler that never ends (a busy child) */
  Hang: Actor.tell({}),
  Ping: Actor.ask({}, { success: Schema.Number })
})

interface ChildLog {
  readonly events: Array<string>
  busy: Deferred.Deferred<void> | undefined
}

/**
 * A child that may trap exits, logs its finalizer and its `onExit`; `exitTakes` delays its exit on
 * `onExit`; `uninterruptible`: its `Hang` handler cannot be interrupted.
 */
const child = (log: ChildLog, options: { readonly trap?: boolean; readonly exitTakes?: string; readonly uninterruptible?: boolean } = {}) =>
  C.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(C)
    if (options.trap === true) yield* ctx.trapExit(true)
    yield* Effect.addFinalizer(() => Effect.sync(() => log.events.push("finalizer")))
    return {
      Hang: () => {
        const hang = Effect.andThen(log.busy === undefined ? Effect.void : Deferred.succeed(log.busy, undefined), Effect.never)
        return options.uninterruptible === true ? Effect.uninterruptible(hang) : hang
      },
      Ping: () => Effect.succeed(1),
      onExit: (signal) =>
        Effect.gen(function*() {
          log.events.push(`onExit:${signal.reason._tag}`)
          if (options.exitTakes !== undefined) yield* Effect.sleep(options.exitTakes as any)
          yield* ctx.stop(signal.reason)
        })
    }
  }))

const W = Actor.make("test/otp3/Watcher", {
  Watch: Actor.ask({ ref: Schema.Any })
})

/** An actor that monitors what it is told to and records the `Down`s. */
const watcher = (downs: Array<Down>) =>
  W.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(W)
    return {
      Watch: ({ ref }) => Effect.asVoid(ctx.monitor(ref as ActorRef.ActorRef<any>)),
      onDown: (down) => Effect.sync(() => downs.push(down))
    }
  }))

const newLog = (): ChildLog => ({ events: [], busy: undefined })

/** A supervisor of one child `c` with `shutdown`, the child's ref, and a watcher monitoring it. */
const setup = (
  system: Parameters<Parameters<typeof withSystem>[0]>[0],
  behavior: ReturnType<typeof child>,
  shutdown: Supervisor.Shutdown
) =>
  Effect.gen(function*() {
    const sup = yield* system.spawn(Supervisor.make({
      backoff: false,
      children: [Supervisor.child("c", behavior, { shutdown, restart: "temporary" })]
    }))
    const ref = (yield* Supervisor.whichChildren(sup))[0]!.ref as ActorRef.ActorRef<typeof C.defs>
    const downs: Array<Down> = []
    const w = yield* system.spawn(watcher(downs))
    yield* w.ask(W.Watch({ ref }))
    return { sup, ref, downs }
  })

/** The one `Down` the watcher got, once it has got it. */
const theDown = Effect.fnUntraced(function*(downs: Array<Down>) {
  yield* settle()
  assert.strictEqual(downs.length, 1, "one Down")
  return downs[0]!.reason
})

describe("child spec shutdown 0: the shutdown signal first, a kill only if the child outlives it", () => {
  it.effect("an idle child that does not trap exits ends with Shutdown (its monitor's Down), its finalizer run", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log = newLog()
        const { sup, ref, downs } = yield* setup(system, child(log), 0)
        yield* Supervisor.terminateChild(sup, "c")
        assert.strictEqual((yield* system.awaitExit(ref))._tag, "Shutdown")
        assert.strictEqual((yield* theDown(downs))._tag, "Shutdown")
        yield* settle()
        assert.deepStrictEqual(log.events, ["finalizer"])
      })
    ))

  it.effect("a child busy in a handler, not trapping exits, ends with Shutdown too", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log = newLog()
        log.busy = yield* Deferred.make<void>()
        const { sup, ref, downs } = yield* setup(system, child(log), 0)
        yield* ref.tell(C.Hang())
        yield* Deferred.await(log.busy)
        yield* Supervisor.terminateChild(sup, "c")
        assert.strictEqual((yield* theDown(downs))._tag, "Shutdown")
        yield* settle()
        assert.deepStrictEqual(log.events, ["finalizer"])
      })
    ))

  it.effect("a child that traps exits is killed before it handles the signal", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log = newLog()
        const { sup, downs } = yield* setup(system, child(log, { trap: true }), 0)
        yield* Supervisor.terminateChild(sup, "c")
        assert.strictEqual((yield* theDown(downs))._tag, "Killed")
        yield* settle()
        assert.deepStrictEqual(log.events, ["finalizer"], "no onExit: killed before it handled the signal")
      })
    ))

  it.effect("the supervisor's own stop, a one_for_all restart and system.stop of the child: Shutdown each time", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log = newLog()
        const downs: Array<Down> = []
        const w = yield* system.spawn(watcher(downs))
        const sup = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          backoff: false,
          children: [
            Supervisor.child("c", child(log), { shutdown: 0 }),
            Supervisor.child("d", child(newLog()), { shutdown: 0 })
          ]
        }))
        const refOf = Effect.fnUntraced(function*(id: string) {
          return (yield* Supervisor.whichChildren(sup)).find((c) => c.id === id)!.ref as ActorRef.ActorRef<typeof C.defs>
        })
        // system.stop of the child (its spec's shutdown is its own stop budget)
        const c1 = yield* refOf("c")
        yield* w.ask(W.Watch({ ref: c1 }))
        yield* system.stop(c1)
        assert.strictEqual((yield* theDown(downs))._tag, "Shutdown")
        // the restart that follows stops its sibling d (one_for_all)
        yield* settle()
        const c2 = yield* refOf("c")
        assert.notStrictEqual(c2, c1)
        const d2 = yield* refOf("d")
        yield* w.ask(W.Watch({ ref: c2 }))
        yield* w.ask(W.Watch({ ref: d2 }))
        downs.length = 0
        // d's own crash restarts c: c is stopped with shutdown 0
        yield* system.exit(d2, ExitReason.error("boom"))
        yield* settle()
        const byActor = new Map(downs.map((d) => [d.actor.key, d.reason._tag]))
        assert.strictEqual(byActor.get(c2.key), "Shutdown")
        assert.strictEqual(byActor.get(d2.key), "Error")
        // the supervisor's stop
        const c3 = yield* refOf("c")
        yield* w.ask(W.Watch({ ref: c3 }))
        downs.length = 0
        yield* system.stop(sup)
        yield* settle()
        assert.deepStrictEqual(downs.map((d) => d.reason._tag), ["Shutdown"])
      })
    ))

  it.effect("brutal_kill kills, trapping or not", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        for (const trap of [false, true]) {
          const log = newLog()
          const { sup, downs } = yield* setup(system, child(log, { trap }), "brutal_kill")
          yield* Supervisor.terminateChild(sup, "c")
          assert.strictEqual((yield* theDown(downs))._tag, "Killed", `trap: ${trap}`)
        }
      })
    ))
})

describe("child spec shutdown T > 0: killed only if the child has not exited within T", () => {
  it.effect("a trapping child that takes less than T to exit ends with Shutdown; one that takes longer is killed at T", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const fast = newLog()
        const a = yield* setup(system, child(fast, { trap: true, exitTakes: "4 millis" }), "5 millis")
        const stopA = yield* Effect.forkChild(Supervisor.terminateChild(a.sup, "c"))
        yield* settle()
        yield* TestClock.adjust("4 millis")
        yield* Fiber.join(stopA)
        assert.strictEqual((yield* theDown(a.downs))._tag, "Shutdown")
        assert.deepStrictEqual(fast.events, ["onExit:Shutdown", "finalizer"])

        const slow = newLog()
        const b = yield* setup(system, child(slow, { trap: true, exitTakes: "6 millis" }), "5 millis")
        const stopB = yield* Effect.forkChild(Supervisor.terminateChild(b.sup, "c"))
        yield* settle()
        yield* TestClock.adjust("4 millis")
        yield* settle()
        assert.isUndefined(stopB.pollUnsafe(), "not killed before T")
        assert.deepStrictEqual(b.downs, [])
        yield* TestClock.adjust("1 millis")
        yield* Fiber.join(stopB)
        assert.strictEqual((yield* theDown(b.downs))._tag, "Killed")
      })
    ))

  it.effect("a child that does not trap exits ends with Shutdown with a 1 ms budget", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log = newLog()
        const { sup, downs } = yield* setup(system, child(log), "1 millis")
        yield* Supervisor.terminateChild(sup, "c")
        assert.strictEqual((yield* theDown(downs))._tag, "Shutdown")
      })
    ))
})

describe("an actor spawned with shutdown 0 (not brutal_kill)", () => {
  it.effect("system.stop ends it with Shutdown; an exit signal it does not trap ends it with that signal's reason", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log = newLog()
        const a = yield* system.spawn(child(log), { shutdown: 0 })
        yield* system.stop(a)
        assert.strictEqual((yield* system.awaitExit(a))._tag, "Shutdown")
        log.busy = yield* Deferred.make<void>()
        const b = yield* system.spawn(child(log), { shutdown: 0 })
        yield* b.tell(C.Hang())
        yield* Deferred.await(log.busy)
        yield* system.exit(b, ExitReason.error("boom"))
        assert.strictEqual((yield* system.awaitExit(b))._tag, "Error")
        const c = yield* system.spawn(child(log), { shutdown: "brutal_kill" })
        yield* system.stop(c)
        assert.strictEqual((yield* system.awaitExit(c))._tag, "Killed")
      })
    ))

  it.effect("stopped while its handler never ends, even uninterruptibly: gone at once, and its children are stopped now", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const P = Actor.make("test/otp3/ZeroBudgetParent", { Hang: Actor.tell({}), Kid: Actor.ask({}, { success: Schema.Any }) })
        const busy = yield* Deferred.make<void>()
        const parent = yield* system.spawn(
          P.behavior(Effect.gen(function*() {
            const ctx = yield* ActorContext.for(P)
            return {
              Hang: () => Effect.uninterruptible(Effect.andThen(Deferred.succeed(busy, undefined), Effect.never)),
              Kid: () => ctx.spawn(child(newLog()))
            }
          })),
          { shutdown: 0 }
        )
        const kid = (yield* parent.ask(P.Kid())) as ActorRef.ActorRef<typeof C.defs>
        yield* parent.tell(P.Hang())
        yield* Deferred.await(busy)
        yield* system.stop(parent)
        assert.strictEqual((yield* system.awaitExit(parent))._tag, "Shutdown")
        assert.strictEqual((yield* system.awaitExit(kid))._tag, "Shutdown")
      })
    ))

  it.effect("its system's stop ends it with Shutdown too, idle or busy in a handler that cannot be interrupted (brutal_kill: Killed)", () =>
    Effect.gen(function*() {
      const reasons = new Map<string, string>()
      yield* Effect.scoped(Effect.gen(function*() {
        const system = yield* ActorSystem
        const log = newLog()
        log.busy = yield* Deferred.make<void>()
        const busy = yield* system.spawn(child(log, { uninterruptible: true }), { shutdown: 0 })
        yield* busy.tell(C.Hang())
        yield* Deferred.await(log.busy)
        const idle = yield* system.spawn(child(newLog()), { shutdown: 0 })
        const brutal = yield* system.spawn(child(newLog()), { shutdown: "brutal_kill" })
        for (const [name, ref] of [["busy", busy], ["idle", idle], ["brutal", brutal]] as const) {
          ;(ref.target as unknown as { onExit(f: (r: ExitReason.ExitReason) => void): void }).onExit((r) => reasons.set(name, r._tag))
        }
      }).pipe(Effect.provide(Layer.fresh(ActorSystem.layer()))) as Effect.Effect<void, unknown, never>)
      assert.deepStrictEqual(Object.fromEntries(reasons), { busy: "Shutdown", idle: "Shutdown", brutal: "Killed" })
    }))
})
