/**
 * A process that starts a one-node `TestCluster` of the soak app and then waits, for
 * test/soak/host-killed.test.ts to kill it with SIGKILL; prints "ready" once the node is.
 */
import { Effect } from "effect"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { app } from "./_soak.ts"

Effect.runFork(
  Effect.gen(function*() {
    yield* TestCluster.start({ app, nodes: [{ name: "n1", run: ["probe"] }] })
    process.stdout.write("ready\n")
    return yield* Effect.never
  }).pipe(Effect.scoped)
)
