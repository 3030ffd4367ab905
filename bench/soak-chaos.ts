/**
 * Soak workloads, not benchmarks (not in `run.ts`): real `telex node` processes of the soak app
 * (test/fixtures/soak-app.ts) under `TestCluster`, overloaded while their processes are frozen,
 * killed or cut off, with a checker over what every sender and sink recorded:
 *
 * - every ask ends (a reply or a typed error: the flood returns), with only the expected error
 *   tags; no message handled twice or out of order per sender (tells are at most once: gaps are
 *   allowed, never reordering);
 * - every node keeps answering, and its event loop keeps turning (max delay per sample);
 * - memory plateaus: each node's RSS and heap after a GC, sampled during and after the load (the
 *   probe's GC gives the heap's emptied pages back, so RSS after it is what the process holds).
 *
 * Scenarios (`SOAK_SCENARIOS=stop,kill,kill-stopped,fan-in,partitions,flap`, all by default):
 *
 * - `stop`: n1 has 5 000 asks (`SOAK_STORM`) in flight at once (100 000 in all) to a fast actor
 *   on n2; n2 is SIGSTOPped for 4 s, then SIGCONTed: the asks time out en masse (1.5 s), or fail
 *   `NodeDown`; n1 must never lose its healthy peer n3 meanwhile.
 * - `kill`: n1 floods a slow actor on n2 with 100 000 `tellUnsafe`s and 20 000 waiting tells;
 *   n2 is killed with -9 mid-flood and restarted; n1 must answer and shrink back.
 * - `kill-stopped`: n2 is SIGSTOPped, n1 sends it 100 000 `tellUnsafe`s (queued, then refused)
 *   and has 5 000 asks waiting; n2 is killed with -9 while frozen, and restarted.
 * - `fan-in`: n2, n3, n4 flood one slow actor on n1 at once (`tell`, `tellUnsafe`, 32 asks in
 *   flight), under each overflow policy in turn.
 * - `partitions`: four nodes; n2, n3, n4 flood n1 (tells and asks) while random pairs are
 *   partitioned and healed, and some links reset, for `SOAK_SECONDS` (60).
 * - `flap`: n1's connection to n2 is reset every 0.3–1.5 s while n1 sends tells and asks to n2.
 *
 *   npx node bench/soak-chaos.ts
 *   SOAK_SCENARIOS=stop SOAK_SECONDS=120 npx node bench/soak-chaos.ts
 *
 * Exit code 0 when every check holds; 1 with what failed.
 */
import { Cause, Effect, Fiber } from "effect"
import { Probe, Sink } from "../test/fixtures/soak-app.ts"
import { MiB, type ProbeRef, start } from "../test/soak/_soak.ts"

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
const SCENARIOS = (process.env.SOAK_SCENARIOS ?? "stop,kill,kill-stopped,fan-in,partitions,flap").split(",")

/** a failure with its fields (a `NodeDown`'s node and reason), and where it was raised */
const explain = (cause: Cause.Cause<unknown>) => `${JSON.stringify(Cause.squash(cause))}\n${Cause.pretty(cause)}`

const failures: Array<string> = []
const check = (ok: boolean, what: string) => {
  if (!ok) {
    failures.push(what)
    console.log(`FAIL ${what}`)
  }
}

interface Sample {
  readonly t: number
  readonly node: string
  readonly rss: number
  readonly heap: number
  readonly loopMax: number
  readonly ok: boolean
}

/** Samples every probe every `everyMillis` until `done` completes; returns `done`'s result and the samples. */
const sampleWhile = <A, E, R>(probes: ReadonlyArray<[string, Effect.Effect<ProbeRef, unknown>]>, done: Effect.Effect<A, E, R>, everyMillis = 1000) =>
  Effect.gen(function*() {
    const samples: Array<Sample> = []
    const t0 = performance.now()
    const sampler = yield* Effect.forkChild(Effect.forever(Effect.gen(function*() {
      for (const [name, probe] of probes) {
        const r = yield* Effect.result(
          Effect.flatMap(probe, (p) => p.ask(Probe.Info({ gc: false, resetLoop: true }), { timeout: "5 seconds" }))
        )
        const t = (performance.now() - t0) / 1000
        if (r._tag === "Success") {
          samples.push({ t, node: name, rss: r.success.rss, heap: r.success.heapUsed, loopMax: r.success.loopDelayMaxMs, ok: true })
        } else samples.push({ t, node: name, rss: 0, heap: 0, loopMax: 0, ok: false })
      }
      yield* Effect.sleep(everyMillis)
    })))
    const result = yield* done
    yield* Fiber.interrupt(sampler)
    return { result, samples }
  })

