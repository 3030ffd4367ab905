/**
 * A graceful stop that meets an entity still starting (its init runs): the stop interrupts the
 * activation, and the tells queued for it go to the shard's next owner, as those held for the
 * shard do, rather than being lost with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, fast, quiet, settled, startNode } from "./_runtime.ts"

const Sluggish = Actor.make("test/SluggishStart", {
  Add: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})
/** its init takes 1 s (the first one only: the next owner's starts at once) */
let slow = true
const SluggishEntity = Entity.make(
  Sluggish,
  Sluggish.behavior(Effect.gen(function*() {
    if (slow) yield* Effect.sleep("1 second")
    const count = yield* Entity.state(Schema.Int)
    return { Add: ({ by }) => count.update((n) => n + by), Get: () => count.get }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

describe("sharding: a graceful stop while an entity starts", () => {
  it.live("the tells queued for it are handled by the shard's next owner", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [SluggishEntity] })
      const b = yield* startNode("b", store, { entities: [SluggishEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      let key = ""
      for (let i = 0; key === ""; i++) {
        if (Hash.owner(["a", "b"], Hash.shardOf(`sl-${i}`, fast.shards)) === "a") key = `sl-${i}`
      }
      const onA = (yield* a.sharding.entity(SluggishEntity)).ref(key)
      for (let i = 0; i < 3; i++) yield* onA.tell(Sluggish.Add({ by: 1 }))
      yield* Effect.sleep("100 millis")
      slow = false
      yield* a.stop
      const onB = (yield* b.sharding.entity(SluggishEntity)).ref(key)
      assert.strictEqual(yield* onB.ask(Sluggish.Get(), { timeout: "10 seconds" }), 3)
    })), 30_000)
})
