/**
 * An actor that is stopping (its finalizers run) is still there until it is gone, as a process
 * running its `terminate/2`:
 *
 * - its name stays registered, and `whereis` and `lookup` find it (as `whereis/1` finds the
 *   process), consistent with a spawn under that name failing until it is gone;
 * - an abnormal exit signal over a link ends it at once with that reason, when it does not trap
 *   exits (a `Normal` one is ignored, and a trapping actor ignores both); the signals of its own
 *   children, which its stop is stopping, do not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ActorSystem, ExitReason, SpawnError } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const R = Actor.make("test/StoppingAlive", {
  Ping: Actor.ask({}, { success: Schema.Number }),
  Crash: Actor.tell({})
})

/** An actor whose finalizer signals `finalizing` and then waits for `release`. */
const slowCleanup = (finalizing: Deferred.Deferred<void>, release: Deferred.Deferred<void>, trap = false) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    if (trap) yield* ctx.trapExit(true)
    yield* Effect.addFinalizer(() => Deferred.succeed(finalizing, undefined).pipe(Effect.andThen(Deferred.await(release))))
    return { Ping: () => Effect.succeed(1), Crash: () => Effect.die(new Error("boom")) }
  }))

/** Runs `f` with a fresh system and a `release` that is completed before the system closes, pass or fail. */
const withReleased = <A, E>(f: (release: Deferred.Deferred<void>) => Effect.Effect<A, E, ActorSystem>) => {
  const release = Deferred.makeUnsafe<void>()
  return withSystem()(f(release).pipe(Effect.ensuring(Deferred.succeed(release, undefined))))
}

const L = Actor.make("test/StoppingAliveLinker", { Link: Actor.ask({}), Crash: Actor.tell({}) })

const plain = R.behavior(Effect.succeed({ Ping: () => Effect.succeed(2), Crash: () => Effect.die(new Error("boom")) }))

describe("the name of an actor that is stopping", () => {
  it.effect("stays registered: whereis and lookup find it, a spawn under it fails, until it is gone", () =>
    withReleased((release) => Effect.gen(function*() {
      const system = yield* ActorSystem
      const finalizing = yield* Deferred.make<void>()
      const ref = yield* system.spawn(slowCleanup(finalizing, release), { name: "stopping", shutdown: "infinity" })
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* Deferred.await(finalizing)
      const found = system.whereis("stopping")
      assert.isTrue(Option.isSome(found) && found.value.equals(ref), "whereis finds the stopping actor")
      const looked = yield* Effect.exit(system.lookup(R, "stopping"))
      assert.isTrue(looked._tag === "Success" && looked.value.equals(ref), "lookup finds the stopping actor")
      const taken = yield* Effect.flip(system.spawn(plain, { name: "stopping" }))
      assert.instanceOf(taken, SpawnError)
      assert.isTrue(taken.alreadyStarted?.equals(ref))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(stop)
      assert.isTrue(Option.isNone(system.whereis("stopping")))
      const next = yield* system.spawn(plain, { name: "stopping" })
      assert.isTrue(Option.getOrThrow(system.whereis("stopping")).equals(next))
    })))
})