const summary = (samples: ReadonlyArray<Sample>) => {
  const by = new Map<string, Array<Sample>>()
  for (const s of samples) by.set(s.node, [...(by.get(s.node) ?? []), s])
  const out: Record<string, unknown> = {}
  for (const [node, ss] of by) {
    const ok = ss.filter((s) => s.ok)
    out[node] = {
      samples: ss.length,
      unanswered: ss.length - ok.length,
      rssMiB: ok.length === 0 ? [] : [ok[0]!.rss / MiB, Math.max(...ok.map((s) => s.rss)) / MiB, ok[ok.length - 1]!.rss / MiB].map((x) => Math.round(x)),
      loopMaxMs: Math.round(Math.max(0, ...ok.map((s) => s.loopMax)))
    }
  }
  return out
}

const gcInfo = (p: ProbeRef) => p.ask(Probe.Info({ gc: true }), { timeout: "10 seconds" })

/** With SOAK_CPU_PROF=<dir>: the nodes write their CPU profiles there (see the soak app). */
const writeProfiles = (names: ReadonlyArray<string>, probe: (name: string) => Effect.Effect<ProbeRef, unknown>) =>
  process.env.SOAK_CPU_PROF === undefined ? Effect.void : Effect.forEach(names, (n) =>
    Effect.flatMap(probe(n), (p) => p.ask(Probe.Profile(), { timeout: "30 seconds" })).pipe(
      Effect.tap((path) => Effect.sync(() => console.log(`profile of ${n}: ${path}`))),
      Effect.ignore
    ), { discard: true })

const STORM = Number(process.env.SOAK_STORM ?? 5000)

