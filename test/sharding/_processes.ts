/**
 * Helpers of the sharding tests that run real node processes (`TestCluster`): the activation log
 * the counters app writes, the nodes' logs printed when a test fails, and a PostgreSQL server
 * reached through a fault proxy the test can cut.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { FaultProxy } from "../../src/testing/FaultProxy.ts"
import type * as History from "../../src/testing/History.ts"
import type * as TestCluster from "../../src/testing/TestCluster.ts"

/** The activations the counters app logged under `dir` (`TELEX_ACTIVATION_LOG`), as history entries. */
export const activationLog = (dir: string): Array<History.EntryInput> =>
  readdirSync(dir).flatMap((file) =>
    readFileSync(join(dir, file), "utf8").split("\n").filter((l) => l.length > 0).map((line): History.EntryInput => {
      const e = JSON.parse(line) as { event: "activated" | "deactivated"; node: string; key: string; epoch: number; shard: number; at: number }
      return { _tag: "Activation", event: e.event, node: e.node, entity: "Counter", key: e.key, epoch: e.epoch, shard: e.shard, reason: undefined, at: e.at }
    })
  )

/** When the test's scope ends in failure, prints the last `lines` log lines of every node. */
export const logsOnFailure = (cluster: TestCluster.TestCluster, lines: number): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer((exit) =>
    exit._tag === "Failure"
      ? Effect.sync(() => {
        for (const n of cluster.names) console.log(`--- ${n} ---\n${cluster.logs(n).slice(-lines).join("\n")}`)
      })
      : Effect.void
  )

/** A fault proxy in front of the PostgreSQL server of `url`, closed with the scope, and `url` through it. */
export const pgBehindProxy = (url: string) =>
  Effect.gen(function*() {
    const upstream = new URL(url)
    const proxy = yield* Effect.acquireRelease(
      Effect.promise(() => FaultProxy.start({ upstream: { host: upstream.hostname, port: Number(upstream.port || 5432) }, name: "pg" })),
      (p) => Effect.promise(() => p.close())
    )
    const viaProxy = new URL(url)
    viaProxy.port = String(proxy.address.port)
    return { proxy, url: viaProxy.toString() }
  })
