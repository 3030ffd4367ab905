/**
 * Reliable-channel benchmarks, two processes over loopback TCP as in the `remote`
 * group: a child process (`bench/reliable-peer.ts`, run with `process.execPath`) hosts a Telex
 * node with a plain actor and `Reliable.consumer`s; this process is a second node. Every
 * reliable figure is set beside plain remote messaging between the same two processes in the
 * same round, with the same ~100-byte payload (`reliable-protocol.ts`):
 *
 * - plain tell: N `yield* ref.tell(msg)` to the plain actor, ended by an ask (FIFO: a barrier),
 *   as the remote group's tell. At most once, no acknowledgement: the baseline.
 * - reliable throughput: a fresh `Reliable.producer` per slice; N `yield* producer.offer(msg)`
 *   (default `bufferSize` 1000), the clock stops when the last `onOutcome` (Confirmed) arrives,
 *   i.e. when the consumer's acknowledgement of the last message is back. The default window
 *   (256) is the ratio of the issue (goal ≥ 0.5 × plain tell); windows 50 (Akka's default) and
 *   500 are reported beside it. The window is the consumer's grant (its `window` option); the producer is given
 *   the same value.
 * - send latency: `yield* producer.send(msg)`, one in flight (delivered, handled, acknowledged),
 *   p50/p99, beside a plain remote ask with the same payload (`Echo`), one in flight.
 * - durable: the default window with a `SqliteStore` on both sides (a file per process in a temporary
 *   directory), when `src/reliable/SqliteStore.ts` exists. Reported, no goal.
 *
 * Each throughput and latency comparison runs in `slices` (4) slices per round, alternating
 * (A B C C B A …), so that load from elsewhere hits both sides of a ratio alike. After each
 * reliable slice the producer's stats (all confirmed, none failed) and the peer's count of
 * handled messages are checked (outside the clock).
 *
 * Environment: `BENCH_RELIABLE_N` (200 000 messages per throughput measurement),
 * `BENCH_RELIABLE_SEND_N` (5 000 sends and asks), `BENCH_RELIABLE_DURABLE_N` (20 000),
 * `BENCH_PEER_NODE_ARGS` (extra node arguments for the peer, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { Effect, Layer, ManagedRuntime, Redacted, References } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ActorRef } from "../src/actors/ActorRef.ts"
import { type ActorSystem, Reliable } from "../src/index.ts"
import type { DeliveryStore } from "../src/reliable/DeliveryStore.ts"
import { Node } from "../src/transport/Node.ts"
import { type BenchGroup, envInt, type GroupResult, type Metric, nowNs } from "./lib.ts"
import { CONSUMERS, loadSqliteStore, Payload, payload, Plain, PLAIN } from "./reliable-protocol.ts"
import { nodeOptions } from "./remote-protocol.ts"
import { alternate, latencyOf, type Samples, startPeer } from "./remote.ts"

const params = {
  messages: envInt("BENCH_RELIABLE_N", 200_000),
  sends: envInt("BENCH_RELIABLE_SEND_N", 5_000),
  sendWarmup: 500,
  durableMessages: envInt("BENCH_RELIABLE_DURABLE_N", 20_000),
  window: CONSUMERS.wDefault.window,
  akkaWindow: CONSUMERS.w50.window,
  largeWindow: CONSUMERS.w500.window,
  /** the producer's default */
  bufferSize: 1000,
  /** slices per round for each throughput and latency pair (alternating, A B C C B A …) */
  slices: 4,
  durable: false
}

type PlainRef = ActorRef<typeof Plain.defs>
type ConsumerRef = Reliable.ConsumerRef
type Runtime = ManagedRuntime.ManagedRuntime<Node | ActorSystem, unknown>

const HOST = "127.0.0.1"
const longAsk = { timeout: "120 seconds" } as const

const check = (what: string, got: number, expected: number): void => {
  if (got !== expected) throw new Error(`${what}: got ${got}, expected ${expected}`)
}

let channels = 0
/** a channel id never used before in this run (each measurement has its own producer session) */
const channelId = (what: string) => `bench-${what}-${++channels}`

// ---------------------------------------------------------------------------
// measurements
// ---------------------------------------------------------------------------

