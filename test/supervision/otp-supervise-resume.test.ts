/**
 * `Supervise.behavior`'s `resume` for an ask whose handler died: the actor goes on, and the
 * asker gets a value of its error type — the error when the ask declares it, else
 * `ActorStopped` with the `Error` reason as after a crash — the same here and across nodes
 * (a raw defect is not a value of the asker's error type, and another node cannot encode it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorSystem, Supervise } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

class Transient extends Schema.TaggedError<Transient>()("Transient", { detail: Schema.String }) {}

const R = Actor.make("test/SuperviseResumeAsk", {
  /** dies with an error the ask does not declare */
  Undeclared: Actor.ask({}, { success: Schema.Number }),
  /** dies with an error the ask declares */
  Declared: Actor.ask({}, { success: Schema.Number, error: Transient }),
  Get: Actor.ask({}, { success: Schema.Number })
})

const resumable = Supervise.behavior(
  R.behavior(Effect.sync(() => {
    let calls = 0
    return {
      Undeclared: () => Effect.suspend(() => (calls++, Effect.die(new Transient({ detail: "undeclared" })))),
      Declared: () => Effect.suspend(() => (calls++, Effect.die(new Transient({ detail: "declared" })))),
      Get: () => Effect.sync(() => calls)
    }
  })),
  [{ match: "Transient", directive: "resume" }]
)

const check = (ref: { ask: (m: any) => Effect.Effect<any, any> }) =>
  Effect.gen(function*() {
    const undeclared = yield* Effect.flip(ref.ask(R.Undeclared()))
    assert.strictEqual(undeclared._tag, "ActorStopped")
    assert.strictEqual(undeclared.reason._tag, "Error")
    assert.include(undeclared.reason.message, "Transient")
    const declared = yield* Effect.flip(ref.ask(R.Declared()))
    assert.instanceOf(declared, Transient)
    assert.strictEqual(declared.detail, "declared")
    // resumed: the state is kept
    assert.strictEqual(yield* ref.ask(R.Get()), 2)
  })

describe("Supervise resume of an ask whose handler died", () => {
  it.effect("locally: ActorStopped for an undeclared error, the error itself for a declared one", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(resumable)
      yield* check(ref)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.live("across nodes: the same answers (not InvalidMessage)", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const ref = yield* b.system.spawn(resumable)
      yield* check(a.system.refFor(ref.address))
    }).pipe(Effect.scoped))
})
