/**
 * One node, no transport: CPU per local ask to `keys` plain actors (spread), to the entities'
 * own actor refs (raw) and through entity refs (entity), in alternating slices; medians.
 * Isolates what an entity costs as an actor and as a ref from what crossing nodes costs. Also
 * `own` (plain actors with handlers made per actor, as an entity's are) and `sup` (those under
 * `Supervise.behavior` with the entities' default rule).
 *
 *   node --expose-gc bench/sharding-local-probe.ts [slices]
 *   PROBE_ONLY=spread|raw|entity|own|sup node --cpu-prof bench/sharding-local-probe.ts (1 000 000 asks)
 *   PROBE_KINDS=raw,entity,...: those kinds only, in alternating slices; with each one's excess over
 *   the first in the same cycle (median)
 *   PROBE_KEYS (3000), PROBE_SLICE (100 000), PROBE_INF=1: the spread asks without a timeout
 */
import { Context, Effect, Layer, References } from "effect"
import { ActorSystem } from "../src/system/ActorSystem.ts"
import { Sharding } from "../src/sharding/Sharding.ts"
import * as ShardStore from "../src/sharding/ShardStore.ts"
import { nowNs } from "./lib.ts"
import * as Supervise from "../src/supervision/Supervise.ts"
import { Echo, EchoClosureEntity } from "./sharding-app.ts"

const keys = Number(process.env.PROBE_KEYS ?? 3000)
const slices = Number(process.argv[2] ?? 6)
const n = Number(process.env.PROBE_SLICE ?? 100_000)
const inFlight = 64
const askOpts = process.env.PROBE_INF === "1" ? { timeout: Infinity } : undefined
let lastCpu = 0
const pipelined = (count: number, ask: (i: number) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const c0 = process.cpuUsage()
    const t0 = nowNs()
    yield* Effect.forEach(Array.from({ length: inFlight }, (_, w) => w), (w) =>
      Effect.gen(function*() {
        for (let i = w; i < count; i += inFlight) yield* ask(i)
      }), { concurrency: "unbounded", discard: true })
    const c = process.cpuUsage(c0)
    lastCpu = (c.user + c.system) / count
    return count / ((nowNs() - t0) / 1e9)
  })
const EchoLive = Echo.behavior(Effect.succeed({ Ping: ({ n }) => Effect.succeed(n), Where: () => Effect.succeed("plain") }))

const main = Effect.gen(function*() {
  const ctx = yield* Layer.build(Sharding.layer({ entities: [EchoClosureEntity], leaseTtl: "10 minutes" }).pipe(
    Layer.provideMerge(Layer.merge(ActorSystem.layer({ node: "solo" }), ShardStore.Service.layer(ShardStore.memory())))))
  const sharding = Context.get(ctx, Sharding)
  const system = Context.get(ctx, ActorSystem)
  while (sharding.ownedShards().length < sharding.shards) yield* Effect.sleep("50 millis")
  const spread: Array<any> = []
  for (let i = 0; i < keys; i++) spread.push(yield* system.spawn(EchoLive, { name: `echo-${i}` }))
  const own: Array<any> = []
  const EchoOwn = Echo.behavior(Effect.sync(() => ({ Ping: ({ n }: { n: number }) => Effect.succeed(n), Where: () => Effect.succeed("own") })))
  for (let i = 0; i < keys; i++) own.push(yield* system.spawn(EchoOwn, { name: `own-${i}` }))
  const sup: Array<any> = []
  const EchoSup = Supervise.behavior(EchoOwn, [{ match: () => true, directive: "restart", limit: { maxRestarts: 10, within: "10 seconds" } }])
  for (let i = 0; i < keys; i++) sup.push(yield* system.spawn(EchoSup, { name: `sup-${i}` }))
  const echoes = yield* sharding.entity(EchoClosureEntity)
  const refs = Array.from({ length: keys }, (_, i) => echoes.ref(`k${i}`))
  yield* pipelined(keys, (i) => refs[i]!.ask(Echo.Ping({ n: i })))
  yield* pipelined(keys, (i) => refs[i]!.ask(Echo.Ping({ n: i })))
  const raw = refs.map((r: any) => r.entry?.ref)
  const perm = Array.from({ length: keys }, (_, i) => i).sort(() => Math.random() - 0.5)
  const asks = {
    supShuffled: (i: number) => sup[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    spreadShuffled: (i: number) => spread[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    entityShuffled: (i: number) => refs[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    spread: (i: number) => spread[i % keys]!.ask(Echo.Ping({ n: i }), askOpts),
    raw: (i: number) => raw[i % keys]!.ask(Echo.Ping({ n: i })),
    entity: (i: number) => refs[i % keys]!.ask(Echo.Ping({ n: i })),
    own: (i: number) => own[i % keys]!.ask(Echo.Ping({ n: i })),
    sup: (i: number) => sup[i % keys]!.ask(Echo.Ping({ n: i }))
  }
  for (const k of ["spread", "raw", "entity", "own", "sup"] as const) yield* pipelined(20_000, asks[k])
  const only = process.env.PROBE_ONLY as keyof typeof asks | undefined
  if (only !== undefined) {
    yield* pipelined(1_000_000, asks[only])
    return { [only]: lastCpu }
  }
  const chosen = process.env.PROBE_KINDS?.split(",") as Array<keyof typeof asks> | undefined
  if (chosen !== undefined) {
    // the kinds named, in alternating slices: the median CPU microseconds per ask of each, and
    // of each one's excess over the first kind in the same cycle (less sensitive to load)
    const us: Record<string, Array<number>> = {}
    for (let s = 0; s < slices; s++) {
      const cycle: Record<string, number> = {}
      for (const k of s % 2 === 0 ? chosen : chosen.toReversed()) {
        yield* pipelined(n, asks[k])
        ;(us[k] ??= []).push(cycle[k] = lastCpu)
      }
      for (const k of chosen.slice(1)) (us[`${k}-${chosen[0]}`] ??= []).push(cycle[k]! - cycle[chosen[0]!]!)
    }
    const mid = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
    return Object.fromEntries(Object.entries(us).map(([k, xs]) => [k, mid(xs)]))
  }
  const cpu = { supShuffled: [] as Array<number>, spreadShuffled: [] as Array<number>, entityShuffled: [] as Array<number>, spread: [] as Array<number>, raw: [] as Array<number>, entity: [] as Array<number>, own: [] as Array<number>, sup: [] as Array<number> }
  for (let s = 0; s < slices; s++) {
    const order = s % 2 === 0 ? ["spread", "own", "sup", "raw", "entity", "supShuffled", "spreadShuffled", "entityShuffled"] as const : ["entityShuffled", "spreadShuffled", "supShuffled", "entity", "raw", "sup", "own", "spread"] as const
    for (const k of order) {
      yield* pipelined(n, asks[k])
      cpu[k].push(lastCpu)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  return { usSpread: median(cpu.spread), usRaw: median(cpu.raw), usEntity: median(cpu.entity), usOwn: median(cpu.own), usSup: median(cpu.sup), usSupSh: median(cpu.supShuffled), usSpreadSh: median(cpu.spreadShuffled), usEntitySh: median(cpu.entityShuffled) }
}).pipe(Effect.scoped)

const out = await Effect.runPromise(Effect.provideService(main, References.MinimumLogLevel, "Error"))
console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.toFixed(3))]))))
process.exit(0)
