/**
 * The smallest actor module: a counter with a one-way `Increment` and a request/reply `Get`.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../src/index.ts"

export class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Int }) {}

export const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Decrement: Actor.ask({ by: Schema.Int }, { success: Schema.Int, error: Overdrawn }),
  Get: Actor.ask({}, { success: Schema.Int })
})

export const CounterLive = Counter.behavior(Effect.gen(function*() {
  let count = 0 // private state of this incarnation
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Decrement: ({ by }) =>
      count - by < 0
        ? Effect.fail(new Overdrawn({ balance: count })) // goes back to the asker; the actor keeps running
        : Effect.sync(() => (count -= by)),
    Get: () => Effect.succeed(count)
  }
}))
