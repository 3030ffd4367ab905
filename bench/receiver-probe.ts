/**
 * A focused probe of the receiving side of an ask (not a bench group): one node, no transport,
 * `PROBE_KEYS` (3 000) actors of each kind asked in one random order, 64 asks in flight, CPU
 * microseconds per ask in alternating slices. Kinds: `spread` (plain actors sharing one handlers
 * object), `own` (handlers made per actor, as an entity's are), `sup` (those under
 * `Supervise.behavior` with the entities' default rule), `raw` (the actors of active entities,
 * asked through their own refs), `rawOwn` (the same for entities of a second type whose handlers,
 * as `own`'s, close over nothing of their init: `raw` minus `rawOwn` is what handlers closing over
 * the init's locals cost, a context per activation reached per message) and `entity` (through
 * entity refs). Besides the medians per kind
 * it prints, per kind, the median over cycles of its CPU minus that of `spread` in the same
 * cycle: on a shared machine that difference moves much less than the figures themselves. For
 * paired before/after runs of a change (run it from two checkouts in turn).
 *
 *   node --expose-gc bench/receiver-probe.ts [slices]
 *   KINDS=spread,sup (the kinds to run, spread first), PROBE_SLICE (60 000 asks), PROBE_KEYS,
 *   PROBE_SEQ_ACTIVATE=1 (the entities activated one at a time, not 64 at once)
 */
import { Context, Effect, Layer, References } from "effect"
import { Entity } from "../src/index.ts"
import { ActorSystem } from "../src/system/ActorSystem.ts"
import { Sharding } from "../src/sharding/Sharding.ts"
import * as ShardStore from "../src/sharding/ShardStore.ts"
import * as Supervise from "../src/supervision/Supervise.ts"
import { Echo, EchoClosureEntity } from "./sharding-app.ts"

const keys = Number(process.env.PROBE_KEYS ?? 3000)
const slices = Number(process.argv[2] ?? 10)
const n = Number(process.env.PROBE_SLICE ?? 60_000)
const inFlight = 64
let lastCpu = 0
const pipelined = (count: number, ask: (i: number) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const c0 = process.cpuUsage()
    yield* Effect.forEach(Array.from({ length: inFlight }, (_, w) => w), (w) =>
      Effect.gen(function*() {
        for (let i = w; i < count; i += inFlight) yield* ask(i)
      }), { concurrency: "unbounded", discard: true })
    const c = process.cpuUsage(c0)
    lastCpu = (c.user + c.system) / count
  })
const EchoOwn = Echo.behavior(Effect.sync(() => ({ Ping: ({ n }: { n: number }) => Effect.succeed(n), Where: () => Effect.succeed("own") })))
/** entities whose handlers close over nothing of their init */
const EchoOwnEntity = Entity.make(Echo, EchoOwn, { type: "Bench/ShardEchoOwn" })
const EchoLive = Echo.behavior(Effect.succeed({ Ping: ({ n }) => Effect.succeed(n), Where: () => Effect.succeed("plain") }))
const main = Effect.gen(function*() {
  const ctx = yield* Layer.build(Sharding.layer({ entities: [EchoClosureEntity, EchoOwnEntity], leaseTtl: "10 minutes" }).pipe(
    Layer.provideMerge(Layer.merge(ActorSystem.layer({ node: "solo" }), ShardStore.Service.layer(ShardStore.memory())))))
  const sharding = Context.get(ctx, Sharding)
  const system = Context.get(ctx, ActorSystem)
  while (sharding.ownedShards().length < sharding.shards) yield* Effect.sleep("50 millis")
  const spread: Array<any> = []
  for (let i = 0; i < keys; i++) spread.push(yield* system.spawn(EchoLive, { name: `echo-${i}` }))
  const own: Array<any> = []
  for (let i = 0; i < keys; i++) own.push(yield* system.spawn(EchoOwn, { name: `own-${i}` }))
  const sup: Array<any> = []
  const EchoSup = Supervise.behavior(EchoOwn, [{ match: () => true, directive: "restart", limit: { maxRestarts: 10, within: "10 seconds" } }])
  for (let i = 0; i < keys; i++) sup.push(yield* system.spawn(EchoSup, { name: `sup-${i}` }))
  const echoes = yield* sharding.entity(EchoClosureEntity)
  const refs = Array.from({ length: keys }, (_, i) => echoes.ref(`k${i}`))
  // PROBE_SEQ_ACTIVATE=1: one activation at a time (each entity's objects then lie together)
  if (process.env.PROBE_SEQ_ACTIVATE === "1") for (let i = 0; i < keys; i++) yield* refs[i]!.ask(Echo.Ping({ n: i }))
  else yield* pipelined(keys, (i) => refs[i]!.ask(Echo.Ping({ n: i })))
  yield* pipelined(keys, (i) => refs[i]!.ask(Echo.Ping({ n: i })))
  const ownEntities = yield* sharding.entity(EchoOwnEntity)
  const ownRefs = Array.from({ length: keys }, (_, i) => ownEntities.ref(`k${i}`))
  yield* pipelined(keys, (i) => ownRefs[i]!.ask(Echo.Ping({ n: i })))
  yield* pipelined(keys, (i) => ownRefs[i]!.ask(Echo.Ping({ n: i })))
  const raw = refs.map((r: any) => r.entry?.ref ?? r.direct?.ref)
  const rawOwn = ownRefs.map((r: any) => r.entry?.ref ?? r.direct?.ref)
  const perm = Array.from({ length: keys }, (_, i) => i).sort(() => Math.random() - 0.5)
  const asks: Record<string, (i: number) => Effect.Effect<unknown, unknown>> = {
    spread: (i) => spread[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    own: (i) => own[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    sup: (i) => sup[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    raw: (i) => raw[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    rawOwn: (i) => rawOwn[perm[i % keys]!]!.ask(Echo.Ping({ n: i })),
    entity: (i) => refs[perm[i % keys]!]!.ask(Echo.Ping({ n: i }))
  }
  const kinds = (process.env.KINDS ?? "spread,own,sup,rawOwn,raw,entity").split(",")
  for (const k of kinds) yield* pipelined(20_000, asks[k]!)
  const cpu: Record<string, Array<number>> = Object.fromEntries(kinds.map((k) => [k, []]))
  for (let s = 0; s < slices; s++) {
    const order = s % 2 === 0 ? kinds : kinds.toReversed()
    for (const k of order) {
      yield* pipelined(n, asks[k]!)
      cpu[k]!.push(lastCpu)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  const out: Record<string, number> = {}
  for (const k of kinds) out[k] = median(cpu[k]!)
  if (cpu.spread !== undefined) for (const k of kinds) if (k !== "spread") out[`${k}-spread`] = median(cpu[k]!.map((x, i) => x - cpu.spread![i]!))
  return out
}).pipe(Effect.scoped)
const out = await Effect.runPromise(Effect.provideService(main, References.MinimumLogLevel, "Error"))
console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.toFixed(3))]))))
process.exit(0)
