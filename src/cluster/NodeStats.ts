/**
 * Counters a node's modules keep for the launcher's summary: each node prints them as one
 * `@@telex-stats {json}` line when it stops, and `telex start --duration` adds them up. The
 * summary holds the runtime's own counts (`nodes`, `messages`, `deadLetters`, `restarts`) and,
 * after them, every key an app module reported here, summed over the nodes:
 *
 * ```ts
 * const stats = yield* NodeStats
 * stats.add("ordersPlaced")          // summary: {"nodes":3,…,"ordersPlaced":120}
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

export interface NodeStatsShape {
  add(key: string, n?: number): void
  set(key: string, value: number): void
  snapshot(): Record<string, number>
}

export class NodeStats extends Context.Service<NodeStats, NodeStatsShape>()("telex/NodeStats") {
  static readonly layer = Layer.sync(NodeStats, () => {
    const values: Record<string, number> = {}
    return {
      add: (key, n = 1) => {
        values[key] = (values[key] ?? 0) + n
      },
      set: (key, value) => {
        values[key] = value
      },
      snapshot: () => ({ ...values })
    }
  })
}

export const STATS_PREFIX = "@@telex-stats "

export const write = (stats: NodeStatsShape, extra: Record<string, number>): void => {
  process.stdout.write(`${STATS_PREFIX}${JSON.stringify({ ...stats.snapshot(), ...extra })}\n`)
}