describe("an exit signal over a link to an actor that is stopping", () => {
  const setup = (trap: boolean, release: Deferred.Deferred<void>) =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const finalizing = yield* Deferred.make<void>()
      const ref = yield* system.spawn(slowCleanup(finalizing, release, trap), { shutdown: "infinity" })
      const linker = yield* system.spawn(L.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        return { Link: () => ctx.link(ref), Crash: () => Effect.die(new Error("linked crash")) }
      })))
      yield* linker.ask(L.Link())
      const exit = yield* Effect.forkChild(system.awaitExit(ref))
      yield* Effect.forkChild(system.stop(ref, ExitReason.normal))
      yield* Deferred.await(finalizing)
      return { system, ref, linker, exit }
    })

  it.effect("an abnormal one ends a non-trapping actor at once, with that reason", () =>
    withReleased((release) => Effect.gen(function*() {
      const { exit, linker } = yield* setup(false, release)
      yield* linker.tell(L.Crash())
      yield* settle()
      assert.isDefined(exit.pollUnsafe(), "the stopping actor ignored the signal (waits for its cleanup)")
      const reason = yield* Fiber.join(exit)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "linked crash")
    })))

  it.effect("a Normal one is ignored", () =>
    withReleased((release) => Effect.gen(function*() {
      const { exit, linker, system } = yield* setup(false, release)
      yield* system.stop(linker, ExitReason.normal)
      yield* settle()
      assert.isUndefined(exit.pollUnsafe())
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.normal)
    })))

  it.effect("a trapping actor ignores an abnormal one", () =>
    withReleased((release) => Effect.gen(function*() {
      const { exit, linker } = yield* setup(true, release)
      yield* linker.tell(L.Crash())
      yield* settle()
      assert.isUndefined(exit.pollUnsafe())
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.normal)
    })))

  it.effect("its linked children, stopped by its own stop, do not end it early", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const P = Actor.make("test/StoppingAliveParent", { Spawn: Actor.ask({}, { success: Schema.Number }) })
      const log: Array<string> = []
      const children: Array<ActorRef.ActorRef<typeof R.defs>> = []
      const parent = yield* system.spawn(P.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        yield* Effect.addFinalizer(() => Effect.sync(() => log.push("parent finalized")))
        return {
          Spawn: () =>
            ctx.spawn(plain, { link: true }).pipe(
              Effect.tap((child) => Effect.sync(() => children.push(child))),
              Effect.as(1),
              Effect.orDie
            )
        }
      })))
      yield* parent.ask(P.Spawn())
      yield* parent.ask(P.Spawn())
      yield* system.stop(parent, ExitReason.normal)
      assert.deepStrictEqual(yield* system.awaitExit(parent), ExitReason.normal)
      assert.deepStrictEqual(log, ["parent finalized"])
    })))

  for (const how of ["system.kill", "a linked crash"] as const) {
    it.effect(`${how} ends a stopping parent, and the children it is still stopping go with it`, () =>
      withReleased((release) => Effect.gen(function*() {
        const system = yield* ActorSystem
        const finalizing = yield* Deferred.make<void>()
        let child: ActorRef.ActorRef<typeof R.defs> | undefined
        const parent = yield* system.spawn(R.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          child = yield* Effect.orDie(ctx.spawn(slowCleanup(finalizing, release), { shutdown: "infinity" }))
          return { Ping: () => Effect.succeed(1), Crash: () => Effect.die(new Error("boom")) }
        })), { shutdown: "infinity" })
        const linker = yield* system.spawn(L.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          return { Link: () => ctx.link(parent), Crash: () => Effect.die(new Error("linked crash")) }
        })))
        yield* linker.ask(L.Link())
        const childExit = yield* Effect.forkChild(system.awaitExit(child!))
        const parentExit = yield* Effect.forkChild(system.awaitExit(parent))
        yield* Effect.forkChild(system.stop(parent))
        yield* Deferred.await(finalizing)
        if (how === "system.kill") yield* system.kill(parent)
        else yield* linker.tell(L.Crash())
        yield* settle()
        assert.isDefined(parentExit.pollUnsafe(), "the parent is gone")
        assert.isDefined(childExit.pollUnsafe(), "its child is still stopping")
        assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.killed)
      })))
  }

  it.effect("two exit signals in a row: the first ends the actor, the second finds it gone (process_SUITE exit_twice)", () =>
    withReleased((release) => Effect.gen(function*() {
      const system = yield* ActorSystem
      const finalizing = yield* Deferred.make<void>()
      const ref = yield* system.spawn(slowCleanup(finalizing, release), { shutdown: "infinity" })
      const exit = yield* Effect.forkChild(system.awaitExit(ref))
      yield* system.exit(ref, ExitReason.error("first"))
      yield* Deferred.await(finalizing)
      yield* system.exit(ref, ExitReason.error("second"))
      yield* settle()
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.error("first"))
    })))
})
