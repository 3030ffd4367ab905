/**
 * Local (single-process) runtime benchmarks, each next to an Effect baseline measured in the
 * same round:
 *
 * - tell throughput: one Counter actor, N `Increment`s sent with `ref.tellUnsafe` in batches of
 *   256 per macrotask (a socket `data` handler), and with `yield* ref.tell(msg)` from an Effect
 *   loop. The clock stops when an `ask(Get)` queued after the last message returns (the
 *   mailbox is FIFO, so every message has been handled). Baseline: plain JS
 *   `Queue.offerUnsafe` ×256 per macrotask into `Queue.bounded(1024)` → one fiber draining with
 *   `Queue.takeAll` (the shape of `shared/bench-baseline/effect-queue.mjs`).
 * - ask latency: one ask in flight, from a fiber outside the actor. Baseline: a request queue
 *   plus a `Deferred` reply between two fibers (what an ask is made of).
 * - spawn: 100k idle actors from one `Effect.gen` loop; spawns/s and heap bytes per idle actor
 *   (`heapUsed` delta after full GCs / N); then stopping them all (the system closes).
 * - restarts: a one_for_one supervisor (no backoff, intensity batch + 10 within a minute) with one
 *   permanent child whose init reports its ref and whose tell handler dies; the driver crashes
 *   it and waits for the restarted child, in batches of `restartBatch` per supervisor;
 *   restarts/s over the crash loops only (OTP: `bench/peers/erlang/bench_sup.erl`).
 *
 * Environment: `BENCH_TELL_N`, `BENCH_ASK_N`, `BENCH_SPAWN_N`, `BENCH_SUP_RESTARTS` (10 000),
 * `BENCH_SUP_BATCH` (1000).
 */
import { Deferred, Effect, Fiber, Queue, Schema } from "effect"
import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks"
import { Actor, ActorContext, type ActorRef, ActorSystem, Supervisor } from "../src/index.ts"
import { type BenchGroup, envInt, fullGc, type GroupResult, type Metric, nextMacrotask, nowNs, percentile } from "./lib.ts"

const params = {
  tellMessages: envInt("BENCH_TELL_N", 2_000_000),
  batch: 256,
  baselineCapacity: 1024,
  asks: envInt("BENCH_ASK_N", 20_000),
  /** asks before the timed ones, in each slice */
  askWarmup: 1_000,
  /**
   * Each round runs the tell and ask measurements in this many slices, alternating actor and
   * baseline (ABC CBA ...), so that load from other processes on a shared machine hits both
   * sides of a same-run ratio alike.
   */
  slices: 4,
  spawns: envInt("BENCH_SPAWN_N", 100_000),
  restarts: envInt("BENCH_SUP_RESTARTS", 10_000),
  restartBatch: envInt("BENCH_SUP_BATCH", 1_000)
}

// ---------------------------------------------------------------------------
// actors
// ---------------------------------------------------------------------------

const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})

const CounterLive = Counter.behavior(Effect.sync(() => {
  let n = 0
  return {
    Increment: ({ by }) =>
      Effect.sync(() => {
        n += by
      }),
    Get: () => Effect.sync(() => n)
  }
}))

/** The smallest useful actor: one counter of state, one message. */
const Idle = Actor.make("Idle", { Ping: Actor.tell({}) })
const IdleLive = Idle.behavior(Effect.sync(() => {
  let pings = 0
  return {
    Ping: () =>
      Effect.sync(() => {
        pings++
      })
  }
}))

const withSystem = <A, E>(effect: Effect.Effect<A, E, ActorSystem>): Promise<A> =>
  Effect.runPromise(effect.pipe(Effect.provide(ActorSystem.layer())))

const check = (what: string, got: number, expected: number): void => {
  if (got !== expected) throw new Error(`${what}: got ${got}, expected ${expected}`)
}

// ---------------------------------------------------------------------------
// tell throughput
// ---------------------------------------------------------------------------