const scenarioStop = Effect.gen(function*() {
  const { cluster, meshed, probe, sink, why } = yield* start({
    nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe", "sinks"] }, { name: "n3", run: ["probe"] }],
    heartbeat: { interval: "250ms", acceptablePause: "2s" }
  })
  yield* meshed()
  const p1 = yield* probe("n1")
  const before = yield* gcInfo(p1)
  const COUNT = Math.max(100_000, 4 * STORM)
  const storm = p1.ask(
    Probe.Flood({ node: "n2", name: "sink-fast", from: "n1", count: COUNT, mode: "ask", padBytes: 100, askTimeoutMillis: 1500, concurrency: STORM }),
    { timeout: "300 seconds" }
  )
  const chaos = Effect.gen(function*() {
    yield* Effect.sleep("2 seconds")
    console.log("stop: SIGSTOP n2")
    yield* cluster.pause("n2")
    yield* Effect.sleep("4 seconds")
    console.log("stop: SIGCONT n2")
    yield* cluster.resume("n2")
  })
  const { result: [flood], samples } = yield* sampleWhile(
    [["n1", probe("n1")]],
    Effect.all([storm, chaos], { concurrency: 2 })
  )
  console.log("stop:", JSON.stringify(flood), JSON.stringify(summary(samples)))
  const ended = flood.ok + Object.values(flood.errors).reduce((a, b) => a + b, 0)
  check(ended === COUNT, `stop: every ask ended (${ended} of ${COUNT})`)
  const unexpected = Object.keys(flood.errors).filter((t) => t !== "AskTimeout" && t !== "NodeDown")
  check(unexpected.length === 0, `stop: only AskTimeout/NodeDown failures, got ${JSON.stringify(flood.errors)}`)
  check(samples.every((s) => s.ok), `stop: n1 answered every sample`)
  const stats = yield* cluster.eventually((yield* sink("n2", "sink-fast")).ask(Sink.Stats(), { timeout: "5 seconds" }), "60 seconds")
  check(Object.keys(stats.duplicates).length === 0, `stop: no ask handled twice ${JSON.stringify(stats.duplicates)}`)
  const p2 = yield* probe("n2")
  const pong = yield* cluster.eventually(p2.ask(Probe.Ping(), { timeout: "2 seconds" }), "30 seconds")
  check(pong === "n2", "stop: n2 answers after SIGCONT")
  yield* Effect.sleep("5 seconds")
  const after = yield* gcInfo(p1)
  // n3 stayed healthy all along: n1's stalls must not have made it look lost
  check((after.nodeDowns["n3"] ?? 0) === (before.nodeDowns["n3"] ?? 0), `stop: n1 never lost its healthy peer n3 (${JSON.stringify(after.nodeDowns)})`)
  const mib = (x: number) => (x / MiB).toFixed(1)
  console.log(`stop: n1 after GC: rss ${mib(before.rss)} -> ${mib(after.rss)}, heapTotal ${mib(before.heapTotal)} -> ${mib(after.heapTotal)}, external ${mib(before.external)} -> ${mib(after.external)}, arrayBuffers ${mib(before.arrayBuffers)} -> ${mib(after.arrayBuffers)} MiB`)
  console.log(`stop: n1 heap after GC ${(before.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB, timers ${before.timers} -> ${after.timers}, handles ${before.handles} -> ${after.handles}`)
  // SOAK_HOLD=<seconds>: the nodes stay up that long after the storm, to be looked at (/proc/<pid>/smaps)
  if (process.env.SOAK_HOLD !== undefined) yield* Effect.sleep(`${Number(process.env.SOAK_HOLD)} seconds`)
  check(after.timers <= before.timers + 2, `stop: n1's timers back after the storm (${before.timers} -> ${after.timers})`)
  check(after.heapUsed - before.heapUsed < 32 * MiB, `stop: n1's heap back after the storm (${before.heapUsed} -> ${after.heapUsed})\n${why()}`)
  // RSS too, once the heap's emptied pages are given back (Info's GC): nothing outside the heap held
  check(after.rss - before.rss < 128 * MiB, `stop: n1's RSS back after the storm (${mib(before.rss)} -> ${mib(after.rss)} MiB)`)
  yield* writeProfiles(cluster.names, probe)
})

const scenarioKill = Effect.gen(function*() {
  const { cluster, meshed, probe, why } = yield* start({
    nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe", "sinks"] }],
    heartbeat: { interval: "250ms", acceptablePause: "2s" }
  })
  yield* meshed()
  const p1 = yield* probe("n1")
  const before = yield* gcInfo(p1)
  const unsafe = p1.ask(
    Probe.Flood({ node: "n2", name: "sink-backpressure", from: "u", count: 100_000, mode: "tellUnsafe", padBytes: 100, askTimeoutMillis: 5000 }),
    { timeout: "300 seconds" }
  )
  const tells = p1.ask(
    Probe.Flood({ node: "n2", name: "sink-backpressure", from: "t", count: 20_000, mode: "tell", padBytes: 100, askTimeoutMillis: 5000 }),
    { timeout: "300 seconds" }
  )
  const chaos = Effect.gen(function*() {
    yield* Effect.sleep("3 seconds")
    console.log("kill: kill -9 n2")
    yield* cluster.kill("n2")
    yield* Effect.sleep("2 seconds")
    yield* cluster.restart("n2")
    console.log("kill: n2 restarted")
  })
  const { result: [u, t], samples } = yield* sampleWhile([["n1", probe("n1")]], Effect.all([unsafe, tells, chaos], { concurrency: 3 }))
  console.log("kill:", JSON.stringify(u), JSON.stringify(t), JSON.stringify(summary(samples)))
  check(samples.every((s) => s.ok), "kill: n1 answered every sample")
  const after = yield* gcInfo(p1)
  console.log(`kill: n1 heap after GC ${(before.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB, rss ${(after.rss / MiB).toFixed(0)} MiB`)
  check(after.heapUsed - before.heapUsed < 32 * MiB, `kill: n1's heap back after the flood\n${why()}`)
  // a new flood reaches the new incarnation
  yield* meshed()
  const again = yield* p1.ask(
    Probe.Flood({ node: "n2", name: "sink-fast", from: "again", count: 1000, mode: "ask", padBytes: 10, askTimeoutMillis: 5000 }),
    { timeout: "60 seconds" }
  )
  check(again.ok === 1000, `kill: asks to the restarted n2 answered ${JSON.stringify(again)}`)
})

