/**
 * The smallest actor module: a counter with a one-way `Increment` and a request/reply `Get`.
 */
import { Effect, Schema } from "effect"
import { Actor, ActorSystem } from "../src/index.ts"

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

// `node examples/counter.ts`: the counter on a local actor system
if (import.meta.main) {
  const program = Effect.gen(function*() {
    const system = yield* ActorSystem
    const counter = yield* system.spawn(CounterLive, { name: "counter" })
    yield* counter.tell(Counter.Increment({ by: 2 }))
    console.log(`counter after Increment(2): ${yield* counter.ask(Counter.Get())}`)
    const refused = yield* Effect.flip(counter.ask(Counter.Decrement({ by: 5 })))
    const balance = refused._tag === "Overdrawn" ? refused.balance : "?"
    console.log(`Decrement(5) failed with ${refused._tag} (balance ${balance}); the actor keeps running`)
    console.log(`Decrement(1) -> ${yield* counter.ask(Counter.Decrement({ by: 1 }))}`)
  })
  Effect.runPromise(program.pipe(Effect.provide(ActorSystem.layer()), Effect.scoped))
}
