/**
 * One entity ref object kept across a move of its shard (a node joins and takes shards over):
 * the ref remembers the running entity it reached last (here or on another node) and must notice
 * that it moved, before and after the handoff: each ask of the same ref is answered by the one
 * activation, with the state the previous asks left, from the node that owns the shard now.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, connect, quiet, type ShardNode, settled, startNode } from "./_runtime.ts"

const keys = Array.from({ length: 24 }, (_, i) => `moving-${i}`)

/** nodes a and b, settled; a ref per key made on a, each told to add 1 and asked `asks` times */
const twoNodes = (asks: number) =>
  Effect.gen(function*() {
    const store = ShardStore.memory()
    const a = yield* startNode("a", store)
    const b = yield* startNode("b", store)
    yield* connect(a, b)
    yield* settled([a, b])
    const counters = yield* a.sharding.entity(CounterEntity)
    // one ref per key, kept: asked on a (local) and on b (direct) before the move; the first ask
    // finds the way (a region, then the entity), the next ones take it again
    const refs = keys.map((k) => counters.ref(k))
    for (const ref of refs) {
      yield* ref.tell(Counter.Add({ by: 1 }))
      for (let i = 0; i < asks; i++) assert.strictEqual(yield* ref.ask(Counter.Get()), 1)
    }
    return { store, a, b, refs }
  })

/** node c joins a and b: the keys whose shards it takes over */
const cJoins = (store: ShardStore.ShardStore, a: ShardNode, b: ShardNode) =>
  Effect.gen(function*() {
    const c = yield* startNode("c", store)
    yield* connect(c, a)
    yield* connect(c, b)
    yield* settled([a, b, c])
    const moved = keys.filter((k) => c.sharding.ownedShards().some((l) => l.shard === c.sharding.shardOf(k)))
    assert.isAtLeast(moved.length, 1, "some key's shard moved to c")
    return { c, moved }
  })

/** how many `kind` events of entity `key` node `n` recorded */
const count = (n: ShardNode, kind: "activated" | "passivated", key: string) =>
  n.events.filter((e) => e.kind === kind && "key" in e && e.key === key).length

describe("sharding: the same ref across a shard move", () => {
  it.live("asks of kept refs before and after a join: every answer counts every add, from the new owner", () =>
    quiet(Effect.gen(function*() {
      const { store, a, b, refs } = yield* twoNodes(2)
      const { c, moved } = yield* cJoins(store, a, b)
      for (const [i, ref] of refs.entries()) {
        assert.strictEqual(yield* ref.ask(Counter.Get(), { timeout: "10 seconds" }), 1, keys[i])
        yield* ref.tell(Counter.Add({ by: 1 }))
        assert.strictEqual(yield* ref.ask(Counter.Get(), { timeout: "10 seconds" }), 2, keys[i])
        const where = yield* ref.ask(Counter.Where(), { timeout: "10 seconds" })
        if (moved.includes(keys[i]!)) assert.strictEqual(where, "c", keys[i])
      }
      // one activation per key at a time: each key activated on c at most once, or once more
      // after each passivation there (idle for 400 ms: a loaded machine may take that long
      // between two asks of a key)
      for (const k of moved) assert.isAtMost(count(c, "activated", k), 1 + count(c, "passivated", k), k)
    })), 60_000)

  it.live("asked with the default timeout (a ref takes the way its last ask found until something changes): the same across a join and a leave", () =>
    quiet(Effect.gen(function*() {
      const { store, a, b, refs } = yield* twoNodes(3)
      const { c, moved } = yield* cJoins(store, a, b)
      // asks only: each ref's way changed under it
      for (const [i, ref] of refs.entries()) {
        for (let j = 0; j < 3; j++) assert.strictEqual(yield* ref.ask(Counter.Get()), 1, keys[i])
        const where = yield* ref.ask(Counter.Where())
        if (moved.includes(keys[i]!)) assert.strictEqual(where, "c", keys[i])
        else assert.notStrictEqual(where, "c", keys[i])
      }
      // c leaves: its shards go back to a and b
      yield* c.stop
      yield* settled([a, b])
      for (const [i, ref] of refs.entries()) {
        for (let j = 0; j < 3; j++) assert.strictEqual(yield* ref.ask(Counter.Get()), 1, keys[i])
        assert.notStrictEqual(yield* ref.ask(Counter.Where()), "c", keys[i])
      }
      for (const k of keys) {
        const activations = [a, b, c].reduce((n, node) => n + count(node, "activated", k), 0)
        const passivations = [a, b, c].reduce((n, node) => n + count(node, "passivated", k), 0)
        // one before the join; one more for a moved key on c, and one after c left; and one
        // more after each passivation
        assert.isAtMost(activations, (moved.includes(k) ? 3 : 1) + passivations, k)
      }
    })), 60_000)
})