const scenarioKillStopped = Effect.gen(function*() {
  const { cluster, meshed, probe, why } = yield* start({
    nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe", "sinks"] }],
    heartbeat: { interval: "250ms", acceptablePause: "2s" }
  })
  yield* meshed()
  const p1 = yield* probe("n1")
  const before = yield* gcInfo(p1)
  // n2 frozen (once the floods have found their sink): what n1 sends piles up in its
  // connection's queue (then is refused), and 5 000 asks wait; then n2 is killed while frozen
  const unsafe = p1.ask(
    Probe.Flood({ node: "n2", name: "sink-fast", from: "u", count: 100_000, mode: "tellUnsafe", padBytes: 200, askTimeoutMillis: 5000 }),
    { timeout: "300 seconds" }
  )
  const asks = p1.ask(
    Probe.Flood({ node: "n2", name: "sink-fast", from: "a", count: 5_000, mode: "ask", padBytes: 200, askTimeoutMillis: 30_000, concurrency: 5000 }),
    { timeout: "300 seconds" }
  )
  const chaos = Effect.gen(function*() {
    yield* Effect.sleep("200 millis")
    yield* cluster.pause("n2")
    yield* Effect.sleep("1500 millis")
    console.log("kill-stopped: kill -9 n2 (frozen)")
    yield* cluster.kill("n2")
    yield* Effect.sleep("1 second")
    yield* cluster.restart("n2")
    console.log("kill-stopped: n2 restarted")
  })
  const { result: [u, a], samples } = yield* sampleWhile([["n1", probe("n1")]], Effect.all([unsafe, asks, chaos], { concurrency: 3 }), 500)
  console.log("kill-stopped:", JSON.stringify(u), JSON.stringify(a), JSON.stringify(summary(samples)))
  check(samples.every((s) => s.ok), "kill-stopped: n1 answered every sample")
  const ended = a.ok + Object.values(a.errors).reduce((x, y) => x + y, 0)
  check(ended === 5000, `kill-stopped: every ask ended (${ended})`)
  check(Object.keys(a.errors).every((t) => t === "NodeDown" || t === "AskTimeout"), `kill-stopped: typed ask failures ${JSON.stringify(a.errors)}`)
  const after = yield* gcInfo(p1)
  console.log(`kill-stopped: n1 heap after GC ${(before.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB, rss ${(after.rss / MiB).toFixed(0)} MiB`)
  check(after.heapUsed - before.heapUsed < 32 * MiB, `kill-stopped: n1's heap back\n${why()}`)
  yield* meshed()
  const again = yield* p1.ask(
    Probe.Flood({ node: "n2", name: "sink-fast", from: "again", count: 1000, mode: "ask", padBytes: 10, askTimeoutMillis: 5000 }),
    { timeout: "60 seconds" }
  )
  check(again.ok === 1000, `kill-stopped: asks to the restarted n2 answered ${JSON.stringify(again)}`)
})

