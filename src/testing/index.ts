/**
 * The test kit, for testing actor modules under failures (`import { SimCluster } from "telex/testing"`):
 *
 * - `SimNetwork` / `SimCluster` — in-process nodes on a seeded simulated network, on Effect's
 *   Clock (TestClock): fast, exactly replayable (`TELEX_SEED`);
 * - `FaultProxy` / `TestCluster` — real node processes behind a TCP fault proxy;
 * - `TestNode` — in-process nodes over loopback TCP, started in the current scope;
 * - `NetLab` — nodes in Linux network namespaces with kernel-level faults (root only);
 * - `Scenario.ClusterHandle` — the scenario API both clusters implement;
 * - `History` / `Checkers` — record what happened and check it (Jepsen-style).
 *
 * Not part of the main entry point (`src/index.ts`).
 *
 * @example
 * import { assert, it } from "@effect/vitest"
 * import { Effect, Schema } from "effect"
 * import { Actor, ActorSystem, ClusterApp, Registry, Supervisor } from "telex"
 * import { SimCluster } from "telex/testing"
 *
 * const Echo = Actor.make("Echo", { Say: Actor.ask({ text: Schema.String }, { success: Schema.String }) })
 * const EchoLive = Echo.behavior(Effect.succeed({ Say: ({ text }) => Effect.succeed(text) }))
 *
 * const app = ClusterApp.make({
 *   modules: {
 *     echo: Effect.gen(function*() {
 *       const system = yield* ActorSystem
 *       const registry = yield* Registry
 *       yield* registry.register("echo", yield* Supervisor.startChild(system.root, Supervisor.child("echo", EchoLive)))
 *     })
 *   }
 * })
 *
 * it.effect("the echo answers again once the partition heals", () =>
 *   Effect.gen(function*() {
 *     const cluster = yield* SimCluster.start({ app, seed: 1, nodes: [{ name: "n1", run: ["echo"] }, { name: "n2" }] })
 *     const echo = yield* cluster.eventually(cluster.client.registry.lookup(Echo, "echo"))
 *     yield* cluster.partition("n1", "n2")
 *     yield* cluster.heal()
 *     assert.strictEqual(yield* echo.ask(Echo.Say({ text: "hi" })), "hi")
 *   }).pipe(Effect.scoped))
 *
 * @since 0.1.0
 */
export * as Checkers from "./Checkers.ts"
export * as FaultProxy from "./FaultProxy.ts"
export * as History from "./History.ts"
export * as NetLab from "./NetLab.ts"
export type { ClusterHandle } from "./Scenario.ts"
export * as SimCluster from "./SimCluster.ts"
export * as SimNetwork from "./SimNetwork.ts"
export * as TestCluster from "./TestCluster.ts"
export * as TestNode from "./TestNode.ts"
