/**
 * Shared helpers for the cluster tests: several nodes in one process over loopback, each with
 * its own actor system, TCP node and cluster registry, and a bounded polling loop.
 */
import { Context, Effect, Exit, Layer, Option, Redacted, References, Scope } from "effect"
import { ActorSystem } from "../../src/index.ts"
import { Registry } from "../../src/cluster/Registry.ts"
import * as TestNodes from "../../src/testing/TestNode.ts"
import type { Node } from "../../src/transport/Node.ts"

const secret = Redacted.make("registry-test-secret")

export interface TestNode {
  readonly name: string
  readonly node: Node["Service"]
  readonly system: ActorSystem["Service"]
  readonly registry: Registry["Service"]
  /** stops the node (its registry, transport and actor system), as if its process ended */
  readonly stop: Effect.Effect<void>
}

/**
 * Starts a node with the cluster registry on an ephemeral loopback port. The node lives until
 * `stop` or the end of the test (the test's scope), whichever comes first.
 */
export const startNode = (name: string, cluster = "registry-test") =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    let stopped = false
    const stop = Effect.suspend(() => {
      if (stopped) return Effect.void
      stopped = true
      return Scope.close(scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => stop)
    const n = yield* TestNodes.startNode(name, {
      cluster,
      secret,
      heartbeatInterval: "200 millis",
      acceptablePause: "3 seconds",
      reconnect: { initial: "50 millis", max: "300 millis" }
    }).pipe(Scope.provide(scope))
    const registry = yield* Layer.buildWithScope(Registry.layer, scope).pipe(Effect.provideContext(n.context))
    return {
      name,
      node: n.node,
      system: n.system,
      registry: Context.get(registry, Registry),
      stop
    } satisfies TestNode
  })

/** Connects every pair of nodes (the first of each pair dials) and waits until all links are up. */
export const mesh = (nodes: ReadonlyArray<TestNode>) =>
  Effect.gen(function*() {
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const to = nodes[j]!
        yield* nodes[i]!.node.connect({ name: to.name, host: to.node.address.host, port: to.node.address.port }, "20 seconds")
      }
    }
    for (const n of nodes) {
      yield* eventually(`${n.name} connected to every other node`, () =>
        nodes.every((m) => m === n || n.node.peers().some((p) => p.name === m.name && p.up)))
    }
  })

/**
 * Polls `check` every 20 ms until it holds; dies naming `what` if it does not within
 * `timeoutMillis`. The bound is a safety net against hangs, not a speed assertion.
 */
export const eventually = (what: string, check: () => boolean, timeoutMillis = 20_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${timeoutMillis} ms waiting for: ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** The key of the actor registered as `name` on this node, if any. */
export const keyOf = (n: TestNode, name: string): string | undefined =>
  Option.match(n.registry.whereis(name), { onNone: () => undefined, onSome: (ref) => ref.key })

/** The sorted keys of the members of `group` as this node sees them. */
export const memberKeys = (n: TestNode, group: string): Array<string> => n.registry.members(group).map((r) => r.key).sort()

/** Keeps the transport's connection logs out of the test output. */
export const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, References.MinimumLogLevel, "Error")
