/**
 * A failing init under `Supervise.behavior`, ported from Pekko typed's SupervisionSpec (the
 * "exception in later setup", "deferred factory throws" and "stash message retention on start
 * exception" cases): a re-init that fails is a failure under the same rules — restarted again in
 * place (after the backoff, counted against the limit, its children and finalizers gone first),
 * the actor ended with it past the limit or by a `stop` rule — and the first init, at spawn, is
 * tried again only under a `restart` rule with a `limit` (spawn then returns a started actor or
 * fails with the last failure).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, type Down, Supervise } from "../../src/index.ts"
import { settle } from "./helpers.ts"

/** what a handler fails with on demand */
class Boom extends Schema.TaggedError<Boom>()("Boom", { message: Schema.String }) {}
/** what an init fails with, when the plan says so */
class Flaky extends Schema.TaggedError<Flaky>()("Flaky", { message: Schema.String }) {}
class Fatal extends Schema.TaggedError<Fatal>()("Fatal", { message: Schema.String }) {}

const W = Actor.make("test/ReinitWorker", {
  Inc: Actor.tell({}),
  Fail: Actor.tell({}),
  Get: Actor.ask({}, { success: Schema.Number })
})
const Kid = Actor.make("test/ReinitKid", { Noop: Actor.tell({}) })

/** What the inits of one actor do and record. */
interface Plan {
  /** the error the init numbered `n` (1-based) fails with, if any */
  readonly fail: (n: number) => Flaky | Fatal | undefined
  /** whether each init first spawns a child named "kid" (a failed one's must be gone before the next) */
  readonly kid?: boolean
  inits: number
  readonly log: Array<string>
  readonly selves: Set<string>
}

const plan = (fail: Plan["fail"], kid = false): Plan => ({ fail, kid, inits: 0, log: [], selves: new Set() })

const worker = (p: Plan) =>
  W.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const n = ++p.inits
    p.selves.add(ctx.self.key)
    // added before the init fails: the failed incarnation's finalizers run before the next one
    yield* Effect.addFinalizer((exit) =>
      Effect.sync(() => p.log.push(`${Supervise.isPreRestart(exit) ? "preRestart" : "postStop"} ${n}`))
    )
    if (p.kid === true) yield* ctx.spawn(Kid.behavior(Effect.succeed({ Noop: () => Effect.void })), { name: "kid" })
    const failure = p.fail(n)
    if (failure !== undefined) {
      p.log.push(`init ${n} failed`)
      return yield* Effect.fail(failure)
    }
    p.log.push(`init ${n}`)
    let count = 0
    return {
      Inc: () => Effect.sync(() => void count++),
      Fail: () => Effect.fail(new Boom({ message: `handler of ${n}` })),
      Get: () => Effect.succeed(count)
    }
  }))

const Watcher = Actor.make("test/ReinitWatcher", { Watch: Actor.ask({ target: Schema.Any }, { success: Schema.Void }) })

/** An actor that monitors others and records their `Down`s. */
const watcher = (downs: Array<Down>) =>
  Watcher.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Watch: ({ target }) => Effect.asVoid(ctx.monitor(target as ActorRef.ActorRef<any>)),
      onDown: (down) => Effect.sync(() => void downs.push(down))
    }
  }))

