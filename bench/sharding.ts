/**
 * The sharding group: what addressing actors by key costs, against plain actors in the same run.
 *
 * - `askRatio`: entity ask throughput ÷ plain remote ask throughput. Three nodes in this process
 *   over loopback TCP, sharding on a shared in-memory shard store; from node s1, `inFlight`
 *   fibers ask in a loop — the measured side asks `keys` echo entities (already active) spread
 *   over the three nodes by their shards (a third of them local to s1), the baseline asks the
 *   plain echo actors of s2 and s3 in turn (every ask crosses the network). The echo entity's
 *   handlers are one object made once, as the plain echo's are (the same handler code on both
 *   sides). Slices alternate (A B C D E E D C B A) so that load from elsewhere hits all.
 * - `askRatioMixed`: the same entity asks ÷ plain asks to one echo actor on each of the three
 *   nodes in turn, s1's own included: a third of the baseline's asks local too, as a third of the
 *   entity asks are (a stricter baseline than `askRatio`'s: local asks are the cheapest).
 * - `askRatioSameActors`: the same entity asks ÷ plain asks to `keys` plain echo actors spread
 *   over the three nodes (each woken for one message at a time, as the entities are): what
 *   sharding itself adds, apart from what having that many actors costs.
 * - `askRatioClosures`: asks to the same keys of a second echo entity whose handlers are made per
 *   activation, closing over what its init read (as an entity with state of its own does) ÷ the
 *   plain remote asks: each message then reads one object of its activation more (its closure context),
 *   a cache miss among thousands of entities that the plain echo's three actors never pay.
 * - `activationsPerSec`: asks to keys never used before (each activates an entity on its
 *   shard's node), pipelined the same way.
 * - `bytesPerPassivatedKey`: one node; `passivatedKeys` entities activated, then passivated
 *   (idle), heap after a full GC against before — what a key costs once its entity is gone
 *   (measured after a first batch, so that per-shard structures are already there).
 *   `bytesPerActiveKey` beside it.
 * - `recoveryMs`: three real `telex node` processes (`bench/sharding-app.ts`) with the SQLite
 *   shard store; one is killed with -9 and the time until every one of its keys answers again
 *   from another node is measured, with the lease TTL and the failure detector's pause beside it.
 *
 * Environment: BENCH_SHARDING_ASKS (100 000), BENCH_SHARDING_KEYS (3 000),
 * BENCH_SHARDING_ACTIVATIONS (20 000), BENCH_SHARDING_PASSIVATED (20 000).
 */
import { Context, Effect, Layer, Redacted, References } from "effect"
import { fileURLToPath } from "node:url"
import { Node } from "../src/transport/Node.ts"
import { ActorSystem } from "../src/system/ActorSystem.ts"
import * as Entity from "../src/sharding/Entity.ts"
import { Sharding } from "../src/sharding/Sharding.ts"
import * as ShardStore from "../src/sharding/ShardStore.ts"
import * as TestCluster from "../src/testing/TestCluster.ts"
import { type BenchGroup, envInt, fullGc, type GroupResult, type Metric, nowNs } from "./lib.ts"
import { Echo, EchoClosureEntity, EchoEntity, Gateway } from "./sharding-app.ts"

const params = {
  asks: envInt("BENCH_SHARDING_ASKS", 100_000),
  keys: envInt("BENCH_SHARDING_KEYS", 3_000),
  activations: envInt("BENCH_SHARDING_ACTIVATIONS", 20_000),
  passivatedKeys: envInt("BENCH_SHARDING_PASSIVATED", 20_000),
  inFlight: 64,
  recoveryKeys: 300,
  leaseTtlMs: 3000,
  heartbeatMs: 250,
  acceptablePauseMs: 1000
}

const secret = Redacted.make("bench-sharding")

const quiet = <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, References.MinimumLogLevel, "Error")

/** `n` asks from `inFlight` fibers; asks per second */
const pipelined = (n: number, ask: (i: number) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const t0 = nowNs()
    yield* Effect.forEach(
      Array.from({ length: params.inFlight }, (_, w) => w),
      (w) =>
        Effect.gen(function*() {
          for (let i = w; i < n; i += params.inFlight) yield* ask(i)
        }),
      { concurrency: "unbounded", discard: true }
    )
    return n / ((nowNs() - t0) / 1e9)
  })

const EchoLive = Echo.behavior(Effect.succeed({ Ping: ({ n }) => Effect.succeed(n), Where: () => Effect.succeed("plain") }))

