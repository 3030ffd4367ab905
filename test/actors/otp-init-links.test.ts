/**
 * An actor whose init fails exits, and its links see it, as a process whose `init/1` fails
 * sends its exit signal to the processes it linked to — all but its spawner, which learns it
 * from the failed spawn (a `SpawnError`) instead of a signal that would end it. An init that
 * chooses not to start (`Supervisor.ignore`, OTP's `ignore`) exits with `Normal`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ActorSystem, ExitReason, type ExitSignal, SpawnError, Supervisor } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const R = Actor.make("test/InitLinks", {
  Trap: Actor.ask({}),
  SpawnFailing: Actor.ask({}, { success: Schema.String })
})

const failing = (linkTo?: ActorRef.ActorRef<any>) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    if (linkTo !== undefined) yield* ctx.link(linkTo)
    return yield* Effect.die(new Error("init gave up"))
  }))

const trapper = (exits: Array<ExitSignal>) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Trap: () => ctx.trapExit(true),
      SpawnFailing: () =>
        ctx.spawn(failing(), { link: true }).pipe(
          Effect.as("started"),
          Effect.catch((e) => Effect.succeed(e instanceof SpawnError ? "SpawnError" : "other"))
        ),
      onExit: (signal) => Effect.sync(() => exits.push(signal))
    }
  }))

describe("an init that fails", () => {
  it.effect("signals the actors it linked to with its reason", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const exits: Array<ExitSignal> = []
      const x = yield* system.spawn(trapper(exits))
      yield* x.ask(R.Trap())
      const error = yield* Effect.flip(system.spawn(failing(x)))
      assert.instanceOf(error, SpawnError)
      yield* settle()
      assert.strictEqual(exits.length, 1, "the linked actor got no exit signal")
      assert.strictEqual(exits[0]!.reason._tag, "Error")
      assert.include((exits[0]!.reason as { message: string }).message, "init gave up")
    })))

  it.effect("does not signal its spawner (linked by spawn): the spawn fails instead", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const exits: Array<ExitSignal> = []
      const parent = yield* system.spawn(trapper(exits))
      yield* parent.ask(R.Trap())
      assert.strictEqual(yield* parent.ask(R.SpawnFailing()), "SpawnError")
      yield* settle()
      assert.deepStrictEqual(exits, [])
    })))

  it.effect("Supervisor.ignore exits Normal: a trapping linked actor gets ExitSignal(Normal), a non-trapping one lives on", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const exits: Array<ExitSignal> = []
      const x = yield* system.spawn(trapper(exits))
      yield* x.ask(R.Trap())
      const plain = yield* system.spawn(trapper([]))
      const ignoring = R.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        yield* ctx.link(x)
        yield* ctx.link(plain)
        return yield* Supervisor.ignore
      }))
      assert.instanceOf(yield* Effect.flip(system.spawn(ignoring)), SpawnError)
      yield* settle()
      assert.deepStrictEqual(exits.map((e) => e.reason), [ExitReason.normal])
      assert.strictEqual(yield* plain.ask(R.SpawnFailing()), "SpawnError", "the non-trapping linked actor died")
    })))
})
