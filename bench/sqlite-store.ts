/**
 * Throughput of `SqliteStore` (one process, a file in the OS temp dir), as the reliable channel
 * uses it: a producer appends messages and forgets them in batches of `BATCH` as they are
 * confirmed; a consumer saves its progress after each message. Prints µs per operation (median
 * of `ROUNDS` rounds), wall-clock and CPU time of this process (the CPU figure is less sensitive
 * to a loaded machine; it leaves out waiting for the disk, which is most of `"full"`), for the
 * default `synchronous = NORMAL` and for `"full"`.
 *
 *   node bench/sqlite-store.ts                 # N=10000 BATCH=25 ROUNDS=5
 *   N=2000 node bench/sqlite-store.ts
 */
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import * as SqliteStore from "../src/reliable/SqliteStore.ts"

const N = Number(process.env.N ?? 10_000)
const BATCH = Number(process.env.BATCH ?? 25)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
/** the ~100-byte struct of the other benchmarks, in its encoded form */
const payload = (seq: number) => ({ seq, account: "ACC-0042-7781", amount: 1234.5, note: "monthly invoice, reference 2026-11" })

const median = (xs: Array<number>): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Sample {
  readonly wall: number
  readonly cpu: number
}

/** wall-clock and CPU (user + system of this process) microseconds of `f`, per `ops` */
const time = (ops: number, f: () => void): Sample => {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  f()
  const wall = Number(process.hrtime.bigint() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { wall: wall / ops, cpu: (cpu.user + cpu.system) / ops }
}

const measure = (synchronous: "normal" | "full", n: number) => {
  const results = { append: [] as Array<Sample>, remove: [] as Array<Sample>, progress: [] as Array<Sample> }
  for (let round = 0; round < ROUNDS; round++) {
    const dir = mkdtempSync(join(tmpdir(), "telex-sqlite-bench-"))
    try {
      const store = SqliteStore.make(join(dir, "store.db"), { synchronous })
      store.startSession("bench", 1, 1)
      results.append.push(time(n, () => {
        for (let seq = 1; seq <= n; seq++) store.append("bench", { seq, payload: payload(seq), deadline: Date.now() + 60_000 })
      }))
      results.remove.push(time(Math.ceil(n / BATCH), () => {
        for (let upTo = BATCH; upTo < n + BATCH; upTo += BATCH) store.removeUpTo("bench", upTo)
      }))
      if (store.loadProducer("bench")!.messages.length !== 0) throw new Error("outbox not empty")
      results.progress.push(time(n, () => {
        for (let seq = 1; seq <= n; seq++) store.saveProgress("bench-consumer", { producer: "bench", session: 1, processed: seq })
      }))
      store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const f = (xs: Array<Sample>) =>
    `${median(xs.map((x) => x.wall)).toFixed(1)} µs wall / ${median(xs.map((x) => x.cpu)).toFixed(1)} µs CPU`
  console.log(`synchronous=${synchronous}, n=${n}`)
  console.log(`  append                  ${f(results.append)} per message`)
  console.log(`  removeUpTo (${BATCH} msgs)    ${f(results.remove)} per call`)
  console.log(`  saveProgress            ${f(results.progress)} per call`)
}

console.log(`node ${process.version}, ${ROUNDS} rounds, medians; temp dir ${tmpdir()}; load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`)
measure("normal", N)
measure("full", Math.min(N, 1000))
