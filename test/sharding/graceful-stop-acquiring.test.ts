/**
 * A graceful stop while the node's acquisition of more shards is in flight (a rebalance, a
 * rolling restart): the leases that come back once the stop has begun are given up at once,
 * not added as shards of a node that stops — those would be neither drained nor released, and
 * entities started on them would run on without their lease being renewed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { eventually, fast, quiet, startNode } from "./_runtime.ts"

const Busy = Actor.make("test/BusyAtStop", { Hold: Actor.ask({ millis: Schema.Int }, { success: Schema.String }) })
const BusyEntity = Entity.make(Busy, Busy.behavior(Effect.succeed({ Hold: ({ millis }) => Effect.as(Effect.sleep(millis), "done") })))

describe("sharding: a graceful stop during an acquisition", () => {
  it.live("the leases acquired once the stop has begun are released; the node holds none after", () =>
    quiet(Effect.gen(function*() {
      const memory = ShardStore.memory()
      const busyShard = Hash.shardOf("busy", fast.shards)
      // the first acquisition grants only the busy key's shard, the next ones nothing (as if
      // another node held the rest) until one is let through: it enters, then waits for `gate`
      let first = true
      let armed = false
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const store: ShardStore.ShardStore = {
        ...memory,
        acquire: (owner, shards, ttl) =>
          Effect.suspend(() => {
            if (first) {
              first = false
              return memory.acquire(owner, shards.filter((s) => s === busyShard), ttl)
            }
            if (!armed) return Effect.succeed([])
            armed = false
            return Deferred.succeed(entered, undefined).pipe(Effect.andThen(Deferred.await(gate)), Effect.andThen(memory.acquire(owner, shards, ttl)))
          })
      }
      const a = yield* startNode("a", store, { entities: [BusyEntity] })
      yield* eventually("a holds the busy key's shard", () => a.sharding.ownedShards().length === 1)
      const busy = (yield* a.sharding.entity(BusyEntity)).ref("busy")
      const held = yield* Effect.forkChild(busy.ask(Busy.Hold({ millis: 600 }), { timeout: "5 seconds" }))
      armed = true
      yield* Deferred.await(entered)
      // the stop drains the busy entity; the acquisition comes back meanwhile (within its timeout)
      const stopping = yield* Effect.forkChild(a.stop)
      yield* Effect.sleep("30 millis")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(held), "done")
      yield* Fiber.join(stopping)
      const left = (yield* memory.leases()).filter((l) => l.owner.startsWith("a#"))
      assert.deepStrictEqual(left.map((l) => l.shard), [], "leases of the stopped node")
    })), 30_000)
})
