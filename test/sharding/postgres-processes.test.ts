/**
 * Sharded entities between three real node processes with the PostgreSQL shard store
 * (`TELEX_PG_URL`; one line says why it is skipped where no server answers): 10 000 keys with
 * durable state, then a node killed with -9 while increments keep coming. Checked from the
 * history the test records (every increment and read, the kill) merged with the activation logs
 * the nodes write as their entities start and stop (`test/fixtures/sharding-counters-app.ts`):
 *
 * - every key answers again after the kill;
 * - `noLostUpdates`: no acknowledged increment is lost (each read includes every increment
 *   acknowledged before it), none appears from nowhere;
 * - `singleActivation`: no key ran on two nodes at once (the killed node's activations end
 *   when its process has exited), and lease epochs only move forward;
 * - `asksEnd`: every ask ended (answered or a typed error) within its timeout.
 *
 * 10 000 keys (about 15 s on two cores); `SHARDING_PG_KEYS` sets another count.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { fileURLToPath } from "node:url"
import type { ActorRef } from "../../src/index.ts"
import * as Checkers from "../../src/testing/Checkers.ts"
import * as History from "../../src/testing/History.ts"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { Gateway } from "../fixtures/sharding-counters-app.ts"
import { ownSchema, pgSkip, tempDir } from "./_backends.ts"
import { quiet } from "./_runtime.ts"
import { activationLog, logsOnFailure } from "./_processes.ts"

const app = fileURLToPath(new URL("../fixtures/sharding-counters-app.ts", import.meta.url))
const KEYS = Number(process.env.SHARDING_PG_KEYS ?? 10_000)
const ASK_TIMEOUT = 8_000
const CONCURRENCY = 64

/** the activation logs of the nodes, as history entries */
describe("sharding with PostgreSQL: real processes", () => {
  if (pgSkip !== undefined) {
    it.skip(`skipped: ${pgSkip}`, () => {})
    return
  }
  it.live(`3 nodes, ${KEYS} keys with durable state, kill -9 under load: every key answers again, no acknowledged update lost, no double activation`, () =>
    Effect.gen(function*() {
      const logDir = yield* tempDir("telex-activations-")
      const url = yield* ownSchema(process.env.TELEX_PG_URL!, `telex_checks_${process.pid}_${Math.random().toString(36).slice(2, 8)}`)
      const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
      const cluster = yield* TestCluster.start({
        app,
        nodes: ["n1", "n2", "n3"].map((name) => ({ name, run: ["gateway"] })),
        sharding: { store: "postgres", leaseTtl: "3s", shards: 256 },
        // the defaults of a cluster config: a loaded machine may starve a process for a second
        heartbeat: { interval: "1s", acceptablePause: "3s" },
        env: { TELEX_ACTIVATION_LOG: logDir, TELEX_PG_URL: url }
      })
      yield* logsOnFailure(cluster, 60)
      const history = History.make()
      const gateways = new Map<string, ActorRef.ActorRef<typeof Gateway.defs>>()
      for (const n of cluster.names) gateways.set(n, yield* cluster.client.node.lookup(n, Gateway, "gateway", { timeout: "5 seconds" }))
      // any failure may hide an update that happened (a timeout after the save): outcome unknown
      const unknown = { unknown: () => true }
      const add = (via: string, key: string) =>
        history.track(via, { f: "increment", value: { key, by: 1 } }, gateways.get(via)!.ask(Gateway.Add({ key, by: 1 }), { timeout: ASK_TIMEOUT }), unknown)
      const read = (via: string, key: string) =>
        history.track(via, { f: "read", value: { key } }, gateways.get(via)!.ask(Gateway.Get({ key }), { timeout: ASK_TIMEOUT }), unknown)

      // every key gets an acknowledged increment: an activation each, saving its state
      yield* Effect.forEach(keys, (key, i) =>
        cluster.eventually(add(cluster.names[i % 3]!, key), "60 seconds"), { concurrency: CONCURRENCY, discard: true })

      // load through the nodes that stay, then kill -9 n2 under it
      const survivors = ["n1", "n3"]
      let loading = true
      const load = yield* Effect.forkChild(Effect.forEach(Array.from({ length: CONCURRENCY / 4 }, (_, w) => w), (w) =>
        Effect.gen(function*() {
          for (let i = 0; loading; i++) yield* Effect.ignore(add(survivors[(w + i) % 2]!, keys[Math.floor(Math.random() * KEYS)]!))
        }), { concurrency: "unbounded", discard: true }))
      yield* Effect.sleep("1 second")
      yield* cluster.kill("n2")
      // the process has exited: its activations end no later than now
      history.crashed("n2")
      const killedAt = Date.now()

      // every key answers again (from n1 or n3)
      yield* Effect.forEach(keys, (key, i) =>
        cluster.eventually(read(survivors[i % 2]!, key), "60 seconds"), { concurrency: CONCURRENCY, discard: true })
      const recoveredMs = Date.now() - killedAt
      loading = false
      yield* Fiber.join(load)

      const h = History.fromEntries(
        [...history.snapshot().entries, ...activationLog(logDir)].sort((a, b) => a.at - b.at),
        Date.now()
      )
      const result = Checkers.checkAll(h, { updates: {}, asks: { withinMillis: ASK_TIMEOUT + 2_000 } })
      assert.isTrue(result.valid, Checkers.format(result, { maxViolations: 10 }))
      assert.deepStrictEqual(result.checked, ["singleActivation", "noLostUpdates", "asksEnd"])
      const activations = h.entries.filter((e) => e._tag === "Activation" && e.event === "activated")
      assert.isAtLeast(activations.length, KEYS, "every key was activated")
      const moved = activations.filter((e) => e.at > killedAt).length
      assert.isAbove(moved, 0, "n2's keys were activated again elsewhere")
      console.log(
        `sharding/postgres: ${KEYS} keys, ${h.operations.length} ops, ${activations.length} activations (${moved} after the kill); ` +
          `every key answered again ${recoveredMs} ms after the kill`
      )
    }).pipe(Effect.scoped, quiet), 180_000)
})
