/**
 * Shared helpers for the benchmark groups run by `bench/run.ts`.
 *
 * A group is one file exporting a `BenchGroup`: it runs its own rounds (so that every
 * measurement and its baseline share a round, and same-run ratios can be taken within it) and
 * returns one record of numbers per round. `run.ts` takes the median and range over rounds.
 */

/** How a metric is shown and judged. */
export interface Metric {
  /** key in the JSON output */
  readonly key: string
  readonly label: string
  readonly unit: string
  /** digits after the point in the table */
  readonly digits?: number
  /** a goal from the issue, if any: the median must satisfy `median op value` */
  readonly goal?: { readonly op: ">=" | "<="; readonly value: number }
}

export interface GroupResult {
  readonly metrics: ReadonlyArray<Metric>
  /** one record per round, keyed by `Metric.key` (a group may add extra keys; they are kept in the raw data) */
  readonly rounds: ReadonlyArray<Readonly<Record<string, number>>>
  /** sizes and settings the group used (message counts, batch size, ...) */
  readonly params: Readonly<Record<string, number | string | boolean>>
}

export interface RunOptions {
  readonly rounds: number
  readonly log: (line: string) => void
}

export interface BenchGroup {
  readonly name: string
  readonly run: (options: RunOptions) => Promise<GroupResult>
}

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
}

export const summarize = (xs: ReadonlyArray<number>): Summary => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  const median = n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
  return { median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN }
}

/**
 * Dotted keys as nested objects (`{ "erlang.bulkRatio": 1 }` → `{ erlang: { bulkRatio: 1 } }`):
 * how a group's flat round records are written into `latest.json`.
 */
export const nest = <A>(flat: Readonly<Record<string, A>>): Record<string, unknown> => {
  const out: Record<string, any> = {}
  for (const [key, value] of Object.entries(flat)) {
    const path = key.split(".")
    let o = out
    for (const p of path.slice(0, -1)) o = o[p] ??= {}
    o[path[path.length - 1]!] = value
  }
  return out
}

/** Nearest-rank percentile of an already sorted array (`p` in 0..100). */
export const percentile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

/** Nanoseconds from a monotonic clock, as a number (enough precision for benchmark spans). */
/** A positive integer from the environment (benchmark sizes), or `fallback`. */
export const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

export const nowNs = (): number => Number(process.hrtime.bigint())

/** Yields one macrotask (what a socket `data` event boundary looks like). */
export const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Full, repeated GC (needs `--expose-gc`; `bench/run.ts` re-executes itself with it). */
export const fullGc = (): void => {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error("benchmarks need --expose-gc (run them through bench/run.ts)")
  for (let i = 0; i < 3; i++) gc()
}

export const formatNumber = (x: number, digits = 0): string => {
  if (!Number.isFinite(x)) return String(x)
  const abs = Math.abs(x)
  if (abs >= 1e6) return `${(x / 1e6).toFixed(2)} M`
  if (abs >= 1e4) return `${(x / 1e3).toFixed(1)} k`
  return x.toFixed(digits)
}
