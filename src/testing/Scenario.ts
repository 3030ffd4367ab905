/**
 * One scenario API for both modes of the test kit: `SimCluster` (in-process nodes on a seeded
 * simulated network, virtual time) and `TestCluster` (real node processes behind fault proxies,
 * real time). A scenario written against `ClusterHandle` runs on either.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { ActorSystem } from "../system/ActorSystem.ts"
import type { Registry } from "../cluster/Registry.ts"
import type { Node } from "../transport/Node.ts"

export interface ClusterHandle {
  readonly names: ReadonlyArray<string>
  /** the test's own node, connected to every node (faults between the nodes do not blind it) */
  readonly client: {
    readonly node: Node["Service"]
    readonly system: ActorSystem["Service"]
    readonly registry: Registry["Service"]
  }
  /** cuts `a` from `b`, both ways; traffic is held as in a kernel DROP partition */
  partition(a: string, b: string): Effect.Effect<void>
  /** cuts `name` from every other node */
  isolate(name: string): Effect.Effect<void>
  /** heals every partition and removes every fault */
  heal(): Effect.Effect<void>
  /** resets the connections between `a` and `b` */
  reset(a: string, b: string): Effect.Effect<void>
  /** kills a node (SIGKILL, or a crash of the simulated host) */
  kill(name: string): Effect.Effect<void>
  /** freezes a node (SIGSTOP, or a paused simulated host) */
  pause(name: string): Effect.Effect<void>
  resume(name: string): Effect.Effect<void>
  /** starts a killed node again: a new incarnation */
  restart(name: string): Effect.Effect<void, unknown>
  /**
   * Retries `check` until it succeeds, or fails with its last error after `timeout`. `label`
   * names the check in the failure when it does not even complete in time.
   */
  eventually<A, E, R>(check: Effect.Effect<A, E, R>, timeout?: Duration.Input, label?: string): Effect.Effect<A, E | unknown, R>
}
