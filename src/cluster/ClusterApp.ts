/**
 * A cluster application: named modules that nodes `run` (as listed in the config), and the
 * actor modules nodes may allow other nodes to spawn.
 *
 * ```ts
 * export default ClusterApp.make({
 *   modules: {
 *     jobs: Effect.gen(function*() {
 *       const system = yield* ActorSystem
 *       const registry = yield* Registry
 *       const queue = yield* system.spawn(JobQueueLive)
 *       yield* registry.register("jobs", queue)
 *     })
 *   },
 *   spawnable: [WorkerLive]
 * })
 * ```
 *
 * `entities` are the app's sharded entity types (`Entity.make`, `Singleton.make`): every node
 * hosts them (`Sharding`, with the config's `sharding` store), and a module gets their refs with
 * `Sharding.entity(CartEntity)`.
 *
 * A module is an Effect run once when its node starts, in the node's scope (what it forks with
 * `Effect.forkScoped` runs until the node stops). Put long-lived actors under supervisors
 * (`Supervisor.startChild(system.root, ...)`). If the root gives up, the node process exits
 * with code 1 (to be restarted by its launcher); a module that fails makes the node fail to start.
 *
 * @since 0.1.0
 */
import { fileURLToPath } from "node:url"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Behavior } from "../actors/Actor.ts"
import type { ActorSystem } from "../system/ActorSystem.ts"
import type { Node } from "../transport/Node.ts"
import type { Entity } from "../sharding/Entity.ts"
import type { NodeStats } from "./NodeStats.ts"
import type { Registry } from "./Registry.ts"

export type Services = ActorSystem | Node | Registry | NodeStats | Scope.Scope

export type AppModule = Effect.Effect<void, unknown, Services>

export interface ClusterApp {
  readonly modules: { readonly [name: string]: AppModule }
  readonly spawnable?: ReadonlyArray<Behavior<any, any, never>>
  /** sharded entity types every node hosts */
  readonly entities?: ReadonlyArray<Entity<any, any>>
}

/**
 * The telex package this module belongs to. An app made with another copy of telex (a global
 * `telex` command running a project that installed its own) would run with actor protocols this
 * copy does not know: every message to its actors would be refused. `make` stamps the app with
 * its copy, and a node refuses an app of another copy in one line.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL("../..", import.meta.url))
const COPY = Symbol.for("telex/ClusterApp/copy")

export const make = (app: ClusterApp): ClusterApp => Object.defineProperty({ ...app }, COPY, { value: PACKAGE_ROOT, enumerable: false })

/** The telex package of the copy that made `app` with `make`, if it was made so. */
export const copyOf = (app: ClusterApp): string | undefined => {
  const copy = (app as any)[COPY]
  return typeof copy === "string" ? copy : undefined
}

export const isClusterApp = (u: unknown): u is ClusterApp =>
  typeof u === "object" && u !== null && typeof (u as any).modules === "object" && (u as any).modules !== null
