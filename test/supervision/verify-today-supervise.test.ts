/**
 * Supervise.behavior shares its rules and failure handling across the actors of one behaviour
 * value: each actor's restarts, limits, backoff, finalizers and onDown must stay its own, and a
 * Supervise.behavior nested in another must follow the signals of the inner incarnation.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, Supervise } from "../../src/index.ts"
import { settle } from "./helpers.ts"

class Inner extends Schema.TaggedError<Inner>()("Inner", {}) {}
class Outer extends Schema.TaggedError<Outer>()("Outer", {}) {}

const W = Actor.make("test/VerifyTodayWatcher", {
  Watch: Actor.tell({}),
  Boom: Actor.tell({ kind: Schema.String }),
  Inc: Actor.tell({}),
  Get: Actor.ask({}, { success: Schema.Number }),
  Downs: Actor.ask({}, { success: Schema.Number })
})

const Victim = Actor.make("test/VerifyTodayVictim", { Ping: Actor.tell({}) })
const victim = Victim.behavior(Effect.succeed({ Ping: () => Effect.void }))

interface World {
  target: ActorRef.ActorRef<any> | undefined
  incarnations: number
  downs: number
  readonly log: Array<string>
}

/** From its second incarnation on (counted over all actors of the world), the actor has onDown. */
const watcher = (world: World, name: string) =>
  W.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const generation = ++world.incarnations
    let n = 0
    world.log.push(`${name}:init`)
    yield* Effect.addFinalizer((exit) =>
      Effect.sync(() => world.log.push(`${name}:${Supervise.isPreRestart(exit) ? "preRestart" : "postStop"}`))
    )
    const base = {
      Watch: () => Effect.asVoid(ctx.monitor(world.target!)),
      Boom: ({ kind }: { kind: string }) => kind === "inner" ? Effect.fail(new Inner()) : Effect.fail(new Outer()),
      Inc: () => Effect.sync(() => void n++),
      Get: () => Effect.succeed(n),
      Downs: () => Effect.succeed(world.downs)
    }
    return generation >= 2 ? { ...base, onDown: () => Effect.sync(() => void world.downs++) } : base
  }))

const withSystem = <A, E>(f: (system: ActorSystem["Service"]) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

describe("Supervise.behavior shared by several actors (verify-today)", () => {
  it.effect("a nested Supervise.behavior: onDown of an inner incarnation that gained it after an inner restart is called", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const world: World = { target: undefined, incarnations: 0, downs: 0, log: [] }
        world.target = yield* system.spawn(victim)
        const inner = Supervise.behavior(watcher(world, "w"), [{ match: "Inner", directive: "restart" }])
        const ref = yield* system.spawn(Supervise.behavior(inner, [{ match: "Outer", directive: "restart" }]))
        // the inner rule restarts the inner incarnation: the new one has onDown
        yield* ref.tell(W.Boom({ kind: "inner" }))
        yield* ref.tell(W.Watch())
        assert.strictEqual(yield* ref.ask(W.Get()), 0)
        yield* system.stop(world.target)
        yield* settle()
        assert.strictEqual(yield* ref.ask(W.Downs()), 1)
        assert.deepStrictEqual(world.log, ["w:init", "w:preRestart", "w:init"])
      })
    ))

  it.effect("two actors of one behaviour value: restarts, limits, backoff and finalizers stay per actor", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const world: World = { target: undefined, incarnations: 0, downs: 0, log: [] }
        const shared = Supervise.behavior(watcher(world, "x"), [
          { match: "Inner", directive: "restart", backoff: "1 second", limit: { maxRestarts: 1, within: "1 minute" } }
        ])
        const a = yield* system.spawn(shared)
        const b = yield* system.spawn(shared)
        yield* a.tell(W.Inc())
        yield* b.tell(W.Inc())
        yield* b.tell(W.Inc())
        // a restarts with a backoff: b goes on with its state meanwhile
        yield* a.tell(W.Boom({ kind: "inner" }))
        yield* settle()
        assert.strictEqual(yield* b.ask(W.Get()), 2)
        const getA = yield* Effect.forkChild(a.ask(W.Get(), { timeout: "10 seconds" }))
        yield* settle()
        assert.isUndefined(getA.pollUnsafe())
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(getA), 0)
        assert.deepStrictEqual(world.log, ["x:init", "x:init", "x:preRestart", "x:init"])
        // b's first restart is within its own limit (a's restart does not count for b)
        yield* b.tell(W.Boom({ kind: "inner" }))
        yield* settle()
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* b.ask(W.Get()), 0)
        // a's second restart is past its limit: a ends, b lives on
        yield* a.tell(W.Boom({ kind: "inner" }))
        const reason = yield* system.awaitExit(a)
        assert.strictEqual(reason._tag, "Error")
        yield* b.tell(W.Inc())
        assert.strictEqual(yield* b.ask(W.Get()), 1)
        yield* system.stop(b)
        assert.deepStrictEqual(world.log, ["x:init", "x:init", "x:preRestart", "x:init", "x:preRestart", "x:init", "x:postStop", "x:postStop"])
      })
    ))
})
