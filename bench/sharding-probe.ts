/**
 * A focused probe of the sharding ask path (not a bench group): the three-node set-up of
 * `sharding.ts`, then alternating slices of plain / spread / entity asks, and asks to the
 * entities' own actor refs (`raw`: what an entity costs as an actor, apart from its ref), and to
 * as many plain actors with handlers made per actor (`own`) and under `Supervise.behavior` (`sup`); and
 * the heap of active entities and plain actors on one node. For paired before/after runs of a
 * change (run it from two checkouts in turn).
 *
 *   node --expose-gc bench/sharding-probe.ts [slices] [ask|mem|both]
 *   PROBE_ONLY=entity|raw|spread|plain node --expose-gc --cpu-prof bench/sharding-probe.ts 1 ask
 *
 * `entity` is the bench's echo entity (its handlers one shared object, as the plain echo's);
 * `closure` asks the same keys of `EchoClosureEntity` (handlers made per activation).
 * PROBE_ONLY also takes `spreadShuffled` and `supShuffled` (those actors asked in a random order,
 * as keys spread by hash are: what the order alone costs, in cache misses and in socket writes
 * when consecutive asks go to different nodes) and `rr` (the entities' own refs interleaved by
 * node; `rrId`: those per node in spawn order; `fresh`: refs to them made by the probe in one loop).
 * `sSeqRSeq`, `sSeqRRnd` and `sRndRSeq` ask the spread actors through refs made by the probe, so
 * that the sender's objects and the receiving actors are each reached in memory order (Seq) or at
 * random (Rnd) apart from each other.
 * PROBE_KINDS=a,b,... alternates slices of the kinds named (any of the above) and prints the
 * median CPU microseconds per ask (`us_`), thousands of asks per second (`k_`) and socket writes per
 * ask (`w_`, all three nodes') of each, and (`d_`) the median over slices of its CPU less the first
 * kind's in the same cycle, which moves much less with the load of a shared machine.
 * PROBE_SEQ_ACTIVATE=1 activates the entities one at a time instead of 64 at once. PROBE_ASKS sets
 * how many asks PROBE_ONLY makes (400 000); `bench/alloc-sample.mjs` runs the probe and prints the
 * bytes allocated per ask, by allocating function, from there.
 */
import { Context, Effect, Layer, Redacted, References } from "effect"
import * as net from "node:net"
import { ActorRef } from "../src/actors/ActorRef.ts"
import { Node } from "../src/transport/Node.ts"
import { ActorSystem } from "../src/system/ActorSystem.ts"
import { Sharding } from "../src/sharding/Sharding.ts"
import * as ShardStore from "../src/sharding/ShardStore.ts"
import { fullGc, nowNs } from "./lib.ts"
import * as Supervise from "../src/supervision/Supervise.ts"
import { Echo, EchoClosureEntity, EchoEntity } from "./sharding-app.ts"

const keys = Number(process.env.PROBE_KEYS ?? 3000)
const inFlight = 64
const slices = Number(process.argv[2] ?? 4)
const mode = process.argv[3] ?? "both"
const quiet = <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, References.MinimumLogLevel, "Error")

/** socket writes (system calls, a gather write counted once) since start */
let writes = 0
const writeGeneric = (net.Socket.prototype as any)._writeGeneric
;(net.Socket.prototype as any)._writeGeneric = function(this: unknown, ...args: Array<unknown>) {
  writes++
  return writeGeneric.apply(this, args)
}
/** socket writes per ask in the last `pipelined` run */
let lastWrites = 0
/** CPU microseconds of the process per ask in the last `pipelined` run (less load-sensitive than rates) */
let lastCpu = 0
const pipelined = (n: number, ask: (i: number) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const c0 = process.cpuUsage()
    const w0 = writes
    const t0 = nowNs()
    yield* Effect.forEach(Array.from({ length: inFlight }, (_, w) => w), (w) =>
      Effect.gen(function*() {
        for (let i = w; i < n; i += inFlight) yield* ask(i)
      }), { concurrency: "unbounded", discard: true })
    const c = process.cpuUsage(c0)
    lastCpu = (c.user + c.system) / n
    lastWrites = (writes - w0) / n
    return n / ((nowNs() - t0) / 1e9)
  })

