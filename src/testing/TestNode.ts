/**
 * In-process nodes over real loopback TCP, for tests: each is an actor system with its
 * transport, started in the current scope (closed with it).
 *
 * ```ts
 * const [a, b] = yield* TestNode.startNodes(["a", "b"], { spawnable: [CounterLive] })
 * yield* TestNode.connect(a, b)
 * const counter = yield* a.node.lookup("b", Counter, "counter")
 * ```
 *
 * Nodes share a cluster name and secret unless the options say otherwise, so any two of them
 * can connect.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { ActorSystem } from "../system/ActorSystem.ts"
import type { NodeId } from "../actors/ActorRef.ts"
import type { NodeDown } from "../actors/ActorError.ts"
import { Node, type NodeOptions, type NodeStartError } from "../transport/Node.ts"

export interface TestNode {
  readonly node: Node["Service"]
  readonly system: ActorSystem["Service"]
  /** both services, to run code "on" this node (`Effect.provideContext(n.context)`) */
  readonly context: Context.Context<Node | ActorSystem>
}

export type TestNodeOptions = Partial<Omit<NodeOptions, "name">> & {
  readonly system?: Parameters<typeof Node.layerWithSystem>[0]["system"]
}

const defaults = { cluster: "test", secret: Redacted.make("telex-test-secret") }

/** Starts a node named `name` in the current scope. */
export const startNode = (name: string, options?: TestNodeOptions): Effect.Effect<TestNode, NodeStartError, Scope.Scope> =>
  Effect.map(Layer.build(Node.layerWithSystem({ ...defaults, ...options, name })), (context) => ({
    node: Context.get(context, Node),
    system: Context.get(context, ActorSystem),
    context
  }))

/** Starts one node per name, in order, with the same options. */
export const startNodes = (
  names: ReadonlyArray<string>,
  options?: TestNodeOptions
): Effect.Effect<Array<TestNode>, NodeStartError, Scope.Scope> => Effect.forEach(names, (name) => startNode(name, options))

/** Connects `from` to `to` and waits until both can send (see `Node.connect`). */
export const connect = (from: TestNode, to: TestNode, timeout: Duration.Input = "5 seconds"): Effect.Effect<NodeId, NodeDown> =>
  from.node.connect({ name: to.node.nodeId.name, host: to.node.address.host, port: to.node.address.port }, timeout)
