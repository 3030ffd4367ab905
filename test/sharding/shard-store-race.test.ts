/**
 * Real processes racing on one shard store: four children (`test/fixtures/shard-store-child.ts`)
 * hammer the same six shards for a few seconds with a short ttl (acquire, renew, fenced writes,
 * releases, writes at the very end of a lease, pauses past the ttl followed by late writes), each logging what the store answered
 * and when, on the host's monotonic clock. The checker (`_leaseChecker.ts`) then asserts that no
 * two epochs of a shard were valid at once, that epochs only grew, that no write under a stale
 * lease was accepted and that no accepted write was lost. Run on SQLite (one file, four
 * connections) and on PostgreSQL when `TELEX_PG_URL` names a reachable server.
 *
 * The checker is checked too: on histories that break each rule it reports the break.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgShardStore from "../../src/sharding/PgShardStore.ts"
import type { ShardStore } from "../../src/sharding/ShardStore.ts"
import * as SqliteShardStore from "../../src/sharding/SqliteShardStore.ts"
import type { ChildConfig, LogLine } from "../fixtures/shard-store-child.ts"
import { pgSkip, pgUrl, tempDir } from "./_backends.ts"
import { check } from "./_leaseChecker.ts"

const child = fileURLToPath(new URL("../fixtures/shard-store-child.ts", import.meta.url))
const SHARDS = [0, 1, 2, 3, 4, 5]
const TTL_MS = 150
const CHILDREN = 4
const DURATION_MS = 3000

if (pgSkip !== undefined) console.log(`shard store races on PostgreSQL skipped: ${pgSkip}`)

const runChild = (config: ChildConfig): Promise<ReadonlyArray<LogLine>> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    proc.on("error", reject)
    proc.on("exit", (code) => {
      const lines = stdout.split("\n").filter((l) => l !== "")
      if (code !== 0 || lines.at(-1) !== "done") {
        reject(new Error(`child ${config.owner} exited with ${code}: ${stderr}`))
      } else resolve(lines.slice(0, -1).map((l) => JSON.parse(l) as LogLine))
    })
  })

const race = (store: ShardStore, storeConfig: ChildConfig["store"]) =>
  Effect.gen(function*() {
    const logs = yield* Effect.promise(() =>
      Promise.all(Array.from({ length: CHILDREN }, (_, i) =>
        runChild({ owner: `p${i}`, store: storeConfig, shards: SHARDS, ttlMs: TTL_MS, durationMs: DURATION_MS, seed: 1000 + i })))
    )
    const finalState = new Map<number, string | undefined>()
    for (const shard of SHARDS) finalState.set(shard, Option.getOrUndefined(yield* store.loadState("Race", `k${shard}`)))
    // a tick of the store's clock: SQLite stamps leases with Date.now() (whole ms), PostgreSQL with now() (µs)
    const { violations, summary } = check(logs.flat(), TTL_MS, finalState, storeConfig.kind === "sqlite" ? 1 : 0.001)
    assert.deepStrictEqual(violations, [], JSON.stringify(summary))
    // the race raced: leases changed hands, writes were accepted and stale ones refused
    assert.isAbove(summary.takeovers, 0, JSON.stringify(summary))
    assert.isAbove(summary.acceptedWrites, 0, JSON.stringify(summary))
    assert.isAbove(summary.refusedLateWrites, 0, JSON.stringify(summary))
    console.log(`${storeConfig.kind} race: ${JSON.stringify(summary)}`)
    const errors = logs.flat().flatMap((l) => l.op === "error" ? [l.message] : [])
    if (errors.length > 0) console.log(`${storeConfig.kind} race: the store failed ${errors.length} calls, e.g. ${errors[0]}`)
  })

describe("shard store races between real processes", () => {
  it.live("SQLite: one file, four processes", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir("telex-shard-race-"), "shards.db")
      const store = yield* SqliteShardStore.make(path)
      yield* race(store, { kind: "sqlite", path })
    }).pipe(Effect.scoped), 60_000)

  it.live.skipIf(pgSkip !== undefined)("PostgreSQL: one database, four processes", () =>
    Effect.gen(function*() {
      const tablePrefix = `telex_race_${process.pid}_`
      const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
      yield* Effect.addFinalizer(() =>
        sql.unsafe(`DROP TABLE IF EXISTS ${tablePrefix}shard_lease, ${tablePrefix}entity_state`).pipe(Effect.ignore)
      )
      const store = yield* PgShardStore.fromClient(sql, tablePrefix)
      yield* race(store, { kind: "postgres", url: pgUrl, tablePrefix })
    }).pipe(Effect.scoped), 60_000)
})

describe("the race checker", () => {
  const g = (owner: string, shard: number, epoch: number, sent: number, replied: number): LogLine => ({
    op: "grant",
    owner,
    shard,
    epoch,
    sent,
    replied,
    renewal: false
  })
  const w = (owner: string, epoch: number, sent: number, accepted: boolean, value = `${owner}-${sent}`): LogLine => ({
    op: "write",
    owner,
    shard: 0,
    epoch,
    value,
    sent,
    replied: sent + 1,
    accepted,
    late: false
  })
  const ttl = 100
  const violationsOf = (lines: ReadonlyArray<LogLine>, final?: string) => check(lines, ttl, new Map([[0, final]])).violations

  it("passes a correct history: a takeover after expiry, a refused late write", () => {
    assert.deepStrictEqual(
      violationsOf([g("a", 0, 1, 0, 1), w("a", 1, 5, true, "a1"), g("b", 0, 2, 120, 121), w("a", 1, 150, false), w("b", 2, 130, true, "b1")], "b1"),
      []
    )
  })

  it("reports overlapping epochs, one epoch granted twice, and an epoch that went back", () => {
    assert.strictEqual(violationsOf([g("a", 0, 1, 0, 1), g("b", 0, 2, 50, 51)]).length, 1)
    assert.match(violationsOf([g("a", 0, 1, 0, 1), g("b", 0, 1, 200, 201)]).join(), /granted to a and b/)
    assert.match(violationsOf([g("a", 0, 3, 0, 1), g("b", 0, 2, 200, 201)]).join(), /after epoch 3 was confirmed/)
  })

  it("lets an owner's new epoch overlap its previous one by less than a tick of the store's clock, no more, and no other owner", () => {
    // the store ended a's lease in the millisecond a stamped it, up to 1 ms before a's own (send + ttl)
    assert.deepStrictEqual(violationsOf([g("a", 0, 1, 0, 1), g("a", 0, 2, 99.2, 99.5)]), [])
    assert.match(violationsOf([g("a", 0, 1, 0, 1), g("a", 0, 2, 98.7, 99)]).join(), /epoch 1 \(a, until 100.0\) overlaps epoch 2 \(a, from 99.0\)/)
    assert.match(violationsOf([g("a", 0, 1, 0, 1), g("b", 0, 2, 99.2, 99.5)]).join(), /epoch 1 \(a, until 100.0\) overlaps epoch 2 \(b, from 99.5\)/)
    // with a finer clock, the same history is a break
    assert.strictEqual(check([g("a", 0, 1, 0, 1), g("a", 0, 2, 99.2, 99.5)], ttl, new Map([[0, undefined]]), 0.001).violations.length, 1)
    // the old epoch's writes are refused once the new one is granted, to its own owner too
    assert.match(violationsOf([g("a", 0, 1, 0, 1), g("a", 0, 2, 99.2, 99.5), w("a", 1, 99.7, true, "x")], "x").join(), /after epoch 2 was granted to a/)
  })

  it("reports a stale write accepted, a write past the ttl accepted, and a lost write", () => {
    assert.match(violationsOf([g("a", 0, 1, 0, 1), g("b", 0, 2, 120, 121), w("a", 1, 130, true, "x")], "x").join(), /after epoch 2 was granted/)
    assert.match(violationsOf([g("a", 0, 1, 0, 1), w("a", 1, 101, true, "x")], "x").join(), /after its last grant/)
    assert.match(violationsOf([g("a", 0, 1, 0, 1), w("a", 1, 5, true, "x"), w("a", 1, 10, true, "y")], "x").join(), /y was lost/)
  })
})