const EchoLive = Echo.behavior(Effect.succeed({ Ping: ({ n }) => Effect.succeed(n), Where: () => Effect.succeed("plain") }))

const three = Effect.gen(function*() {
  const store = ShardStore.memory()
  const nodes: Array<{ node: Node["Service"]; system: ActorSystem["Service"]; sharding: Sharding["Service"] }> = []
  for (let i = 1; i <= 3; i++) {
    const seed = nodes[0]?.node
    const base = Layer.merge(
      Node.layerWithSystem({ name: `s${i}`, cluster: "probe", secret: Redacted.make("p"), acceptablePause: "10 seconds",
        peers: seed === undefined ? [] : [{ name: "s1", host: "127.0.0.1", port: seed.address.port }] }),
      ShardStore.Service.layer(store))
    const ctx = yield* Layer.build(Sharding.layer({ entities: [EchoEntity, EchoClosureEntity] }).pipe(Layer.provideMerge(base)))
    nodes.push({ node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem), sharding: Context.get(ctx, Sharding) })
  }
  const local = yield* nodes[0]!.system.spawn(EchoLive, { name: "echo" })
  for (const n of nodes.slice(1)) yield* n.system.spawn(EchoLive, { name: "echo" })
  const s1 = nodes[0]!
  const settled = () => nodes.every((n) => n.node.peers().filter((p) => p.up).length >= 2) &&
    nodes.every((n) => n.sharding.ownedShards().length > 0) &&
    nodes.reduce((sum, n) => sum + n.sharding.ownedShards().length, 0) === s1.sharding.shards
  while (!settled()) yield* Effect.sleep("50 millis")
  const plain = [local, yield* s1.node.lookup("s2", Echo, "echo"), yield* s1.node.lookup("s3", Echo, "echo")]
  const spread: Array<(typeof plain)[number]> = []
  for (let i = 0; i < keys; i++) {
    const n = nodes[i % 3]!
    const ref = yield* n.system.spawn(EchoLive, { name: `echo-${i}` })
    spread.push(i % 3 === 0 ? ref : yield* s1.node.lookup(`s${(i % 3) + 1}`, Echo, `echo-${i}`))
  }
  // as many plain actors again with handlers made per actor (as an entity's are), and those under
  // Supervise.behavior with the entities' default rule: what each of those adds
  const EchoOwn = Echo.behavior(Effect.sync(() => ({ Ping: ({ n }: { n: number }) => Effect.succeed(n), Where: () => Effect.succeed("own") })))
  const EchoSup = Supervise.behavior(EchoOwn, [{ match: () => true, directive: "restart", limit: { maxRestarts: 10, within: "10 seconds" } }])
  const own: Array<(typeof plain)[number]> = []
  const sup: Array<(typeof plain)[number]> = []
  for (const [list, behavior, prefix] of [[own, EchoOwn, "own"], [sup, EchoSup, "sup"]] as const) {
    for (let i = 0; i < keys; i++) {
      const ref = yield* nodes[i % 3]!.system.spawn(behavior, { name: `${prefix}-${i}` })
      list.push(i % 3 === 0 ? ref : yield* s1.node.lookup(`s${(i % 3) + 1}`, Echo, `${prefix}-${i}`))
    }
  }
  const echoes = yield* s1.sharding.entity(EchoEntity)
  const refs = Array.from({ length: keys }, (_, i) => echoes.ref(`k${i}`))
  if (process.env.PROBE_SEQ_ACTIVATE === "1") {
    for (let i = 0; i < keys; i++) yield* refs[i]!.ask(Echo.Ping({ n: i }))
  } else yield* pipelined(keys, (i) => refs[i]!.ask(Echo.Ping({ n: i })))
  const closures = yield* s1.sharding.entity(EchoClosureEntity)
  const closureRefs = Array.from({ length: keys }, (_, i) => closures.ref(`k${i}`))
  yield* pipelined(keys, (i) => closureRefs[i]!.ask(Echo.Ping({ n: i })))
  const closureAsk = (i: number) => closureRefs[i % closureRefs.length]!.ask(Echo.Ping({ n: i }))
  const plainAsk = (i: number) => plain[i % 3]!.ask(Echo.Ping({ n: i }))
  const entityAsk = (i: number) => refs[i % refs.length]!.ask(Echo.Ping({ n: i }))
  const spreadAsk = (i: number) => spread[i % spread.length]!.ask(Echo.Ping({ n: i }))
  const ownAsk = (i: number) => own[i % own.length]!.ask(Echo.Ping({ n: i }))
  const supAsk = (i: number) => sup[i % sup.length]!.ask(Echo.Ping({ n: i }))
  // the entities' own actor refs (what the entity ref reaches), asked as plain refs
  yield* pipelined(10_000, entityAsk)
  const raw = refs.map((r: any) => r.entry?.ref ?? r.direct?.ref)
  const rawAsk = (i: number) => raw[i % raw.length]!.ask(Echo.Ping({ n: i }))
  const byNode = new Map<string, Array<any>>()
  for (const x of raw) { const k = x.address.node.name; byNode.set(k, [...(byNode.get(k) ?? []), x]) }
  const groups = [...byNode.values()]
  console.error("raw per node", groups.map((g) => g.length))
  const rr: Array<any> = []
  for (let j = 0; rr.length < raw.length; j++) for (const g of groups) if (j < g.length) rr.push(g[j])
  const rrAsk = (i: number) => rr[i % rr.length]!.ask(Echo.Ping({ n: i }))
  // the same, each node's in actor id (spawn) order
  const rrId: Array<any> = []
  const byId = groups.map((g) => [...g].sort((a, b) => a.address.id - b.address.id))
  for (let j = 0; rrId.length < raw.length; j++) for (const g of byId) if (j < g.length) rrId.push(g[j])
  const rrIdAsk = (i: number) => rrId[i % rrId.length]!.ask(Echo.Ping({ n: i }))
  // refs to the same actors made here in one loop, in key order (their targets bound in that
  // order below): what the asking node's objects for each actor cost apart from where they lie
  const fresh = raw.map((x: any) => new ActorRef(x.address, undefined, x._resolver))
  for (const x of fresh) void x.target
  const freshAsk = (i: number) => fresh[i % fresh.length]!.ask(Echo.Ping({ n: i }))
  // how far key order is from spawn order on each node: ids out of order among consecutive keys
  console.error("raw id inversions per node", groups.map((g) => g.filter((x, j) => j > 0 && x.address.id < g[j - 1].address.id).length))
  const perm = Array.from({ length: keys }, (_, i) => i).sort(() => Math.random() - 0.5)
  const spreadShuffledAsk = (i: number) => spread[perm[i % spread.length]!]!.ask(Echo.Ping({ n: i }))
  const supShuffledAsk = (i: number) => sup[perm[i % sup.length]!]!.ask(Echo.Ping({ n: i }))
  console.error("raw refs known:", raw.filter((x) => x !== undefined).length)
  yield* pipelined(10_000, plainAsk)
  yield* pipelined(10_000, spreadAsk)
  yield* pipelined(10_000, entityAsk)
  // refs to the spread actors made here, so that the order of the sender's objects in memory
  // and of the receivers is chosen apart: `sSeqRRnd` asks in the order its refs were made, the
  // actors at random; `sRndRSeq` the actors in spawn order through refs made at random;
  // `sSeqRSeq` both in order
  const refsFor = (order: ReadonlyArray<number>) => {
    const out: Array<any> = new Array(keys)
    for (const k of order) {
      const x: any = spread[k]!
      const r: any = new ActorRef(x.address, undefined, x._resolver)
      void r.target
      out[k] = r
    }
    return out
  }
  const inOrder = Array.from({ length: keys }, (_, i) => i)
  const sSeqRSeq = refsFor(inOrder)
  const sRndRSeq = refsFor(perm)
  const sSeqRRnd = perm.map((k) => sRndRSeq[k])
  const extra: Record<string, (i: number) => Effect.Effect<unknown, unknown>> = {
    sSeqRSeq: (i) => sSeqRSeq[i % keys].ask(Echo.Ping({ n: i })),
    sSeqRRnd: (i) => sSeqRRnd[i % keys].ask(Echo.Ping({ n: i })),
    sRndRSeq: (i) => sRndRSeq[i % keys].ask(Echo.Ping({ n: i })), spreadShuffled: spreadShuffledAsk, rr: rrAsk, rrId: rrIdAsk, fresh: freshAsk, supShuffled: supShuffledAsk, closure: closureAsk }
  const kinds = { plain: plainAsk, spread: spreadAsk, own: ownAsk, sup: supAsk, entity: entityAsk, raw: rawAsk }
  type Kind = keyof typeof kinds
  const r = { plain: [], spread: [], own: [], sup: [], entity: [], raw: [] } as Record<Kind, Array<number>>
  const n = Number(process.env.PROBE_SLICE ?? 50_000)
  const only = process.env.PROBE_ONLY
  if (only !== undefined) {
    const f = kinds[only as Kind] ?? extra[only] ?? entityAsk
    const t0 = Date.now()
    // a harness (an allocation sampler) may start here, after the set-up
    ;(globalThis as { probeMeasured?: () => void }).probeMeasured?.()
    const rate = yield* pipelined(Number(process.env.PROBE_ASKS ?? 400_000), f)
    return { [only]: rate, ms: Date.now() - t0, usPerAsk: lastCpu, writesPerAsk: lastWrites } as any
  }
  const chosen = process.env.PROBE_KINDS?.split(",")
  if (chosen !== undefined) {
    // the kinds named, in alternating slices: median CPU microseconds per ask and rate of each
    const all: Record<string, (i: number) => Effect.Effect<unknown, unknown>> = { ...kinds, ...extra }
    const us: Record<string, Array<number>> = {}
    const rate: Record<string, Array<number>> = {}
    const wr: Record<string, Array<number>> = {}
    for (let s = 0; s < slices; s++) {
      for (const k of s % 2 === 0 ? chosen : chosen.toReversed()) {
        ;(rate[k] ??= []).push(yield* pipelined(n, all[k]!))
        ;(us[k] ??= []).push(lastCpu)
        ;(wr[k] ??= []).push(lastWrites)
      }
    }
    const mid = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
    // and per kind the median over slices of its CPU less the first kind's in the same cycle
    // (it moves much less with the load of a shared machine than the figures themselves)
    const first = us[chosen[0]!]!
    return Object.fromEntries(chosen.flatMap((k) => [[`us_${k}`, mid(us[k]!)], [`d_${k}`, mid(us[k]!.map((x, i) => x - first[i]!))], [`k_${k}`, mid(rate[k]!) / 1000], [`w_${k}`, mid(wr[k]!)]])) as any
  }
  // per cycle (each kind once, the order reversed every other cycle) the ratios; their medians
  // resist the load of a shared machine better than ratios of means
  const cycles = { askRatio: [] as Array<number>, sameActors: [] as Array<number>, rawRatioSame: [] as Array<number>, cpuRatio: [] as Array<number>, cpuRatioSame: [] as Array<number> }
  const cpu = { plain: [], spread: [], own: [], sup: [], entity: [], raw: [] } as Record<Kind, Array<number>>
  for (let s = 0; s < slices; s++) {
    const forward: Array<Kind> = ["plain", "spread", "own", "sup", "entity", "raw"]
    const order = s % 2 === 0 ? forward : forward.toReversed()
    for (const k of order) {
      r[k].push(yield* pipelined(n, kinds[k]))
      cpu[k].push(lastCpu)
    }
    cycles.cpuRatio.push(cpu.plain[s]! / cpu.entity[s]!)
    cycles.cpuRatioSame.push(cpu.spread[s]! / cpu.entity[s]!)
    cycles.askRatio.push(r.entity[s]! / r.plain[s]!)
    cycles.sameActors.push(r.entity[s]! / r.spread[s]!)
    cycles.rawRatioSame.push(r.raw[s]! / r.spread[s]!)
  }
  const hm = (xs: Array<number>) => xs.length / xs.reduce((a, x) => a + 1 / x, 0)
  const median = (xs: Array<number>) => {
    const t = [...xs].sort((a, b) => a - b)
    return t.length % 2 === 1 ? t[(t.length - 1) / 2]! : (t[t.length / 2 - 1]! + t[t.length / 2]!) / 2
  }
  return {
    plain: hm(r.plain), spread: hm(r.spread), entity: hm(r.entity), raw: hm(r.raw),
    askRatio: median(cycles.askRatio), sameActors: median(cycles.sameActors), rawRatioSame: median(cycles.rawRatioSame),
    // CPU per ask (all three nodes are this process): plain ÷ entity, as askRatio would be if CPU alone limited both
    cpuRatio: median(cycles.cpuRatio), cpuRatioSame: median(cycles.cpuRatioSame),
    usPerAskPlain: median(cpu.plain), usPerAskSpread: median(cpu.spread), usPerAskOwn: median(cpu.own), usPerAskSup: median(cpu.sup),
    usPerAskRaw: median(cpu.raw), usPerAskEntity: median(cpu.entity)
  }
}).pipe(Effect.scoped)

