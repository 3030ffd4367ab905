import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorContext, ActorSystem } from "../../src/index.ts"

const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})

const CounterLive = Counter.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  void ctx
  let count = 0
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Get: () => Effect.succeed(count)
  }
}))

describe("quick start: a counter actor", () => {
  it.effect("tell + ask", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const c = yield* system.spawn(CounterLive)
      yield* c.tell(Counter.Increment({ by: 2 }))
      yield* c.tell(Counter.Increment({ by: 3 }))
      const n = yield* c.ask(Counter.Get())
      assert.strictEqual(n, 5)
    }).pipe(Effect.provide(ActorSystem.layer())))
})
