/**
 * Cluster singletons: one instance of a behaviour in the cluster, on the same mechanism as
 * entities (an entity type with one key, its name). The node owning the name's shard activates
 * it without waiting for a message, keeps it running (it is never passivated; if it stops, it is
 * activated again at the next lease round), and stops it when the shard moves — then the next
 * owner starts it. At most one runs at a time, by the shard's lease.
 *
 * ```ts
 * const Scheduler = Singleton.make("scheduler", SchedulerLive)
 * const scheduler = yield* Sharding.singleton(Scheduler)   // on every node that should be able to run it
 * yield* scheduler.tell(SchedulerProtocol.Tick())
 * ```
 *
 * @since 0.1.0
 */
import type { Behavior, MessageDefs } from "../actors/Actor.ts"
import * as Entity from "./Entity.ts"

/** A singleton's options: those of an entity, without passivation. */
export type Options<S = never> = Omit<Entity.Options<S>, "passivateAfter" | "type">

/** Defines a singleton named `name` (the entity type, and its one key). */
export const make = <D extends MessageDefs, E, R extends Entity.Services = never, S = never>(
  name: string,
  behavior: Behavior<D, E, R>,
  options?: Options<S>
): Entity.Entity<D, S> => ({
  ...Entity.make(behavior.protocol, behavior, { ...options, type: name }),
  singleton: true
})
