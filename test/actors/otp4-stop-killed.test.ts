/**
 * `Killed` as the reason of an actor's own stop is not a kill: as a gen_server returning
 * `{stop, killed, State}`, the actor stops in order — its children stopped with `Shutdown`, its
 * finalizers awaited — and exits `Killed`. Only `system.kill` (an untrappable exit) kills. Under
 * a supervisor, `Killed` is an abnormal reason as any: a permanent or transient child is
 * restarted, a temporary one forgotten.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, ExitReason, Supervisor } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const P = Actor.make("test/otp4/StopKilled", {
  StopWith: Actor.tell({ killed: Schema.Boolean }),
  Child: Actor.ask({}, { success: Schema.Any })
})

const Leaf = Actor.make("test/otp4/StopKilledLeaf", {})

const parent = (log: Array<string>) =>
  P.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(P)
    const child = yield* ctx.spawn(Leaf.behavior(Effect.gen(function*() {
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push("child finalizer")))
      return {}
    })))
    // a finalizer that takes a second (of the TestClock): an orderly stop waits for it, a kill does not
    yield* Effect.addFinalizer(() => Effect.andThen(Effect.sleep("1 second"), Effect.sync(() => log.push("parent finalizer"))))
    return {
      StopWith: ({ killed }) => killed ? ctx.stop(ExitReason.killed) : ctx.stop(),
      Child: () => Effect.succeed(child)
    }
  }))

/** The parent spawned, with its child and the child's exit reason to come. */
const started = (log: Array<string>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const ref = yield* system.spawn(parent(log))
    const child = (yield* ref.ask(P.Child())) as ActorRef.ActorRef<any>
    const childExit = yield* Effect.forkChild(system.awaitExit(child))
    return { system, ref, childExit }
  })

describe("ctx.stop(ExitReason.killed) (a gen_server's {stop, killed, State})", () => {
  it.effect("stops in order: the child exits Shutdown, the finalizers are awaited, the actor exits Killed", () =>
    withSystem()(Effect.gen(function*() {
      const log: Array<string> = []
      const { system, ref, childExit } = yield* started(log)
      yield* ref.tell(P.StopWith({ killed: true }))
      const exit = yield* Effect.forkChild(system.awaitExit(ref))
      yield* settle(20)
      assert.isUndefined(exit.pollUnsafe(), "it waits for its finalizer")
      assert.deepStrictEqual(log, ["child finalizer"])
      yield* TestClock.adjust("1 second")
      const reason = yield* Fiber.join(exit)
      assert.deepStrictEqual(reason, ExitReason.killed)
      assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.shutdown)
      assert.deepStrictEqual(log, ["child finalizer", "parent finalizer"])
    })))

  it.effect("system.kill is a kill: the child exits Killed, and the actor is gone before its finalizer ends", () =>
    withSystem()(Effect.gen(function*() {
      const log: Array<string> = []
      const { system, ref, childExit } = yield* started(log)
      yield* system.kill(ref)
      assert.deepStrictEqual(yield* system.awaitExit(ref), ExitReason.killed)
      assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.killed)
      assert.notInclude(log, "parent finalizer", "gone before its finalizer ended")
    })))
})

const Child = Actor.make("test/otp4/StopKilledChild", {
  Stop: Actor.tell({})
})

describe("a supervised child that stops itself with Killed (an abnormal reason, as in OTP)", () => {
  for (const restart of ["permanent", "transient", "temporary"] as const) {
    it.effect(`${restart}: ${restart === "temporary" ? "not restarted, its spec forgotten" : "restarted"}`, () =>
      withSystem()(Effect.gen(function*() {
        const system = yield* ActorSystem
        const finalized: Array<string> = []
        const child = Child.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext.for(Child)
          yield* Effect.addFinalizer(() => Effect.sync(() => finalized.push("child")))
          return { Stop: () => ctx.stop(ExitReason.killed) }
        }))
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [Supervisor.child("c", child, { restart })] }))
        const first = (yield* Supervisor.whichChild(sup, "c")).ref as ActorRef.ActorRef<typeof Child.defs>
        yield* first.tell(Child.Stop())
        assert.deepStrictEqual(yield* system.awaitExit(first), ExitReason.killed)
        assert.deepStrictEqual(finalized, ["child"])
        const after = yield* Supervisor.whichChildren(sup)
        if (restart === "temporary") assert.deepStrictEqual(after, [])
        else {
          assert.deepStrictEqual(after.map((c) => [c.status, c.restarts]), [["running", 1]])
          assert.notStrictEqual(after[0]!.ref!.key, first.key)
        }
      })))
  }
})