/** Baseline (effect-queue.mjs `effect/offerUnsafe-takeAll`): elapsed ns. */
const baselineTell = async (n: number, batch: number): Promise<number> => {
  const t0 = nowNs()
  const q = Effect.runSync(Queue.bounded<number>(params.baselineCapacity))
  const consumer = Effect.runPromise(Effect.gen(function*() {
    let sum = 0
    let got = 0
    while (got < n) {
      const xs = yield* Queue.takeAll(q)
      for (let j = 0; j < xs.length; j++) sum += xs[j]!
      got += xs.length
    }
    return sum
  }))
  let i = 0
  while (i < n) {
    const end = Math.min(n, i + batch)
    while (i < end && Queue.offerUnsafe(q, i)) i++
    await nextMacrotask()
  }
  const sum = await consumer
  const elapsed = nowNs() - t0
  check("baseline sum", sum, (n * (n - 1)) / 2)
  return elapsed
}

/** `ref.tellUnsafe` ×batch per macrotask from plain JS: elapsed ns until the actor has handled all. */
const actorTellUnsafe = (n: number, batch: number): Promise<number> =>
  withSystem(Effect.gen(function*() {
    const system = yield* ActorSystem
    const ref = yield* system.spawn(CounterLive)
    const msg = Counter.Increment({ by: 1 })
    const t0 = nowNs()
    yield* Effect.promise(async () => {
      let i = 0
      while (i < n) {
        const end = Math.min(n, i + batch)
        for (; i < end; i++) ref.tellUnsafe(msg)
        await nextMacrotask()
      }
    })
    const count = yield* ref.ask(Counter.Get())
    const elapsed = nowNs() - t0
    check("actor count (tellUnsafe)", count, n)
    return elapsed
  }))

/** `yield* ref.tell(msg)` in an Effect loop (backpressure when the mailbox is full): elapsed ns. */
const actorTellEffect = (n: number): Promise<number> =>
  withSystem(Effect.gen(function*() {
    const system = yield* ActorSystem
    const ref = yield* system.spawn(CounterLive)
    const msg = Counter.Increment({ by: 1 })
    const t0 = nowNs()
    for (let i = 0; i < n; i++) yield* ref.tell(msg)
    const count = yield* ref.ask(Counter.Get())
    const elapsed = nowNs() - t0
    check("actor count (tell)", count, n)
    return elapsed
  }))

// ---------------------------------------------------------------------------
// ask latency
// ---------------------------------------------------------------------------

/** Round-trip times of one slice (ns) and the wall time of the timed loop (ns). */
interface Samples {
  readonly samples: Float64Array
  readonly totalNs: number
}

interface Latency {
  readonly p50: number
  readonly p99: number
  /** asks per second over the timed part (1 in flight) */
  readonly perSec: number
}

