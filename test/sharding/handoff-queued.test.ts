/**
 * Messages waiting in an entity's mailbox when its shard is handed off (a node joins and takes
 * the shard over), as Akka Cluster Sharding does it: the handoff's stop comes behind them, so the
 * entity handles what it was sent before it stops, and the next owner's activation starts from
 * the state they left. No ask queued there fails because the shard moved, no tell is lost.
 *
 * Also at a node's graceful stop (a rolling restart): the entities handle what their mailboxes
 * hold before the node gives their leases up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, eventually, fast, quiet, settled, startNode } from "./_runtime.ts"

const Slow = Actor.make("test/HandoffSlow", {
  Work: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  Note: Actor.tell({ n: Schema.Int }),
  Count: Actor.ask({}, { success: Schema.Int })
})

/** every message takes 40 ms; its count of handled messages is durable */
const SlowEntity = Entity.make(Slow, Slow.behavior(Effect.gen(function*() {
  const handled = yield* Entity.state(Schema.Int)
  return {
    Work: ({ n }) => Effect.sleep("40 millis").pipe(Effect.andThen(handled.update((c) => c + 1)), Effect.as(n)),
    Note: () => Effect.sleep("40 millis").pipe(Effect.andThen(handled.update((c) => c + 1))),
    Count: () => handled.get
  }
})), { state: { schema: Schema.Int, initial: 0 } })

/** a key whose shard `b` owns once it joins `a` */
const keyMovingTo = (b: string, members: ReadonlyArray<string>) => {
  for (let i = 0; ; i++) {
    const key = `mover-${i}`
    if (Hash.owner(members, Hash.shardOf(key, fast.shards)) === b) return key
  }
}

describe("sharding: messages queued at an entity when its shard moves", () => {
  it.live("handoff: the queued asks are answered, the queued tells handled, before the entity stops; the new owner has their state", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [SlowEntity] })
      yield* eventually("a owns every shard", () => a.sharding.ownedShards().length === fast.shards)
      const key = keyMovingTo("b", ["a", "b"])
      const ref = (yield* a.sharding.entity(SlowEntity)).ref(key)
      assert.strictEqual(yield* ref.ask(Slow.Count()), 0)
      // 20 asks and 10 tells queue at the entity (1.2 s of work)
      const asks = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (n) => Effect.exit(ref.ask(Slow.Work({ n }), { timeout: "30 seconds" })),
        { concurrency: "unbounded" }
      ))
      for (let n = 0; n < 10; n++) yield* ref.tell(Slow.Note({ n }))
      // b joins: the key's shard is handed off while the messages wait in the mailbox
      const b = yield* startNode("b", store, { entities: [SlowEntity] })
      yield* connect(b, a)
      yield* settled([a, b])
      const exits = yield* Fiber.join(asks)
      const failed = exits.filter(Exit.isFailure).map((e) => JSON.stringify(e.cause))
      assert.deepStrictEqual(failed, [], "no queued ask failed because its shard moved")
      assert.deepStrictEqual(exits.map((e) => (e as Exit.Success<number, unknown>).value), Array.from({ length: 20 }, (_, i) => i))
      const onB = (yield* b.sharding.entity(SlowEntity)).ref(key)
      assert.isTrue(b.sharding.ownedShards().some((l) => l.shard === Hash.shardOf(key, fast.shards)), "the shard moved to b")
      assert.strictEqual(yield* onB.ask(Slow.Count(), { timeout: "10 seconds" }), 30, "every queued message was handled once")
    })), 60_000)

  it.live("graceful stop: the queued asks are answered before the node releases its leases", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [SlowEntity] })
      const b = yield* startNode("b", store, { entities: [SlowEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      // a key a owns, asked from b: the asks wait in a's entity's mailbox when a stops
      const key = keyMovingTo("a", ["a", "b"])
      const ref = (yield* b.sharding.entity(SlowEntity)).ref(key)
      assert.strictEqual(yield* ref.ask(Slow.Count(), { timeout: "10 seconds" }), 0)
      const asks = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: 15 }, (_, i) => i),
        (n) => Effect.exit(ref.ask(Slow.Work({ n }), { timeout: "30 seconds" })),
        { concurrency: "unbounded" }
      ))
      yield* eventually("the asks wait at the entity", () => a.sharding.activeEntities() === 1)
      yield* Effect.sleep("100 millis")
      yield* a.stop
      const exits = yield* Fiber.join(asks)
      const failed = exits.filter(Exit.isFailure).map((e) => JSON.stringify(e.cause))
      assert.deepStrictEqual(failed, [], "no queued ask failed because its node stopped")
      assert.strictEqual(yield* ref.ask(Slow.Count(), { timeout: "10 seconds" }).pipe(Effect.retry({ times: 5 })), 15)
    })), 60_000)

  it.live("graceful stop: asks that reach the stopping node's regions meanwhile go to the next owner, none fails", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [SlowEntity] })
      const b = yield* startNode("b", store, { entities: [SlowEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      const onB = yield* b.sharding.entity(SlowEntity)
      // a backlog at one of a's entities keeps a's stop going for a while
      const busy = keyMovingTo("a", ["a", "b"])
      assert.strictEqual(yield* onB.ref(busy).ask(Slow.Count(), { timeout: "10 seconds" }), 0)
      const backlog = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: 15 }, (_, i) => i),
        (n) => Effect.exit(onB.ref(busy).ask(Slow.Work({ n }), { timeout: "30 seconds" })),
        { concurrency: "unbounded" }
      ))
      yield* Effect.sleep("100 millis")
      const stopping = yield* Effect.forkChild(a.stop)
      yield* Effect.sleep("100 millis")
      // keys of a's shards that b never asked: b asks a's region
      const fresh: Array<string> = []
      for (let i = 0; fresh.length < 20; i++) {
        const key = `fresh-${i}`
        if (Hash.owner(["a", "b"], Hash.shardOf(key, fast.shards)) === "a") fresh.push(key)
      }
      const exits = yield* Effect.forEach(fresh, (key) => Effect.exit(onB.ref(key).ask(Slow.Count(), { timeout: "20 seconds" })), {
        concurrency: "unbounded"
      })
      const failed = exits.filter(Exit.isFailure).map((e) => JSON.stringify(e.cause))
      assert.deepStrictEqual(failed, [], "no ask failed because the node it reached was stopping")
      yield* Fiber.join(stopping)
      assert.isTrue((yield* Fiber.join(backlog)).every(Exit.isSuccess))
    })), 60_000)
})
