/**
 * The test kit: a TCP fault proxy, real clusters behind it, and history checkers.
 *
 * Not part of the main entry point (`src/index.ts`): tests import it from `src/testing/index.ts`.
 *
 * @since 0.1.0
 */
export * as Checkers from "./Checkers.ts"
export * as FaultProxy from "./FaultProxy.ts"
export * as History from "./History.ts"
export * as TestCluster from "./TestCluster.ts"
