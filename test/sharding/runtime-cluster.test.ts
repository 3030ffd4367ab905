/**
 * Sharded entities across nodes in one process, over loopback TCP with one shared memory store:
 * routing to the owner from any node, handoff when a node joins (state kept, never two
 * activations of a key at once), a lost node's shards taken over after its leases expire with
 * the messages sent meanwhile held and delivered, and a message from another node that its
 * Schema refuses.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as Singleton from "../../src/sharding/Singleton.ts"
import { RegionProtocol, regionName } from "../../src/sharding/internal/protocol.ts"
import type { ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { backends } from "./_backends.ts"
import { Counter, CounterEntity, connect, eventually, quiet, settled, type ShardNode, startNode } from "./_runtime.ts"

const keys = Array.from({ length: 24 }, (_, i) => `key-${i}`)

/** No key has two activations whose lifetimes overlap, across all nodes' events (one process: one clock). */
const assertNoOverlap = (nodes: ReadonlyArray<ShardNode>) => {
  const all = nodes.flatMap((n) => n.events).filter((e): e is Extract<ShardingEvent, { key: string }> => "key" in e)
  const active = new Map<string, string>()
  // events are pushed in the order they happen in this one process
  const ordered = nodes.flatMap((n) => n.events.map((e, i) => ({ e, n: n.name, i })))
  void ordered
  const timeline: Array<{ e: Extract<ShardingEvent, { key: string }>; seq: number }> = []
  let seq = 0
  for (const e of all) timeline.push({ e, seq: seq++ })
  timeline.sort((x, y) => x.e.at - y.e.at || x.seq - y.seq)
  for (const { e } of timeline) {
    const id = `${e.entityType}/${e.key}`
    if (e.kind === "activated") {
      const other = active.get(id)
      assert.isUndefined(other, `${id} activated on ${e.owner} while active on ${other}`)
      active.set(id, e.owner)
    } else if (active.get(id) === e.owner) active.delete(id)
  }
}

const Leader = Actor.make("test/ShardedLeader", {
  Where: Actor.ask({}, { success: Schema.String })
})
const LeaderSingleton = Singleton.make("test-leader", Leader.behavior(Effect.gen(function*() {
  const ctx = yield* Entity.EntityContext
  return { Where: () => Effect.succeed(ctx.node) }
})))

