/**
 * An activation under way when its process pauses (SIGSTOP, a VM stall) for longer than the
 * shard's lease: once the process resumes, the activation must not start its entity under the
 * lease it lost meanwhile. (The watchdog's timer and the first message of a turn check leases;
 * an activation already past both, its actor being spawned, is checked again as it starts.)
 *
 * The pause is a jump of the node's clock (wall and monotonic) made synchronously as the first
 * of a burst of activations starts (the others start after it, with every lease lapsed), or as
 * an entity's saved state is loaded (its handlers would run after it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
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

/**
 * A node's pause of three lease TTLs (`fast`), made by `pause`; its sharding events (give it
 * `record`) tell each shard's epoch as the pause began.
 */
const pausing = () => {
  const clock = jumpingClock()
  const events: Array<ShardingEvent> = []
  let epochsAtPause: Map<number, number> | undefined
  return {
    clockLayer: clock.layer,
    record: (e: ShardingEvent) => void events.push(e),
    paused: () => epochsAtPause !== undefined,
    pause: () => {
      const epochs = new Map<number, number>()
      for (const x of events) if (x.kind === "shardAcquired") epochs.set(x.shard, x.epoch)
      epochsAtPause = epochs
      clock.jump(3 * 900)
    },
    /** the shard's epoch when the pause began (-1: not held then) */
    epochAtPause: (shard: number) => epochsAtPause?.get(shard) ?? -1
  }
}

/** an entity with durable state whose handler records the lease epoch it runs under */
const Probe = Actor.make("test/LeaseProbe", { Touch: Actor.tell({}) })
const handled: Array<{ readonly key: string; readonly shard: number; readonly epoch: number }> = []
const ProbeEntity = Entity.make(
  Probe,
  Probe.behavior(Effect.gen(function*() {
    const ctx = yield* Entity.EntityContext
    const count = yield* Entity.state(Schema.Int)
    return {
      Touch: () =>
        Effect.andThen(
          Effect.sync(() => void handled.push({ key: ctx.entityKey, shard: ctx.shard, epoch: ctx.epoch })),
          count.update((n) => n + 1)
        )
    }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

describe("sharding: an activation under way across a pause past the lease", () => {
  it.live("does not start its entity under the lease it lost", () => {
    const node = pausing()
    const activatedAfter: Array<ShardingEvent & { readonly epoch: number; readonly key: string }> = []
    const onEvent = (e: ShardingEvent) => {
      node.record(e)
      if (e.kind !== "activated") return
      // the first activation of the burst: the process pauses as it starts
      if (node.paused()) activatedAfter.push(e)
      else node.pause()
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
      yield* eventually("the clock jumped", node.paused)
      // every key is answered again once the node holds its shards under new leases
      for (let i = 0; i < 200; i += 37) {
        yield* Effect.retry(counters.ref(`k${i}`).ask(Counter.Get(), { timeout: "2 seconds" }), { times: 5 })
      }
      const stale = activatedAfter.filter((e) => e.epoch <= node.epochAtPause(e.shard))
      assert.strictEqual(
        stale.length,
        0,
        `${stale.length} of ${activatedAfter.length} activations after the pause started under a lapsed lease, e.g. ${JSON.stringify(stale[0])}`
      )
      assert.isAbove(activatedAfter.length, 0, "activations after the pause (under new leases)")
    }).pipe(
      Effect.provide(soloLayer({ ...fast, entities: [CounterEntity as Entity.Entity<any, any>], onEvent }).pipe(Layer.provide(node.clockLayer))),
      quiet
    )
  }, 30_000)

  it.live("does not run its handlers under a lease that lapsed while its state was loaded", () => {
    const node = pausing()
    const memory = ShardStore.memory()
    // the process pauses while the first key's saved state is read
    const store: ShardStore.ShardStore = {
      ...memory,
      loadState: (type, key) =>
        Effect.tap(memory.loadState(type, key), () =>
          Effect.sync(() => {
            if (key === "p0" && !node.paused()) node.pause()
          }))
    }
    return Effect.gen(function*() {
      const sharding = yield* Sharding
      yield* eventually("the node owns every shard", () => sharding.ownedShards().length === fast.shards)
      const probes = yield* sharding.entity(ProbeEntity)
      yield* probes.ref("p0").tell(Probe.Touch())
      yield* eventually("p0 handled its tell", () => handled.some((h) => h.key === "p0"))
      const first = handled.find((h) => h.key === "p0")!
      assert.isAbove(
        first.epoch,
        node.epochAtPause(first.shard),
        `p0's handler ran under epoch ${first.epoch}, the lease its node held when its state was loaded and that lapsed meanwhile`
      )
    }).pipe(
      Effect.provide(
        soloLayer({ ...fast, entities: [ProbeEntity as Entity.Entity<any, any>], onEvent: node.record }, store).pipe(
          Layer.provide(node.clockLayer)
        )
      ),
      quiet
    )
  }, 30_000)
})
