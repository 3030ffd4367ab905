import { Context, Effect, Layer, Redacted } from "effect"
import { CounterLive } from "./examples/counter.ts"
import { ActorSystem } from "./src/index.ts"
import { Node } from "./src/transport/Node.ts"
Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const ctx = yield* Layer.build(Node.layerWithSystem({ name: "server", cluster: "demo", secret: Redacted.make("s3cret"), spawnable: [CounterLive] }))
  const system = Context.get(ctx, ActorSystem)
  yield* system.spawn(CounterLive, { name: "counter" })
  for (const n of ["echo", "hang", "crasher", "relay"]) yield* system.spawn(CounterLive, { name: n })
  console.log("PORT", Context.get(ctx, Node).address.port)
  yield* Effect.never
})))
