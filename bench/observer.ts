/**
 * What the observer page costs a node: a cluster of N idle nodes (real `telex node` processes,
 * launched by `telex start`), measured for a window without the observer, then for a window
 * with the observer serving a page: its event stream open (cluster and rates every second) and
 * the supervision view of n1 and its actor table polled every second, as the page does. For
 * each node: CPU (from /proc, % of one core) in both windows, and the bytes per second on its
 * admin connection to the observer (both ways).
 *
 *   node bench/observer.ts                    # sizes 3 and 16, 10 s windows
 *   BENCH_OBSERVER_SIZES=3 BENCH_OBSERVER_WINDOW_MS=5000 node bench/observer.ts
 *
 * Then the actor table of one node with `BENCH_OBSERVER_ACTORS` (100 000) actors, in one process:
 * how long the node takes to answer one page (sorted by address, by rate, filtered).
 *
 * Prints a table and a JSON line. Linux only (/proc). Not part of `npm run bench` (it starts
 * processes and takes minutes).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { Actor } from "../src/index.ts"
import * as Admin from "../src/cluster/Admin.ts"
import * as Observer from "../src/cluster/Observer.ts"
import { Registry } from "../src/cluster/Registry.ts"
import { ActorSystem } from "../src/system/ActorSystem.ts"
import { Node } from "../src/transport/Node.ts"

const BIN = fileURLToPath(new URL("../bin/telex.js", import.meta.url))
const sizes = (process.env["BENCH_OBSERVER_SIZES"] ?? "3,16").split(",").filter((x) => x.length > 0).map(Number)
const pagingActors = Number(process.env["BENCH_OBSERVER_ACTORS"] ?? 100_000)
const windowMs = Number(process.env["BENCH_OBSERVER_WINDOW_MS"] ?? 10_000)
const SECRET = "bench-observer-secret-0123456789"
const TICKS = 100 // USER_HZ

const freePorts = async (n: number) => {
  const servers = await Promise.all(Array.from({ length: n }, () =>
    new Promise<Net.Server>((resolve) => {
      const s = Net.createServer()
      s.listen(0, "127.0.0.1", () => resolve(s))
    })))
  const ports = servers.map((s) => (s.address() as Net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

/** utime + stime of a process, in seconds */
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

const childrenOf = (ppid: number): Array<number> =>
  readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[1]) === ppid ? [Number(d)] : []
    } catch {
      return []
    }
  })

/** node name → pid, from each child's command line */
const nodePids = (launcher: number): Map<string, number> => {
  const out = new Map<string, number>()
  for (const pid of childrenOf(launcher)) {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    const i = args.indexOf("--name")
    if (i >= 0) out.set(args[i + 1]!, pid)
  }
  return out
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const cpuWindow = async (pids: Map<string, number>, ms: number) => {
  const before = new Map([...pids].map(([n, p]) => [n, cpuSeconds(p)]))
  const t0 = performance.now()
  await sleep(ms)
  const seconds = (performance.now() - t0) / 1000
  return new Map([...pids].map(([n, p]) => [n, ((cpuSeconds(p) - before.get(n)!) / seconds) * 100]))
}

const getJson = (url: string, token: string) =>
  new Promise<void>((resolve) => {
    Http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume().on("end", () => resolve())
    }).on("error", () => resolve())
  })

const measure = async (n: number) => {
  const dir = mkdtempSync(join(tmpdir(), "telex-bench-observer-"))
  const ports = await freePorts(n)
  const config = join(dir, "cluster.json")
  writeFileSync(config, JSON.stringify({
    cluster: "bench-observer",
    nodes: ports.map((port, i) => ({ name: `n${i + 1}`, port })),
    heartbeat: { interval: "1s", acceptablePause: "20s" }
  }))
  const launcher = spawn(process.execPath, [BIN, "start", config], {
    cwd: dir,
    env: { ...process.env, TELEX_SECRET: SECRET, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "inherit"]
  })
  let out = ""
  launcher.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s))
  try {
    for (let t = 0; !out.includes("cluster formed"); t += 200) {
      if (t > 300_000) throw new Error(`the cluster did not form:\n${out.slice(-2000)}`)
      await sleep(200)
    }
    await sleep(5_000) // let start-up work settle
    const pids = nodePids(launcher.pid!)
    if (pids.size !== n) throw new Error(`found ${pids.size} node processes, not ${n}`)

    const idle = await cpuWindow(pids, windowMs)

    // the observer, with what an open page asks of it
    const withObserver = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const observer = yield* Observer.serve(config, { secret: Redacted.make(SECRET) })
      const base = `http://127.0.0.1:${observer.port}`
      const stream = Http.get(`${base}/api/stream?token=${observer.token}`, (res) => res.resume())
      stream.on("error", () => {})
      let polling = true
      const poll = (async () => {
        while (polling) {
          await Promise.all([getJson(`${base}/api/nodes/n1/tree`, observer.token), getJson(`${base}/api/nodes/n1/actors?limit=100`, observer.token)])
          await sleep(1000)
        }
      })()
      yield* Effect.sleep("4 seconds") // connected, and a first rate computed
      const before = new Map(observer.traffic().map((t) => [t.node, t]))
      const t0 = performance.now()
      const cpu = yield* Effect.promise(() => cpuWindow(pids, windowMs))
      const seconds = (performance.now() - t0) / 1000
      const bytes = new Map(observer.traffic().map((t) => {
        const b = before.get(t.node)
        return [t.node, { out: (t.bytesOut - (b?.bytesOut ?? 0)) / seconds, in: (t.bytesIn - (b?.bytesIn ?? 0)) / seconds }]
      }))
      polling = false
      yield* Effect.promise(() => poll)
      stream.destroy()
      return { cpu, bytes }
    })))

    const names = [...pids.keys()]
    const rows = names.map((name) => ({
      node: name,
      cpuIdle: idle.get(name)!,
      cpuObserved: withObserver.cpu.get(name)!,
      // from the node's side: what it sends to the observer and what it receives
      bytesOutPerSec: withObserver.bytes.get(name)?.in ?? 0,
      bytesInPerSec: withObserver.bytes.get(name)?.out ?? 0
    }))
    return rows
  } finally {
    launcher.kill("SIGINT")
    await new Promise((r) => launcher.once("exit", r))
    rmSync(dir, { recursive: true, force: true })
  }
}

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
const f = (x: number, d = 1) => x.toFixed(d)