/** three nodes with sharding in this process; throughput and activation rate */
const threeNodes = (round: number) =>
  Effect.gen(function*() {
    const store = ShardStore.memory()
    const nodes: Array<{ node: Node["Service"]; system: ActorSystem["Service"]; sharding: Sharding["Service"] }> = []
    for (let i = 1; i <= 3; i++) {
      const seed = nodes[0]?.node
      const base = Layer.merge(
        Node.layerWithSystem({
          name: `s${i}`,
          cluster: "bench-sharding",
          secret,
          acceptablePause: "10 seconds",
          peers: seed === undefined ? [] : [{ name: "s1", host: "127.0.0.1", port: seed.address.port }]
        }),
        ShardStore.Service.layer(store)
      )
      const ctx = yield* Layer.build(Sharding.layer({ entities: [EchoEntity, EchoClosureEntity] }).pipe(Layer.provideMerge(base)))
      nodes.push({ node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem), sharding: Context.get(ctx, Sharding) })
    }
    // every node runs a plain echo, and owns shards
    const local = yield* nodes[0]!.system.spawn(EchoLive, { name: "echo" })
    for (const n of nodes.slice(1)) yield* n.system.spawn(EchoLive, { name: "echo" })
    const [s1] = nodes
    const settled = () =>
      nodes.every((n) => n.node.peers().filter((p) => p.up).length >= 2) &&
      nodes.every((n) => n.sharding.ownedShards().length > 0) &&
      nodes.reduce((sum, n) => sum + n.sharding.ownedShards().length, 0) === s1!.sharding.shards
    for (let t = 0; !settled(); t += 50) {
      if (t > 60_000) return yield* Effect.die(new Error("sharding did not settle over three nodes within 60 s"))
      yield* Effect.sleep("50 millis")
    }
    const plain = [
      local,
      yield* s1!.node.lookup("s2", Echo, "echo"),
      yield* s1!.node.lookup("s3", Echo, "echo")
    ]
    // as many plain actors as there are keys, spread over the three nodes the same way: what
    // sharding adds beside what having that many actors (each woken for one message) costs
    const spread: Array<(typeof plain)[number]> = []
    for (let i = 0; i < params.keys; i++) {
      const n = nodes[i % 3]!
      const name = `echo-${i}`
      const ref = yield* n.system.spawn(EchoLive, { name })
      spread.push(i % 3 === 0 ? ref : yield* s1!.node.lookup(`s${(i % 3) + 1}`, Echo, name))
    }
    const echoes = yield* s1!.sharding.entity(EchoEntity)
    const keys = Array.from({ length: params.keys }, (_, i) => `k${i}`)
    const refs = keys.map((k) => echoes.ref(k))
    yield* pipelined(params.keys, (i) => refs[i]!.ask(Echo.Ping({ n: i }))) // activates them
    const closures = yield* s1!.sharding.entity(EchoClosureEntity)
    const closureRefs = keys.map((k) => closures.ref(k))
    yield* pipelined(params.keys, (i) => closureRefs[i]!.ask(Echo.Ping({ n: i })))
    const plainAsk = (i: number) => plain[i % 3]!.ask(Echo.Ping({ n: i }))
    const remoteAsk = (i: number) => plain[1 + (i % 2)]!.ask(Echo.Ping({ n: i }))
    const entityAsk = (i: number) => refs[i % refs.length]!.ask(Echo.Ping({ n: i }))
    const spreadAsk = (i: number) => spread[i % spread.length]!.ask(Echo.Ping({ n: i }))
    const closureAsk = (i: number) => closureRefs[i % closureRefs.length]!.ask(Echo.Ping({ n: i }))
    yield* pipelined(10_000, plainAsk) // warm-up
    yield* pipelined(10_000, remoteAsk)
    yield* pipelined(10_000, spreadAsk)
    yield* pipelined(10_000, entityAsk)
    yield* pipelined(10_000, closureAsk)
    const half = Math.floor(params.asks / 2)
    const rates = {
      plain: [] as Array<number>,
      remote: [] as Array<number>,
      spread: [] as Array<number>,
      entity: [] as Array<number>,
      closure: [] as Array<number>
    }
    rates.remote.push(yield* pipelined(half, remoteAsk))
    rates.plain.push(yield* pipelined(half, plainAsk))
    rates.spread.push(yield* pipelined(half, spreadAsk))
    rates.entity.push(yield* pipelined(half, entityAsk))
    rates.closure.push(yield* pipelined(half, closureAsk))
    rates.closure.push(yield* pipelined(half, closureAsk))
    rates.entity.push(yield* pipelined(half, entityAsk))
    rates.spread.push(yield* pipelined(half, spreadAsk))
    rates.plain.push(yield* pipelined(half, plainAsk))
    rates.remote.push(yield* pipelined(half, remoteAsk))
    const mean = (xs: ReadonlyArray<number>) => xs.length / xs.reduce((a, x) => a + 1 / x, 0)
    const plainPerSec = mean(rates.plain)
    const remotePerSec = mean(rates.remote)
    const entityPerSec = mean(rates.entity)
    const spreadPerSec = mean(rates.spread)
    const closurePerSec = mean(rates.closure)
    const fresh = Array.from({ length: params.activations }, (_, i) => echoes.ref(`new-${round}-${i}`))
    const activationsPerSec = yield* pipelined(params.activations, (i) => fresh[i]!.ask(Echo.Ping({ n: i })))
    const active = nodes.map((n) => n.sharding.activeEntities())
    return {
      plainPerSec,
      entityPerSec,
      askRatioMixed: entityPerSec / plainPerSec,
      remotePerSec,
      askRatio: entityPerSec / remotePerSec,
      spreadPerSec,
      askRatioSameActors: entityPerSec / spreadPerSec,
      closurePerSec,
      askRatioClosures: closurePerSec / remotePerSec,
      activationsPerSec, activeAfter: active.reduce((a, b) => a + b, 0) }
  }).pipe(Effect.scoped)

