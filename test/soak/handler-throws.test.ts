/**
 * An ask whose handler throws (instead of returning an effect) ends at once: the actor crashes
 * as with any defect, and the asker gets `ActorStopped` — here, across nodes, and for an ask
 * handled after a handler that suspended (the turn's fiber) — instead of waiting for its
 * timeout (the ask was lost with the throw). Under `Supervise.behavior` the throw meets the
 * rules as any defect does (resumed here: the actor goes on).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, Supervise } from "../../src/index.ts"
import { connect, startNode } from "../../src/testing/TestNode.ts"

const Thrower = Actor.make("soak/HandlerThrows", {
  Slow: Actor.tell({}),
  Call: Actor.ask({}, { success: Schema.Int }),
  Ping: Actor.ask({}, { success: Schema.String })
})

const behavior = Thrower.behavior(Effect.succeed({
  Slow: () => Effect.sleep("50 millis"),
  Call: (): Effect.Effect<number> => {
    throw new Error("a handler that throws")
  },
  Ping: () => Effect.succeed("pong")
}))

/** the ask's outcome: its error's tag, or what happened instead within 3 s */
const outcome = (ask: Effect.Effect<number, { readonly _tag: string }>) =>
  ask.pipe(
    Effect.match({ onSuccess: () => "answered", onFailure: (e) => e._tag }),
    Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.succeed("still waiting after 3 s") })
  )

describe("soak: a handler that throws", () => {
  it.live("its ask fails with ActorStopped at once: here, from another node, after a suspended handler", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* connect(a, b)
      const here = yield* b.system.spawn(behavior)
      assert.strictEqual(yield* outcome(here.ask(Thrower.Call(), { timeout: "20 seconds" })), "ActorStopped")

      yield* b.system.spawn(behavior, { name: "thrower" })
      const far = yield* a.node.lookup("b", Thrower, "thrower")
      assert.strictEqual(yield* outcome(far.ask(Thrower.Call(), { timeout: "20 seconds" })), "ActorStopped")

      // the ask comes after a handler that suspends: the turn's fiber handles it
      const afterSlow = yield* b.system.spawn(behavior)
      yield* afterSlow.tell(Thrower.Slow())
      assert.strictEqual(yield* outcome(afterSlow.ask(Thrower.Call(), { timeout: "20 seconds" })), "ActorStopped")
    }).pipe(Effect.scoped), 20_000)
})

describe("soak: a handler that throws under Supervise.behavior", () => {
  it.live("the rules apply to the throw: resumed, its ask answered with ActorStopped, the actor goes on", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const resumed = yield* b.system.spawn(Supervise.behavior(
        Thrower.behavior(Effect.succeed({
          Slow: () => Effect.void,
          Call: (): Effect.Effect<number> => {
            throw new Error("a handler that throws")
          },
          Ping: () => Effect.succeed("pong")
        })),
        [{ match: (e) => e instanceof Error, directive: "resume" }]
      ))
      assert.strictEqual(yield* outcome(resumed.ask(Thrower.Call(), { timeout: "20 seconds" })), "ActorStopped")
      assert.strictEqual(yield* resumed.ask(Thrower.Ping(), { timeout: "3 seconds" }), "pong")
    }).pipe(Effect.scoped), 20_000)
})
