/**
 * An acquisition whose answer a node reads only after the lease's safe time has passed (the node
 * paused while the store answered, or the answer late on the wire — the call's own timeout late
 * too): the lease may have expired and been taken by another node meanwhile, so the node must
 * not start the shard's entities on it, even when its per-turn lease check already ran in that
 * turn of its event loop.
 *
 * One node (no transport) on a store whose answers to its acquisitions the test holds, and a
 * clock whose timers the test parks (`pausableClock`): the node's first acquisition is applied
 * and its answer held; the node's timers stop; the lease expires and another owner takes the
 * last shard; then the answer is let through: routing what it held for the first shard runs the
 * lease check of that turn, and the tell held for the last shard would start its entity on the
 * lease that had expired.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, References } from "effect"
import { TestClock } from "effect/testing"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { ActorSystem } from "../../src/system/ActorSystem.ts"
import { Counter, CounterEntity, pausableClock, simTiming } from "./_runtime.ts"

const SHARDS = 4

describe("sharding: an acquisition answered after the lease's safe time", () => {
  it.effect("does not start the shard's entities on it", () =>
    Effect.gen(function*() {
      const shared = ShardStore.memory()
      const answer = yield* Deferred.make<void>()
      let holding = true
      const store: ShardStore.ShardStore = {
        ...shared,
        acquire: (owner, shards, ttl) =>
          Effect.tap(shared.acquire(owner, shards, ttl), () => (holding ? Deferred.await(answer) : Effect.void))
      }
      const clock = pausableClock()
      const events: Array<ShardingEvent> = []
      const context = yield* Layer.build(
        Sharding.layer({ ...simTiming, shards: SHARDS, entities: [CounterEntity], onEvent: (e) => events.push(e) }).pipe(
          Layer.provide(ShardStore.Service.layer(store)),
          Layer.provideMerge(ActorSystem.layer({ node: "solo" })),
          Layer.provide(clock.layer)
        )
      )
      const sharding = Context.get(context, Sharding)
      const counters = yield* sharding.entity(CounterEntity)
      // a key of the first shard and one of the last (acquired in this order)
      const keyOf = (shard: number) => {
        for (let i = 0; ; i++) if (sharding.shardOf(`k${i}`) === shard) return `k${i}`
      }
      const [first, last] = [keyOf(0), keyOf(SHARDS - 1)]
      // the first acquisition is applied, its answer held; tells to both keys wait for their shards
      yield* TestClock.adjust("10 millis")
      assert.deepStrictEqual((yield* shared.leases()).map((l) => [l.shard, l.owner, l.epoch]), [0, 1, 2, 3].map((s) => [s, sharding.owner, 1]))
      yield* counters.ref(first).tell(Counter.Add({ by: 1 }))
      yield* counters.ref(last).tell(Counter.Add({ by: 1 }))
      // the node's timers stop (its own acquire timeout too); the lease expires, another owner takes it
      clock.pause()
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* shared.acquire("other#1", [SHARDS - 1], "10 seconds"), [{ shard: SHARDS - 1, owner: "other#1", epoch: 2 }])
      // the answer: the node takes the leases in shard order, and routes what it held for each;
      // the first key's tell runs the lease check of that turn of the event loop
      holding = false
      yield* Deferred.succeed(answer, void 0)
      // a few turns of the event loop (its admissions), the node's timers still stopped
      for (let i = 0; i < 5; i++) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      assert.deepStrictEqual(sharding.ownedShards(), [], "no shard held on the leases read too late")
      const stale = events.filter((e) => e.kind === "activated")
      assert.deepStrictEqual(stale, [], "an entity started on a lease that had expired")
      clock.resume()
      yield* TestClock.adjust("10 millis")
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")), 20_000)
})