const latencyOf = (slices: ReadonlyArray<Samples>): Latency => {
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

const actorAsk = (n: number, warmup: number): Promise<Samples> =>
  withSystem(Effect.gen(function*() {
    const system = yield* ActorSystem
    const ref = yield* system.spawn(CounterLive)
    const get = Counter.Get()
    for (let i = 0; i < warmup; i++) yield* ref.ask(get)
    const samples = new Float64Array(n)
    const start = nowNs()
    for (let i = 0; i < n; i++) {
      const t0 = nowNs()
      yield* ref.ask(get)
      samples[i] = nowNs() - t0
    }
    return { samples, totalNs: nowNs() - start }
  }))

/** Baseline: request queue + Deferred reply between two fibers, one in flight. */
const baselineAsk = (n: number, warmup: number): Promise<Samples> =>
  Effect.runPromise(Effect.gen(function*() {
    const requests = yield* Queue.unbounded<Deferred.Deferred<number>>()
    let state = 0
    const server = yield* Effect.forkChild(Effect.forever(
      Effect.flatMap(Queue.take(requests), (reply) => Deferred.succeed(reply, state++))
    ))
    const roundTrip = Effect.gen(function*() {
      const reply = yield* Deferred.make<number>()
      yield* Queue.offer(requests, reply)
      return yield* Deferred.await(reply)
    })
    for (let i = 0; i < warmup; i++) yield* roundTrip
    const samples = new Float64Array(n)
    const start = nowNs()
    for (let i = 0; i < n; i++) {
      const t0 = nowNs()
      yield* roundTrip
      samples[i] = nowNs() - t0
    }
    const totalNs = nowNs() - start
    yield* Fiber.interrupt(server)
    return { samples, totalNs }
  }))

// ---------------------------------------------------------------------------
// spawn
// ---------------------------------------------------------------------------

interface SpawnResult {
  readonly perSec: number
  readonly bytesPerActor: number
  /** share of the spawn loop's wall time spent in GC pauses (0..1) */
  readonly gcShare: number
  /** stopping them all when the system closes, actors/s */
  readonly stopPerSec: number
}

const spawnIdle = async (n: number): Promise<SpawnResult> => {
  let stopStart = 0
  let loopStart = 0
  let loopEnd = 0
  const gcs: Array<PerformanceEntry> = []
  const observer = new PerformanceObserver((list) => {
    gcs.push(...list.getEntries())
  })
  observer.observe({ entryTypes: ["gc"] })
  const r = await withSystem(Effect.gen(function*() {
    const system = yield* ActorSystem
    const refs = new Array<unknown>(n).fill(undefined)
    const base = system.actorCount()
    fullGc()
    const before = process.memoryUsage().heapUsed
    loopStart = performance.now()
    const t0 = nowNs()
    for (let i = 0; i < n; i++) refs[i] = yield* system.spawn(IdleLive)
    const elapsed = nowNs() - t0
    loopEnd = performance.now()
    fullGc()
    const after = process.memoryUsage().heapUsed
    check("live actors", system.actorCount() - base, n)
    stopStart = nowNs()
    return { perSec: (n * 1e9) / elapsed, bytesPerActor: (after - before) / n, refs: refs.length }
  }))
  const stopPerSec = (n * 1e9) / (nowNs() - stopStart)
  await nextMacrotask() // GC entries are delivered asynchronously
  observer.disconnect()
  let gcMillis = 0
  for (const e of gcs) if (e.startTime >= loopStart && e.startTime < loopEnd) gcMillis += e.duration
  return { perSec: r.perSec, bytesPerActor: r.bytesPerActor, gcShare: gcMillis / (loopEnd - loopStart), stopPerSec }
}

// ---------------------------------------------------------------------------
// supervisor restarts
// ---------------------------------------------------------------------------

const Crasher = Actor.make("Crasher", { Crash: Actor.tell({}) })
type CrasherRef = ActorRef.ActorRef<typeof Crasher.defs>

/** Reports each incarnation's ref from its init; dies (a defect) on `Crash`. */
const crasher = (started: Queue.Queue<CrasherRef>) =>
  Crasher.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    Queue.offerUnsafe(started, ctx.self as CrasherRef)
    return { Crash: () => Effect.die(new Error("boom")) }
  }))

/** `total` crash → restarted cycles, `batch` per supervisor: restarts/s over the cycles only. */
const restartsPerSec = (total: number, batch: number): Promise<number> =>
  withSystem(Effect.gen(function*() {
    const system = yield* ActorSystem
    const batches = Math.ceil(total / batch)
    let ns = 0
    for (let i = 0; i < batches; i++) {
      const started = yield* Queue.unbounded<CrasherRef>()
      const sup = yield* system.spawn(Supervisor.make({
        strategy: "one_for_one",
        backoff: false,
        intensity: batch + 10,
        period: "1 minute",
        children: [Supervisor.child("crasher", crasher(started))]
      }))
      let ref = yield* Queue.take(started)
      const t0 = nowNs()
      for (let k = 0; k < batch; k++) {
        yield* ref.tell(Crasher.Crash())
        ref = yield* Queue.take(started)
      }
      ns += nowNs() - t0
      yield* system.stop(sup)
    }
    return (batches * batch * 1e9) / ns
  }))

// ---------------------------------------------------------------------------
// the group
// ---------------------------------------------------------------------------

const metrics: ReadonlyArray<Metric> = [
  { key: "tellPerSec", label: "tell (tellUnsafe ×256/macrotask)", unit: "msg/s" },
  { key: "baselinePerSec", label: "  baseline Queue.offerUnsafe→takeAll", unit: "msg/s" },
  { key: "ratio", label: "  ratio tell / baseline", unit: "×", digits: 3, goal: { op: ">=", value: 0.3 } },
  { key: "tellEffectPerSec", label: "tell (yield* ref.tell loop)", unit: "msg/s" },
  { key: "tellEffectRatio", label: "  ratio effect tell / baseline", unit: "×", digits: 3 },
  { key: "askLatencyP50Micros", label: "ask latency p50", unit: "µs", digits: 1 },
  { key: "askLatencyP99Micros", label: "ask latency p99", unit: "µs", digits: 1 },
  { key: "askBaselineP50Micros", label: "  baseline Queue+Deferred p50", unit: "µs", digits: 1 },
  { key: "askBaselineP99Micros", label: "  baseline Queue+Deferred p99", unit: "µs", digits: 1 },
  { key: "askRatioP50", label: "  ratio ask p50 / baseline p50", unit: "×", digits: 2 },
  { key: "askPerSec", label: "asks/s (1 in flight)", unit: "ask/s" },
  { key: "bytesPerActor", label: "heap per idle actor", unit: "B", goal: { op: "<=", value: 2048 } },
  { key: "spawnPerSec", label: "spawn (one Effect.gen loop)", unit: "spawn/s", goal: { op: ">=", value: 200_000 } },
  { key: "spawnGcShare", label: "  GC pauses during the spawn loop", unit: "share", digits: 2 },
  { key: "stopPerSec", label: "  stop them all (system close)", unit: "actor/s" },
  { key: "restartsPerSec", label: "supervisor restarts (one_for_one, crash → restarted)", unit: "restart/s" }
]