const withSystem = <A, E>(f: (system: ActorSystem["Service"]) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

const errorMessage = (down: Down | undefined): string => {
  assert.isDefined(down)
  assert.strictEqual(down!.reason._tag, "Error")
  return (down!.reason as { readonly message: string }).message
}

describe("Supervise.behavior: a failing init (Pekko typed SupervisionSpec)", () => {
  it.effect("a re-init that fails twice then succeeds: restarted again in place; fresh state, same ref, its children gone; messages sent meanwhile and asks reach the new incarnation", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const p = plan((n) => n === 2 || n === 3 ? new Flaky({ message: `init ${n} refused` }) : undefined, true)
        const ref = yield* system.spawn(Supervise.behavior(worker(p), [
          { match: "Boom", directive: "restart" },
          { match: "Flaky", directive: "restart" }
        ]))
        yield* ref.tell(W.Inc())
        yield* ref.tell(W.Inc())
        assert.strictEqual(yield* ref.ask(W.Get()), 2)
        yield* ref.tell(W.Fail())
        yield* ref.tell(W.Inc())
        const get = yield* Effect.forkChild(ref.ask(W.Get(), { timeout: "10 seconds" }))
        // the queued Inc reached the new incarnation, not a failed one
        assert.strictEqual(yield* Fiber.join(get), 1)
        assert.deepStrictEqual(p.log, [
          "init 1",
          "preRestart 1",
          "init 2 failed",
          "preRestart 2",
          "init 3 failed",
          "preRestart 3",
          "init 4"
        ])
        assert.strictEqual(p.selves.size, 1)
        assert.strictEqual([...p.selves][0], ref.key)
        yield* ref.tell(W.Inc())
        assert.strictEqual(yield* ref.ask(W.Get()), 2)
        yield* system.stop(ref)
        assert.strictEqual(p.log.at(-1), "postStop 4")
      })
    ))

  it.effect("re-inits failing past the limit: the actor ends with the init's failure (the Down says so); an ask queued meanwhile fails", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        // one rule for the handler's failure and the inits' (Pekko's one strategy counts both)
        const p = plan((n) => n > 1 ? new Flaky({ message: `init ${n} refused` }) : undefined)
        const ref = yield* system.spawn(Supervise.behavior(worker(p), [
          { match: (e) => e instanceof Boom || e instanceof Flaky, directive: "restart", limit: { maxRestarts: 2, within: "1 minute" } }
        ]))
        const downs: Array<Down> = []
        const watching = yield* system.spawn(watcher(downs))
        yield* watching.ask(Watcher.Watch({ target: ref }))
        yield* ref.tell(W.Fail())
        const get = yield* Effect.forkChild(Effect.flip(ref.ask(W.Get(), { timeout: "10 seconds" })))
        const reason = yield* system.awaitExit(ref)
        assert.strictEqual(reason._tag, "Error")
        // the first init, then one for each of the two restarts the limit allows; the third is refused
        assert.deepStrictEqual(p.log, ["init 1", "preRestart 1", "init 2 failed", "preRestart 2", "init 3 failed", "postStop 3"])
        yield* settle()
        assert.strictEqual(downs.length, 1)
        assert.include(errorMessage(downs[0]), "init 3 refused")
        assert.strictEqual((yield* Fiber.join(get))._tag, "ActorStopped")
      })
    ))

  it.effect("backoff between failing re-inits: each attempt waits the rule's backoff (TestClock)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const p = plan((n) => n >= 2 && n <= 4 ? new Flaky({ message: `init ${n} refused` }) : undefined)
        const ref = yield* system.spawn(Supervise.behavior(worker(p), [
          { match: "Boom", directive: "restart", backoff: "1 second" },
          { match: "Flaky", directive: "restart", backoff: "10 seconds" }
        ]))
        yield* ref.tell(W.Fail())
        yield* ref.tell(W.Inc())
        const get = yield* Effect.forkChild(ref.ask(W.Get(), { timeout: "1 minute" }))
        yield* settle()
        assert.strictEqual(p.inits, 1)
        yield* TestClock.adjust("1 second") // the handler's failure: Boom's backoff
        yield* settle()
        assert.strictEqual(p.inits, 2)
        // each failed init: Flaky's backoff, and not a moment less
        for (const next of [3, 4, 5]) {
          yield* TestClock.adjust("9999 millis")
          yield* settle()
          assert.strictEqual(p.inits, next - 1)
          yield* TestClock.adjust("1 millis")
          yield* settle()
          assert.strictEqual(p.inits, next)
        }
        assert.strictEqual(yield* Fiber.join(get), 1)
        assert.strictEqual(p.log.at(-1), "init 5")
      })
    ))

  it.effect("a stop rule that fits a re-init's failure stops the actor with it, after a restart rule retried another", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const p = plan((n) =>
          n === 2 ? new Flaky({ message: `init ${n} refused` }) : n === 3 ? new Fatal({ message: `init ${n} cannot` }) : undefined
        )
        const ref = yield* system.spawn(Supervise.behavior(worker(p), [
          { match: "Boom", directive: "restart" },
          { match: "Flaky", directive: "restart" },
          { match: "Fatal", directive: "stop" }
        ]))
        const downs: Array<Down> = []
        const watching = yield* system.spawn(watcher(downs))
        yield* watching.ask(Watcher.Watch({ target: ref }))
        yield* ref.tell(W.Fail())
        yield* system.awaitExit(ref)
        yield* settle()
        assert.deepStrictEqual(p.log, ["init 1", "preRestart 1", "init 2 failed", "preRestart 2", "init 3 failed", "postStop 3"])
        assert.strictEqual(downs.length, 1)
        assert.include(errorMessage(downs[0]), "init 3 cannot")
      })
    ))

  it.effect("an init that fails at once under a restart rule with neither limit nor backoff: tried again once per turn of the scheduler, the rest runs, a stop ends it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const p = plan((n) => n > 1 ? new Flaky({ message: `init ${n} refused` }) : undefined)
        const ref = yield* system.spawn(Supervise.behavior(worker(p), [
          { match: "Boom", directive: "restart" },
          { match: "Flaky", directive: "restart" }
        ]))
        let ticks = 0
        const ticker = yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sync(() => void ticks++), Effect.yieldNow)))
        yield* ref.tell(W.Fail())
        yield* settle(50)
        // still restarting (not ended), neither stuck nor alone: the other fiber kept pace
        assert.isTrue(Option.isSome(system.info(ref)))
        assert.isAbove(p.inits, 3)
        assert.isAbove(ticks, 10)
        const before = p.inits
        yield* settle(50)
        assert.isAbove(p.inits, before)
        yield* Fiber.interrupt(ticker)
        yield* system.stop(ref)
        assert.isTrue(Option.isNone(system.info(ref)))
        const stopped = p.inits
        yield* settle(50)
        assert.strictEqual(p.inits, stopped)
      })
    ))

  it.effect("at spawn, under a restart rule with a limit: a failing first init is tried again (its children gone first); spawn returns the actor once one succeeds", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const p = plan((n) => n === 1 ? new Flaky({ message: `init ${n} refused` }) : undefined, true)
        const ref = yield* system.spawn(Supervise.behavior(worker(p), [
          { match: "Flaky", directive: "restart", limit: { maxRestarts: 3, within: "1 second" } }
        ]))
        assert.deepStrictEqual(p.log, ["init 1 failed", "preRestart 1", "init 2"])
        yield* ref.tell(W.Inc())
        assert.strictEqual(yield* ref.ask(W.Get()), 1)
      })
    ))

  it.effect("at spawn: past the limit the spawn fails with the init's failure; with no limit it fails at the first", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const limited = plan((n) => new Flaky({ message: `init ${n} refused` }))
        const error = yield* Effect.flip(system.spawn(Supervise.behavior(worker(limited), [
          { match: "Flaky", directive: "restart", limit: { maxRestarts: 2, within: "1 minute" } }
        ]), { name: "limited" }))
        assert.strictEqual(error._tag, "SpawnError")
        assert.include(error.message, "init 3 refused")
        // the first, then the two restarts the limit allows
        assert.strictEqual(limited.inits, 3)
        assert.strictEqual(system.whereis("limited")._tag, "None")
        // unlimited: a first init that fails would likely fail forever (Pekko gives up at once too)
        const unlimited = plan((n) => new Flaky({ message: `init ${n} refused` }))
        const refused = yield* Effect.flip(system.spawn(Supervise.behavior(worker(unlimited), [
          { match: "Flaky", directive: "restart", backoff: "1 second" }
        ])))
        assert.strictEqual(refused._tag, "SpawnError")
        assert.strictEqual(unlimited.inits, 1)
      })
    ))
})