describe("sharding: several nodes", () => {
  it.live("a singleton runs on one node without a message, and moves when that node stops; a proxy reaches it", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      const p = yield* startNode("p", store, { hosting: false })
      yield* connect(a, b)
      yield* connect(p, a)
      yield* connect(p, b)
      yield* settled([a, b])
      yield* a.sharding.singleton(LeaderSingleton)
      yield* b.sharding.singleton(LeaderSingleton)
      const running = () => [a, b].filter((n) => n.sharding.activeEntities() > 0)
      yield* eventually("the singleton runs on one node", () => running().length === 1)
      const first = running()[0]!
      const other = first === a ? b : a
      const leader = yield* p.sharding.singleton(LeaderSingleton)
      assert.strictEqual(yield* leader.ask(Leader.Where(), { timeout: "10 seconds" }), first.name)
      // the proxy owns nothing and is no member
      assert.strictEqual(p.sharding.ownedShards().length, 0)
      assert.deepStrictEqual(a.sharding.members().slice().sort(), ["a", "b"])
      yield* first.stop
      yield* eventually("the singleton runs on the other node", () => other.sharding.activeEntities() === 1)
      assert.strictEqual(yield* leader.ask(Leader.Where(), { timeout: "10 seconds" }), other.name)
      assertNoOverlap([a, b])
    })), 60_000)

  it.live("routing from any node, handoff on join, no two activations of a key", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const ca = yield* a.sharding.entity(CounterEntity)
      const cb = yield* b.sharding.entity(CounterEntity)
      for (const k of keys) yield* ca.ref(k).tell(Counter.Add({ by: 1 }))
      // a's tells and then its asks reach each entity in order; b reads the same
      for (const k of keys) assert.strictEqual(yield* ca.ref(k).ask(Counter.Get()), 1, k)
      for (const k of keys) assert.strictEqual(yield* cb.ref(k).ask(Counter.Get()), 1, k)
      const where = new Set<string>()
      for (const k of keys) where.add(yield* ca.ref(k).ask(Counter.Where()))
      assert.deepStrictEqual([...where].sort(), ["a", "b"])

      // c joins: it takes its shards over from a and b; every key keeps its state
      const c = yield* startNode("c", store)
      yield* connect(c, a)
      yield* connect(c, b)
      yield* settled([a, b, c])
      const cc = yield* c.sharding.entity(CounterEntity)
      for (const k of keys) yield* cc.ref(k).tell(Counter.Add({ by: 1 }))
      for (const k of keys) assert.strictEqual(yield* cc.ref(k).ask(Counter.Get(), { timeout: "10 seconds" }), 2, k)
      for (const k of keys) assert.strictEqual(yield* ca.ref(k).ask(Counter.Get()), 2, k)
      where.clear()
      for (const k of keys) where.add(yield* cb.ref(k).ask(Counter.Where()))
      assert.deepStrictEqual([...where].sort(), ["a", "b", "c"])
      assert.isTrue(a.events.some((e) => e.kind === "shardReleased") || b.events.some((e) => e.kind === "shardReleased"))
      assertNoOverlap([a, b, c])
    })), 60_000)

  it.live("a lost node's shards move after their leases expire; messages sent meanwhile are held and delivered", () =>
    quiet(Effect.gen(function*() {
      const shared = ShardStore.memory()
      const bView = ShardStore.severable(shared, "b")
      const a = yield* startNode("a", shared)
      const b = yield* startNode("b", bView.store)
      yield* connect(a, b)
      yield* settled([a, b])
      const ca = yield* a.sharding.entity(CounterEntity)
      for (const k of keys) yield* ca.ref(k).tell(Counter.Add({ by: 1 }))
      const onB: Array<string> = []
      for (const k of keys) if ((yield* ca.ref(k).ask(Counter.Where())) === "b") onB.push(k)
      assert.isTrue(onB.length > 0)

      // b is cut off from a and from the store
      bView.sever()
      yield* b.node.partition("a", "60 seconds")
      yield* eventually("a sees b down", () => !a.node.peers().some((p) => p.name === "b" && p.up))
      // sent while b's shards have no reachable owner: held, then delivered to their next owner
      for (const k of onB) yield* ca.ref(k).tell(Counter.Add({ by: 10 }))
      for (const k of onB) {
        assert.strictEqual(yield* ca.ref(k).ask(Counter.Get(), { timeout: "10 seconds" }), 11, k)
        assert.strictEqual(yield* ca.ref(k).ask(Counter.Where()), "a")
      }
      // b stopped its entities on its own (no renewal), before a took the shards
      assert.isTrue(b.events.some((e) => e.kind === "shardLost"))
      assertNoOverlap([a, b])
    })), 60_000)

  it.live("a message that another node's Schema refuses is an InvalidMessage, and the region goes on", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const region = yield* a.node.lookup("b", RegionProtocol, regionName(CounterEntity.type))
      region.tellUnsafe(RegionProtocol.Deliver({ key: "x", message: { _tag: "Add", by: "many" }, hops: 0 }))
      const reply = yield* region.ask(RegionProtocol.Ask({ key: "x", message: { _tag: "Get", extra: 1, nope: [] }, timeoutMillis: 1000 }))
      const bad = yield* region.ask(RegionProtocol.Ask({ key: "x", message: { _tag: "Nope" }, timeoutMillis: 1000 }))
      assert.strictEqual(bad._tag, "Runtime")
      assert.strictEqual((bad as any).error._tag, "InvalidMessage")
      void reply
      const tellAsAsk = yield* region.ask(RegionProtocol.Ask({ key: "x", message: { _tag: "Add", by: 1 }, timeoutMillis: 1000 }))
      assert.strictEqual((tellAsAsk as any).error._tag, "InvalidMessage")
      // the entity and its region work on
      const cb = yield* b.sharding.entity(CounterEntity)
      assert.strictEqual(yield* cb.ref("x").ask(Counter.Get()), 0)
    })), 60_000)

  it.live("a running entity on another node is asked directly; a tell, its passivation or its region's answer decide when the region routes again", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const owned = new Set(b.sharding.ownedShards().map((l) => l.shard))
      const remoteKeys = keys.filter((k) => owned.has(a.sharding.shardOf(k)))
      assert.isAtLeast(remoteKeys.length, 3)
      const [ordered, passivating, cut] = remoteKeys as [string, string, string]
      const counters = yield* a.sharding.entity(CounterEntity)
      // a tell then an ask from one fiber stay in order, though asks alone go straight to the entity
      for (let i = 1; i <= 40; i++) {
        yield* counters.ref(ordered).tell(Counter.Add({ by: 1 }))
        assert.strictEqual(yield* counters.ref(ordered).ask(Counter.Get()), i)
        assert.strictEqual(yield* counters.ref(ordered).ask(Counter.Where()), "b")
      }
      // typed errors and the receiving side's Schema on the direct path too
      assert.strictEqual(yield* counters.ref(ordered).ask(Counter.Fail({ reason: "no" })).pipe(Effect.flip), "no")
      const invalid = yield* counters.ref(ordered).ask(Counter.Fail({ reason: 5 as any })).pipe(Effect.flip)
      assert.strictEqual((invalid as any)._tag, "InvalidMessage")
      // a passivated entity: the ask goes through the region, which activates it again (state kept)
      yield* counters.ref(passivating).tell(Counter.Add({ by: 5 }))
      assert.strictEqual(yield* counters.ref(passivating).ask(Counter.Get()), 5)
      assert.strictEqual(yield* counters.ref(passivating).ask(Counter.Get()), 5)
      const passivated = () => b.events.some((e) => e.kind === "passivated" && "key" in e && e.key === passivating)
      yield* eventually(`${passivating} passivates`, passivated)
      assert.strictEqual(yield* counters.ref(passivating).ask(Counter.Get()), 5)
      const activations = b.events.filter((e) => e.kind === "activated" && "key" in e && e.key === passivating)
      assert.strictEqual(activations.length, 2)
      // with b's region gone, only the direct path answers: asked once, the entity answers on
      assert.strictEqual(yield* counters.ref(cut).ask(Counter.Get()), 0)
      const region = b.system.whereis(regionName(CounterEntity.type))
      assert.isTrue(region._tag === "Some")
      if (region._tag === "Some") yield* b.system.stop(region.value)
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* counters.ref(cut).ask(Counter.Key()), cut)
      // a tell goes through the region (here: nowhere), and the next ask too: it does not pass the tell
      yield* counters.ref(cut).tell(Counter.Add({ by: 1 }))
      const after = yield* counters.ref(cut).ask(Counter.Get(), { timeout: "1 second" }).pipe(Effect.flip)
      assert.include(["NoProc", "AskTimeout"], (after as any)._tag)
      assertNoOverlap([a, b])
    })), 60_000)

  // the same runtime on the stores of real deployments (one store shared by the nodes of this process)
  for (const backend of backends.filter((b) => b.live)) {
    it.live.skipIf(backend.skip !== undefined)(`on the ${backend.name} store: routing, handoff on join, state kept`, () =>
      quiet(Effect.gen(function*() {
        const store = yield* backend.make
        const a = yield* startNode("a", store)
        const b = yield* startNode("b", store)
        yield* connect(a, b)
        yield* settled([a, b])
        const ca = yield* a.sharding.entity(CounterEntity)
        for (const k of keys) yield* ca.ref(k).tell(Counter.Add({ by: 1 }))
        for (const k of keys) assert.strictEqual(yield* ca.ref(k).ask(Counter.Get()), 1, k)
        const c = yield* startNode("c", store)
        yield* connect(c, a)
        yield* connect(c, b)
        yield* settled([a, b, c])
        const cc = yield* c.sharding.entity(CounterEntity)
        for (const k of keys) assert.strictEqual(yield* cc.ref(k).ask(Counter.Get(), { timeout: "10 seconds" }), 1, k)
        assert.isTrue(c.sharding.ownedShards().length > 0)
        assertNoOverlap([a, b, c])
      })), 60_000)
  }
})
