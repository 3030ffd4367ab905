/**
 * Runs every benchmark group, prints a table (median and min–max over rounds) and writes
 * `bench/results/latest.json`:
 *
 * ```json
 * { "local": { "tellPerSec": …, "ratio": …, … },            // medians over rounds
 *   "meta": { "node": …, "effect": …, "date": …, "rounds": … },
 *   "ranges": { "local": { "tellPerSec": { "min": …, "max": … }, … } },
 *   "raw": { "local": [ { "tellPerSec": …, … }, … ] } }      // one record per round
 * ```
 *
 * Ratios against a baseline are computed within each round (same run), then the median is
 * taken. Environment: `BENCH_ROUNDS` (default 3), `BENCH_GROUPS` (comma-separated names,
 * default all; the other groups' previous results are kept in the file, with their own date
 * under `meta.groups`). Groups may read their own size variables (see each file).
 * `meta.loadavg` records the machine's load before and after: on a shared machine, compare
 * only runs made under similar load.
 *
 *   npm run bench
 *   BENCH_ROUNDS=5 npm run bench
 *
 * Heap measurements need `--expose-gc`: without it this script runs itself again with it.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { arch, cpus, loadavg, platform } from "node:os"
import { join } from "node:path"
import { type BenchGroup, formatNumber, type GroupResult, type Metric, nest, nowNs, summarize } from "./lib.ts"
import { cluster } from "./cluster.ts"
import { local } from "./local.ts"
import { overload } from "./overload.ts"
import { peers } from "./peers.ts"
import { reliable } from "./reliable.ts"
import { remote } from "./remote.ts"
import { sharding } from "./sharding.ts"
import { teardown } from "./teardown.ts"

/** Every group, in run order. Add new groups (one file each) here. */
const groups: ReadonlyArray<BenchGroup> = [local, remote, reliable, cluster, peers, overload, sharding, teardown]

if (globalThis.gc === undefined) {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, "--expose-gc", import.meta.filename, ...process.argv.slice(2)],
    { stdio: "inherit" }
  )
  if (child.error !== undefined) throw child.error
  process.exit(child.status ?? 1)
}

const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3)
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_ROUNDS must be a positive integer`)
const only = process.env["BENCH_GROUPS"]?.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
const selected = only === undefined || only.length === 0 ? groups : groups.filter((g) => only.includes(g.name))
if (selected.length === 0) throw new Error(`no benchmark group matches BENCH_GROUPS=${process.env["BENCH_GROUPS"]}`)

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

const require = createRequire(import.meta.url)
const effectVersion = (JSON.parse(readFileSync(require.resolve("effect/package.json"), "utf8")) as { version: string })
  .version

const goalMet = (metric: Metric, median: number): string => {
  if (metric.goal === undefined) return ""
  const ok = metric.goal.op === ">=" ? median >= metric.goal.value : median <= metric.goal.value
  return `${ok ? "ok  " : "MISS"} ${metric.goal.op} ${formatNumber(metric.goal.value, metric.digits ?? 0)}`
}

const table = (name: string, result: GroupResult): string => {
  const rows: Array<Array<string>> = [["metric", "median", "min–max", "unit", "goal"]]
  for (const metric of result.metrics) {
    const s = summarize(result.rounds.map((r) => r[metric.key] ?? NaN))
    const d = metric.digits ?? 0
    rows.push([
      metric.label,
      formatNumber(s.median, d),
      `${formatNumber(s.min, d)} – ${formatNumber(s.max, d)}`,
      metric.unit,
      goalMet(metric, s.median)
    ])
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, c) => (c === 0 || c >= 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd()
  return [`== ${name} (${result.rounds.length} rounds)`, line(rows[0]!), ...rows.slice(1).map(line)].join("\n")
}

const dir = join(import.meta.dirname, "results")
const file = join(dir, "latest.json")

interface GroupMeta {
  readonly date: string
  readonly rounds: number
  readonly durationSeconds: number
}

/** What a previous run wrote for the groups not selected this time (kept as they were). */
const previous = ((): Record<string, any> => {
  if (selected.length === groups.length) return {}
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, any>
  } catch {
    return {}
  }
})()

const started = nowNs()
const loadStart = loadavg()
const output: Record<string, unknown> = {}
const ranges: Record<string, Record<string, unknown>> = {}
const raw: Record<string, ReadonlyArray<Readonly<Record<string, number>>>> = {}
const params: Record<string, unknown> = {}
const groupMeta: Record<string, GroupMeta> = {}
const tables: Array<string> = []

for (const group of groups) {
  if (selected.includes(group) || previous[group.name] === undefined) continue
  output[group.name] = previous[group.name]
  if (previous["ranges"]?.[group.name] !== undefined) ranges[group.name] = previous["ranges"][group.name]
  if (previous["raw"]?.[group.name] !== undefined) raw[group.name] = previous["raw"][group.name]
  if (previous["meta"]?.params?.[group.name] !== undefined) params[group.name] = previous["meta"].params[group.name]
  if (previous["meta"]?.groups?.[group.name] !== undefined) groupMeta[group.name] = previous["meta"].groups[group.name]
}

for (const group of selected) {
  const groupStarted = nowNs()
  const result = await group.run({ rounds, log })
  const medians: Record<string, number> = {}
  const groupRanges: Record<string, { min: number; max: number }> = {}
  const keys = new Set<string>()
  for (const round of result.rounds) for (const key of Object.keys(round)) keys.add(key)
  for (const key of keys) {
    const s = summarize(result.rounds.map((r) => r[key] ?? NaN))
    medians[key] = s.median
    groupRanges[key] = { min: s.min, max: s.max }
  }
  // dotted keys (`erlang.bulkRatio`) are written nested
  output[group.name] = nest(medians)
  ranges[group.name] = nest(groupRanges)
  raw[group.name] = result.rounds
  params[group.name] = result.params
  groupMeta[group.name] = {
    date: new Date().toISOString(),
    rounds,
    durationSeconds: Math.round((nowNs() - groupStarted) / 1e8) / 10
  }
  tables.push(table(group.name, result))
}

// groups in run order, whether measured now or kept from before
for (const group of groups) {
  const value = output[group.name]
  if (value === undefined) continue
  delete output[group.name]
  output[group.name] = value
}
output["meta"] = {
  node: process.version,
  effect: effectVersion,
  date: new Date().toISOString(),
  rounds,
  platform: `${platform()} ${arch()}`,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  durationSeconds: Math.round((nowNs() - started) / 1e8) / 10,
  loadavg: { start: loadStart.map((x) => Math.round(x * 100) / 100), end: loadavg().map((x) => Math.round(x * 100) / 100) },
  groups: groupMeta,
  params
}
output["ranges"] = ranges
output["raw"] = raw

mkdirSync(dir, { recursive: true })
writeFileSync(file, `${JSON.stringify(output, null, 2)}\n`)

console.log(tables.join("\n\n"))
console.log(`\nwrote ${file} (${(output["meta"] as { durationSeconds: number }).durationSeconds} s)`)
