/**
 * `yield* ref.tell` to a full backpressure mailbox suspends the generator at that point; when its
 * fiber is interrupted there (as a gen_server call's caller killed while it waits), the message is
 * never delivered, the generator does not go on, and the next waiting sender gets the room.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const Log = Actor.make("TellInterruptLog", {
  Block: Actor.tell({}),
  Add: Actor.tell({ n: Schema.Int }),
  Read: Actor.ask({}, { success: Schema.Array(Schema.Int) })
})

describe("yield* tell interrupted while it waits for room", () => {
  it.effect("is never delivered; the generator stops there; the next waiter gets the room", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const log = yield* system.spawn(Log.behavior(Effect.sync(() => {
        const seen: Array<number> = []
        return {
          Block: () => Deferred.await(gate),
          Add: ({ n }) => Effect.sync(() => { seen.push(n) }),
          Read: () => Effect.sync(() => seen.slice())
        }
      })), { mailbox: { capacity: 2, overflow: "backpressure" } })
      yield* log.tell(Log.Block())
      yield* settle()
      yield* log.tell(Log.Add({ n: 1 }))
      yield* log.tell(Log.Add({ n: 2 }))
      let after = false
      const abandoned = yield* Effect.forkChild(Effect.gen(function*() {
        yield* log.tell(Log.Add({ n: 3 }))
        after = true
        yield* log.tell(Log.Add({ n: 30 }))
      }), { startImmediately: true })
      const waiting = yield* Effect.forkChild(Effect.gen(function*() {
        yield* log.tell(Log.Add({ n: 4 }))
      }), { startImmediately: true })
      yield* settle()
      assert.isUndefined(abandoned.pollUnsafe())
      yield* Fiber.interrupt(abandoned)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(waiting)
      assert.deepStrictEqual(yield* log.ask(Log.Read()), [1, 2, 4])
      assert.isFalse(after)
    }).pipe(withSystem()))
})
