/**
 * In-actor supervision with directives per failure, ported from Pekko typed's SupervisionSpec:
 * resume keeps the state and drops the message; restart re-runs init in the same actor (same
 * ref, queued messages kept — a stash during the backoff), with PreRestart visible to
 * finalizers; stop ends the actor; the directive is chosen by the error's type; unmatched
 * failures go to the supervisor as before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, Supervise, Supervisor } from "../../src/index.ts"
import * as Kernel from "../../src/actors/Kernel.ts"
import { settle } from "./helpers.ts"

class Transient extends Schema.TaggedError<Transient>()("Transient", {}) {}
class Corrupt extends Schema.TaggedError<Corrupt>()("Corrupt", {}) {}
class Fatal extends Schema.TaggedError<Fatal>()("Fatal", {}) {}

const C = Actor.make("test/SupervisedCounter", {
  Inc: Actor.tell({}),
  Fail: Actor.tell({ kind: Schema.String }),
  Get: Actor.ask({}, { success: Schema.Number }),
  DieAsk: Actor.ask({}, { success: Schema.Number })
})

interface Log {
  readonly events: Array<string>
}

const counter = (log: Log) =>
  C.behavior(Effect.gen(function*() {
    let n = 0
    log.events.push("init")
    yield* Effect.addFinalizer((exit) =>
      Effect.sync(() => log.events.push(Supervise.isPreRestart(exit) ? "preRestart" : "postStop"))
    )
    return {
      Inc: () => Effect.sync(() => void n++),
      Fail: ({ kind }) =>
        kind === "transient" ? Effect.fail(new Transient()) :
        kind === "corrupt" ? Effect.fail(new Corrupt()) :
        kind === "fatal" ? Effect.fail(new Fatal()) :
        Effect.die(new RangeError(kind)),
      Get: () => Effect.succeed(n),
      DieAsk: () => Effect.die(new Transient())
    }
  }))

const rules: ReadonlyArray<Supervise.Rule> = [
  { match: "Transient", directive: "resume" },
  { match: "Corrupt", directive: "restart" },
  { match: "Fatal", directive: "stop" }
]

const withSystem = <A, E>(f: (system: ActorSystem["Service"]) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

describe("Supervise.behavior (Pekko typed supervise/onFailure)", () => {
  it.effect("resume: the failing message is dropped, the state kept", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Log = { events: [] }
        const ref = yield* system.spawn(Supervise.behavior(counter(log), rules))
        yield* ref.tell(C.Inc())
        yield* ref.tell(C.Fail({ kind: "transient" }))
        yield* ref.tell(C.Inc())
        assert.strictEqual(yield* ref.ask(C.Get()), 2)
        // an ask whose handler dies with an error it does not declare: the asker gets
        // ActorStopped (Error reason), as after a crash; the actor goes on
        const failed = yield* Effect.flip(ref.ask(C.DieAsk()))
        assert.strictEqual(failed._tag, "ActorStopped")
        assert.strictEqual((failed as { reason: { _tag: string } }).reason._tag, "Error")
        assert.strictEqual(yield* ref.ask(C.Get()), 2)
        assert.deepStrictEqual(log.events, ["init"])
      })
    ))

  it.effect("restart: init runs again in the same actor; the old incarnation sees PreRestart; queued messages go to the new one", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Log = { events: [] }
        const ref = yield* system.spawn(Supervise.behavior(counter(log), rules))
        yield* ref.tell(C.Inc())
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        yield* ref.tell(C.Inc())
        assert.strictEqual(yield* ref.ask(C.Get()), 1)
        assert.deepStrictEqual(log.events, ["init", "preRestart", "init"])
        yield* system.stop(ref)
        assert.deepStrictEqual(log.events, ["init", "preRestart", "init", "postStop"])
      })
    ))

  it.effect("restart with backoff: messages sent during the backoff wait (stash) and reach the new incarnation", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Log = { events: [] }
        const ref = yield* system.spawn(Supervise.behavior(counter(log), [{ match: "Corrupt", directive: "restart", backoff: "1 second" }]))
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        yield* settle()
        yield* ref.tell(C.Inc())
        yield* ref.tell(C.Inc())
        const get = yield* Effect.forkChild(ref.ask(C.Get(), { timeout: "10 seconds" }))
        yield* settle()
        assert.deepStrictEqual(log.events, ["init", "preRestart"])
        assert.isUndefined(get.pollUnsafe())
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(get), 2)
        assert.deepStrictEqual(log.events, ["init", "preRestart", "init"])
      })
    ))

  it.effect("stop: the actor stops with an Error; no rule fits: the failure ends it and its supervisor restarts it", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Log = { events: [] }
        const ref = yield* system.spawn(Supervise.behavior(counter(log), rules))
        yield* ref.tell(C.Fail({ kind: "fatal" }))
        const reason = yield* system.awaitExit(ref)
        assert.strictEqual(reason._tag, "Error")
        assert.include((reason as { message: string }).message, "Fatal")
        // under a supervisor: an unmatched defect escalates as usual
        const sup = yield* system.spawn(Supervisor.make({ backoff: false, children: [Supervisor.child("c", Supervise.behavior(counter(log), rules))] }))
        const first = (yield* Supervisor.whichChild(sup, "c")).ref!
        yield* first.tell(C.Fail({ kind: "range" }))
        assert.strictEqual((yield* system.awaitExit(first))._tag, "Error")
        const info = yield* Supervisor.whichChild(sup, "c")
        assert.deepStrictEqual([info.status, info.restarts], ["running", 1])
      })
    ))

  it.effect("limit: past maxRestarts within the window the failure ends the actor (Pekko withLimit)", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Log = { events: [] }
        const ref = yield* system.spawn(Supervise.behavior(counter(log), [
          { match: "Corrupt", directive: "restart", limit: { maxRestarts: 2, within: "1 minute" } }
        ]))
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        assert.strictEqual(yield* ref.ask(C.Get()), 0)
        // outside the window the count starts again
        yield* TestClock.adjust("2 minutes")
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        assert.strictEqual(yield* ref.ask(C.Get()), 0)
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        const reason = yield* system.awaitExit(ref)
        assert.strictEqual(reason._tag, "Error")
        assert.include((reason as { message: string }).message, "Corrupt")
        assert.deepStrictEqual(log.events.filter((e) => e === "init").length, 5)
      })
    ))

  it.effect("nested: the inner rules first; what they do not match goes to the outer ones", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const log: Log = { events: [] }
        const inner = Supervise.behavior(counter(log), [{ match: "Transient", directive: "resume" }])
        const ref = yield* system.spawn(Supervise.behavior(inner, [{ match: "Corrupt", directive: "restart" }]))
        yield* ref.tell(C.Inc())
        yield* ref.tell(C.Fail({ kind: "transient" }))
        assert.strictEqual(yield* ref.ask(C.Get()), 1)
        yield* ref.tell(C.Fail({ kind: "corrupt" }))
        assert.strictEqual(yield* ref.ask(C.Get()), 0)
        assert.deepStrictEqual(log.events, ["init", "preRestart", "init"])
      })
    ))

  it.effect("an Effect.sync handler runs without a drain fiber, and a throw in its body still meets the rules", () =>
    withSystem((system) =>
      Effect.gen(function*() {
        const S = Actor.make("test/SupervisedSync", {
          Bump: Actor.tell({ throws: Schema.Boolean }),
          Fiberless: Actor.ask({}, { success: Schema.Boolean }),
          Get: Actor.ask({ throws: Schema.Boolean }, { success: Schema.Number })
        })
        let inits = 0
        const live = S.behavior(Effect.gen(function*() {
          const actor = Kernel.localOf(yield* ActorContext)!
          let n = 0
          inits++
          return {
            Bump: ({ throws }) => Effect.sync(() => {
              if (throws) throw new RangeError("bump")
              n++
            }),
            // whether the actor's drain fiber runs this body (the fiberless turn has none)
            Fiberless: () => Effect.sync(() => (actor as unknown as { fiber: unknown }).fiber === undefined),
            Get: ({ throws }) => Effect.sync(() => {
              if (throws) throw new TypeError("get")
              return n
            })
          }
        }))
        const ref = yield* system.spawn(Supervise.behavior(live, [
          { match: (e) => e instanceof RangeError, directive: "resume" },
          { match: (e) => e instanceof TypeError, directive: "restart" }
        ]))
        assert.isTrue(yield* ref.ask(S.Fiberless()))
        yield* ref.tell(S.Bump({ throws: false }))
        yield* ref.tell(S.Bump({ throws: true }))
        yield* ref.tell(S.Bump({ throws: false }))
        assert.strictEqual(yield* ref.ask(S.Get({ throws: false })), 2)
        const failed = yield* Effect.flip(ref.ask(S.Get({ throws: true })))
        assert.strictEqual(failed._tag, "ActorStopped")
        assert.strictEqual(yield* ref.ask(S.Get({ throws: false })), 0)
        assert.strictEqual(inits, 2)
      })
    ))

  it("a rule that is not a rule is refused", () => {
    const log: Log = { events: [] }
    assert.throws(() => Supervise.behavior(counter(log), [{ match: "X", directive: "resum" as any }]), /directive/)
    assert.throws(() => Supervise.behavior(counter(log), [{ match: 3 as any, directive: "stop" }]), /match/)
    assert.throws(() => Supervise.behavior(counter(log), [{ match: "X", directive: "restart", backoff: "soon" as any }]), /backoff/)
    assert.throws(() => Supervise.behavior(counter(log), "x" as any), /array/)
    assert.throws(() => Supervise.behavior(counter(log), [{ match: "X", directive: "restart", limit: { maxRestarts: -1, within: "1 second" } }]), /maxRestarts/)
    void Exit
  })
})
