/**
 * A crash in an actor's cleanup (a finalizer that dies) becomes its exit reason, as a crash in
 * a gen_server's `terminate/2` does in OTP (gen_server_SUITE undef_in_terminate: `gen_server:stop`
 * exits with the crash, and monitors see it): so a transient child whose normal stop crashed is
 * restarted, and a linked actor sees the crash instead of a `Normal` it would ignore.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorContext, ActorSystem, ExitReason, Supervisor } from "../../src/index.ts"
import { settle, waitUntil, withSystem } from "./_helpers.ts"

const R = Actor.make("test/CleanupCrash", {
  Ping: Actor.ask({}, { success: Schema.Number }),
  Quit: Actor.tell({})
})

let starts = 0
const crashingCleanup = R.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  starts++
  yield* Effect.addFinalizer(() => Effect.die(new Error("cleanup crashed")))
  return { Ping: () => Effect.succeed(1), Quit: () => ctx.stop() }
}))

const messageOf = (reason: ExitReason.ExitReason) => reason._tag === "Error" ? reason.message : ""

describe("a finalizer that dies", () => {
  it.effect("ctx.stop(): the exit reason is the crash, not Normal", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(crashingCleanup)
      yield* ref.tell(R.Quit())
      const reason = yield* system.awaitExit(ref)
      assert.strictEqual(reason._tag, "Error")
      assert.include(messageOf(reason), "cleanup crashed")
    })))

  it.effect("system.stop: the exit reason is the crash, not Shutdown", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(crashingCleanup)
      yield* system.stop(ref)
      const reason = yield* system.awaitExit(ref)
      assert.strictEqual(reason._tag, "Error")
      assert.include(messageOf(reason), "cleanup crashed")
    })))

  it.effect("a transient child whose normal stop crashed in cleanup is restarted", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      starts = 0
      const sup = yield* system.spawn(Supervisor.make({
        backoff: false,
        children: [Supervisor.child("c", crashingCleanup, { restart: "transient" })]
      }))
      const [first] = yield* Supervisor.whichChildren(sup)
      yield* first!.ref!.tell(R.Quit())
      yield* system.awaitExit(first!.ref!)
      yield* waitUntil("the child is restarted", () => starts === 2)
      yield* settle()
      const [again] = yield* Supervisor.whichChildren(sup)
      assert.strictEqual(again!.status, "running")
      assert.strictEqual(again!.restarts, 1)
    })))

  it.effect("a kill past the budget stays Killed", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(crashingCleanup, { shutdown: "brutal_kill" })
      yield* system.stop(ref)
      assert.deepStrictEqual(yield* system.awaitExit(ref), ExitReason.killed)
    })))
})
