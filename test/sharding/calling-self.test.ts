/**
 * An entity whose handler asks its own actor fails that ask with `CallingSelf` (OTP's
 * calling_self), and an asker on another node gets that error as itself, whether its ask went
 * through the owner's region (its first) or to the entity directly (the next ones).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, quiet, settled, startNode } from "./_runtime.ts"

const Selfish = Actor.make("test/ShardedSelfish", {
  AskMe: Actor.ask({}, { success: Schema.Int }),
  Ping: Actor.ask({}, { success: Schema.Int })
})
const SelfishEntity = Entity.make(
  Selfish,
  Selfish.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      // asks itself: fails with CallingSelf (a runtime error, not the protocol's)
      AskMe: () => ctx.self.ask(Selfish.Ping()) as Effect.Effect<number>,
      Ping: () => Effect.succeed(1)
    }
  }))
)

describe("sharding: an entity asking itself", () => {
  it.live("the remote asker gets CallingSelf, through the region and directly", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [SelfishEntity] })
      const b = yield* startNode("b", store, { entities: [SelfishEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      const owned = new Set(a.sharding.ownedShards().map((l) => l.shard))
      const key = Array.from({ length: 1000 }, (_, i) => `self-${i}`).find((k) => owned.has(a.sharding.shardOf(k)))!
      const ref = (yield* b.sharding.entity(SelfishEntity)).ref(key)
      for (const way of ["through the region", "directly"]) {
        const exit = yield* Effect.exit(ref.ask(Selfish.AskMe(), { timeout: "10 seconds" }))
        assert.isTrue(Exit.isFailure(exit), way)
        const error = Exit.isFailure(exit) ? (exit.cause as any).reasons?.[0]?.error : undefined
        assert.strictEqual(error?._tag, "CallingSelf", `${way}: ${JSON.stringify(exit)}`)
      }
      // the entity is still there
      assert.strictEqual(yield* ref.ask(Selfish.Ping(), { timeout: "10 seconds" }), 1)
    })), 30_000)
})
