/**
 * A Jepsen-style attack on sharded entities, not a benchmark (not in `run.ts`): three real node
 * processes (test/fixtures/sharding-counters-app.ts: a counter entity with durable state, and a
 * gateway actor per node) on PostgreSQL reached through a TCP fault proxy (or on SQLite), with
 * increments from every node while a seeded schedule of faults runs:
 *
 * - `kill-handoff`: a node is killed -9 and started again; as soon as it is up (the others hand
 *   its shards back to it), another node — an old owner in the middle of its handoffs — is killed
 *   -9 too, and started again;
 * - `kill-activation`: a burst of first messages to new keys (activations under way), and the
 *   node that owns most of them is killed -9 at once, then started again;
 * - `store-slow`: every byte to and from the store delayed (latency 300 ± 200 ms) for 5 s;
 * - `store-lag`: every reply from the store delayed (latency 1 500 ± 500 ms, requests on time) for
 *   5 s: renewals reach the store but are confirmed past the renew deadline, so the nodes stop
 *   shards whose leases the store still holds, then acquire them again (under a new epoch: a
 *   write of a stopped activation still on its way must not pass the fence);
 * - `store-hang`: the store unreachable for every node (bytes held both ways, as a DROP rule) for
 *   4 s, then healed (late renewals and writes arrive);
 * - `partition`: two nodes cut from each other (both reach the store) for 3 s;
 * - `graceful`: a node stopped with SIGTERM and started again;
 * - `freeze`: a node SIGSTOPped for 5 s (past the leases' TTL and the failure detector: the others
 *   take its shards over), then SIGCONTed with its overdue timers, its old leases and the
 *   messages that reached it meanwhile;
 * - `freeze-kill`: a node SIGSTOPped past the TTL, then killed -9 while frozen, and started again;
 * - `flap`: for 5 s, the connection between two random nodes is reset every 100–600 ms (faster
 *   than the failure detector: each reset is a reconnect, with what was in flight lost);
 * - `graceful-frozen`: a node SIGSTOPped, another stopped with SIGTERM meanwhile (its handoffs and
 *   its `Leaving` notice wait for a member that does not answer), started again, then the first
 *   SIGCONTed;
 * - `graceful-of-frozen`: a node SIGSTOPped past its leases' TTL and sent SIGTERM while frozen: it
 *   resumes into its graceful stop (with the leases it lost meanwhile, and what reached it), and
 *   is started again;
 *
 * Then every key must answer again, and the history (every increment and read, the kills, and
 * the activation log each node writes as its entities start and stop) is checked: no two
 * activations of a key at once (`singleActivation`), no acknowledged increment lost and none
 * from nowhere (`noLostUpdates`), every ask ended within its timeout (`asksEnd`); the time for
 * every key to answer after the last heal is printed.
 *
 *   TELEX_PG_URL=postgres://telex:telex@127.0.0.1:5432/telex node bench/soak-sharding-chaos.ts
 *   SOAK_STORE=sqlite SOAK_SEED=3 SOAK_FAULTS=12 node bench/soak-sharding-chaos.ts
 *   SOAK_HISTORY=/tmp/h.txt SOAK_MAX_VIOLATIONS=100 ...   # where the history goes (always written; by default
 *                                                          # $TMPDIR/telex-chaos-<store>-<seed>-<pid>.history.txt)
 *   SOAK_KINDS=store-hang,graceful ...                     # only these faults
 *
 * Exit code 0 when every check holds; 1 with the violations otherwise.
 */
import { Effect, Fiber, Random } from "effect"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { ActorRef } from "../src/index.ts"
import * as Checkers from "../src/testing/Checkers.ts"
import * as History from "../src/testing/History.ts"
import * as TestCluster from "../src/testing/TestCluster.ts"
import { Gateway } from "../test/fixtures/sharding-counters-app.ts"
import { ownSchema, tempDir } from "../test/sharding/_backends.ts"
import { activationLog, pgBehindProxy } from "../test/sharding/_processes.ts"

