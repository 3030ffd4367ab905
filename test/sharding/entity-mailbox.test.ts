/**
 * `Entity.make`'s `mailbox` option is the mailbox of each activation: with a capacity of one and
 * the `fail` policy, an ask beyond the one being handled and the one queued is refused with
 * `MailboxFull` rather than queued behind them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorSystem } from "../../src/system/ActorSystem.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Slow = Actor.make("test/SmallMailbox", { Work: Actor.ask({ millis: Schema.Int }, { success: Schema.String }) })
const behavior = Slow.behavior(Effect.succeed({ Work: ({ millis }) => Effect.sleep(millis).pipe(Effect.as("done")) }))
const Small = Entity.make(Slow, behavior, { mailbox: { capacity: 1, overflow: "fail" } })

const run = <A, E>(entity: Entity.Entity<any, any>, body: Effect.Effect<A, E, Sharding | ActorSystem>) =>
  quiet(body.pipe(Effect.provide(soloLayer({ ...fast, entities: [entity] }))))

describe("sharding: an entity's mailbox option", () => {
  it.live("capacity 1 with `fail`: the third ask at once is refused with MailboxFull", () =>
    run(Small, Effect.gen(function*() {
      const small = yield* Sharding.entity(Small)
      const ref = small.ref("k")
      // activate it first, so that the next asks go straight to its mailbox
      assert.strictEqual(yield* ref.ask(Slow.Work({ millis: 0 }), { timeout: "10 seconds" }), "done")
      const first = yield* Effect.forkChild(ref.ask(Slow.Work({ millis: 500 }), { timeout: "10 seconds" }))
      yield* Effect.sleep("100 millis") // the first is being handled, the mailbox is empty
      const second = yield* Effect.forkChild(ref.ask(Slow.Work({ millis: 0 }), { timeout: "10 seconds" }))
      yield* Effect.sleep("50 millis") // the second waits in the mailbox
      const third = yield* Effect.exit(ref.ask(Slow.Work({ millis: 0 }), { timeout: "10 seconds" }))
      assert.isTrue(Exit.isFailure(third), "the third ask was queued beyond the mailbox's capacity")
      assert.include(JSON.stringify(third), "MailboxFull")
      assert.strictEqual(yield* Fiber.join(first), "done")
      assert.strictEqual(yield* Fiber.join(second), "done")
    })), 30_000)
})
