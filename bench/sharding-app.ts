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

/** what `Where` answers: the node the entity runs on, read from its context when asked */
const whereNode = Effect.map(Effect.service(Entity.EntityContext), (ctx) => ctx.node)

/**
 * The echo entity: its handlers are one object made once, as the plain echo's in the benchmark
 * are, so that entity and plain asks run the same handler code.
 */
export const EchoEntity = Entity.make(Echo, Echo.behavior(Effect.succeed({
  Ping: ({ n }) => Effect.succeed(n),
  Where: () => whereNode
})))

/**
 * The same echo with handlers made per activation, closing over what its init read (the usual
 * shape of an entity with state of its own): each message to it reads that activation's closure
 * context, one object more per message among many entities.
 */
export const EchoClosureEntity = Entity.make(Echo, Echo.behavior(Effect.gen(function*() {
  const ctx = yield* Entity.EntityContext
  return {
    Ping: ({ n }) => Effect.succeed(n),
    Where: () => Effect.succeed(ctx.node)
  }
})), { type: "Bench/ShardEchoClosure" })

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
