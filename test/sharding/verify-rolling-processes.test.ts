/**
 * A rolling restart of every node with kill -9, under load, between real node processes over
 * TCP with the SQLite shard store (Pekko's ClusterShardingFailureSpec and rolling-update specs;
 * Jepsen's checkers): three nodes, keys with durable state incremented from every node that
 * runs while each node in turn is killed -9 and started again — the next kill comes as soon as
 * the restarted node is up, while it takes its shards back by handoff. Then every key answers,
 * and from the history (every increment and read, the kills, and the activation logs the nodes
 * write as their entities start and stop — `test/fixtures/sharding-counters-app.ts`):
 *
 * - `noLostUpdates`: no acknowledged increment is lost, none appears from nowhere;
 * - `singleActivation`: no key ran on two nodes at once; lease epochs only move forward;
 * - `asksEnd`: every ask ended (answered or a typed error) within its timeout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { fileURLToPath } from "node:url"
import type { ActorRef } from "../../src/index.ts"
import * as Checkers from "../../src/testing/Checkers.ts"
import * as History from "../../src/testing/History.ts"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { Gateway } from "../fixtures/sharding-counters-app.ts"
import { tempDir } from "./_backends.ts"
import { quiet } from "./_runtime.ts"
import { activationLog, logsOnFailure } from "./_processes.ts"

const app = fileURLToPath(new URL("../fixtures/sharding-counters-app.ts", import.meta.url))
const KEYS = 200
const ASK_TIMEOUT = 6_000
const WORKERS = 12

describe("sharding: a rolling restart with kill -9 under load (real processes, SQLite)", () => {
  it.live(`3 nodes, ${KEYS} keys: each node killed -9 and restarted in turn; every key answers, no acknowledged update lost, no double activation`, () =>
    Effect.gen(function*() {
      const logDir = yield* tempDir("telex-rolling-")
      const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
      const names = ["n1", "n2", "n3"]
      const cluster = yield* TestCluster.start({
        app,
        nodes: names.map((name) => ({ name, run: ["gateway"] })),
        sharding: { store: "sqlite", leaseTtl: "2s", shards: 64 },
        heartbeat: { interval: "500ms", acceptablePause: "2s" },
        env: { TELEX_ACTIVATION_LOG: logDir }
      })
      yield* logsOnFailure(cluster, 40)
      const history = History.make()
      const gateways = new Map<string, ActorRef.ActorRef<typeof Gateway.defs>>()
      const up = new Set(names)
      const lookup = (n: string) =>
        Effect.tap(cluster.client.node.lookup(n, Gateway, "gateway", { timeout: "5 seconds" }), (g) => Effect.sync(() => gateways.set(n, g)))
      for (const n of names) yield* lookup(n)
      // any failure may hide an update that happened (a timeout after the save): outcome unknown
      const unknown = { unknown: () => true }
      const add = (via: string, key: string) =>
        history.track(via, { f: "increment", value: { key, by: 1 } }, gateways.get(via)!.ask(Gateway.Add({ key, by: 1 }), { timeout: ASK_TIMEOUT }), unknown)
      const read = (via: string, key: string) =>
        history.track(via, { f: "read", value: { key } }, gateways.get(via)!.ask(Gateway.Get({ key }), { timeout: ASK_TIMEOUT }), unknown)

      yield* Effect.forEach(keys, (key, i) => cluster.eventually(add(names[i % 3]!, key), "60 seconds"), { concurrency: 16, discard: true })

      let loading = true
      const load = yield* Effect.forkChild(Effect.forEach(Array.from({ length: WORKERS }, (_, w) => w), (w) =>
        Effect.gen(function*() {
          for (let i = 0; loading; i++) {
            const via = [...up][(w + i) % up.size]
            if (via === undefined) {
              yield* Effect.sleep("50 millis")
              continue
            }
            yield* Effect.ignore(add(via, keys[Math.floor(Math.random() * KEYS)]!))
          }
        }), { concurrency: "unbounded", discard: true }))

      for (const n of names) {
        yield* Effect.sleep("700 millis")
        up.delete(n)
        yield* cluster.kill(n)
        history.crashed(n)
        yield* cluster.restart(n)
        yield* cluster.eventually(lookup(n), "30 seconds")
        up.add(n)
      }
      yield* Effect.sleep("1 second")
      loading = false
      yield* Fiber.join(load)

      yield* Effect.forEach(keys, (key, i) => cluster.eventually(read(names[i % 3]!, key), "60 seconds"), { concurrency: 16, discard: true })

      const h = History.fromEntries([...history.snapshot().entries, ...activationLog(logDir)].sort((a, b) => a.at - b.at), Date.now())
      const result = Checkers.checkAll(h, { updates: {}, asks: { withinMillis: ASK_TIMEOUT + 2_000 } })
      assert.isTrue(result.valid, Checkers.format(result, { maxViolations: 10 }))
      assert.deepStrictEqual(result.checked, ["singleActivation", "noLostUpdates", "asksEnd"])
      const ops = h.entries.filter((e) => e._tag === "Op" && e.f === "increment")
      const count = (type: string) => ops.filter((e) => e._tag === "Op" && e.type === type).length
      const activations = h.entries.filter((e) => e._tag === "Activation" && e.event === "activated").length
      assert.isAbove(activations, KEYS, "keys were activated again after the kills")
      console.log(`sharding/rolling: ${KEYS} keys, ${count("ok")} increments acknowledged, ${count("info")} unknown, ${activations} activations`)
    }).pipe(Effect.scoped, quiet), 240_000)
})