/** one node: heap per active entity vs per plain actor (same behaviour) */
const memory = Effect.gen(function*() {
  const N = 20_000
  const ctx = yield* Layer.build(Sharding.layer({ entities: [EchoEntity], leaseTtl: "10 minutes" }).pipe(
    Layer.provideMerge(Layer.merge(ActorSystem.layer({ node: "solo" }), ShardStore.Service.layer(ShardStore.memory())))))
  const sharding = Context.get(ctx, Sharding)
  const system = Context.get(ctx, ActorSystem)
  while (sharding.ownedShards().length < sharding.shards) yield* Effect.sleep("50 millis")
  const echoes = yield* sharding.entity(EchoEntity)
  yield* pipelined(N, (i) => echoes.ref(`warm-${i}`).ask(Echo.Ping({ n: i })))
  fullGc()
  const b0 = process.memoryUsage().heapUsed
  yield* pipelined(N, (i) => echoes.ref(`m-${i}`).ask(Echo.Ping({ n: i })))
  fullGc()
  const b1 = process.memoryUsage().heapUsed
  const plainRefs: Array<any> = []
  for (let i = 0; i < N; i++) plainRefs.push(yield* system.spawn(EchoLive))
  yield* pipelined(N, (i) => plainRefs[i]!.ask(Echo.Ping({ n: i })))
  fullGc()
  const b2 = process.memoryUsage().heapUsed
  // (long leases: under load a full GC must not outlast the renew deadline and stop the entities)
  return { bytesPerActiveKey: (b1 - b0) / N, bytesPerPlainActor: (b2 - b1) / N, active: sharding.activeEntities() }
}).pipe(Effect.scoped)

const main = async () => {
  const out: Record<string, number> = {}
  if (mode !== "mem") Object.assign(out, await Effect.runPromise(quiet(three)))
  if (mode !== "ask") Object.assign(out, await Effect.runPromise(quiet(memory)))
  console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.toFixed(3))]))))
  process.exit(0)
}
main()