const PassivatingEcho = Entity.make(Echo, Echo.behavior(Effect.succeed({ Ping: ({ n }) => Effect.succeed(n), Where: () => Effect.succeed("one") })), {
  type: "Bench/ShardEchoPassivating",
  passivateAfter: "200 millis"
})

/** one node: the heap a key costs once its entity has passivated */
const passivatedMemory = Effect.gen(function*() {
  let failedAsks = 0
  const ctx = yield* Layer.build(
    // long leases: a full GC can outlast a 3 s lease's renew deadline, and a lost shard stops
    // its entities, which the heap figures would then count as passivated
    // (rounds, which passivate idle entities, stay every 200 ms)
    Sharding.layer({ entities: [PassivatingEcho], leaseTtl: "10 minutes", renewInterval: "200 millis" }).pipe(
      Layer.provideMerge(Layer.merge(ActorSystem.layer({ node: "solo" }), ShardStore.Service.layer(ShardStore.memory())))
    )
  )
  const sharding = Context.get(ctx, Sharding)
  while (sharding.ownedShards().length < sharding.shards) yield* Effect.sleep("50 millis")
  const echoes = yield* sharding.entity(PassivatingEcho)
  const batch = (prefix: string) =>
    Effect.gen(function*() {
      // an ask that meets its entity passivating may fail (ActorStopped): it is counted, not fatal
      yield* pipelined(params.passivatedKeys, (i) =>
        echoes.ref(`${prefix}-${i}`).ask(Echo.Ping({ n: i })).pipe(Effect.catch(() => Effect.sync(() => void failedAsks++))))
      fullGc()
      const activeHeap = process.memoryUsage().heapUsed
      for (let t = 0; sharding.activeEntities() > 0; t += 100) {
        if (t > 60_000) return yield* Effect.die(new Error(`entities still active after 60 s: ${sharding.activeEntities()}`))
        yield* Effect.sleep("100 millis")
      }
      yield* Effect.sleep("200 millis")
      fullGc()
      return { activeHeap, heap: process.memoryUsage().heapUsed }
    })
  yield* batch("warm") // per-shard structures exist from now on
  fullGc()
  const before = process.memoryUsage().heapUsed
  const after = yield* batch("measured")
  return {
    bytesPerActiveKey: (after.activeHeap - before) / params.passivatedKeys,
    bytesPerPassivatedKey: (after.heap - before) / params.passivatedKeys,
    failedAsks
  }
}).pipe(Effect.scoped)

/** three `telex node` processes: kill -9 one, time until each of its keys answers from another */
const recovery = Effect.gen(function*() {
  const cluster = yield* TestCluster.start({
    app: fileURLToPath(new URL("./sharding-app.ts", import.meta.url)),
    nodes: ["s1", "s2", "s3"].map((name) => ({ name, run: ["gateway"] })),
    heartbeat: { interval: `${params.heartbeatMs}ms`, acceptablePause: `${params.acceptablePauseMs}ms` },
    sharding: { store: "sqlite", leaseTtl: `${params.leaseTtlMs}ms` }
  })
  const gateway = yield* cluster.client.node.lookup("s1", Gateway, "gateway", { timeout: "5 seconds" })
  const where = (key: string) => gateway.ask(Gateway.Where({ key, timeoutMillis: 1000 }), { timeout: "3 seconds" })
  const keys = Array.from({ length: params.recoveryKeys }, (_, i) => `r${i}`)
  // placement settles as the nodes see each other: until every node runs some of the keys
  let victims: Array<string> = []
  for (let t = 0; ; t += 500) {
    const owners = yield* Effect.forEach(keys, (k) => cluster.eventually(where(k), "30 seconds"), { concurrency: 32 })
    victims = keys.filter((_, i) => owners[i] === "s2")
    if (new Set(owners).size === 3) break
    if (t > 30_000) return yield* Effect.die(new Error(`keys did not spread over the three nodes: ${JSON.stringify(owners.slice(0, 20))}`))
    yield* Effect.sleep("500 millis")
  }
  yield* Effect.sleep("1 second")
  const t0 = performance.now()
  yield* cluster.kill("s2")
  const answered = yield* Effect.forEach(victims, (k) =>
    Effect.gen(function*() {
      while (true) {
        const node = yield* Effect.result(where(k))
        if (node._tag === "Success" && node.success !== "s2") return performance.now() - t0
        if (performance.now() - t0 > 60_000) return NaN
        yield* Effect.sleep("20 millis")
      }
    }), { concurrency: "unbounded" })
  return { recoveryMs: Math.max(...answered), recoveredKeys: victims.length }
}).pipe(Effect.scoped)

