/**
 * Telex: an actor runtime for TypeScript on Effect.
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
export * as Reliable from "./reliable/Reliable.ts"
export * as DeliveryStore from "./reliable/DeliveryStore.ts"
export * as ClusterApp from "./cluster/ClusterApp.ts"
export { NodeStats } from "./cluster/NodeStats.ts"
export { NameTaken, Registry } from "./cluster/Registry.ts"
export { Node, type NodeEvent, type NodeOptions, type PeerAddress, secretFromEnv } from "./transport/Node.ts"
