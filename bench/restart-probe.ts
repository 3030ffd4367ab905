/**
 * Restart probe: the `local` group's supervisor-restart figure alone (one_for_one, one permanent
 * child whose tell handler dies, the driver waits for each restarted incarnation), several runs
 * in one process, for paired before/after comparisons and CPU profiles (`--cpu-prof`).
 *
 *   node bench/restart-probe.ts            # PROBE_RUNS (5) runs of PROBE_N (20 000) restarts
 *   PROBE_CRASH=fail node bench/restart-probe.ts   # the handler dies with one prebuilt error (no stack capture per crash)
 *   PROBE_RUNS=1 PROBE_ASKS=20000 PROBE_CRASH=fail node --expose-gc bench/alloc-sample.mjs bench/restart-probe.ts   # bytes allocated per restart
 */
import { Data, Effect, Queue } from "effect"
import { Actor, ActorContext, type ActorRef, ActorSystem, Supervisor } from "../src/index.ts"
import { nowNs } from "./lib.ts"

const runs = Number(process.env.PROBE_RUNS ?? 5)
const n = Number(process.env.PROBE_N ?? 20_000)
const batch = 1_000
const crashKind = process.env.PROBE_CRASH ?? "error"

class Boom extends Data.TaggedError("Boom")<{}> {}
const boom = new Boom()
const Crasher = Actor.make("Crasher", { Crash: Actor.tell({}) })
type CrasherRef = ActorRef.ActorRef<typeof Crasher.defs>

const crasher = (started: Queue.Queue<CrasherRef>) =>
  Crasher.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    Queue.offerUnsafe(started, ctx.self as CrasherRef)
    return {
      Crash: crashKind === "fail" ? () => Effect.die(boom) : () => Effect.die(new Error("boom"))
    }
  }))

const once = Effect.gen(function*() {
  const system = yield* ActorSystem
  let ns = 0
  let cpu = 0
  for (let i = 0; i < n / batch; i++) {
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
    const c0 = process.cpuUsage()
    for (let k = 0; k < batch; k++) {
      yield* ref.tell(Crasher.Crash())
      ref = yield* Queue.take(started)
    }
    const c1 = process.cpuUsage(c0)
    ns += nowNs() - t0
    cpu += c1.user + c1.system
    yield* system.stop(sup)
  }
  return { perSec: (n * 1e9) / ns, cpuMicros: cpu / n }
}).pipe(Effect.provide(ActorSystem.layer()))

const results: Array<{ perSec: number; cpuMicros: number }> = []
// the first run warms up (compiles) and is left out
for (let r = 0; r <= runs; r++) {
  // bench/alloc-sample.mjs samples from here on (PROBE_ASKS = PROBE_RUNS × PROBE_N)
  if (r === 1) (globalThis as { probeMeasured?: () => void }).probeMeasured?.()
  const result = await Effect.runPromise(once)
  if (r > 0) results.push(result)
}
const summary = (xs: Array<number>, digits: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return `${s[Math.floor(s.length / 2)]!.toFixed(digits)} (${s[0]!.toFixed(digits)}–${s.at(-1)!.toFixed(digits)})`
}
console.log(
  `restarts/s ${summary(results.map((r) => r.perSec), 0)}; CPU µs per restart ${summary(results.map((r) => r.cpuMicros), 2)}`
)
process.exit(0)
