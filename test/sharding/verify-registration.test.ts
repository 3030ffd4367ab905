/**
 * Entity types declared inconsistently (Pekko's ClusterShardingSpec: a region started twice;
 * Orleans: a grain interface whose versions differ across silos):
 *
 * - on one node, a second `Sharding.entity` of a type already hosted with another definition
 *   is a defect that names the type — not a client that silently sends with the first
 *   definition's protocol and behaviour (its asks failed with "no handler" InvalidMessage);
 *   the same definition again is the same client;
 * - across nodes, a type declared with different protocols: a message the owner's protocol
 *   refuses is a typed `InvalidMessage` for the asker (a dropped tell), the owner keeps running
 *   and answers messages of its own protocol.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, connect, fast, quiet, settled, soloLayer, startNode } from "./_runtime.ts"

const Other = Actor.make("test/ShardedCounter", {
  Shout: Actor.ask({ text: Schema.String }, { success: Schema.String }),
  Note: Actor.tell({ text: Schema.String })
})
/** the counter's entity type with another protocol */
const OtherEntity = Entity.make(Other, Other.behavior(Effect.succeed({
  Shout: ({ text }) => Effect.succeed(text.toUpperCase()),
  Note: () => Effect.void
})))

describe("sharding: one entity type, two definitions", () => {
  it.live("on one node: the second definition is a defect naming the type; the first keeps working", () =>
    quiet(Effect.gen(function*() {
      const first = yield* Sharding.entity(CounterEntity)
      const again = yield* Sharding.entity(CounterEntity)
      yield* again.ref("k").tell(Counter.Add({ by: 2 }))
      assert.strictEqual(yield* first.ref("k").ask(Counter.Get()), 2)
      const exit = yield* Effect.exit(Sharding.entity(OtherEntity))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "a defect")
      assert.include(String(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""), "test/ShardedCounter")
      const singleton = yield* Effect.exit((yield* Sharding).singleton(OtherEntity))
      assert.isTrue(Exit.isFailure(singleton) && Cause.hasDies(singleton.cause), "a defect")
      assert.strictEqual(yield* first.ref("k").ask(Counter.Get()), 2)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [CounterEntity] })))), 30_000)

  it.live("across nodes: a message the owner's protocol refuses is InvalidMessage for the asker; the owner keeps answering", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store, { entities: [OtherEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      const ca = yield* a.sharding.entity(CounterEntity)
      const cb = yield* b.sharding.entity(OtherEntity)
      // a key whose shard b owns
      let key = ""
      for (let i = 0; key === ""; i++) {
        const k = `k${i}`
        if (b.sharding.ownedShards().some((l) => l.shard === b.sharding.shardOf(k))) key = k
      }
      yield* ca.ref(key).tell(Counter.Add({ by: 1 }))
      const asked = yield* Effect.flip(ca.ref(key).ask(Counter.Get(), { timeout: "5 seconds" }))
      assert.strictEqual(asked._tag, "InvalidMessage")
      assert.strictEqual(yield* cb.ref(key).ask(Other.Shout({ text: "still here" })), "STILL HERE")
      // and the other way round
      let akey = ""
      for (let i = 0; akey === ""; i++) {
        const k = `j${i}`
        if (a.sharding.ownedShards().some((l) => l.shard === a.sharding.shardOf(k))) akey = k
      }
      const back = yield* Effect.flip(cb.ref(akey).ask(Other.Shout({ text: "x" }), { timeout: "5 seconds" }))
      assert.strictEqual(back._tag, "InvalidMessage")
      assert.strictEqual(yield* ca.ref(akey).ask(Counter.Get()), 0)
    })), 60_000)
})