const scenarioFanIn = Effect.gen(function*() {
  const names = ["n1", "n2", "n3", "n4"]
  const { meshed, probe, sink, why } = yield* start({
    nodes: [{ name: "n1", run: ["probe", "sinks"] }, { name: "n2", run: ["probe"] }, { name: "n3", run: ["probe"] }, { name: "n4", run: ["probe"] }],
    heartbeat: { interval: "250ms", acceptablePause: "3s" }
  })
  yield* meshed()
  const probes = yield* Effect.forEach(names, probe)
  const base = yield* Effect.forEach(probes, gcInfo)
  const COUNT = 4000
  for (const policy of (process.env.SOAK_POLICIES ?? "backpressure,dropNewest,dropOldest,fail").split(",")) {
    const dl0 = (yield* gcInfo(probes[0]!)).deadLetters
    const modes = ["tell", "tellUnsafe", "ask"] as const
    const { result, samples } = yield* sampleWhile(
      names.map((n) => [n, probe(n)] as [string, Effect.Effect<ProbeRef, unknown>]),
      Effect.forEach([1, 2, 3], (i) =>
        probes[i]!.ask(
          Probe.Flood({ node: "n1", name: `sink-${policy}`, from: `${names[i]}-${modes[i - 1]}`, count: COUNT, mode: modes[i - 1]!, padBytes: 100, askTimeoutMillis: 60_000 }),
          { timeout: "300 seconds" }
        ), { concurrency: 3 }),
      1000
    )
    const stats = yield* (yield* sink("n1", `sink-${policy}`)).ask(Sink.Stats(), { timeout: "30 seconds" })
    const dl1 = (yield* gcInfo(probes[0]!)).deadLetters
    const receiverDrops: Record<string, number> = {}
    for (const [k, v] of Object.entries(dl1)) if (v - (dl0[k] ?? 0) > 0) receiverDrops[k] = v - (dl0[k] ?? 0)
    console.log(`fan-in ${policy}:`, JSON.stringify(result.map((r) => ({ ok: r.ok, errors: r.errors, dl: r.deadLetters }))), `sink by ${JSON.stringify(stats.by)} maxMailbox ${stats.maxMailbox}`, `n1 drops ${JSON.stringify(receiverDrops)}`, JSON.stringify(summary(samples)))
    check(samples.every((x) => x.ok), `fan-in ${policy}: every node answered every sample\n${why()}`)
    check(Object.keys(stats.duplicates).length === 0, `fan-in ${policy}: nothing handled twice ${JSON.stringify(stats.duplicates)}`)
    const tellOrder = Object.keys(stats.outOfOrder).filter((k) => !k.endsWith("-ask"))
    check(tellOrder.length === 0, `fan-in ${policy}: tells in order per sender ${JSON.stringify(stats.outOfOrder)}`)
    const asks = result[2]!
    const ended = asks.ok + Object.values(asks.errors).reduce((a, b) => a + b, 0)
    check(ended === COUNT, `fan-in ${policy}: every ask ended (${ended})`)
    // every tell the senders that wait made is handled or a typed drop somewhere
    const tells = result[0]!
    const handled = stats.by[`n2-tell`] ?? 0
    const dropped = Object.values(tells.errors).reduce((a, b) => a + b, 0) + Object.values(tells.deadLetters).reduce((a, b) => a + b, 0)
    check(policy !== "backpressure" || handled === COUNT, `fan-in ${policy}: waiting tells all handled (${handled}, dropped ${dropped})`)
    check(handled <= COUNT, `fan-in ${policy}: no more handled than sent`)
  }
  const after = yield* Effect.forEach(probes, gcInfo)
  for (let i = 0; i < 4; i++) {
    const grow = (after[i]!.heapUsed - base[i]!.heapUsed) / MiB
    console.log(`fan-in: ${names[i]} heap after GC ${(base[i]!.heapUsed / MiB).toFixed(1)} -> ${(after[i]!.heapUsed / MiB).toFixed(1)} MiB`)
    check(grow < 32, `fan-in: ${names[i]}'s heap back (+${grow.toFixed(1)} MiB)`)
  }
})

