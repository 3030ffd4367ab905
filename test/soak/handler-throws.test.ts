/**
 * An ask whose handler throws (instead of returning an effect) ends at once: the actor crashes
 * as with any defect, and the asker gets `ActorStopped` — here, across nodes, and for an ask
 * handled after a handler that suspended (the turn's fiber) — instead of waiting for its
 * timeout (the ask was lost with the throw).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor } from "../../src/index.ts"
import { connect, startNode } from "../../src/testing/TestNode.ts"

const Thrower = Actor.make("soak/HandlerThrows", {
  Slow: Actor.tell({}),
  Call: Actor.ask({}, { success: Schema.Int })
})

const behavior = Thrower.behavior(Effect.succeed({
  Slow: () => Effect.sleep("50 millis"),
  Call: (): Effect.Effect<number> => {
    throw new Error("a handler that throws")
  }
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