/** `yield* ref.tell(msg)` ×n, then an ask as a barrier: elapsed ns. */
const plainTell = (runtime: Runtime, ref: PlainRef, n: number): Promise<number> =>
  runtime.runPromise(Effect.gen(function*() {
    const before = yield* ref.ask(Plain.Count(), longAsk)
    const t0 = nowNs()
    for (let i = 0; i < n; i++) yield* ref.tell(Plain.Tell(payload(i)))
    const after = yield* ref.ask(Plain.Count(), longAsk)
    const elapsed = nowNs() - t0
    check("tells handled by the peer", after - before, n)
    return elapsed
  }))

/** A fresh producer; `offer` ×n; elapsed ns until the n-th outcome (all confirmed). */
const reliableThroughput = (
  runtime: Runtime,
  plain: PlainRef,
  consumer: ConsumerRef,
  window: number,
  n: number,
  store: DeliveryStore | undefined,
  /** offer in parts of this many with `offerAll` (one store transaction each) */
  chunk?: number
): Promise<number> =>
  runtime.runPromise(Effect.scoped(Effect.gen(function*() {
    let outcomes = 0
    let failed = 0
    let resolveDone!: () => void
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve
    })
    const producer = yield* Reliable.producer({
      id: channelId(`w${window}${store === undefined ? "" : "-durable"}`),
      schema: Payload,
      consumer,
      window,
      bufferSize: params.bufferSize,
      ...(store === undefined ? {} : { store }),
      onOutcome: (o) => {
        if (o._tag !== "Confirmed") failed++
        if (++outcomes === n) resolveDone()
      }
    })
    const before = yield* plain.ask(Plain.Processed(), longAsk)
    const t0 = nowNs()
    if (chunk === undefined) {
      for (let i = 0; i < n; i++) yield* producer.offer(payload(i))
    } else {
      for (let i = 0; i < n; i += chunk) {
        yield* producer.offerAll(Array.from({ length: Math.min(chunk, n - i) }, (_, k) => payload(i + k)))
      }
    }
    yield* Effect.promise(() => done).pipe(
      Effect.timeoutOrElse({
        duration: "120 seconds",
        orElse: () => Effect.die(new Error(`reliable: ${outcomes}/${n} outcomes after 120 s`))
      })
    )
    const elapsed = nowNs() - t0
    const stats = producer.stats()
    check("reliable: failed outcomes", failed, 0)
    check("reliable: confirmed", stats.confirmed, n)
    check("reliable: unconfirmed", stats.unconfirmed, 0)
    const after = yield* plain.ask(Plain.Processed(), longAsk)
    check("reliable: messages handled by the peer's consumer", after - before, n)
    return elapsed
  })))

/** A fresh producer; `send`, one in flight: round-trip times in ns (after a warm-up). */
const reliableSend = (runtime: Runtime, consumer: ConsumerRef, warmup: number, n: number): Promise<Samples> =>
  runtime.runPromise(Effect.scoped(Effect.gen(function*() {
    const producer = yield* Reliable.producer({
      id: channelId("send"),
      schema: Payload,
      consumer,
      window: params.window
    })
    for (let i = 0; i < warmup; i++) yield* producer.send(payload(i))
    const samples = new Float64Array(n)
    const start = nowNs()
    for (let i = 0; i < n; i++) {
      const t0 = nowNs()
      yield* producer.send(payload(i))
      samples[i] = nowNs() - t0
    }
    const totalNs = nowNs() - start
    check("send: confirmed", producer.stats().confirmed, warmup + n)
    return { samples, totalNs }
  })))

/** Plain remote asks with the same payload, one in flight: round-trip times in ns. */
const plainAsk = (runtime: Runtime, ref: PlainRef, warmup: number, n: number): Promise<Samples> =>
  runtime.runPromise(Effect.gen(function*() {
    for (let i = 0; i < warmup; i++) yield* ref.ask(Plain.Echo(payload(i)))
    const samples = new Float64Array(n)
    const start = nowNs()
    for (let i = 0; i < n; i++) {
      const t0 = nowNs()
      const seq = yield* ref.ask(Plain.Echo(payload(i)))
      samples[i] = nowNs() - t0
      if (seq !== i) throw new Error(`echo ${i} answered ${seq}`)
    }
    return { samples, totalNs: nowNs() - start }
  }))

