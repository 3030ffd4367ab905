/**
 * Saves of an entity's durable state keep their order: with a forked handler (`Actor.fork`) its
 * save may still be in flight when the next message changes the state and saves again. The
 * later save must not be overtaken by the earlier one (a slower store call, another pool
 * connection, a retry after a busy lock): the acknowledged state would then be overwritten by an
 * older one in the store, and lost at the next activation.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Tally = Actor.make("test/SaveOrder", {
  /** adds in a forked handler (the actor takes its next message meanwhile) */
  AddForked: Actor.ask({ by: Schema.Int }, { success: Schema.Int }),
  Add: Actor.ask({ by: Schema.Int }, { success: Schema.Int }),
  Stop: Actor.tell({})
})
const TallyEntity = Entity.make(
  Tally,
  Tally.behavior(Effect.gen(function*() {
    const count = yield* Entity.state(Schema.Int)
    const ctx = yield* ActorContext
    return {
      AddForked: ({ by }) => Actor.fork(Effect.andThen(count.update((n) => n + by), count.get)),
      Add: ({ by }) => Effect.andThen(count.update((n) => n + by), count.get),
      Stop: () => ctx.stop()
    }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

describe("sharding: durable state saves", () => {
  it.live("a save in flight is not overtaken by the next one: the store keeps the last acknowledged state", () => {
    const memory = ShardStore.memory()
    // the first save is slow (its store call takes 200 ms), the next ones are not
    let saves = 0
    const store: ShardStore.ShardStore = {
      ...memory,
      saveState: (type, key, fence, state) =>
        Effect.suspend(() => ++saves === 1 ? Effect.andThen(Effect.sleep("200 millis"), memory.saveState(type, key, fence, state)) : memory.saveState(type, key, fence, state))
    }
    return quiet(Effect.gen(function*() {
      const ref = (yield* Sharding.entity(TallyEntity)).ref("t")
      const [forked, plain] = yield* Effect.all([
        ref.ask(Tally.AddForked({ by: 1 }), { timeout: "5 seconds" }),
        Effect.andThen(Effect.sleep("50 millis"), ref.ask(Tally.Add({ by: 10 }), { timeout: "5 seconds" }))
      ], { concurrency: 2 })
      assert.deepStrictEqual([forked, plain], [1, 11])
      yield* Effect.sleep("300 millis")
      const saved = yield* memory.loadState(TallyEntity.type, "t")
      assert.deepStrictEqual(saved._tag === "Some" ? JSON.parse(saved.value) : undefined, 11, "the store holds the last acknowledged state")
      // and the next activation has it
      yield* ref.tell(Tally.Stop())
      yield* Effect.sleep("100 millis")
      assert.strictEqual(yield* ref.ask(Tally.Add({ by: 0 }), { timeout: "5 seconds" }), 11)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] }, store))))
  }, 20_000)
})
