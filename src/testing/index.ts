/**
 * The test kit, for testing actor modules under failures (`import { SimCluster } from "telex/testing"`):
 *
 * - `SimNetwork` / `SimCluster` — in-process nodes on a seeded simulated network, on Effect's
 *   Clock (TestClock): fast, exactly replayable (`TELEX_SEED`);
 * - `FaultProxy` / `TestCluster` — real node processes behind a TCP fault proxy;
 * - `NetLab` — nodes in Linux network namespaces with kernel-level faults (root only);
 * - `Scenario.ClusterHandle` — the scenario API both clusters implement;
 * - `History` / `Checkers` — record what happened and check it (Jepsen-style).
 *
 * Not part of the main entry point (`src/index.ts`).
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