// ---------------------------------------------------------------------------
// the group
// ---------------------------------------------------------------------------

const baseMetrics: ReadonlyArray<Metric> = [
  { key: "tellPerSec", label: "plain remote tell (yield* ref.tell, ~100 B)", unit: "msg/s" },
  { key: "reliablePerSec", label: "reliable offer → all confirmed, default window 256", unit: "msg/s" },
  { key: "ratio", label: "  ratio reliable / plain tell", unit: "×", digits: 3, goal: { op: ">=", value: 0.5 } },
  { key: "reliableW50PerSec", label: "reliable offer → all confirmed, window 50 (Akka's)", unit: "msg/s" },
  { key: "ratioW50", label: "  ratio reliable w50 / plain tell", unit: "×", digits: 3 },
  { key: "reliableW500PerSec", label: "reliable offer → all confirmed, window 500", unit: "msg/s" },
  { key: "ratioW500", label: "  ratio reliable w500 / plain tell", unit: "×", digits: 3 },
  { key: "sendP50Micros", label: "reliable send p50 (1 in flight, confirmed)", unit: "µs", digits: 1 },
  { key: "sendP99Micros", label: "reliable send p99", unit: "µs", digits: 1 },
  { key: "askP50Micros", label: "  plain remote ask p50 (same payload)", unit: "µs", digits: 1 },
  { key: "askP99Micros", label: "  plain remote ask p99", unit: "µs", digits: 1 },
  { key: "sendP50Ratio", label: "  ratio send p50 / ask p50", unit: "×", digits: 2 },
  { key: "sendP99Ratio", label: "  ratio send p99 / ask p99", unit: "×", digits: 2 }
]

const durableMetrics: ReadonlyArray<Metric> = [
  { key: "durablePerSec", label: "reliable, SqliteStore both sides, window 256", unit: "msg/s" },
  { key: "durableRatio", label: "  ratio durable / plain tell", unit: "×", digits: 3 },
  { key: "durableBulkPerSec", label: "reliable, SqliteStore both sides, offerAll ×100", unit: "msg/s" }
]

interface Refs {
  readonly plain: PlainRef
  readonly wDefault: ConsumerRef
  readonly w50: ConsumerRef
  readonly w500: ConsumerRef
  readonly durable: ConsumerRef | undefined
}

interface Sizes {
  readonly messages: number
  readonly sends: number
  readonly sendWarmup: number
  readonly durable: number
}

const oneRound = async (
  runtime: Runtime,
  refs: Refs,
  store: DeliveryStore | undefined,
  sizes: Sizes
): Promise<Record<string, number>> => {
  const slices = params.slices
  const perSlice = Math.ceil(sizes.messages / slices)
  let tellNs = 0
  let defaultNs = 0
  let w50Ns = 0
  let w500Ns = 0
  await alternate(slices, [
    async () => {
      tellNs += await plainTell(runtime, refs.plain, perSlice)
    },
    async () => {
      defaultNs += await reliableThroughput(runtime, refs.plain, refs.wDefault, params.window, perSlice, undefined)
    },
    async () => {
      w50Ns += await reliableThroughput(runtime, refs.plain, refs.w50, params.akkaWindow, perSlice, undefined)
    },
    async () => {
      w500Ns += await reliableThroughput(runtime, refs.plain, refs.w500, params.largeWindow, perSlice, undefined)
    }
  ])
  const total = perSlice * slices
  const tellPerSec = (total * 1e9) / tellNs
  const reliablePerSec = (total * 1e9) / defaultNs
  const reliableW50PerSec = (total * 1e9) / w50Ns
  const reliableW500PerSec = (total * 1e9) / w500Ns

  const sendsPerSlice = Math.ceil(sizes.sends / slices)
  const sendSlices: Array<Samples> = []
  const askSlices: Array<Samples> = []
  await alternate(slices, [
    async () => {
      askSlices.push(await plainAsk(runtime, refs.plain, sizes.sendWarmup, sendsPerSlice))
    },
    async () => {
      sendSlices.push(await reliableSend(runtime, refs.wDefault, sizes.sendWarmup, sendsPerSlice))
    }
  ])
  const send = latencyOf(sendSlices)
  const ask = latencyOf(askSlices)

  const record: Record<string, number> = {
    tellPerSec,
    reliablePerSec,
    ratio: reliablePerSec / tellPerSec,
    reliableW50PerSec,
    ratioW50: reliableW50PerSec / tellPerSec,
    reliableW500PerSec,
    ratioW500: reliableW500PerSec / tellPerSec,
    sendP50Micros: send.p50,
    sendP99Micros: send.p99,
    askP50Micros: ask.p50,
    askP99Micros: ask.p99,
    sendP50Ratio: send.p50 / ask.p50,
    sendP99Ratio: send.p99 / ask.p99,
    sendPerSec: send.perSec,
    askPerSec: ask.perSec
  }

  if (refs.durable !== undefined && store !== undefined) {
    const durableNs = await reliableThroughput(runtime, refs.plain, refs.durable, params.window, sizes.durable, store)
    const durablePerSec = (sizes.durable * 1e9) / durableNs
    record["durablePerSec"] = durablePerSec
    // against the plain tell rate of this round (measured with more messages, same process pair)
    record["durableRatio"] = durablePerSec / tellPerSec
    const bulkNs = await reliableThroughput(runtime, refs.plain, refs.durable, params.window, sizes.durable, store, 100)
    record["durableBulkPerSec"] = (sizes.durable * 1e9) / bulkNs
  }
  return record
}

