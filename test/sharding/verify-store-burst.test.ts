/**
 * A burst of activations on a node whose shard store is PostgreSQL with a small connection pool
 * (Orleans' activation storms, Pekko's remember-entities restarts): thousands of entities with
 * durable state each load their state as they activate. The node's lease calls must not queue
 * behind those loads — else a renewal misses the renew deadline and the node gives up every
 * shard it holds (and the entities just activated) because it is busy, not because it failed.
 *
 * Checked without timing: with thousands of loads in flight on a pool of two connections, a
 * renewal sent after them returns before most of them (before the fix it returned after all).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgShardStore from "../../src/sharding/PgShardStore.ts"
import { pgSkip, pgUrl } from "./_backends.ts"

const LOADS = 3000

describe.skipIf(pgSkip !== undefined)("PgShardStore: lease calls during a burst of state loads", () => {
  it.live(`a renewal sent behind ${LOADS} state loads on a pool of 2 does not wait for them`, () =>
    Effect.gen(function*() {
      const prefix = `telex_verify_${process.pid}_${Math.random().toString(36).slice(2, 8)}_`
      const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl), maxConnections: 2, connectTimeout: "3 seconds" }).pipe(
        Effect.provide(Reactivity.layer)
      )
      yield* Effect.addFinalizer(() => sql.unsafe(`DROP TABLE IF EXISTS ${prefix}shard_lease, ${prefix}entity_state`).pipe(Effect.ignore))
      const store = yield* PgShardStore.fromClient(sql, prefix, { maxConnections: 2 })
      const leases = yield* store.acquire("n#1", [0, 1, 2, 3], "30 seconds")
      assert.strictEqual(leases.length, 4)
      let loaded = 0
      const loads = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: LOADS }, (_, i) => `k${i}`),
        (k) => Effect.tap(store.loadState("E", k), () => Effect.sync(() => loaded++)),
        { concurrency: "unbounded", discard: true }
      ))
      // every load is queued (or running) before the renewal is sent
      yield* Effect.yieldNow
      const renewed = yield* store.renew("n#1", leases, "30 seconds")
      const loadedBefore = loaded
      assert.strictEqual(renewed.length, 4)
      yield* Fiber.join(loads)
      assert.strictEqual(loaded, LOADS)
      assert.isBelow(loadedBefore, LOADS / 2, `the renewal returned after ${loadedBefore} of ${LOADS} loads`)
    }).pipe(Effect.scoped), 60_000)
})
