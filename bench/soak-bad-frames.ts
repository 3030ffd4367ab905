/**
 * A flood of bad input from raw peers (not a benchmark, not in `run.ts`): `BAD_PEERS` (2)
 * authenticated raw connections send, as fast as the node reads, envelopes it must refuse with
 * the connection up — asks failing the Schema (some with a 200 KB string), asks with unknown
 * tags or to unknown actors, replies to unknown asks, unknown kinds, tells failing the Schema —
 * for `BAD_SECONDS` (10), reading what the node answers, from a child process. Meanwhile a node
 * `a` in the node's process asks the node's counter in a loop. Prints the node's longest
 * event-loop gap (a setImmediate chain's; and the longest in which it had the CPU at least half
 * of the time, as opposed to waiting for a core on a loaded machine), the longest of `a`'s asks, the asks answered and
 * their failures, the envelopes refused, the heap and RSS at the end, and whether the raw peers
 * were disconnected (and why, from the node's log).
 *
 * With `SOAK_CPU_PROF=<dir>` the process profiles itself and writes `<dir>/bad-frames-<pid>.cpuprofile`
 * with its event-loop gaps over 50 ms (`node bench/soak-busy.mjs <file>` shows what ran in them).
 *
 *   npx node bench/soak-bad-frames.ts
 */
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Session } from "node:inspector"
import { Effect, Logger, Redacted } from "effect"
import { Counter, CounterLive } from "../examples/counter.ts"
import * as TestNode from "../src/testing/TestNode.ts"
import { FrameType, encodeFrame } from "../src/transport/Frame.ts"
import { RawPeer } from "../test/transport/_raw.ts"

const SECONDS = Number(process.env.BAD_SECONDS ?? 10)
const PEERS = Number(process.env.BAD_PEERS ?? 2)
const cluster = "bad"

const profileDir = process.env.SOAK_CPU_PROF
const gaps: Array<[number, number]> = []
const profiler = profileDir === undefined || profileDir === "" || process.argv[2] === "pump" ? undefined : (() => {
  const session = new Session()
  session.connect()
  session.post("Profiler.enable")
  session.post("Profiler.setSamplingInterval", { interval: 500 })
  session.post("Profiler.start")
  let last = process.hrtime.bigint()
  setInterval(() => {
    const now = process.hrtime.bigint()
    if (now - last > 50_000_000n) gaps.push([Number(last / 1000n), Number(now / 1000n)])
    last = now
  }, 5).unref()
  return session
})()
const writeProfile = () =>
  profiler?.post("Profiler.stop", (error, result) => {
    const path = `${profileDir}/bad-frames-${process.pid}.cpuprofile`
    if (error === null) writeFileSync(path, JSON.stringify({ ...result.profile, gaps }))
    console.log(`profile: ${path}`)
  })
const secret = "bad-secret"

/**
 * The raw peers run in a child process of their own (this file with `pump <port>`), so that the
 * gaps measured are the node's own, not those of the pump writing and reading beside it.
 */