export const sharding: BenchGroup = {
  name: "sharding",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    const records: Array<Record<string, number>> = []
    for (let r = 0; r < rounds; r++) {
      const three = await Effect.runPromise(quiet(threeNodes(r)))
      log(
        `sharding: round ${r + 1}: entity ${three.entityPerSec.toFixed(0)} (handlers per activation ${three.closurePerSec.toFixed(0)}) / plain remote ${three.remotePerSec.toFixed(0)} (a third local ${three.plainPerSec.toFixed(0)}) / plain over ${params.keys} actors ${three.spreadPerSec.toFixed(0)} asks/s`
      )
      const memory = await Effect.runPromise(quiet(passivatedMemory))
      const rec = await Effect.runPromise(quiet(recovery))
      log(`sharding: round ${r + 1}/${rounds} done (recovery ${rec.recoveryMs.toFixed(0)} ms for ${rec.recoveredKeys} keys)`)
      records.push({
        entityAskPerSec: three.entityPerSec,
        plainRemoteAskPerSec: three.remotePerSec,
        askRatio: three.askRatio,
        plainMixedAskPerSec: three.plainPerSec,
        askRatioMixed: three.askRatioMixed,
        plainSpreadAskPerSec: three.spreadPerSec,
        askRatioSameActors: three.askRatioSameActors,
        closureAskPerSec: three.closurePerSec,
        askRatioClosures: three.askRatioClosures,
        activationsPerSec: three.activationsPerSec,
        bytesPerActiveKey: memory.bytesPerActiveKey,
        bytesPerPassivatedKey: memory.bytesPerPassivatedKey,
        passivationFailedAsks: memory.failedAsks,
        recoveryMs: rec.recoveryMs,
        leaseTtlMs: params.leaseTtlMs,
        detectionMs: params.acceptablePauseMs + params.heartbeatMs
      })
    }
    const metrics: Array<Metric> = [
      { key: "entityAskPerSec", label: "entity ask, keys over 3 nodes, 64 in flight", unit: "ask/s" },
      { key: "plainRemoteAskPerSec", label: "  plain remote ask, same run (baseline)", unit: "ask/s" },
      { key: "askRatio", label: "  entity ÷ plain remote", unit: "×", digits: 2, goal: { op: ">=", value: 0.8 } },
      { key: "plainMixedAskPerSec", label: "  plain ask, a third local (one actor per node)", unit: "ask/s" },
      { key: "askRatioMixed", label: "  entity ÷ plain, a third local on both", unit: "×", digits: 2 },
      { key: "plainSpreadAskPerSec", label: "  plain remote ask to as many actors as keys", unit: "ask/s" },
      { key: "askRatioSameActors", label: "  entity ÷ plain, same number of actors", unit: "×", digits: 2 },
      { key: "closureAskPerSec", label: "entity ask, handlers made per activation", unit: "ask/s" },
      { key: "askRatioClosures", label: "  ÷ plain remote", unit: "×", digits: 2 },
      { key: "activationsPerSec", label: "activations of new keys (3 nodes)", unit: "/s" },
      { key: "bytesPerActiveKey", label: "heap per active entity (one node)", unit: "B" },
      { key: "bytesPerPassivatedKey", label: "heap per passivated key", unit: "B", digits: 1 },
      { key: "recoveryMs", label: "kill -9: all its keys answer again after", unit: "ms" },
      { key: "leaseTtlMs", label: "  lease TTL", unit: "ms" },
      { key: "detectionMs", label: "  failure detection (pause + heartbeat)", unit: "ms" }
    ]
    return { metrics, rounds: records, params }
  }
}