const results: Record<string, unknown> = {}
for (const n of sizes) {
  process.stderr.write(`observer bench: ${n} nodes, windows of ${windowMs} ms\n`)
  const rows = await measure(n)
  const others = rows.filter((r) => r.node !== "n1")
  const n1 = rows.find((r) => r.node === "n1")!
  const summary = {
    nodes: n,
    cpuIdleMeanPct: mean(rows.map((r) => r.cpuIdle)),
    cpuObservedMeanPct: mean(rows.map((r) => r.cpuObserved)),
    /** n1: its tree and actor table polled each second as well */
    n1CpuIdlePct: n1.cpuIdle,
    n1CpuObservedPct: n1.cpuObserved,
    othersCpuDeltaPct: mean(others.map((r) => r.cpuObserved - r.cpuIdle)),
    n1BytesOutPerSec: n1.bytesOutPerSec,
    n1BytesInPerSec: n1.bytesInPerSec,
    othersBytesOutPerSec: mean(others.map((r) => r.bytesOutPerSec)),
    othersBytesInPerSec: mean(others.map((r) => r.bytesInPerSec))
  }
  results[`n${n}`] = summary
  console.log(`\n${n} nodes (window ${windowMs / 1000} s)`)
  console.log("node  cpu% idle  cpu% observed  bytes/s to observer  bytes/s from observer")
  for (const r of rows) {
    console.log(`${r.node.padEnd(5)} ${f(r.cpuIdle).padStart(9)}  ${f(r.cpuObserved).padStart(13)}  ${f(r.bytesOutPerSec, 0).padStart(19)}  ${f(r.bytesInPerSec, 0).padStart(21)}`)
  }
}
// --- paging a node with many actors ---------------------------------------------------------
const Idle = Actor.make("BenchIdle", { Ping: Actor.tell({ n: Schema.Int }) })
const IdleLive = Idle.behavior(Effect.succeed({ Ping: () => Effect.void }))

if (pagingActors > 0) {
  process.stderr.write(`observer bench: the actor table of a node with ${pagingActors} actors\n`)
  results["paging"] = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(Registry.layer.pipe(Layer.provideMerge(Node.layerWithSystem({ name: "p", cluster: "bench-paging", secret: Redacted.make(SECRET) }))))
    const system = Context.get(ctx, ActorSystem)
    const admin = yield* Admin.start.pipe(Effect.provideContext(ctx))
    const refs = []
    for (let i = 0; i < pagingActors; i++) refs.push(yield* system.spawn(IdleLive, i % 1000 === 0 ? { name: `idle-${i}` } : undefined))
    for (let i = 0; i < 1000; i++) yield* refs[i]!.tell(Idle.Ping({ n: i }))
    const time = (request: Parameters<typeof Admin.Protocol.Actors>[0], times = 5) =>
      Effect.gen(function*() {
        const ms: Array<number> = []
        let bytes = 0
        for (let i = 0; i < times; i++) {
          const t0 = performance.now()
          const page = yield* admin.ask(Admin.Protocol.Actors(request), { timeout: "60 seconds" })
          ms.push(performance.now() - t0)
          bytes = JSON.stringify(page).length
        }
        ms.sort((a, b) => a - b)
        return { medianMs: ms[Math.floor(ms.length / 2)]!, pageJsonBytes: bytes }
      })
    const byActor = yield* time({ offset: 50_000, limit: 100, sort: "actor", descending: false, filter: "" })
    const byRate = yield* time({ offset: 0, limit: 100, sort: "msgsPerSec", descending: true, filter: "" })
    const filtered = yield* time({ offset: 0, limit: 100, sort: "name", descending: false, filter: "idle-" })
    const t0 = performance.now()
    yield* admin.ask(Admin.Protocol.Tree(), { timeout: "60 seconds" })
    const treeMs = performance.now() - t0
    const r = { actors: pagingActors, byActor, byRate, filtered, treeMs, rssMiB: process.memoryUsage.rss() / 2 ** 20 }
    console.log(`\nactor table of ${pagingActors} actors: page by address ${f(byActor.medianMs)} ms, by rate ${f(byRate.medianMs)} ms, filtered by name ${f(filtered.medianMs)} ms (${byActor.pageJsonBytes} bytes of JSON per page of 100); tree ${f(treeMs)} ms`)
    return r
  })))
}
console.log(JSON.stringify(results))
