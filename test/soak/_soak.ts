/**
 * Helpers of the soak workloads: a `TestCluster` of the soak app (test/fixtures/soak-app.ts) and
 * the probes of its nodes, reached from the test process's client node.
 */
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { ActorRef } from "../../src/actors/ActorRef.ts"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { Probe, Sink } from "../fixtures/soak-app.ts"

export const app = fileURLToPath(new URL("../fixtures/soak-app.ts", import.meta.url))

export type ProbeRef = ActorRef<typeof Probe.defs>

export const start = (options: Omit<TestCluster.TestClusterOptions, "app">) =>
  Effect.gen(function*() {
    const cluster = yield* TestCluster.start({ app, ...options })
    const probe = (name: string) =>
      cluster.eventually(cluster.client.node.lookup(name, Probe, "probe", { timeout: "5 seconds" }), "30 seconds")
    const sink = (node: string, name: string) =>
      cluster.eventually(cluster.client.node.lookup(node, Sink, name, { timeout: "5 seconds" }), "30 seconds")
    /** every pair of nodes connected (each node's probe lists the others as up) */
    const meshed = (names: ReadonlyArray<string> = cluster.names) =>
      cluster.eventually(
        Effect.forEach(names, (n) =>
          Effect.flatMap(probe(n), (p) => p.ask(Probe.Info({ gc: false }), { timeout: "5 seconds" })).pipe(
            Effect.filterOrFail(
              (info) => names.every((m) => m === n || info.peersUp.includes(m)),
              (info) => new Error(`${n} has up: ${info.peersUp.join(",")}`)
            )
          )),
        "60 seconds"
      )
    const why = (names: ReadonlyArray<string> = cluster.names) =>
      names.map((n) => `--- ${n} ---\n${cluster.logs(n).slice(-60).join("\n")}`).join("\n")
    return { cluster, probe, sink, meshed, why }
  })

/** Pings `probes` every 200 ms until `done` completes; returns how many answered and the failures. */
export const pingWhile = <A, E, R>(probes: ReadonlyArray<ProbeRef>, done: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    let answered = 0
    const failures: Array<string> = []
    let finished = false
    const pinger = Effect.gen(function*() {
      while (!finished) {
        for (const p of probes) {
          const r = yield* Effect.result(p.ask(Probe.Ping(), { timeout: "20 seconds" }))
          if (r._tag === "Success") answered++
          else failures.push(`${p.address.node.name}: ${r.failure._tag}`)
        }
        yield* Effect.sleep("200 millis")
      }
    })
    const [result] = yield* Effect.all([
      done.pipe(Effect.ensuring(Effect.sync(() => void (finished = true)))),
      pinger
    ], { concurrency: 2 })
    return { result, answered, failures }
  })

export const MiB = 1024 * 1024
