/**
 * The admin actor every cluster node runs (registered locally as `telex/admin`): it answers
 * `telex status` with the node's identity, links, actors, supervision tree (with restart counts)
 * and mailbox depths, read from the same data the runtime keeps (the kernel's snapshot and
 * supervision events), and `telex shell`'s requests (see `AdminCommands.ts`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Actor from "../actors/Actor.ts"
import type { ActorInfo } from "../actors/Kernel.ts"
import { ActorSystem, kernelOf } from "../system/ActorSystem.ts"
import * as Supervisor from "../supervision/Supervisor.ts"
import { Node } from "../transport/Node.ts"
import * as AdminCommands from "./AdminCommands.ts"
import * as AdminObserve from "./AdminObserve.ts"
import { Registry } from "./Registry.ts"

export interface TreeNode {
  readonly actor: string
  readonly protocol: string
  readonly name?: string | undefined
  readonly mailbox: number
  readonly restarts: number
  /** its id under its supervisor (`link:n2`, `worker-1`...) */
  readonly child?: string | undefined
  /** for a link actor: the peer node it keeps connected */
  readonly peer?: string | undefined
  readonly children: ReadonlyArray<TreeNode>
}

export const TreeNode: Schema.Codec<TreeNode> = Schema.Struct({
  actor: Schema.String,
  protocol: Schema.String,
  name: Schema.optional(Schema.String),
  mailbox: Schema.Int,
  restarts: Schema.Int,
  child: Schema.optional(Schema.String),
  peer: Schema.optional(Schema.String),
  children: Schema.Array(Schema.suspend((): Schema.Codec<TreeNode> => TreeNode))
})

export const NodeStatus = Schema.Struct({
  node: Schema.String,
  incarnation: Schema.Number,
  pid: Schema.Int,
  uptimeMillis: Schema.Number,
  actors: Schema.Int,
  messagesDelivered: Schema.Number,
  deadLetters: Schema.Number,
  peers: Schema.Array(Schema.Struct({ name: Schema.String, up: Schema.Boolean })),
  names: Schema.Array(Schema.Struct({ name: Schema.String, actor: Schema.String })),
  tree: Schema.Array(TreeNode)
})
export type NodeStatus = typeof NodeStatus.Type

export const Protocol = Actor.make("telex/Admin", {
  Status: Actor.ask({}, { success: NodeStatus }),
  // `telex shell`'s requests
  ...AdminCommands.defs,
  // `telex observe`'s requests
  ...AdminObserve.defs
})

export const ADMIN_NAME = "telex/admin"

const started = Date.now()

/** Spawns the admin actor of this node. */
export const start = Effect.gen(function*() {
  const system = yield* ActorSystem
  const node = yield* Node
  const registry = yield* Registry
  const restarts = new Map<string, number>() // actor key → restarts of the child it incarnates
  const commands = yield* AdminCommands.make
  const observe = yield* AdminObserve.make(Protocol, ADMIN_NAME, commands.deliver)

  yield* system.supervisionEvents.pipe(
    Stream.runForEach((e) => Effect.sync(() => {
      if (e._tag === "ChildRestarted") restarts.set(e.actor, e.restarts)
    })),
    Effect.forkScoped
  )

  // Children are found by their `parent`, not the parent's `children` set: supervisors take their
  // children out of that set (they stop them themselves, in order), so it misses them.
  const tree = (actor: ActorInfo, byParent: Map<string, Array<ActorInfo>>, childIds: Map<string, string>): TreeNode => {
    const child = childIds.get(actor.key)
    const peer = node.linkActors.get(actor.key)
    return {
      actor: actor.key,
      protocol: actor.protocol,
      ...(actor.name !== undefined ? { name: actor.name } : {}),
      mailbox: actor.mailbox,
      restarts: restarts.get(actor.key) ?? 0,
      ...(child !== undefined ? { child } : {}),
      ...(peer !== undefined ? { peer } : {}),
      children: (byParent.get(actor.key) ?? []).map((c) => tree(c, byParent, childIds))
    }
  }
  const kernel = kernelOf(system)

  /** actor key → its id under its supervisor, asked of every local supervisor (briefly: a busy one is skipped) */
  const childIdsOf = (actors: ReadonlyArray<ActorInfo>) =>
    Effect.gen(function*() {
      const ids = new Map<string, string>()
      const supervisors = actors.filter((a) => a.alive && a.protocol === Supervisor.Protocol.name)
      yield* Effect.forEach(supervisors, (actor) =>
        Supervisor.whichChildren(actor.ref as Supervisor.SupervisorRef).pipe(
          Effect.timeout("1 second"),
          Effect.tap((children) => Effect.sync(() => {
            for (const c of children) if (c.actor !== undefined) ids.set(c.actor, c.id)
          })),
          Effect.ignore
        ), { concurrency: "unbounded", discard: true })
      return ids
    })

  const behavior = Protocol.behavior(Effect.succeed({
    ...commands.handlers,
    ...observe,
    Status: () =>
      Effect.gen(function*() {
        const childIds = yield* childIdsOf(kernel.snapshot().actorInfos)
        // the tree as it is once the supervisors have answered
        const snapshot = kernel.snapshot()
        const roots: Array<ActorInfo> = []
        const byParent = new Map<string, Array<ActorInfo>>()
        for (const actor of snapshot.actorInfos) {
          if (actor.parent === undefined) roots.push(actor)
          else {
            const siblings = byParent.get(actor.parent)
            if (siblings === undefined) byParent.set(actor.parent, [actor])
            else siblings.push(actor)
          }
        }
        return {
          node: snapshot.node.name,
          incarnation: snapshot.node.incarnation,
          pid: process.pid,
          uptimeMillis: Date.now() - started,
          actors: snapshot.actors,
          messagesDelivered: snapshot.delivered,
          deadLetters: snapshot.deadLetters,
          peers: node.peers().map((p) => ({ name: p.name, up: p.up })),
          names: [...registry.names()],
          tree: roots.map((root) => tree(root, byParent, childIds))
        }
      })
  }))
  return yield* system.spawn(behavior, { name: ADMIN_NAME }).pipe(Effect.orDie)
})
