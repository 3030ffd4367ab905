/**
 * The PostgreSQL shard store lost by every node at once, under load (real processes; the nodes
 * reach the server through a TCP proxy that, for three lease TTLs, resets their connections and
 * refuses new ones — down — or holds their bytes both ways — partition), then back. Checked from the recorded history merged with the nodes'
 * activation logs (`test/fixtures/sharding-counters-app.ts`), with a singleton among the entities:
 *
 * - `singleActivation`: the nodes stop their entities (the singleton too) before their leases can
 *   expire, and no key (nor the singleton) runs twice at once, before, during or after;
 * - `noLostUpdates`: no acknowledged increment is lost;
 * - `asksEnd`: every ask ends within its bound, answered or with a typed error — during the
 *   outage, asks fail (the entities cannot load or save their state; a key with no owner times out);
 * - after the store returns every key answers again, and the singleton runs again once, on one node.
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
import * as Hash from "../../src/sharding/internal/hash.ts"
import { quiet } from "./_runtime.ts"
import { activationLog, logsOnFailure, pgBehindProxy } from "./_processes.ts"

const app = fileURLToPath(new URL("../fixtures/sharding-counters-app.ts", import.meta.url))
const KEYS = 300
const ASK_TIMEOUT = 8_000
const SINGLETON = "checks-beacon"
const SHARDS = 64

describe("sharding with PostgreSQL: the store down for every node, under load (real processes)", () => {
  if (pgSkip !== undefined) {
    it.skip(`skipped: ${pgSkip}`, () => {})
    return
  }
  for (const mode of ["down", "partition"] as const) it.live(`${mode}: entities stop before their leases can expire, asks end typed, every key and the singleton come back once`, () =>
    Effect.gen(function*() {
      const logDir = yield* tempDir("telex-outage-")
      const url = yield* ownSchema(process.env.TELEX_PG_URL!, `telex_outage_${process.pid}_${Math.random().toString(36).slice(2, 8)}`)
      const { proxy, url: viaProxy } = yield* pgBehindProxy(url)
      const cluster = yield* TestCluster.start({
        app,
        nodes: ["n1", "n2", "n3"].map((name) => ({ name, run: ["gateway"] })),
        sharding: { store: "postgres", leaseTtl: "2s", shards: SHARDS },
        heartbeat: { interval: "500ms", acceptablePause: "3s" },
        env: { TELEX_ACTIVATION_LOG: logDir, TELEX_PG_URL: viaProxy, TELEX_CHECKS_SINGLETON: "1" }
      })
      yield* logsOnFailure(cluster, 40)
      const history = History.make()
      const gateways = new Map<string, ActorRef.ActorRef<typeof Gateway.defs>>()
      for (const n of cluster.names) gateways.set(n, yield* cluster.client.node.lookup(n, Gateway, "gateway", { timeout: "5 seconds" }))
      const unknown = { unknown: () => true }
      const add = (via: string, key: string) =>
        history.track(via, { f: "increment", value: { key, by: 1 } }, gateways.get(via)!.ask(Gateway.Add({ key, by: 1 }), { timeout: ASK_TIMEOUT }), unknown)
      const read = (via: string, key: string) =>
        history.track(via, { f: "read", value: { key } }, gateways.get(via)!.ask(Gateway.Get({ key }), { timeout: ASK_TIMEOUT }), unknown)
      const keys = Array.from({ length: KEYS }, (_, i) => `o${i}`)
      yield* Effect.forEach(keys, (key, i) => cluster.eventually(add(cluster.names[i % 3]!, key), "60 seconds"), { concurrency: 16, discard: true })
      // the singleton's last activation, as its nodes logged it
      const lastBeacon = () => {
        const log = activationLog(logDir).filter((e) => e._tag === "Activation" && e.key === SINGLETON) as Array<Extract<History.EntryInput, { _tag: "Activation" }>>
        return log.sort((a, b) => a.at - b.at)[log.length - 1]
      }
      // placement settles as the nodes see each other (the first node up takes every shard, then
      // hands them off): the singleton's stops and starts are counted from the outage on, so it
      // runs where placement puts it (rendezvous hashing over the three members) before, moved
      // no more — a move at the outage's start would be one start or stop more
      const placedOn = Hash.owner(cluster.names, Hash.shardOf(SINGLETON, SHARDS))
      yield* cluster.eventually(Effect.suspend(() => {
        const last = lastBeacon()
        return last?.event === "activated" && last.node === placedOn ? Effect.void : Effect.fail(`the singleton does not run on ${placedOn} yet: ${JSON.stringify(last)}`)
      }), "30 seconds")

      let loading = true
      const load = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 12 }, (_, w) => w), (w) =>
        Effect.gen(function*() {
          for (let i = 0; loading; i++) {
            const via = cluster.names[(w + i) % 3]!
            const exit = yield* Effect.exit(add(via, keys[Math.floor(Math.random() * KEYS)]!))
            // failing at once during the outage: not a hot loop
            if (exit._tag === "Failure") yield* Effect.sleep("100 millis")
          }
        }), { concurrency: "unbounded", discard: true }))
      yield* Effect.sleep("1 second")
      const downAt = Date.now()
      yield* Effect.sync(() => mode === "down" ? proxy.down() : proxy.partition())
      yield* Effect.sleep("6 seconds")
      yield* Effect.sync(() => mode === "down" ? proxy.up() : proxy.heal())
      const upAt = Date.now()

      yield* Effect.forEach(keys, (key, i) => cluster.eventually(read(cluster.names[i % 3]!, key), "60 seconds"), { concurrency: 16, discard: true })
      const recoveredMs = Date.now() - upAt
      loading = false
      yield* Fiber.join(load)
      // the singleton runs again (its node activates it without a message)
      yield* cluster.eventually(Effect.suspend(() => lastBeacon()?.event === "activated" ? Effect.void : Effect.fail("the singleton is not running")), "30 seconds")
      yield* Effect.sleep("2 seconds")

      const h = History.fromEntries([...history.snapshot().entries, ...activationLog(logDir)].sort((a, b) => a.at - b.at), Date.now())
      const result = Checkers.checkAll(h, { updates: {}, asks: { withinMillis: ASK_TIMEOUT + 2_000 } })
      assert.isTrue(result.valid, Checkers.format(result, { maxViolations: 10 }))
      assert.deepStrictEqual(result.checked, ["singleActivation", "noLostUpdates", "asksEnd"])
      const beacon = h.entries.filter((e) => e._tag === "Activation" && e.key === SINGLETON) as Array<Extract<History.Entry, { _tag: "Activation" }>>
      const stoppedInOutage = beacon.filter((e) => e.event === "deactivated" && e.at >= downAt && e.at < upAt)
      assert.strictEqual(stoppedInOutage.length, 1, "the singleton stopped during the outage")
      const after = beacon.filter((e) => e.event === "activated" && e.at >= downAt)
      assert.strictEqual(after.length, 1, `the singleton activated once after the outage: ${JSON.stringify(after)}`)
      assert.strictEqual(beacon[beacon.length - 1]!.event, "activated")
      const failed = h.operations.filter((o) => o.invoke.at >= downAt && o.invoke.at < upAt && o.completion?.type !== "ok").length
      assert.isAbove(failed, 0, "asks failed during the outage")
      console.log(`sharding/pg-outage (${mode}): ${h.operations.length} ops, ${failed} failed during the outage; every key answered ${recoveredMs} ms after the store came back`)
    }).pipe(Effect.scoped, quiet), 180_000)
})
