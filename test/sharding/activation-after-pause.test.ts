/**
 * An activation under way when its process pauses (SIGSTOP, a VM stall) for longer than the
 * shard's lease: once the process resumes, the activation must not start its entity under the
 * lease it lost meanwhile. (The watchdog's timer and the first message of a turn check leases;
 * an activation already past both, its actor being spawned, is checked again as it starts.)
 *
 * The pause is a jump of the node's clock (wall and monotonic) made synchronously as the first
 * of a burst of activations starts: the others start after it, with every lease lapsed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer } from "effect"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import { Counter, CounterEntity, eventually, fast, quiet, soloLayer } from "./_runtime.ts"

/** The live clock, moved on by `jump` (a process that was stopped for that long). */
const jumpingClock = () => {
  let offsetMillis = 0
  const wrap = (inner: Clock.Clock): Clock.Clock => ({
    currentTimeMillisUnsafe: () => inner.currentTimeMillisUnsafe() + offsetMillis,
    currentTimeMillis: Effect.sync(() => inner.currentTimeMillisUnsafe() + offsetMillis),
    currentTimeNanosUnsafe: () => inner.currentTimeNanosUnsafe() + BigInt(offsetMillis) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => inner.currentTimeNanosUnsafe() + BigInt(offsetMillis) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => inner.monotonicTimeNanosUnsafe() + BigInt(offsetMillis) * 1_000_000n,
    monotonicTimeNanos: Effect.sync(() => inner.monotonicTimeNanosUnsafe() + BigInt(offsetMillis) * 1_000_000n),
    sleep: (duration) => inner.sleep(duration)
  })
  return {
    layer: Layer.effect(Clock.Clock, Effect.clockWith((c) => Effect.succeed(wrap(c)))),
    jump: (millis: number) => void (offsetMillis += millis)
  }
}

describe("sharding: an activation under way across a pause past the lease", () => {
  it.live("does not start its entity under the lease it lost", () => {
    const clock = jumpingClock()
    const events: Array<ShardingEvent> = []
    /** each shard's epoch when the clock jumped */
    let epochsAtJump: Map<number, number> | undefined
    const activatedAfter: Array<ShardingEvent & { readonly epoch: number; readonly key: string }> = []
    const onEvent = (e: ShardingEvent) => {
      events.push(e)
      if (e.kind !== "activated") return
      if (epochsAtJump !== undefined) {
        activatedAfter.push(e)
        return
      }
      // the first activation of the burst: the process pauses (for three TTLs) as it starts
      const epochs = new Map<number, number>()
      for (const x of events) if (x.kind === "shardAcquired") epochs.set(x.shard, x.epoch)
      epochsAtJump = epochs
      clock.jump(3 * 900)
    }
    return Effect.gen(function*() {
      const sharding = yield* Sharding
      yield* eventually("the node owns every shard", () => sharding.ownedShards().length === fast.shards)
      const counters = yield* sharding.entity(CounterEntity)
      // a burst of activations of keys never used: one admission slice spawns them all
      yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => `k${i}`), (key) => counters.ref(key).tell(Counter.Add({ by: 1 })), {
        concurrency: "unbounded",
        discard: true
      })
      yield* eventually("the clock jumped", () => epochsAtJump !== undefined)
      // every key is answered again once the node holds its shards under new leases
      for (let i = 0; i < 200; i += 37) {
        yield* Effect.retry(counters.ref(`k${i}`).ask(Counter.Get(), { timeout: "2 seconds" }), { times: 5 })
      }
      const stale = activatedAfter.filter((e) => e.epoch <= (epochsAtJump!.get(e.shard) ?? -1))
      assert.strictEqual(
        stale.length,
        0,
        `${stale.length} of ${activatedAfter.length} activations after the pause started under a lapsed lease, e.g. ${JSON.stringify(stale[0])}`
      )
      assert.isAbove(activatedAfter.length, 0, "activations after the pause (under new leases)")
    }).pipe(
      Effect.provide(soloLayer({ ...fast, entities: [CounterEntity as Entity.Entity<any, any>], onEvent }).pipe(Layer.provide(clock.layer))),
      quiet
    )
  }, 30_000)
})
