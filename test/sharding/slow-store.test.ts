/**
 * A slow shard store (every call takes most of a renew interval, but succeeds): a node keeps
 * its shards. Its renewals go out every `renewInterval` whatever the lease reads and
 * acquisitions of the same round take, so a renewal is confirmed within the renew deadline as
 * long as one call takes less than a renew interval. Runs on the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { CounterEntity, quiet, soloLayer } from "./_runtime.ts"

/** `store` with every call delayed by `latency.millis` (0: none) */
const slowed = (store: ShardStore.ShardStore, latency: { millis: number }): ShardStore.ShardStore => {
  const slow = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.suspend(() => latency.millis > 0 ? Effect.andThen(Effect.sleep(latency.millis), effect) : effect)
  return {
    acquire: (o, s, t) => slow(store.acquire(o, s, t)),
    renew: (o, l, t) => slow(store.renew(o, l, t)),
    release: (o, l) => slow(store.release(o, l)),
    leases: () => slow(store.leases()),
    loadState: (t, k) => slow(store.loadState(t, k)),
    saveState: (t, k, f, s) => slow(store.saveState(t, k, f, s)),
    deleteState: (t, k, f) => slow(store.deleteState(t, k, f))
  }
}

describe("sharding: a slow shard store", () => {
  for (const millis of [400, 700, 900]) it.effect(`calls of ${millis} ms (renewInterval 1 s): the node keeps its shards`, () => {
    const events: Array<ShardingEvent> = []
    const latency = { millis: 0 }
    return quiet(Effect.gen(function*() {
      const sharding = yield* Sharding
      for (let t = 0; t < 2_000; t += 50) yield* TestClock.adjust("50 millis")
      assert.strictEqual(sharding.ownedShards().length, 64)
      latency.millis = millis
      for (let t = 0; t < 20_000; t += 50) yield* TestClock.adjust("50 millis")
      latency.millis = 0 // the layer's release at the end runs on the TestClock
      const lost = events.filter((e) => e.kind === "shardLost")
      assert.strictEqual(lost.length, 0, `shards lost: ${lost.length}`)
      assert.strictEqual(sharding.ownedShards().length, 64)
    }).pipe(Effect.provide(soloLayer({ leaseTtl: "3 seconds", shards: 64, entities: [CounterEntity], onEvent: (e) => events.push(e) }, slowed(ShardStore.memory(), latency)))))
  }, 30_000)
})
