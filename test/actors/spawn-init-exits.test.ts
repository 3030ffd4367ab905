/**
 * The ways a behaviour's init can end, each leaving no live actor behind (as proc_lib's
 * start_link: the spawner gets an error, the process is gone): an init that interrupts itself,
 * one that dies, one whose spawner's fiber is interrupted while it waits, and a name taken by a
 * failed start is free again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorSystem, SpawnError } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const P = Actor.make("SpawnInitExits", { Ping: Actor.ask({}, { success: Schema.String }) })
const handlers = { Ping: () => Effect.succeed("pong") }

describe("spawn: how an init ends", () => {
  it.effect("an init that interrupts itself: SpawnError, no actor left, the name free", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const error = yield* Effect.flip(system.spawn(P.behavior(Effect.interrupt), { name: "self-interrupt" }))
      assert.instanceOf(error, SpawnError)
      yield* settle()
      const ref = yield* system.spawn(P.behavior(Effect.succeed(handlers)), { name: "self-interrupt" })
      assert.strictEqual(yield* ref.ask(P.Ping()), "pong")
    }).pipe(withSystem()))

  it.effect("an init that dies after a suspension: SpawnError carrying the defect, no actor left", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const error = yield* Effect.flip(system.spawn(
        P.behavior(Effect.yieldNow.pipe(Effect.andThen(Effect.die(new Error("init gave up"))))),
        { name: "dies" }
      ))
      assert.instanceOf(error, SpawnError)
      assert.include(error.message, "init gave up")
      const ref = yield* system.spawn(P.behavior(Effect.succeed(handlers)), { name: "dies" })
      assert.strictEqual(yield* ref.ask(P.Ping()), "pong")
    }).pipe(withSystem()))

  it.effect("the spawner's fiber interrupted while the init waits: the actor is stopped and its name free", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const entered = yield* Deferred.make<void>()
      let finalized = false
      const slow = P.behavior(Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.sync(() => { finalized = true }))
        yield* Deferred.succeed(entered, undefined)
        return yield* Effect.never
      }))
      const spawner = yield* Effect.forkChild(system.spawn(slow, { name: "abandoned" }), { startImmediately: true })
      yield* Deferred.await(entered)
      yield* Fiber.interrupt(spawner)
      yield* settle(20)
      assert.isTrue(finalized, "the init's scope was closed")
      const ref = yield* system.spawn(P.behavior(Effect.succeed(handlers)), { name: "abandoned" })
      assert.strictEqual(yield* ref.ask(P.Ping()), "pong")
    }).pipe(withSystem()))
})
