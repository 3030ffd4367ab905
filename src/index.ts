/**
 * Telex: an actor runtime for TypeScript on Effect (`import { Actor, ActorSystem } from "telex"`):
 * typed actors with Schema-validated protocols, OTP supervision, and a cluster of Node.js
 * processes over authenticated TCP. The test kit is `telex/testing`; the SQLite store of
 * reliable channels is `telex/sqlite`.
 *
 * @example
 * import { Effect, Schema } from "effect"
 * import { Actor, ActorSystem } from "telex"
 *
 * const Counter = Actor.make("Counter", {
 *   Increment: Actor.tell({ by: Schema.Int }),
 *   Get: Actor.ask({}, { success: Schema.Int })
 * })
 *
 * const CounterLive = Counter.behavior(Effect.gen(function*() {
 *   let count = 0
 *   return {
 *     Increment: ({ by }) => Effect.sync(() => { count += by }),
 *     Get: () => Effect.succeed(count)
 *   }
 * }))
 *
 * const program = Effect.gen(function*() {
 *   const system = yield* ActorSystem
 *   const counter = yield* system.spawn(CounterLive, { name: "counter" })
 *   yield* counter.tell(Counter.Increment({ by: 2 }))
 *   return yield* counter.ask(Counter.Get()) // 2
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(ActorSystem.layer()), Effect.scoped)).then(console.log)
 *
 * @since 0.1.0
 */
export * as Actor from "./actors/Actor.ts"
export { ActorContext, type ActorContextShape, self } from "./actors/ActorContext.ts"
export * from "./actors/ActorError.ts"
export * as ActorRef from "./actors/ActorRef.ts"
export { ActorSystem, type ActorSystemShape } from "./system/ActorSystem.ts"
export type { DeadLetter, DeadLetterReason } from "./actors/DeadLetter.ts"
export type { MailboxOptions, OverflowPolicy } from "./actors/Mailbox.ts"
export type { SpawnOptions } from "./actors/SpawnOptions.ts"
export * as ExitReason from "./actors/ExitReason.ts"
export * as RestartPolicy from "./supervision/RestartPolicy.ts"
export { Down, ExitSignal, MonitorRef } from "./actors/Signals.ts"
export type { SupervisionEvent } from "./actors/SupervisionEvent.ts"
export * as Supervisor from "./supervision/Supervisor.ts"
export * as Supervise from "./supervision/Supervise.ts"
export * as Reliable from "./reliable/Reliable.ts"
export * as DeliveryStore from "./reliable/DeliveryStore.ts"
export * as ShardStore from "./sharding/ShardStore.ts"
export * as SqliteShardStore from "./sharding/SqliteShardStore.ts"
export * as Entity from "./sharding/Entity.ts"
export { EntityContext, type EntityContextShape, type EntityRef, type EntityClient } from "./sharding/Entity.ts"
export { Sharding, type ShardingEvent, type ShardingShape } from "./sharding/Sharding.ts"
export * as Singleton from "./sharding/Singleton.ts"
export { ShardingConfigError, ShardingError } from "./sharding/ShardingError.ts"
export * as ClusterApp from "./cluster/ClusterApp.ts"
export { NodeStats } from "./cluster/NodeStats.ts"
export { NameTaken, Registry } from "./cluster/Registry.ts"
export { Node, type NodeEvent, type NodeOptions, type PeerAddress, secretFromEnv } from "./transport/Node.ts"
