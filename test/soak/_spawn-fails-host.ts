/**
 * A process that starts a one-node `TestCluster` of the soak app, prints "ready", and on a line
 * on its stdin kills the node and restarts it, printing how the restart ended ("restarted", or
 * "failed: <message>"), for test/soak/soak4-launcher-spawn-fails.test.ts, which removes this
 * process's Node executable in between.
 */
import { createInterface } from "node:readline"
import { Effect } from "effect"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { app } from "./_soak.ts"

Effect.runFork(
  Effect.gen(function*() {
    const cluster = yield* TestCluster.start({ app, nodes: [{ name: "n1", run: ["probe"] }] })
    process.stdout.write("ready\n")
    yield* Effect.callback<void>((resume) => void createInterface({ input: process.stdin }).once("line", () => resume(Effect.void)))
    yield* cluster.kill("n1")
    const restarted = yield* Effect.result(cluster.restart("n1"))
    process.stdout.write(restarted._tag === "Success" ? "restarted\n" : `failed: ${restarted.failure.message}\n`)
  }).pipe(Effect.scoped)
).addObserver((exit) => process.exit(exit._tag === "Success" ? 0 : 1))