const app = fileURLToPath(new URL("../test/fixtures/sharding-counters-app.ts", import.meta.url))
const STORE = process.env.SOAK_STORE ?? (process.env.TELEX_PG_URL !== undefined ? "postgres" : "sqlite")
const SEED = Number(process.env.SOAK_SEED ?? 1)
const FAULTS = Number(process.env.SOAK_FAULTS ?? 8)
const KEYS = 150
const ASK_TIMEOUT = 5_000
const WORKERS = 10
const ALL_KINDS = ["kill-handoff", "kill-activation", "store-slow", "store-lag", "store-hang", "partition", "graceful", "freeze", "freeze-kill", "graceful-frozen", "flap", "graceful-of-frozen"] as const
/** `SOAK_KINDS=store-hang,graceful`: only those faults */
const KINDS = process.env.SOAK_KINDS === undefined
  ? ALL_KINDS
  : ALL_KINDS.filter((k) => process.env.SOAK_KINDS!.split(",").includes(k))

const program = Effect.gen(function*() {
  const logDir = yield* tempDir("telex-chaos-")
  const names = ["n1", "n2", "n3"]
  let pg: Effect.Success<ReturnType<typeof pgBehindProxy>> | undefined
  if (STORE === "postgres") {
    const url = yield* ownSchema(process.env.TELEX_PG_URL!, `telex_chaos_${process.pid}`)
    pg = yield* pgBehindProxy(url)
  }
  const cluster = yield* TestCluster.start({
    app,
    nodes: names.map((name) => ({ name, run: ["gateway"] })),
    sharding: STORE === "postgres" ? { store: "postgres", leaseTtl: "2s", shards: 64 } : { store: "sqlite", leaseTtl: "2s", shards: 64 },
    heartbeat: { interval: "500ms", acceptablePause: "2s" },
    env: { TELEX_ACTIVATION_LOG: logDir, ...(pg === undefined ? {} : { TELEX_PG_URL: pg.url }) }
  })
  const history = History.make()
  const gateways = new Map<string, ActorRef.ActorRef<typeof Gateway.defs>>()
  const up = new Set(names)
  const lookup = (n: string) =>
    Effect.tap(cluster.client.node.lookup(n, Gateway, "gateway", { timeout: "5 seconds" }), (g) => Effect.sync(() => gateways.set(n, g)))
  for (const n of names) yield* cluster.eventually(lookup(n), "30 seconds")
  const unknown = { unknown: () => true }
  const add = (via: string, key: string) =>
    history.track(via, { f: "increment", value: { key, by: 1 } }, gateways.get(via)!.ask(Gateway.Add({ key, by: 1 }), { timeout: ASK_TIMEOUT }), unknown)
  const read = (via: string, key: string) =>
    history.track(via, { f: "read", value: { key } }, gateways.get(via)!.ask(Gateway.Get({ key }), { timeout: ASK_TIMEOUT }), unknown)
  let keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
  yield* Effect.forEach(keys, (key, i) => cluster.eventually(add(names[i % 3]!, key), "60 seconds"), { concurrency: 16, discard: true })

  let loading = true
  const load = yield* Effect.forkChild(Effect.forEach(Array.from({ length: WORKERS }, (_, w) => w), (w) =>
    Effect.gen(function*() {
      for (let i = 0; loading; i++) {
        const via = [...up][(w + i) % Math.max(1, up.size)]
        if (via === undefined || !gateways.has(via)) {
          yield* Effect.sleep("50 millis")
          continue
        }
        yield* Effect.ignore(add(via, keys[Math.floor(Math.random() * keys.length)]!))
      }
    }), { concurrency: "unbounded", discard: true }))

  const pick = <A>(xs: ReadonlyArray<A>) => Effect.map(Random.next, (r) => xs[Math.floor(r * xs.length)]!)
  const down = (n: string) => Effect.sync(() => {
    up.delete(n)
    gateways.delete(n)
  })
  const restart = (n: string) =>
    Effect.gen(function*() {
      yield* cluster.restart(n)
      yield* cluster.eventually(lookup(n), "30 seconds")
      up.add(n)
    })
  const kill = (n: string) => Effect.andThen(down(n), Effect.andThen(cluster.kill(n), Effect.sync(() => history.crashed(n))))
  let fresh = 0
  const faults: Array<string> = []
  /** when each `freeze` and `freeze-kill` held its node stopped (wall clock, as the history's times) */
  const freezes: Array<{ readonly node: string; readonly from: number; readonly to: number }> = []
  for (let f = 0; f < FAULTS; f++) {
    yield* Effect.sleep("1500 millis")
    const kind = yield* pick(KINDS)
    faults.push(kind)
    console.log(`[chaos] ${new Date().toISOString()} ${kind}`)
    switch (kind) {
      case "kill-handoff": {
        const first = yield* pick(names)
        yield* kill(first)
        yield* Effect.sleep("1 second")
        yield* restart(first)
        // its shards come back to it by handoff: an old owner dies in the middle
        const second = yield* pick(names.filter((n) => n !== first))
        yield* Effect.sleep(`${100 + Math.floor(Math.random() * 400)} millis`)
        yield* kill(second)
        yield* restart(second)
        break
      }
      case "kill-activation": {
        const victim = yield* pick([...up])
        const burst = Array.from({ length: 30 }, () => `new${fresh++}`)
        keys = keys.concat(burst)
        const via = [...up].find((n) => n !== victim) ?? victim
        yield* Effect.forkChild(Effect.forEach(burst, (key) => Effect.ignore(add(via, key)), { concurrency: "unbounded", discard: true }))
        yield* Effect.sleep("20 millis")
        yield* kill(victim)
        yield* restart(victim)
        break
      }
      case "store-slow": {
        if (pg === undefined) break
        for (const direction of ["upstream", "downstream"] as const) pg.proxy.addToxic(`slow-${direction}`, direction, { type: "latency", latencyMillis: 300, jitterMillis: 200 })
        yield* Effect.sleep("5 seconds")
        pg.proxy.clearToxics()
        break
      }
      case "store-lag": {
        if (pg === undefined) break
        pg.proxy.addToxic("lag-downstream", "downstream", { type: "latency", latencyMillis: 1_500, jitterMillis: 500 })
        yield* Effect.sleep("5 seconds")
        pg.proxy.clearToxics()
        break
      }
      case "store-hang": {
        if (pg === undefined) break
        pg.proxy.partition()
        yield* Effect.sleep("4 seconds")
        pg.proxy.heal()
        break
      }
      case "partition": {
        const a = yield* pick(names)
        const b = yield* pick(names.filter((n) => n !== a))
        yield* cluster.partition(a, b)
        yield* Effect.sleep("3 seconds")
        yield* cluster.heal()
        break
      }
      case "freeze": {
        const n = yield* pick([...up])
        const from = Date.now()
        yield* cluster.pause(n)
        yield* Effect.sleep("5 seconds")
        yield* cluster.resume(n)
        freezes.push({ node: n, from, to: Date.now() })
        break
      }
      case "freeze-kill": {
        const n = yield* pick([...up])
        const from = Date.now()
        yield* cluster.pause(n)
        yield* Effect.sleep("4 seconds")
        yield* kill(n)
        freezes.push({ node: n, from, to: Date.now() })
        yield* restart(n)
        break
      }
      case "flap": {
        const end = Date.now() + 5_000
        while (Date.now() < end) {
          const a = yield* pick(names)
          const b = yield* pick(names.filter((n) => n !== a))
          yield* cluster.reset(a, b)
          yield* Effect.sleep(`${100 + Math.floor(Math.random() * 500)} millis`)
        }
        break
      }
      case "graceful-frozen": {
        const frozen = yield* pick([...up])
        const n = yield* pick([...up].filter((m) => m !== frozen))
        const from = Date.now()
        yield* cluster.pause(frozen)
        yield* Effect.sleep(`${Math.floor(Math.random() * 1500)} millis`)
        yield* down(n)
        yield* cluster.kill(n, "SIGTERM")
        yield* restart(n)
        yield* cluster.resume(frozen)
        freezes.push({ node: frozen, from, to: Date.now() })
        break
      }
      case "graceful-of-frozen": {
        const n = yield* pick([...up])
        const from = Date.now()
        yield* cluster.pause(n)
        yield* Effect.sleep(`${3_000 + Math.floor(Math.random() * 2_000)} millis`)
        yield* down(n)
        // SIGTERM to the stopped process, then SIGCONT: it resumes into its graceful stop
        yield* cluster.kill(n, "SIGTERM")
        freezes.push({ node: n, from, to: Date.now() })
        yield* restart(n)
        break
      }
      case "graceful": {
        const n = yield* pick([...up])
        yield* down(n)
        yield* cluster.kill(n, "SIGTERM")
        yield* restart(n)
        break
      }
    }
  }
  yield* cluster.heal()
  const healedAt = Date.now()
  loading = false
  yield* Fiber.join(load)
  // every key answers again, from every node
  yield* Effect.forEach(keys, (key) => Effect.forEach(names, (n) => cluster.eventually(read(n, key), "60 seconds"), { discard: true }), {
    concurrency: 16,
    discard: true
  })
  const answeredAfter = Date.now() - healedAt

  const h = History.fromEntries([...history.snapshot().entries, ...activationLog(logDir)].sort((a, b) => a.at - b.at), Date.now())
  const checked = Checkers.checkAll(h, { updates: {}, asks: { withinMillis: ASK_TIMEOUT + 2_000 } })
  // A frozen node's activations are in the log until it resumes and stops them, or is killed (a
  // stopped process logs nothing), and one it was starting as it froze completes its start after
  // the resume, under the lease it lost meanwhile, before the lease check stops it: in-memory
  // exclusivity is what a pause past the lease breaks (README, "At most one activation per key").
  // A singleActivation violation is the freeze's when one of its activations is on a node frozen
  // while the two overlapped, and ended within FROZEN_GRACE of that node's resume or kill. Whether
  // the resumed node served anything from them is what noLostUpdates judges.
  const FROZEN_GRACE = 3_000
  const endOf = (a: History.ActivationEntry): number | undefined => {
    for (const e of h.entries) {
      if (e.at < a.at || e.index <= a.index) continue
      if (e._tag === "Crash" && e.node === a.node) return e.at
      if (e._tag === "Activation" && e.event === "deactivated" && e.node === a.node && e.entity === a.entity && e.key === a.key && e.epoch === a.epoch) return e.at
    }
    return undefined
  }
  const frozenOverlap = (v: Checkers.Violation) => {
    if (v.rule !== "singleActivation") return false
    const started = v.ops.filter((e): e is History.ActivationEntry => e._tag === "Activation" && e.event === "activated")
    if (started.length !== 2) return false
    const overlapFrom = Math.max(started[0]!.at, started[1]!.at)
    return started.some((x) => {
      const end = endOf(x)
      return end !== undefined && freezes.some((f) => f.node === x.node && overlapFrom >= f.from && end <= f.to + FROZEN_GRACE)
    })
  }
  const violations = checked.valid ? [] : checked.violations.filter((v) => !frozenOverlap(v))
  const ofFreezes = checked.valid ? 0 : checked.violations.length - violations.length
  if (ofFreezes > 0) console.log(`[chaos] ${ofFreezes} violations of activations on a frozen node, each ended within ${FROZEN_GRACE} ms of its resume or kill`)
  const result: Checkers.Result = violations.length === 0 ? { valid: true } : { valid: false, violations }
  const ops = h.entries.filter((e) => e._tag === "Op" && e.f === "increment")
  const count = (type: string) => ops.filter((e) => e._tag === "Op" && e.type === type).length
  const activations = h.entries.filter((e) => e._tag === "Activation" && e.event === "activated").length
  console.log(
    `[chaos] store ${STORE}, seed ${SEED}, faults ${faults.join(" ")}; ${keys.length} keys, ${count("ok")} increments acknowledged, ${count("info")} unknown, ${activations} activations; every key answered from every node ${answeredAfter} ms after the last heal`
  )
  // every run keeps its history, clean or not: a violation seen once must be explainable later
  const historyFile = process.env.SOAK_HISTORY ?? join(tmpdir(), `telex-chaos-${STORE}-${SEED}-${process.pid}.history.txt`)
  writeFileSync(historyFile, h.entries.map((e) => History.describe(e)).join("\n"))
  console.log(`[chaos] history written to ${historyFile}`)
  if (!result.valid) {
    console.log(Checkers.format(result, { maxViolations: Number(process.env.SOAK_MAX_VIOLATIONS ?? 20) }))
    for (const n of names) console.log(`--- ${n} ---\n${cluster.logs(n).slice(-30).join("\n")}`)
  }
  return result.valid
}).pipe(Effect.scoped, Random.withSeed(SEED))

Effect.runPromise(program).then((ok) => process.exit(ok ? 0 : 1), (e) => {
  console.error(e)
  process.exit(1)
})
