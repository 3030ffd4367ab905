/**
 * The app the `sharding` benchmark runs in real node processes (`telex node`, for the recovery
 * after a kill -9): an echo entity, and a `gateway` actor on each node that asks it by key and
 * says which node answered.
 */
import { Effect, Schema } from "effect"
import { Actor, ActorSystem, ClusterApp, Entity, Sharding } from "../src/index.ts"

export const Echo = Actor.make("Bench/ShardEcho", {
  Ping: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  Where: Actor.ask({}, { success: Schema.String })
})

export const EchoEntity = Entity.make(Echo, Echo.behavior(Effect.gen(function*() {
  const ctx = yield* Entity.EntityContext
  return {
    Ping: ({ n }) => Effect.succeed(n),
    Where: () => Effect.succeed(ctx.node)
  }
})))

export const Gateway = Actor.make("Bench/ShardGateway", {
  Where: Actor.ask({ key: Schema.String, timeoutMillis: Schema.Int }, { success: Schema.String, error: Schema.String })
})

const gateway = Effect.gen(function*() {
  const system = yield* ActorSystem
  const echoes = yield* Sharding.entity(EchoEntity)
  const live = Gateway.behavior(Effect.succeed({
    Where: ({ key, timeoutMillis }) =>
      Actor.fork(echoes.ref(key).ask(Echo.Where(), { timeout: timeoutMillis }).pipe(Effect.mapError((e) => String((e as { _tag?: unknown })._tag ?? e))))
  }))
  yield* system.spawn(live, { name: "gateway" })
})

export default ClusterApp.make({ modules: { gateway }, entities: [EchoEntity] })
