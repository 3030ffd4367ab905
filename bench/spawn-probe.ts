/**
 * A focused probe of spawning (not a bench group): `PROBE_SPAWNS` (100 000) idle actors from one
 * `Effect.gen` loop, `slices` times in one process (each set stopped before the next), as the
 * `local` group's spawn figure: medians of spawns per second and heap bytes per idle actor. For
 * paired before/after runs of a change to what an actor is made of.
 *
 *   node --expose-gc bench/spawn-probe.ts [slices]
 */
import { Effect } from "effect"
import { Actor, ActorSystem } from "../src/index.ts"
import { fullGc, nowNs } from "./lib.ts"

const Idle = Actor.make("Bench/SpawnProbeIdle", { Ping: Actor.tell({}) })
const IdleLive = Idle.behavior(Effect.sync(() => {
  let pings = 0
  return { Ping: () => Effect.sync(() => void pings++) }
}))
const n = Number(process.env.PROBE_SPAWNS ?? 100_000)
const slices = Number(process.argv[2] ?? 5)

const once = Effect.gen(function*() {
  const system = yield* ActorSystem
  const refs = new Array<unknown>(n).fill(undefined)
  fullGc()
  const before = process.memoryUsage().heapUsed
  const t0 = nowNs()
  for (let i = 0; i < n; i++) refs[i] = yield* system.spawn(IdleLive)
  const elapsed = nowNs() - t0
  fullGc()
  const after = process.memoryUsage().heapUsed
  return { perSec: (n * 1e9) / elapsed, bytes: (after - before) / n, kept: refs.length }
}).pipe(Effect.provide(ActorSystem.layer()))

const rates: Array<number> = []
const bytes: Array<number> = []
await Effect.runPromise(once) // warm-up
for (let s = 0; s < slices; s++) {
  const r = await Effect.runPromise(once)
  rates.push(r.perSec)
  bytes.push(r.bytes)
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(JSON.stringify({ spawnPerSec: Math.round(median(rates)), bytesPerActor: Number(median(bytes).toFixed(1)), rates: rates.map((r) => Math.round(r / 1000)) }))
process.exit(0)