/** Runs the steps in order, then in reverse order, and so on, `slices` times. */
const alternate = async (slices: number, steps: ReadonlyArray<() => Promise<void>>): Promise<void> => {
  for (let s = 0; s < slices; s++) {
    const order = s % 2 === 0 ? steps : [...steps].reverse()
    for (const step of order) await step()
  }
}

const oneRound = async (
  sizes: { tell: number; asks: number; spawns: number; restarts: number }
): Promise<Record<string, number>> => {
  const slices = params.slices
  const tellPerSlice = Math.ceil(sizes.tell / slices)
  const asksPerSlice = Math.ceil(sizes.asks / slices)
  const tellTotal = tellPerSlice * slices
  let baselineNs = 0
  let unsafeNs = 0
  let effectNs = 0
  await alternate(slices, [
    async () => {
      baselineNs += await baselineTell(tellPerSlice, params.batch)
    },
    async () => {
      unsafeNs += await actorTellUnsafe(tellPerSlice, params.batch)
    },
    async () => {
      effectNs += await actorTellEffect(tellPerSlice)
    }
  ])
  const baselinePerSec = (tellTotal * 1e9) / baselineNs
  const tellPerSec = (tellTotal * 1e9) / unsafeNs
  const tellEffectPerSec = (tellTotal * 1e9) / effectNs
  const askSlices: Array<Samples> = []
  const baselineSlices: Array<Samples> = []
  await alternate(slices, [
    async () => {
      baselineSlices.push(await baselineAsk(asksPerSlice, params.askWarmup))
    },
    async () => {
      askSlices.push(await actorAsk(asksPerSlice, params.askWarmup))
    }
  ])
  const askBaseline = latencyOf(baselineSlices)
  const ask = latencyOf(askSlices)
  const spawn = await spawnIdle(sizes.spawns)
  const restarts = await restartsPerSec(sizes.restarts, Math.min(params.restartBatch, sizes.restarts))
  return {
    tellPerSec,
    baselinePerSec,
    ratio: tellPerSec / baselinePerSec,
    tellEffectPerSec,
    tellEffectRatio: tellEffectPerSec / baselinePerSec,
    askLatencyP50Micros: ask.p50,
    askLatencyP99Micros: ask.p99,
    askBaselineP50Micros: askBaseline.p50,
    askBaselineP99Micros: askBaseline.p99,
    askRatioP50: ask.p50 / askBaseline.p50,
    askPerSec: ask.perSec,
    askBaselinePerSec: askBaseline.perSec,
    bytesPerActor: spawn.bytesPerActor,
    spawnPerSec: spawn.perSec,
    spawnGcShare: spawn.gcShare,
    stopPerSec: spawn.stopPerSec,
    restartsPerSec: restarts
  }
}

export const local: BenchGroup = {
  name: "local",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    log(`local: warm-up`)
    await oneRound({
      tell: Math.ceil(params.tellMessages / 10),
      asks: Math.ceil(params.asks / 10),
      spawns: Math.ceil(params.spawns / 10),
      restarts: Math.ceil(params.restarts / 10)
    })
    const results: Array<Record<string, number>> = []
    for (let r = 1; r <= rounds; r++) {
      const t0 = nowNs()
      const result = await oneRound({
        tell: params.tellMessages,
        asks: params.asks,
        spawns: params.spawns,
        restarts: params.restarts
      })
      log(`local: round ${r}/${rounds} done in ${((nowNs() - t0) / 1e9).toFixed(1)} s`)
      results.push(result)
    }
    return { metrics, rounds: results, params }
  }
}
