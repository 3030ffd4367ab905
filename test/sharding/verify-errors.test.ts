/**
 * Typed errors of entity asks, for an asker on the owner's node and one on another node (whose
 * second and later asks go straight to the entity's ref over the transport): a state that
 * cannot be saved is `ShardingError` `StateNotSaved`, a crash of the handler is `ActorStopped`
 * (as a plain actor's crash answers an ask), never an untyped error nor an `InvalidMessage`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorSystem } from "../../src/system/ActorSystem.ts"
import * as Supervise from "../../src/supervision/Supervise.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, quiet, settled, startNode } from "./_runtime.ts"

const Faulty = Actor.make("test/VerifyErrorsFaulty", {
  Get: Actor.ask({}, { success: Schema.Int }),
  /** sets a state its schema cannot encode: the save fails */
  Poison: Actor.ask({}, { success: Schema.Int }),
  Boom: Actor.ask({}, { success: Schema.Int })
})

const FaultyEntity = Entity.make(
  Faulty,
  Faulty.behavior(Effect.gen(function*() {
    const count = yield* Entity.state(Schema.Int)
    return {
      Get: () => count.get,
      Poison: () => Effect.as(count.set(1.5), 0),
      Boom: () => Effect.die(new Error("boom on purpose"))
    }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

const keys = Array.from({ length: 32 }, (_, i) => `k-${i}`)

describe("sharding: typed errors of entity asks across nodes", () => {
  it.live("local and remote askers get StateNotSaved for an unsavable state and ActorStopped for a crash", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [FaultyEntity] })
      const b = yield* startNode("b", store, { entities: [FaultyEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      const owned = new Set(b.sharding.ownedShards().map((l) => l.shard))
      const key = keys.find((k) => owned.has(a.sharding.shardOf(k)))!
      assert.isDefined(key)
      const remote = (yield* a.sharding.entity(FaultyEntity)).ref(key)
      const local = (yield* b.sharding.entity(FaultyEntity)).ref(key)
      for (const [who, ref] of [["remote", remote], ["local", local]] as const) {
        for (let round = 0; round < 2; round++) {
          // the first ask activates the entity through the region; later ones may go straight to it
          assert.strictEqual(yield* ref.ask(Faulty.Get()), 0, `${who} get`)
          const unsaved: any = yield* ref.ask(Faulty.Poison()).pipe(Effect.flip)
          assert.strictEqual(unsaved._tag, "ShardingError", `${who} poison: ${String(unsaved)}`)
          assert.strictEqual(unsaved.reason, "StateNotSaved", `${who} poison`)
          assert.strictEqual(yield* ref.ask(Faulty.Get()), 0, `${who} restarted from the saved state`)
          const crashed: any = yield* ref.ask(Faulty.Boom()).pipe(Effect.flip)
          assert.strictEqual(crashed._tag, "ActorStopped", `${who} boom: ${String(crashed)}`)
        }
      }
    })), 60_000)

  it.live("a plain actor restarted (or stopped) in place after its ask handler crashed answers that ask with ActorStopped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const Plain = Actor.make("test/VerifyErrorsPlain", { Boom: Actor.ask({}, { success: Schema.Int }), Get: Actor.ask({}, { success: Schema.Int }) })
      const inner = Plain.behavior(Effect.succeed({ Boom: () => Effect.die(new Error("boom on purpose")), Get: () => Effect.succeed(1) }))
      for (const directive of ["restart", "stop"] as const) {
        const ref = yield* system.spawn(Supervise.behavior(inner, [{ match: () => true, directive }]))
        const crashed: any = yield* ref.ask(Plain.Boom()).pipe(Effect.flip)
        assert.strictEqual(crashed._tag, "ActorStopped", `${directive}: ${String(crashed)}`)
        if (directive === "restart") assert.strictEqual(yield* ref.ask(Plain.Get()), 1)
      }
    }).pipe(Effect.provide(ActorSystem.layer()), quiet))
})
