/**
 * Fencing end to end, between real node processes on PostgreSQL: an entity's save held up in
 * the server (the shard's lease row locked, as a node's concurrent lease call does), then the
 * nodes cut off from the server (a TCP proxy holding their bytes: the save's cancel, sent when
 * its node stops the shard, does not arrive). The node's renewals go unconfirmed, so it stops
 * the shard at its renew deadline (the ask fails, unacknowledged); then another owner takes the
 * lease (a larger epoch) and the held save runs: it names the old epoch and writes nothing. The key answers again with exactly
 * what was acknowledged, from every node.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { fileURLToPath } from "node:url"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { Gateway } from "../fixtures/sharding-counters-app.ts"
import { ownSchema, pgSkip } from "./_backends.ts"
import { quiet } from "./_runtime.ts"
import { logsOnFailure, pgBehindProxy } from "./_processes.ts"

const app = fileURLToPath(new URL("../fixtures/sharding-counters-app.ts", import.meta.url))

describe("sharding with PostgreSQL: a stale owner's late write (real processes)", () => {
  if (pgSkip !== undefined) {
    it.skip(`skipped: ${pgSkip}`, () => {})
    return
  }
  it.live("a save held up in the store past the node's lease: the shard stops; once another owner has the lease, the save is refused, the state is what was acknowledged", () =>
    Effect.gen(function*() {
      const url = yield* ownSchema(process.env.TELEX_PG_URL!, `telex_fence_${process.pid}_${Math.random().toString(36).slice(2, 8)}`)
      // the nodes reach the server through a proxy the test can cut
      const { proxy, url: viaProxy } = yield* pgBehindProxy(url)
      const cluster = yield* TestCluster.start({
        app,
        nodes: ["n1", "n2", "n3"].map((name) => ({ name, run: ["gateway"] })),
        sharding: { store: "postgres", leaseTtl: "2s", shards: 64 },
        heartbeat: { interval: "500ms", acceptablePause: "2s" },
        env: { TELEX_PG_URL: viaProxy }
      })
      yield* logsOnFailure(cluster, 40)
      const gateway = (n: string) => cluster.client.node.lookup(n, Gateway, "gateway", { timeout: "5 seconds" })
      const g1 = yield* gateway("n1")
      const g2 = yield* gateway("n2")
      const g3 = yield* gateway("n3")
      const where = (key: string) => cluster.eventually(g2.ask(Gateway.Hold({ key, millis: 0, timeoutMillis: 5_000 })), "30 seconds")
      let key = ""
      for (let i = 0; key === ""; i++) if ((yield* where(`fenced-${i}`)) === "n2") key = `fenced-${i}`
      const shard = Hash.shardOf(key, 64)
      assert.strictEqual(yield* cluster.eventually(g2.ask(Gateway.Add({ key, by: 1 })), "10 seconds"), 1)

      // the test holds the shard's lease row locked (as a node's concurrent lease call does)
      const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
      const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 2 }).pipe(Effect.provide(Reactivity.layer))
      const locked = yield* Deferred.make<number>()
      const takeOver = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql.unsafe<{ epoch: string }>(`SELECT epoch FROM telex_shard_lease WHERE shard = $1 FOR UPDATE`, [shard])
        yield* Deferred.succeed(locked, Number(rows[0]!.epoch))
        yield* Deferred.await(takeOver)
        // another owner acquires the lease (epoch + 1, briefly), as an acquisition after expiry does
        yield* sql.unsafe(
          `UPDATE telex_shard_lease SET owner = 'elsewhere#1', epoch = epoch + 1, expires_at = now() + interval '1 second' WHERE shard = $1`,
          [shard]
        )
      })))
      const epoch = yield* Deferred.await(locked)

      // n2's entity adds 100: its save waits for the row; then the nodes are cut off from the
      // server (what they send is held: a cancel of the save too), n2's renewals go unconfirmed
      const staleAsk = yield* Effect.forkChild(g2.ask(Gateway.AddSlow({ key, by: 100, millis: 0 }), { timeout: "60 seconds" }).pipe(Effect.exit))
      yield* cluster.eventually(
        Effect.flatMap(
          sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`),
          (rows) => rows[0]!.n > 0 ? Effect.void : Effect.fail("the save does not wait yet")
        ),
        "10 seconds"
      )
      yield* Effect.sync(() => proxy.partition())
      const stale = yield* Fiber.join(staleAsk)
      assert.isTrue(Exit.isFailure(stale), `the update held up in the store is not acknowledged: ${JSON.stringify(stale)}`)
      // n2 stopped the shard; now the lease changes hands, and the held save runs against it
      yield* Deferred.succeed(takeOver, undefined)
      yield* Fiber.join(holder)
      yield* Effect.sync(() => proxy.heal())
      const after = yield* sql.unsafe<{ state: string; epoch: string }>(`SELECT state, epoch FROM telex_entity_state WHERE key = $1`, [key])
      assert.deepStrictEqual(after.map((r) => [r.state, Number(r.epoch)]), [["1", epoch]], "the stale save was refused")
      // the key answers again (a node acquires it once the short lease expires) with what was acknowledged
      for (const g of [g1, g3, g2]) {
        assert.strictEqual(yield* cluster.eventually(g.ask(Gateway.Get({ key }), { timeout: "10 seconds" }), "30 seconds"), 1)
      }
    }).pipe(Effect.scoped, quiet), 120_000)
})
