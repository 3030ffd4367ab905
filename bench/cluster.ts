/**
 * The cluster group: what failure detection costs as a cluster grows. N nodes (3, 8, 16) in one
 * process over loopback form a full mesh from one seed; with every node idle, we measure the
 * process CPU per node over a window. Each node heartbeats each of its N − 1 connections, so
 * the cost per node grows O(n) (the cluster's total O(n²)); the ratio n16 / n3 per node is
 * expected near (16 − 1) / (3 − 1) = 7.5 — measured here, not assumed.
 *
 * Each round also measures `nodeRssMiB`: the resident memory of an idle `telex node` running the
 * demo app's `workers` module (its own process; see `node-rss.ts`).
 *
 * Environment: BENCH_CLUSTER_SIZES (default "3,8,16"), BENCH_CLUSTER_WINDOW_MS (default 2000),
 * BENCH_CLUSTER_HEARTBEAT_MS (default 200).
 */
import { Context, Effect, Layer, Redacted } from "effect"
import { Node } from "../src/transport/Node.ts"
import type { BenchGroup, GroupResult, Metric } from "./lib.ts"
import { telexNodeRssMiB } from "./node-rss.ts"

const sizes = (process.env["BENCH_CLUSTER_SIZES"] ?? "3,8,16").split(",").map(Number)
const windowMs = Number(process.env["BENCH_CLUSTER_WINDOW_MS"] ?? 2000)
const heartbeatMs = Number(process.env["BENCH_CLUSTER_HEARTBEAT_MS"] ?? 200)

const measure = (n: number) =>
  Effect.gen(function*() {
    const secret = Redacted.make("bench-cluster")
    const nodes: Array<Node["Service"]> = []
    for (let i = 0; i < n; i++) {
      const seed = nodes[0]
      const ctx = yield* Layer.build(Node.layerWithSystem({
        name: `b${String(i).padStart(2, "0")}`,
        cluster: "bench",
        secret,
        heartbeatInterval: `${heartbeatMs} millis`,
        acceptablePause: "10 seconds",
        peers: seed === undefined ? [] : [{ name: "b00", host: "127.0.0.1", port: seed.address.port }]
      }))
      nodes.push(Context.get(ctx, Node))
    }
    const meshed = () => nodes.every((node) => node.peers().filter((p) => p.up).length === n - 1)
    for (let t = 0; !meshed(); t += 20) {
      if (t > 30_000) return yield* Effect.die(new Error(`${n} nodes did not form a mesh`))
      yield* Effect.sleep("20 millis")
    }
    yield* Effect.sleep("300 millis") // let the joins settle
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    yield* Effect.sleep(`${windowMs} millis`)
    const cpu = process.cpuUsage(cpu0)
    const seconds = (performance.now() - t0) / 1000
    const cpuMsPerNodePerSec = (cpu.user + cpu.system) / 1000 / n / seconds
    return { cpuMsPerNodePerSec, connectionsPerNode: n - 1 }
  }).pipe(Effect.scoped)

export const cluster: BenchGroup = {
  name: "cluster",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    const records: Array<Record<string, number>> = []
    for (let r = 0; r < rounds; r++) {
      const record: Record<string, number> = {}
      for (const n of sizes) {
        const m = await Effect.runPromise(measure(n))
        record[`n${n}CpuMsPerNodePerSec`] = m.cpuMsPerNodePerSec
        record[`n${n}HeartbeatsPerNodePerSec`] = (m.connectionsPerNode * 1000) / heartbeatMs
      }
      const [first, last] = [sizes[0]!, sizes[sizes.length - 1]!]
      record.perNodeGrowth = record[`n${last}CpuMsPerNodePerSec`]! / record[`n${first}CpuMsPerNodePerSec`]!
      record.linearExpectation = (last - 1) / (first - 1)
      record.nodeRssMiB = await telexNodeRssMiB()
      records.push(record)
      log(`cluster: round ${r + 1}/${rounds} done`)
    }
    const metrics: Array<Metric> = []
    for (const n of sizes) {
      metrics.push({ key: `n${n}CpuMsPerNodePerSec`, label: `${n} nodes: idle CPU per node`, unit: "ms/s", digits: 3 })
      metrics.push({ key: `n${n}HeartbeatsPerNodePerSec`, label: `${n} nodes: heartbeats sent per node`, unit: "/s", digits: 0 })
    }
    metrics.push({ key: "perNodeGrowth", label: `per-node cost ${sizes[sizes.length - 1]} vs ${sizes[0]} nodes`, unit: "×", digits: 2 })
    metrics.push({ key: "linearExpectation", label: "  O(n) per node would be", unit: "×", digits: 2 })
    metrics.push({ key: "nodeRssMiB", label: "RSS of an idle `telex node` (demo workers)", unit: "MiB", digits: 1 })
    return { metrics, rounds: records, params: { sizes: sizes.join(","), windowMs, heartbeatMs } }
  }
}
