/**
 * Handlers that return `Effect.sync`, `Effect.succeed`, `Effect.fail`/`Effect.die` or `Effect.void`
 * are run by the drain loop itself, without a fiber step each; these tests pin down that they
 * behave exactly as any other effect would: a throw is a defect, a failure of a tell handler ends
 * the actor, an ask gets its value or its typed error, order is kept with handlers that do suspend.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ActorStopped, ActorSystem, Supervisor } from "../../src/index.ts"
import { withSystem } from "./_helpers.ts"

class Refused extends Schema.TaggedError<Refused>()("Refused", { why: Schema.String }) {}

const Probe = Actor.make("Probe", {
  Note: Actor.tell({ n: Schema.Int }),
  NoteLater: Actor.tell({ n: Schema.Int }),
  ThrowTell: Actor.tell({}),
  FailTell: Actor.tell({}),
  Read: Actor.ask({}, { success: Schema.Array(Schema.Int) }),
  Double: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  Refuse: Actor.ask({}, { success: Schema.Int, error: Refused }),
  ThrowAsk: Actor.ask({}, { success: Schema.Int })
})

const probeHandlers = () => {
  const seen: Array<number> = []
  return {
    Note: ({ n }: { n: number }) => Effect.sync(() => { seen.push(n) }),
    // suspends (a fiber step and a yield to the scheduler) before it records
    NoteLater: ({ n }: { n: number }) => Effect.yieldNow.pipe(Effect.andThen(Effect.sync(() => { seen.push(n) }))),
    ThrowTell: () => Effect.sync(() => { throw new Error("thrown in a tell handler") }),
    FailTell: () => Effect.fail(new Refused({ why: "a tell handler failed" })),
    Read: () => Effect.sync(() => seen.slice()),
    Double: ({ n }: { n: number }) => Effect.succeed(n * 2),
    Refuse: () => Effect.fail(new Refused({ why: "no" })),
    ThrowAsk: () => Effect.sync((): number => { throw new Error("thrown in an ask handler") })
  }
}

const ProbeLive = Probe.behavior(Effect.sync(probeHandlers))

describe("handler effects run by the drain loop", () => {
  it.effect("sync and suspending handlers keep the mailbox order", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive, { throughput: 7 })
      for (let n = 0; n < 300; n++) {
        probe.tellUnsafe(n % 3 === 0 ? Probe.NoteLater({ n }) : Probe.Note({ n }))
      }
      const seen = yield* probe.ask(Probe.Read())
      assert.deepStrictEqual(seen, Array.from({ length: 300 }, (_, n) => n))
    }).pipe(withSystem()))

  it.effect("Effect.succeed and Effect.sync answer asks; a typed failure goes back and the actor goes on", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      assert.strictEqual(yield* probe.ask(Probe.Double({ n: 21 })), 42)
      const error = yield* Effect.flip(probe.ask(Probe.Refuse()))
      assert.instanceOf(error, Refused)
      yield* probe.tell(Probe.Note({ n: 1 }))
      assert.deepStrictEqual(yield* probe.ask(Probe.Read()), [1])
    }).pipe(withSystem()))

  it.effect("a throw inside Effect.sync in a tell handler ends the actor with an Error; later messages are dead letters", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      probe.tellUnsafe(Probe.Note({ n: 1 }))
      probe.tellUnsafe(Probe.ThrowTell())
      probe.tellUnsafe(Probe.Note({ n: 2 }))
      const reason = yield* system.awaitExit(probe)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "thrown in a tell handler")
    }).pipe(withSystem()))

  it.effect("Effect.fail from a tell handler ends the actor with an Error", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      yield* probe.tell(Probe.FailTell())
      const reason = yield* system.awaitExit(probe)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "Refused")
    }).pipe(withSystem()))

  it.effect("a throw inside Effect.sync in an ask handler: the asker and the asks behind get ActorStopped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      const first = yield* Effect.forkChild(Effect.flip(probe.ask(Probe.ThrowAsk())), { startImmediately: true })
      const behind = yield* Effect.forkChild(Effect.flip(probe.ask(Probe.Double({ n: 1 }))), { startImmediately: true })
      const e1 = yield* Fiber.join(first)
      const e2 = yield* Fiber.join(behind)
      assert.instanceOf(e1, ActorStopped)
      assert.strictEqual((e1 as ActorStopped).reason._tag, "Error")
      assert.include(((e1 as ActorStopped).reason as { message: string }).message, "thrown in an ask handler")
      assert.instanceOf(e2, ActorStopped)
    }).pipe(withSystem()))

  it.effect("a supervisor restarts a child whose sync tell handler throws", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const started = yield* Queue.unbounded<ActorRef.ActorRef<typeof Probe.defs>>()
      const child = Probe.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        Queue.offerUnsafe(started, ctx.self as ActorRef.ActorRef<typeof Probe.defs>)
        return probeHandlers()
      }))
      yield* system.spawn(Supervisor.make({
        strategy: "one_for_one",
        children: [Supervisor.child("probe", child)]
      }))
      const first = yield* Queue.take(started)
      first.tellUnsafe(Probe.Note({ n: 1 }))
      first.tellUnsafe(Probe.ThrowTell())
      const second = yield* Queue.take(started)
      assert.notStrictEqual(second.key, first.key)
      // a fresh incarnation: its state starts empty
      assert.deepStrictEqual(yield* second.ask(Probe.Read()), [])
    }).pipe(withSystem()))
})
