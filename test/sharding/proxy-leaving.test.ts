/**
 * A proxy node (`hosting: false`: it routes to entities, owns no shard, is no member) is told
 * when a member stops gracefully, as the members are: it stops routing to that member at once
 * (what it sends for the member's shards waits for their next owner) instead of at its next
 * lease read or when the connection goes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, eventually, quiet, settled, startNode } from "./_runtime.ts"

const Busy = Actor.make("test/ProxyLeaving", { Hold: Actor.ask({ millis: Schema.Int }, { success: Schema.String }) })
const BusyEntity = Entity.make(Busy, Busy.behavior(Effect.gen(function*() {
  const { node } = yield* Entity.EntityContext
  return { Hold: ({ millis }) => Effect.as(Effect.sleep(millis), node) }
})))

describe("sharding: a proxy when a member stops gracefully", () => {
  it.live("is told Leaving: it stops routing to the member while the member still drains", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const options = { entities: [BusyEntity] }
      const a = yield* startNode("a", store, options)
      const b = yield* startNode("b", store, options)
      yield* connect(a, b)
      yield* settled([a, b])
      const p = yield* startNode("p", store, { ...options, hosting: false })
      yield* connect(p, a)
      yield* connect(p, b)
      yield* eventually("p sees a and b as members", () => p.sharding.members().includes("a") && p.sharding.members().includes("b"))
      // a key of a's, busy: a's stop drains it for a while
      const onA = yield* a.sharding.entity(BusyEntity)
      let key = ""
      for (let i = 0; key === ""; i++) {
        if (a.sharding.ownedShards().some((l) => l.shard === a.sharding.shardOf(`k${i}`))) key = `k${i}`
      }
      const held = yield* Effect.forkChild(onA.ref(key).ask(Busy.Hold({ millis: 800 }), { timeout: "5 seconds" }))
      yield* Effect.sleep("100 millis")
      const stopping = yield* Effect.forkChild(a.stop)
      yield* eventually("p no longer routes to a", () => !p.sharding.members().includes("a"), 1_000)
      assert.isTrue(a.node.peers().some((peer) => peer.name === "p" && peer.up), "a still runs (it drains)")
      assert.strictEqual(yield* Fiber.join(held), "a")
      yield* Fiber.join(stopping)
    })), 30_000)
})