export const reliable: BenchGroup = {
  name: "reliable",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    const secret = randomBytes(16).toString("hex")
    const sqlite = await loadSqliteStore()
    const dir = sqlite === undefined ? undefined : mkdtempSync(join(tmpdir(), `telex-bench-reliable-${process.pid}-`))
    let store: DeliveryStore | undefined
    let runtime: Runtime | undefined
    const peer = await startPeer(
      secret,
      log,
      join(import.meta.dirname, "reliable-peer.ts"),
      dir === undefined ? {} : { TELEX_BENCH_STORE_DIR: dir }
    )
    try {
      params.durable = peer.info["durable"] === true && sqlite !== undefined
      if (params.durable) store = sqlite!.make(join(dir!, "producer.sqlite"))
      else log("reliable: no src/reliable/SqliteStore.ts (or the peer could not load it): durable line skipped")
      runtime = ManagedRuntime.make(
        Node.layerWithSystem({ name: "bench", cluster: "bench", secret: Redacted.make(secret), ...nodeOptions }).pipe(
          Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
        )
      ) as Runtime
      const rt = runtime
      const refs: Refs = await rt.runPromise(Effect.gen(function*() {
        const node = yield* Node
        yield* node.connect({ name: "peer", host: HOST, port: peer.port }, "20 seconds")
        return {
          plain: yield* node.lookup("peer", Plain, PLAIN),
          wDefault: yield* node.lookup("peer", Reliable.ConsumerProtocol, CONSUMERS.wDefault.name),
          w50: yield* node.lookup("peer", Reliable.ConsumerProtocol, CONSUMERS.w50.name),
          w500: yield* node.lookup("peer", Reliable.ConsumerProtocol, CONSUMERS.w500.name),
          durable: params.durable
            ? yield* node.lookup("peer", Reliable.ConsumerProtocol, CONSUMERS.durable.name)
            : undefined
        }
      }))
      log(`reliable: peer pid ${peer.child.pid}, node port ${peer.port}, durable ${params.durable}; warm-up`)
      const full: Sizes = {
        messages: params.messages,
        sends: params.sends,
        sendWarmup: params.sendWarmup,
        durable: params.durableMessages
      }
      await oneRound(rt, refs, store, {
        messages: Math.ceil(full.messages / 5),
        sends: Math.ceil(full.sends / 5),
        sendWarmup: 200,
        durable: Math.ceil(full.durable / 10)
      })
      const results: Array<Record<string, number>> = []
      for (let r = 1; r <= rounds; r++) {
        const t0 = nowNs()
        results.push(await oneRound(rt, refs, store, full))
        log(`reliable: round ${r}/${rounds} done in ${((nowNs() - t0) / 1e9).toFixed(1)} s`)
      }
      const metrics = params.durable ? [...baseMetrics, ...durableMetrics] : baseMetrics
      return { metrics, rounds: results, params: { ...params } }
    } finally {
      if (runtime !== undefined) await runtime.dispose().catch(() => {})
      await peer.stop()
      store?.close()
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    }
  }
}