const pumpMain = async (port: number) => {
  const closes: Array<string> = []
  const raws = await Promise.all(Array.from({ length: PEERS }, async (_, k) => {
    const peer = await RawPeer.authenticated(port, { cluster, secret, name: `raw${k}`, codec: k % 2 === 0 ? "json" : "msgpack" })
    peer.sendEnvelope([22, 1, "counter"])
    const id = (await peer.envelope(23))[2].id as number
    peer.closedPromise.then(() => closes.push(`raw${k}`))
    return { peer, id }
  }))
  // one batch of bad envelopes per peer (frames concatenated), written again whenever the socket drains
  const big = "x".repeat(200_000)
  const batches = raws.map(({ id, peer }) => {
    const frames: Array<Uint8Array> = []
    let askId = 1
    for (let k = 0; k < 200; k++) {
      const e = (v: unknown) => frames.push(encodeFrame(FrameType.Message, peer.encode(v)))
      e([1, id, "Counter", { _tag: "Decrement", by: "x" }, askId++, null])
      e([1, id, "Counter", { _tag: "constructor" }, askId++, null])
      e([1, 999_999, "Counter", { _tag: "Get" }, askId++, null])
      e([1, id, "Other", { _tag: "Get" }, askId++, null])
      e([2, 1_000_000 + k, 0, null])
      e([99, "x"])
      e([0, id, "Counter", { _tag: "Increment", by: "y" }])
      e([0, 999_999, "Counter", { _tag: "Increment", by: 1 }])
      if (k % 50 === 0) e([1, id, "Counter", { _tag: "Decrement", by: big }, askId++, null])
    }
    return Buffer.concat(frames)
  })
  let stop = false
  let written = 0
  raws.forEach(({ peer }, k) => {
    const pump = () => {
      while (!stop && !peer.closed) {
        written += batches[k]!.length
        if (!peer.socket.write(batches[k]!)) return void peer.socket.once("drain", pump)
      }
    }
    pump()
    // what the node answers is read and dropped
    peer.socket.on("data", () => void (peer.frames.length = 0))
  })
  process.stdout.write("pumping\n")
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  stop = true
  process.stdout.write(JSON.stringify({ writtenMiB: Math.round(written / 1048576), rawClosed: closes }) + "\n")
  for (const { peer } of raws) peer.destroy()
  process.exit(0)
}

const program = Effect.gen(function*() {
  const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
  yield* b.system.spawn(CounterLive, { name: "counter" })
  const a = yield* TestNode.startNode("a", { cluster, secret: Redacted.make(secret) })
  yield* TestNode.connect(a, b)
  const counter = yield* a.node.lookup("b", Counter, "counter")
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "pump", String(b.node.address.port)], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  let out = ""
  child.stdout.on("data", (d) => void (out += String(d)))
  yield* Effect.promise(() => new Promise<void>((resolve) => {
    const check = () => (out.includes("pumping") ? resolve() : setTimeout(check, 10))
    check()
  }))
  const done = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  let stop = false
  let maxGap = 0
  // the longest gap in which this process was running (its CPU time at least half the gap): on a
  // loaded machine the longest gaps are often the process waiting for a core, not working
  let maxBusyGap = 0
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  const gapper = () => {
    const now = performance.now()
    const cpu = process.cpuUsage()
    const gap = now - last
    if (gap > maxGap) maxGap = gap
    if (gap > maxBusyGap && (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000 >= gap / 2) maxBusyGap = gap
    last = now
    lastCpu = cpu
    if (!stop) setImmediate(gapper)
  }
  setImmediate(gapper)
  let ok = 0
  let maxAskMs = 0
  const failures: Record<string, number> = {}
  const deadline = performance.now() + SECONDS * 1000
  while (performance.now() < deadline) {
    const t0 = performance.now()
    const r = yield* Effect.result(counter.ask(Counter.Get(), { timeout: "5 seconds" }))
    maxAskMs = Math.max(maxAskMs, performance.now() - t0)
    if (r._tag === "Success") ok++
    else failures[r.failure._tag] = (failures[r.failure._tag] ?? 0) + 1
    yield* Effect.sleep("10 millis")
  }
  stop = true
  writeProfile()
  yield* Effect.promise(() => done)
  const pumped = JSON.parse(out.split("\n").filter((l) => l.startsWith("{")).pop() ?? "{}")
  const deadLetters = b.system.deadLetterCount()
  const mem = process.memoryUsage()
  console.log(JSON.stringify({
    seconds: SECONDS,
    ...pumped,
    maxGapMs: Math.round(maxGap),
    maxBusyGapMs: Math.round(maxBusyGap),
    maxAskMs: Math.round(maxAskMs),
    asksOk: ok,
    failures,
    deadLetters,
    heapMiB: Math.round(mem.heapUsed / 1048576),
    rssMiB: Math.round(mem.rss / 1048576)
  }))
}).pipe(Effect.scoped, Effect.provide(Logger.layer([Logger.consolePretty()])))

if (process.argv[2] === "pump") void pumpMain(Number(process.argv[3]))
else Effect.runPromise(program).then(() => process.exit(0), (e) => (console.error(e), process.exit(1)))