const scenarioPartitions = Effect.gen(function*() {
  const names = ["n1", "n2", "n3", "n4"]
  const { cluster, meshed, probe, sink, why } = yield* start({
    nodes: [{ name: "n1", run: ["probe", "sinks"] }, { name: "n2", run: ["probe"] }, { name: "n3", run: ["probe"] }, { name: "n4", run: ["probe"] }],
    heartbeat: { interval: "250ms", acceptablePause: "2s" }
  })
  yield* meshed()
  const probes = yield* Effect.forEach(names, probe)
  const base = yield* Effect.forEach(probes, gcInfo)
  let stop = false
  const sent: Record<string, { ok: number; errors: Record<string, number> }> = {}
  let round = 0
  const senders = Effect.forEach(["n2", "n3", "n4"], (n, i) =>
    Effect.gen(function*() {
      const p = probes[i + 1]!
      while (!stop) {
        round++
        const mode = i === 0 ? "tell" : i === 1 ? "ask" : "tellUnsafe"
        const r = yield* Effect.result(p.ask(
          Probe.Flood({ node: "n1", name: i === 1 ? "sink-fast" : "sink-backpressure", from: `${n}#${round}`, count: 3000, mode, padBytes: 100, askTimeoutMillis: 3000 }),
          { timeout: "120 seconds" }
        ))
        const acc = sent[n] ??= { ok: 0, errors: {} }
        if (r._tag === "Success") {
          acc.ok += r.success.ok
          for (const [k, v] of Object.entries(r.success.errors)) acc.errors[k] = (acc.errors[k] ?? 0) + v
        } else acc.errors[`flood:${(r.failure as any)._tag}`] = (acc.errors[`flood:${(r.failure as any)._tag}`] ?? 0) + 1
        if (r._tag === "Failure" || r.success.sent === 0) yield* Effect.sleep("200 millis")
      }
    }), { concurrency: 3, discard: true })
  const chaos = Effect.gen(function*() {
    const t0 = performance.now()
    let faults = 0
    while (performance.now() - t0 < SECONDS * 1000) {
      const a = names[Math.floor(Math.random() * 4)]!
      let b = names[Math.floor(Math.random() * 4)]!
      while (b === a) b = names[Math.floor(Math.random() * 4)]!
      if (Math.random() < 0.3) yield* cluster.reset(a, b)
      else yield* cluster.partition(a, b)
      faults++
      yield* Effect.sleep(300 + Math.floor(Math.random() * 2500))
      if (Math.random() < 0.6) yield* cluster.heal()
    }
    yield* cluster.heal()
    console.log(`partitions: ${faults} faults`)
    stop = true
  })
  const { samples } = yield* sampleWhile(names.map((n) => [n, probe(n)] as [string, Effect.Effect<ProbeRef, unknown>]), Effect.all([senders, chaos], { concurrency: 2 }), 2000)
  console.log("partitions:", JSON.stringify(sent), JSON.stringify(summary(samples)))
  for (const [n, s] of Object.entries(sent)) {
    // a flood's lookup of the sink may fail while the two are cut off (and the ask to the probe
    // time out); the asks themselves end with a reply, AskTimeout or NodeDown
    const unexpected = Object.keys(s.errors).filter((t) => !["AskTimeout", "NodeDown", "flood:AskTimeout", "flood:NodeDown"].includes(t) && !t.startsWith("lookup:"))
    check(unexpected.length === 0, `partitions: ${n}'s failures are typed and expected ${JSON.stringify(s.errors)}`)
  }
  yield* meshed()
  for (const name of ["sink-backpressure", "sink-fast"]) {
    const stats = yield* (yield* sink("n1", name)).ask(Sink.Stats(), { timeout: "30 seconds" })
    check(Object.keys(stats.duplicates).length === 0, `partitions: ${name} handled nothing twice ${JSON.stringify(stats.duplicates)}`)
    // concurrent asks have no order; tells (one sender per round) do
    if (name === "sink-backpressure") {
      check(Object.keys(stats.outOfOrder).length === 0, `partitions: per-sender order at ${name} ${JSON.stringify(stats.outOfOrder)}`)
    }
  }
  const after = yield* Effect.forEach(probes, gcInfo)
  for (let i = 0; i < 4; i++) {
    const grow = (after[i]!.heapUsed - base[i]!.heapUsed) / MiB
    console.log(`partitions: ${names[i]} heap after GC ${(base[i]!.heapUsed / MiB).toFixed(1)} -> ${(after[i]!.heapUsed / MiB).toFixed(1)} MiB, fds ${base[i]!.fds} -> ${after[i]!.fds}, timers ${base[i]!.timers} -> ${after[i]!.timers}`)
    check(grow < 48, `partitions: ${names[i]}'s heap back (+${grow.toFixed(1)} MiB)\n${why([names[i]!])}`)
  }
})

