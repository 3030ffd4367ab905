/**
 * Remote (two-process, loopback TCP) benchmarks. A child process (`bench/remote-peer.ts`, run
 * with `process.execPath`) hosts a Telex node with the `Bench` target actor and a raw TCP
 * server; this process is a second node that connects to it. Each measurement runs next to a
 * raw-socket baseline between the same two processes in the same round (same-run ratios):
 *
 * - tell throughput: N validated ~100-byte `Bench.Tell`s with `yield* ref.tell(msg)` (honours
 *   the connection's backpressure), ended by an ask (FIFO: a barrier). Baseline: the same
 *   envelope `[0, id, "Bench", { _tag, seq, account, amount, note }]` encoded per message with
 *   msgpackr `useRecords`+`sequential`, 4-byte length frames concatenated 256 per `write`,
 *   decoded one by one by the receiver, which acks after the last
 *   (`tcp-throughput.mjs --codec=msgpack-records`).
 * - ask RTT: one ask in flight, p50/p99 after a warm-up. Baseline: 64-byte frames echoed,
 *   `setNoDelay` on both sides (`tcp-pingpong.mjs`).
 * - pipelined asks: `inFlight` fibers asking in a loop; asks/s and its ratio to tell/s.
 * - bulk: 64 KiB `Uint8Array` messages, MB/s of payload. Baseline: 64 KiB frames from one
 *   preallocated buffer, reassembled by the receiver with one concat each (`tcp-throughput.mjs
 *   --size=65536`).
 *
 * Tell and bulk run in `slices` slices per round, alternating baseline and runtime (A B B A), so
 * that load from elsewhere hits both sides of a ratio alike; ask latency likewise. For tell and
 * bulk the CPU time per message of each process is recorded too (this one's, and the peer's from
 * `/proc` where there is one): on a shared machine it moves much less with the load than rates do.
 *
 * Environment: `BENCH_REMOTE_TELL_N` (300 000), `BENCH_REMOTE_ASK_N` (20 000),
 * `BENCH_REMOTE_PIPELINED_N` (100 000), `BENCH_REMOTE_BULK_N` (4096 messages of 64 KiB),
 * `BENCH_PEER_NODE_ARGS` (extra node arguments for the peer, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 *
 * The child is always stopped: its stdin is its lifeline (closed when this group ends, or when
 * this process dies), it gets SIGKILL if it has not exited 3 s later, and an `exit` hook kills
 * it if this process exits any other way.
 */
import { Effect, Layer, ManagedRuntime, Redacted, References } from "effect"
import { Packr } from "msgpackr"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import { readFileSync } from "node:fs"
import * as Net from "node:net"
import { join } from "node:path"
import { createInterface } from "node:readline"
import type { ActorRef } from "../src/actors/ActorRef.ts"
import type { ActorSystem } from "../src/index.ts"
import { Node } from "../src/transport/Node.ts"
import { type BenchGroup, envInt, type GroupResult, type Metric, nowNs, percentile } from "./lib.ts"
import {
  ACCOUNT,
  AMOUNT,
  Bench,
  msgpackrRecordsOptions,
  nodeOptions,
  NOTE,
  PING_NOTE,
  RawFrameDecoder,
  RawMode,
  TARGET,
  tellMessage
} from "./remote-protocol.ts"

const params = {
  tellMessages: envInt("BENCH_REMOTE_TELL_N", 300_000),
  /** frames per `write` in the raw tell baseline */
  batch: 256,
  asks: envInt("BENCH_REMOTE_ASK_N", 20_000),
  askWarmup: 2_000,
  pingPayloadBytes: 64,
  pipelinedAsks: envInt("BENCH_REMOTE_PIPELINED_N", 100_000),
  inFlight: 64,
  bulkMessages: envInt("BENCH_REMOTE_BULK_N", 4096),
  bulkBytes: 64 * 1024,
  slices: 2,
  /** msgpackr-records bytes of one tell envelope in the baseline (the record structure excluded) */
  tellEnvelopeBytes: 0,
  pingEnvelopeBytes: 0
}

