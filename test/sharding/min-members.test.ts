/**
 * `minMembers` (Akka's `min-nr-of-members`): nodes started one after another place the shards
 * among them from the start. A node alone takes no shard until it sees that many members (asks
 * sent meanwhile wait and are answered once the shards are placed); then no shard is handed
 * over at once. Without it, the first node up takes every shard and hands most of them off as
 * the others join (the control case, so that the test can tell the two apart). Once reached, a
 * member lost later does not stop the others from taking its shards.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, Counter, CounterEntity, eventually, fast, quiet, settled, startNode } from "./_runtime.ts"

const released = (events: ReadonlyArray<{ readonly kind: string }>) => events.filter((e) => e.kind === "shardReleased").length

describe("sharding: minMembers", () => {
  it.live("three nodes started in turn: none takes a shard before it sees three members, and none is handed over", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const options = { minMembers: 3 }
      const a = yield* startNode("a", store, options)
      const counters = yield* a.sharding.entity(CounterEntity)
      // an ask made while a is alone: held, answered once the shards are placed
      const early = yield* Effect.forkChild(counters.ref("early").ask(Counter.Get(), { timeout: "20 seconds" }))
      // several renew intervals alone, then with one peer: still no shard
      yield* Effect.sleep("600 millis")
      assert.strictEqual(a.sharding.ownedShards().length, 0, "a alone owns no shard")
      const b = yield* startNode("b", store, options)
      yield* connect(a, b)
      yield* eventually("a and b see each other", () => a.sharding.members().length === 2 && b.sharding.members().length === 2)
      yield* Effect.sleep("600 millis")
      assert.strictEqual(a.sharding.ownedShards().length + b.sharding.ownedShards().length, 0, "two of three: no shard")
      const c = yield* startNode("c", store, options)
      yield* connect(c, a)
      yield* connect(c, b)
      yield* settled([a, b, c])
      for (const n of [a, b, c]) assert.isAbove(n.sharding.ownedShards().length, 0, `${n.name} owns shards`)
      assert.strictEqual(yield* Fiber.join(early), 0)
      // a while longer: placement does not move anything
      yield* Effect.sleep("600 millis")
      assert.deepStrictEqual([a, b, c].map((n) => released(n.events)), [0, 0, 0], "no shard handed over")
      // a member lost later: the others take its shards, fewer than minMembers as they are
      const ofC = c.sharding.ownedShards().length
      yield* c.stop
      yield* settled([a, b])
      assert.strictEqual(a.sharding.ownedShards().length + b.sharding.ownedShards().length, fast.shards, `c's ${ofC} shards taken over`)
    })), 60_000)

  it.live("without it (the control): the first node up takes every shard and hands some over as the others join", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      yield* eventually("a alone owns every shard", () => a.sharding.ownedShards().length === fast.shards)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      const c = yield* startNode("c", store)
      yield* connect(c, a)
      yield* connect(c, b)
      yield* settled([a, b, c])
      assert.isAbove(released(a.events), 0, "a handed shards over")
    })), 60_000)

  it.effect("a minMembers below 1, or not an integer, is a configuration error", () =>
    Effect.gen(function*() {
      for (const minMembers of [0, 1.5]) {
        const error = yield* Effect.flip(startNode("x", ShardStore.memory(), { minMembers }))
        assert.include(String((error as { readonly message?: unknown }).message ?? error), "minMembers must be a positive integer")
      }
    }))
})