const scenarioFlap = Effect.gen(function*() {
  const { cluster, meshed, probe, sink, why } = yield* start({
    nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe", "sinks"] }],
    heartbeat: { interval: "250ms", acceptablePause: "2s" },
    reconnect: { initial: "50ms", max: "300ms" }
  })
  yield* meshed()
  const p1 = yield* probe("n1")
  const before = yield* gcInfo(p1)
  let stop = false
  const results: Array<unknown> = []
  let round = 0
  const load = Effect.gen(function*() {
    while (!stop) {
      round++
      const [t, a] = yield* Effect.all([
        p1.ask(Probe.Flood({ node: "n2", name: "sink-fast", from: `t${round}`, count: 20_000, mode: "tell", padBytes: 100, askTimeoutMillis: 3000 }), { timeout: "120 seconds" }),
        p1.ask(Probe.Flood({ node: "n2", name: "sink-fast", from: `a${round}`, count: 5_000, mode: "ask", padBytes: 100, askTimeoutMillis: 3000, concurrency: 256 }), { timeout: "120 seconds" })
      ], { concurrency: 2 })
      results.push({ t: [t.ok, t.errors, t.deadLetters], a: [a.ok, a.errors] })
      if (t.sent === 0 || a.sent === 0) yield* Effect.sleep("100 millis")
      const unexpected = Object.keys(a.errors).filter((k) => !["AskTimeout", "NodeDown"].includes(k) && !k.startsWith("lookup:"))
      check(unexpected.length === 0, `flap: typed ask failures ${JSON.stringify(a.errors)}`)
    }
  })
  const chaos = Effect.gen(function*() {
    const t0 = performance.now()
    let resets = 0
    while (performance.now() - t0 < SECONDS * 1000) {
      yield* Effect.sleep(300 + Math.floor(Math.random() * 1200))
      yield* cluster.reset("n1", "n2")
      resets++
    }
    stop = true
    console.log(`flap: ${resets} resets`)
  })
  const { samples } = yield* sampleWhile(
    [["n1", probe("n1")], ["n2", probe("n2")]],
    Effect.all([load, chaos], { concurrency: 2 }).pipe(
      // which of the load's asks failed, and what the nodes logged then
      Effect.tapCause((cause) => Effect.sync(() => console.log(`flap: the load failed after ${results.length} rounds: ${explain(cause)}\n${why()}`)))
    ),
    2000
  )
  const rounds = () => results.length
  console.log("flap:", JSON.stringify(results.slice(0, 5)), `... ${results.length} rounds`, JSON.stringify(summary(samples)))
  yield* meshed()
  const stats = yield* (yield* sink("n2", "sink-fast")).ask(Sink.Stats(), { timeout: "30 seconds" })
  check(Object.keys(stats.duplicates).length === 0, `flap: nothing handled twice ${JSON.stringify(stats.duplicates)}`)
  const tellOrder = Object.entries(stats.outOfOrder).filter(([k]) => k.startsWith("t"))
  check(tellOrder.length === 0, `flap: tells in order per sender ${JSON.stringify(tellOrder)}`)
  const after = yield* gcInfo(p1)
  console.log(`flap: n1 heap after GC ${(before.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB, fds ${before.fds} -> ${after.fds}, ${rounds()} rounds`)
  check(after.heapUsed - before.heapUsed < 32 * MiB, `flap: n1's heap back\n${why()}`)
})

const scenarios: Record<string, Effect.Effect<void, unknown, import("effect").Scope.Scope>> = {
  stop: scenarioStop,
  kill: scenarioKill,
  "kill-stopped": scenarioKillStopped,
  "fan-in": scenarioFanIn,
  partitions: scenarioPartitions,
  flap: scenarioFlap
}

const program = Effect.gen(function*() {
  for (const name of SCENARIOS) {
    const scenario = scenarios[name]
    if (scenario === undefined) throw new Error(`unknown scenario ${name}`)
    console.log(`--- ${name}`)
    const t0 = performance.now()
    const r = yield* Effect.exit(Effect.scoped(scenario))
    if (r._tag === "Failure") check(false, `${name}: ${explain(r.cause)}`)
    console.log(`--- ${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  }
})

Effect.runPromise(program).then(() => {
  console.log(failures.length === 0 ? "OK" : `FAILED:\n${failures.join("\n")}`)
  process.exit(failures.length === 0 ? 0 : 1)
}, (e) => {
  console.error(e)
  process.exit(1)
})
