/**
 * One sender's messages to an entity that is not running yet (its first activation, or its next
 * after it stopped) keep their order, asks with tells: an ask sent before a tell, without waiting
 * for its answer, is handled before it, as it would be by a running entity's mailbox.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Tally = Actor.make("test/ActivationOrder", {
  Add: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int }),
  Quit: Actor.tell({})
})
const TallyEntity = Entity.make(
  Tally,
  Tally.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const count = yield* Entity.state(Schema.Int)
    yield* Effect.addFinalizer(() => Effect.sleep("100 millis"))
    return { Add: ({ by }) => count.update((n) => n + by), Get: () => count.get, Quit: () => ctx.stop() }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

/** an ask, then a tell sent without waiting for its answer: the ask's answer is `before` */
const askThenTell = (ref: Entity.EntityRef<typeof Tally.defs>, before: number) =>
  Effect.gen(function*() {
    const asked = yield* Effect.forkChild(ref.ask(Tally.Get(), { timeout: "5 seconds" }))
    yield* Effect.yieldNow
    yield* ref.tell(Tally.Add({ by: 1 }))
    assert.strictEqual(yield* Fiber.join(asked), before)
  })

describe("sharding: order at an activation", () => {
  it.live("an ask then a tell to an entity starting, and to one stopping, are handled in that order", () =>
    quiet(Effect.gen(function*() {
      const ref = (yield* Sharding.entity(TallyEntity)).ref("t")
      // its first activation
      yield* askThenTell(ref, 0)
      assert.strictEqual(yield* ref.ask(Tally.Get()), 1)
      // its next activation, while it stops
      yield* ref.tell(Tally.Quit())
      yield* Effect.sleep("30 millis")
      yield* askThenTell(ref, 1)
      assert.strictEqual(yield* ref.ask(Tally.Get(), { timeout: "5 seconds" }), 2)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] })))), 20_000)
})