type BenchRef = ActorRef<typeof Bench.defs>
type Runtime = ManagedRuntime.ManagedRuntime<Node | ActorSystem, unknown>

const HOST = "127.0.0.1"
const longAsk = { timeout: "120 seconds" } as const

const check = (what: string, got: number, expected: number): void => {
  if (got !== expected) throw new Error(`${what}: got ${got}, expected ${expected}`)
}

// ---------------------------------------------------------------------------
// the peer process
// ---------------------------------------------------------------------------

export interface Peer {
  readonly child: ChildProcess
  readonly port: number
  readonly rawPort: number
  /** the peer's whole JSON line (a peer script may add fields) */
  readonly info: Readonly<Record<string, unknown>>
  /** closes its stdin, waits for it to exit (SIGKILL after 3 s) */
  readonly stop: () => Promise<void>
}

/**
 * Starts a peer script (default `remote-peer.ts`; the `reliable` group has its own) with
 * `process.execPath`, and waits for its `{ "port": … }` line.
 */
export const startPeer = async (
  secret: string,
  log: (line: string) => void,
  script = join(import.meta.dirname, "remote-peer.ts"),
  env: Readonly<Record<string, string>> = {}
): Promise<Peer> => {
  const extra = (process.env["BENCH_PEER_NODE_ARGS"] ?? "").split(" ").filter((s) => s.length > 0)
  const child = spawn(process.execPath, [...extra, script], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...env, TELEX_BENCH_SECRET: secret }
  })
  const killOnExit = () => child.kill("SIGKILL")
  process.on("exit", killOnExit)
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
  })
  const stop = async (): Promise<void> => {
    child.stdin?.end()
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
    await exited
    clearTimeout(timer)
    process.off("exit", killOnExit)
  }
  try {
    const lines = createInterface({ input: child.stdout! })
    // the first line that is our JSON (node flags such as --trace-gc may print before it)
    const first = new Promise<string>((resolve, reject) => {
      const onLine = (l: string) => {
        if (!l.startsWith("{\"port\":")) return log(`peer: ${l}`)
        lines.off("line", onLine)
        resolve(l)
      }
      lines.on("line", onLine)
      child.once("error", reject)
      child.once("exit", (code, signal) => reject(new Error(`remote-peer exited before it listened (${code ?? signal})`)))
    })
    const timeout = new Promise<never>((_, reject) => {
      setTimeout(() => reject(new Error("remote-peer did not start within 30 s")), 30_000).unref()
    })
    const line = await Promise.race([first, timeout])
    // whatever the peer prints later (logs) is passed on, so its stdout pipe never fills up
    lines.on("line", (l) => log(`peer: ${l}`))
    const info = JSON.parse(line) as { port: number; rawPort: number }
    return { child, port: info.port, rawPort: info.rawPort, info, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

// ---------------------------------------------------------------------------
// raw baselines (client side; the server side is in remote-peer.ts)
// ---------------------------------------------------------------------------

const rawConnect = async (port: number, mode: number, count: number): Promise<Net.Socket> => {
  const socket = Net.connect({ host: HOST, port })
  await once(socket, "connect")
  socket.setNoDelay(true)
  const header = Buffer.alloc(5)
  header[0] = mode
  header.writeUInt32BE(count, 1)
  socket.write(header)
  return socket
}

/** The baseline's envelope: what the runtime puts on the wire for a tell, as plain data. */
const rawEnvelope = (targetId: number, seq: number) =>
  [0, targetId, "Bench", { _tag: "Tell", seq, account: ACCOUNT, amount: AMOUNT, note: NOTE }]

/** msgpackr-records frames, 256 per write, decoded one by one by the peer: elapsed ns. */
const baselineTell = async (port: number, targetId: number, n: number): Promise<number> => {
  const socket = await rawConnect(port, RawMode.Tell, n)
  const acked = once(socket, "data")
  const packr = new Packr({ ...msgpackrRecordsOptions })
  const FRAME_MAX = 4 + 512
  const t0 = nowNs()
  let seq = 0
  let left = n
  while (left > 0) {
    const k = Math.min(params.batch, left)
    const buf = Buffer.allocUnsafe(k * FRAME_MAX)
    let off = 0
    for (let j = 0; j < k; j++) {
      const bytes = packr.pack(rawEnvelope(targetId, seq++))
      buf.writeUInt32BE(bytes.length, off)
      bytes.copy(buf, off + 4)
      off += 4 + bytes.length
    }
    left -= k
    if (!socket.write(off === buf.length ? buf : buf.subarray(0, off))) await once(socket, "drain")
  }
  await acked
  const elapsed = nowNs() - t0
  socket.destroy()
  return elapsed
}

/** 64-byte frames echoed, one in flight: round-trip times in ns. */
const baselinePingPong = async (port: number, warmup: number, n: number): Promise<Samples> => {
  const socket = await rawConnect(port, RawMode.PingPong, 0)
  const payload = params.pingPayloadBytes
  const frame = Buffer.alloc(4 + payload, 0x61)
  frame.writeUInt32BE(payload, 0)
  const samples = new Float64Array(n)
  const total = warmup + n
  let i = 0
  let t0 = 0
  let start = 0
  const done = new Promise<number>((resolve, reject) => {
    const dec = new RawFrameDecoder((_buf, s, e) => {
      const t1 = nowNs()
      if (e - s !== payload) return reject(new Error("bad echo"))
      if (i >= warmup) samples[i - warmup] = t1 - t0
      i++
      if (i === warmup) start = nowNs()
      if (i === total) return resolve(nowNs())
      t0 = nowNs()
      socket.write(frame)
    })
    socket.on("data", (c: Buffer) => dec.push(c))
    socket.once("close", () => reject(new Error("ping-pong connection closed")))
  })
  t0 = nowNs()
  socket.write(frame)
  const end = await done
  socket.destroy()
  return { samples, totalNs: end - start }
}

/** 64 KiB frames from one buffer, reassembled by the peer: elapsed ns. */
const baselineBulk = async (port: number, n: number): Promise<number> => {
  const socket = await rawConnect(port, RawMode.Bulk, n)
  const acked = once(socket, "data")
  const frame = Buffer.alloc(4 + params.bulkBytes, 0x63)
  frame.writeUInt32BE(params.bulkBytes, 0)
  const t0 = nowNs()
  for (let i = 0; i < n; i++) {
    if (!socket.write(frame)) await once(socket, "drain")
  }
  await acked
  const elapsed = nowNs() - t0
  socket.destroy()
  return elapsed
}

// ---------------------------------------------------------------------------
// the runtime's side
// ---------------------------------------------------------------------------

/** `yield* ref.tell(msg)` ×n, then an ask as a barrier: elapsed ns. */
const telexTell = (runtime: Runtime, ref: BenchRef, n: number): Promise<number> =>
  runtime.runPromise(Effect.gen(function*() {
    const before = yield* ref.ask(Bench.Count(), longAsk)
    const t0 = nowNs()
    for (let i = 0; i < n; i++) yield* ref.tell(tellMessage(i))
    const after = yield* ref.ask(Bench.Count(), longAsk)
    const elapsed = nowNs() - t0
    check("messages handled by the peer (tell)", after - before, n)
    return elapsed
  }))

const telexAsk = (runtime: Runtime, ref: BenchRef, warmup: number, n: number): Promise<Samples> =>
  runtime.runPromise(Effect.gen(function*() {
    for (let i = 0; i < warmup; i++) yield* ref.ask(Bench.Ping({ seq: i, note: PING_NOTE }))
    const samples = new Float64Array(n)
    const start = nowNs()
    for (let i = 0; i < n; i++) {
      const t0 = nowNs()
      const seq = yield* ref.ask(Bench.Ping({ seq: i, note: PING_NOTE }))
      samples[i] = nowNs() - t0
      if (seq !== i) throw new Error(`ping ${i} answered ${seq}`)
    }
    return { samples, totalNs: nowNs() - start }
  }))

/** `inFlight` fibers asking in a loop: elapsed ns for `n` asks. */
const telexPipelined = (runtime: Runtime, ref: BenchRef, n: number, inFlight: number): Promise<number> =>
  runtime.runPromise(Effect.gen(function*() {
    const per = Math.ceil(n / inFlight)
    const worker = Effect.gen(function*() {
      for (let i = 0; i < per; i++) yield* ref.ask(Bench.Ping({ seq: i, note: PING_NOTE }))
    })
    const t0 = nowNs()
    yield* Effect.forEach(Array.from({ length: inFlight }, () => worker), (w) => w, {
      concurrency: "unbounded",
      discard: true
    })
    return ((nowNs() - t0) * n) / (per * inFlight)
  }))

/** 64 KiB `Bulk` tells, then an ask as a barrier: elapsed ns. */
const telexBulk = (runtime: Runtime, ref: BenchRef, n: number): Promise<number> =>
  runtime.runPromise(Effect.gen(function*() {
    const data = new Uint8Array(params.bulkBytes).fill(0x63)
    const before = yield* ref.ask(Bench.Count(), longAsk)
    const t0 = nowNs()
    for (let i = 0; i < n; i++) yield* ref.tell(Bench.Bulk({ data }))
    const after = yield* ref.ask(Bench.Count(), longAsk)
    const elapsed = nowNs() - t0
    check("messages handled by the peer (bulk)", after - before, n)
    return elapsed
  }))

// ---------------------------------------------------------------------------
// CPU time of both processes (load-robust: on a shared machine wall-clock rates swing with
// whatever else runs, CPU per message much less)
// ---------------------------------------------------------------------------

/** this process's CPU time in µs */
const selfCpuMicros = (): number => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** another process's CPU time in µs (Linux `/proc`, clock-tick resolution), NaN where unknown */
const processCpuMicros = (pid: number | undefined): number => {
  if (pid === undefined) return NaN
  try {
    // fields after the command name: utime and stime are the 12th and 13th
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks
  } catch {
    return NaN
  }
}

/** clock ticks per second of `/proc` times (`getconf CLK_TCK`, 100 on Linux almost everywhere) */
const clockTicks = ((): number => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" })
  const n = Number(r.stdout?.trim())
  return Number.isFinite(n) && n > 0 ? n : 100
})()

/** Runs `f`, adding the CPU time of this process and of `peerPid` to `cpu`. */
const withCpu = async <A>(cpu: { self: number; peer: number }, peerPid: number | undefined, f: () => Promise<A>): Promise<A> => {
  const self0 = selfCpuMicros()
  const peer0 = processCpuMicros(peerPid)
  const a = await f()
  cpu.self += selfCpuMicros() - self0
  cpu.peer += processCpuMicros(peerPid) - peer0
  return a
}

// ---------------------------------------------------------------------------
// statistics
// ---------------------------------------------------------------------------

export interface Samples {
  readonly samples: Float64Array
  readonly totalNs: number
}

export interface Latency {
  readonly p50: number
  readonly p99: number
  readonly perSec: number
}

export const latencyOf = (slices: ReadonlyArray<Samples>): Latency => {
  let n = 0
  let totalNs = 0
  for (const s of slices) {
    n += s.samples.length
    totalNs += s.totalNs
  }
  const all = new Float64Array(n)
  let offset = 0
  for (const s of slices) {
    all.set(s.samples, offset)
    offset += s.samples.length
  }
  all.sort()
  return { p50: percentile(all, 50) / 1e3, p99: percentile(all, 99) / 1e3, perSec: (n * 1e9) / totalNs }
}

/** Runs the steps in order, then in reverse order, and so on, `slices` times. */
export const alternate = async (slices: number, steps: ReadonlyArray<() => Promise<void>>): Promise<void> => {
  for (let s = 0; s < slices; s++) {
    const order = s % 2 === 0 ? steps : [...steps].reverse()
    for (const step of order) await step()
  }
}

// ---------------------------------------------------------------------------
// the group
// ---------------------------------------------------------------------------

const metrics: ReadonlyArray<Metric> = [
  { key: "tellPerSec", label: "remote tell (yield* ref.tell, ~100 B)", unit: "msg/s" },
  { key: "tellBaselinePerSec", label: "  baseline msgpackr-records, concat", unit: "msg/s" },
  { key: "tellRatio", label: "  ratio tell / baseline", unit: "×", digits: 3, goal: { op: ">=", value: 0.5 } },
  { key: "askP50Micros", label: "remote ask RTT p50 (1 in flight)", unit: "µs", digits: 1 },
  { key: "askP99Micros", label: "remote ask RTT p99", unit: "µs", digits: 1 },
  { key: "askBaselineP50Micros", label: "  baseline ping-pong 64 B p50", unit: "µs", digits: 1 },
  { key: "askBaselineP99Micros", label: "  baseline ping-pong 64 B p99", unit: "µs", digits: 1 },
  { key: "askP50Ratio", label: "  ratio ask p50 / baseline p50", unit: "×", digits: 2, goal: { op: "<=", value: 2 } },
  { key: "askP99Ratio", label: "  ratio ask p99 / baseline p99", unit: "×", digits: 2, goal: { op: "<=", value: 3 } },
  { key: "pipelinedAskPerSec", label: "pipelined asks (64 in flight)", unit: "ask/s" },
  { key: "pipelinedAskRatio", label: "  ratio pipelined asks / tells", unit: "×", digits: 3 },
  { key: "bulkMBps", label: "bulk 64 KiB messages", unit: "MB/s", digits: 1 },
  { key: "bulkBaselineMBps", label: "  baseline framed 64 KiB", unit: "MB/s", digits: 1 },
  { key: "bulkRatio", label: "  ratio bulk / baseline", unit: "×", digits: 3, goal: { op: ">=", value: 0.5 } },
  { key: "tellSenderCpuMicros", label: "CPU per tell: sender", unit: "µs", digits: 2 },
  { key: "tellReceiverCpuMicros", label: "  receiver (peer process)", unit: "µs", digits: 2 },
  { key: "bulkSenderCpuMicros", label: "CPU per 64 KiB message: sender", unit: "µs", digits: 1 },
  { key: "bulkReceiverCpuMicros", label: "  receiver (peer process)", unit: "µs", digits: 1 }
]

interface Sizes {
  readonly tell: number
  readonly asks: number
  readonly askWarmup: number
  readonly pipelined: number
  readonly bulk: number
}

const oneRound = async (
  runtime: Runtime,
  ref: BenchRef,
  rawPort: number,
  sizes: Sizes,
  peerPid: number | undefined
): Promise<Record<string, number>> => {
  const slices = params.slices
  const targetId = ref.address.id

  const tellPerSlice = Math.ceil(sizes.tell / slices)
  let tellNs = 0
  let tellBaselineNs = 0
  const tellCpu = { self: 0, peer: 0 }
  await alternate(slices, [
    async () => {
      tellBaselineNs += await baselineTell(rawPort, targetId, tellPerSlice)
    },
    async () => {
      tellNs += await withCpu(tellCpu, peerPid, () => telexTell(runtime, ref, tellPerSlice))
    }
  ])
  const tellPerSec = (tellPerSlice * slices * 1e9) / tellNs
  const tellBaselinePerSec = (tellPerSlice * slices * 1e9) / tellBaselineNs

  const asksPerSlice = Math.ceil(sizes.asks / slices)
  const askSlices: Array<Samples> = []
  const baselineSlices: Array<Samples> = []
  await alternate(slices, [
    async () => {
      baselineSlices.push(await baselinePingPong(rawPort, sizes.askWarmup, asksPerSlice))
    },
    async () => {
      askSlices.push(await telexAsk(runtime, ref, sizes.askWarmup, asksPerSlice))
    }
  ])
  const ask = latencyOf(askSlices)
  const askBaseline = latencyOf(baselineSlices)

  const pipelinedNs = await telexPipelined(runtime, ref, sizes.pipelined, params.inFlight)
  const pipelinedAskPerSec = (sizes.pipelined * 1e9) / pipelinedNs

  const bulkPerSlice = Math.ceil(sizes.bulk / slices)
  let bulkNs = 0
  let bulkBaselineNs = 0
  const bulkCpu = { self: 0, peer: 0 }
  await alternate(slices, [
    async () => {
      bulkBaselineNs += await baselineBulk(rawPort, bulkPerSlice)
    },
    async () => {
      bulkNs += await withCpu(bulkCpu, peerPid, () => telexBulk(runtime, ref, bulkPerSlice))
    }
  ])
  const bulkPayload = bulkPerSlice * slices * params.bulkBytes
  const bulkMBps = (bulkPayload * 1e3) / bulkNs
  const bulkBaselineMBps = (bulkPayload * 1e3) / bulkBaselineNs

  return {
    tellPerSec,
    tellBaselinePerSec,
    tellRatio: tellPerSec / tellBaselinePerSec,
    askP50Micros: ask.p50,
    askP99Micros: ask.p99,
    askBaselineP50Micros: askBaseline.p50,
    askBaselineP99Micros: askBaseline.p99,
    askP50Ratio: ask.p50 / askBaseline.p50,
    askP99Ratio: ask.p99 / askBaseline.p99,
    askPerSec: ask.perSec,
    askBaselinePerSec: askBaseline.perSec,
    pipelinedAskPerSec,
    pipelinedAskRatio: pipelinedAskPerSec / tellPerSec,
    bulkMBps,
    bulkBaselineMBps,
    bulkRatio: bulkMBps / bulkBaselineMBps,
    tellSenderCpuMicros: tellCpu.self / (tellPerSlice * slices),
    tellReceiverCpuMicros: tellCpu.peer / (tellPerSlice * slices),
    bulkSenderCpuMicros: bulkCpu.self / (bulkPerSlice * slices),
    bulkReceiverCpuMicros: bulkCpu.peer / (bulkPerSlice * slices)
  }
}

/** Envelope sizes as the baseline encodes them (second message: the record structure goes once). */
const measureEnvelopes = (targetId: number): void => {
  const packr = new Packr({ ...msgpackrRecordsOptions })
  packr.pack(rawEnvelope(targetId, 0))
  params.tellEnvelopeBytes = packr.pack(rawEnvelope(targetId, 1)).length
  const ping = [1, targetId, "Bench", { _tag: "Ping", seq: 1, note: PING_NOTE }, 1, null]
  packr.pack(ping)
  params.pingEnvelopeBytes = packr.pack(ping).length
}

export const remote: BenchGroup = {
  name: "remote",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    const secret = randomBytes(16).toString("hex")
    const peer = await startPeer(secret, log)
    let runtime: Runtime | undefined
    try {
      runtime = ManagedRuntime.make(
        Node.layerWithSystem({ name: "bench", cluster: "bench", secret: Redacted.make(secret), ...nodeOptions }).pipe(
          Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
        )
      ) as Runtime
      const rt = runtime
      const ref = await rt.runPromise(Effect.gen(function*() {
        const node = yield* Node
        yield* node.connect({ name: "peer", host: HOST, port: peer.port }, "20 seconds")
        return yield* node.lookup("peer", Bench, TARGET)
      }))
      measureEnvelopes(ref.address.id)
      log(`remote: peer pid ${peer.child.pid}, node port ${peer.port}, raw port ${peer.rawPort}; warm-up`)
      const full: Sizes = {
        tell: params.tellMessages,
        asks: params.asks,
        askWarmup: params.askWarmup,
        pipelined: params.pipelinedAsks,
        bulk: params.bulkMessages
      }
      await oneRound(rt, ref, peer.rawPort, {
        tell: Math.ceil(full.tell / 5),
        asks: Math.ceil(full.asks / 10),
        askWarmup: 500,
        pipelined: Math.ceil(full.pipelined / 10),
        bulk: Math.ceil(full.bulk / 10)
      }, peer.child.pid)
      const results: Array<Record<string, number>> = []
      for (let r = 1; r <= rounds; r++) {
        const t0 = nowNs()
        results.push(await oneRound(rt, ref, peer.rawPort, full, peer.child.pid))
        log(`remote: round ${r}/${rounds} done in ${((nowNs() - t0) / 1e9).toFixed(1)} s`)
      }
      return { metrics, rounds: results, params: { ...params } }
    } finally {
      if (runtime !== undefined) await runtime.dispose().catch(() => {})
      await peer.stop()
    }
  }
}
