/**
 * The observer's counters of delivered messages (per actor and per system) count every message
 * accepted into a mailbox, whichever way it was sent — an inline `yield* ref.tell`, `tellUnsafe`,
 * a tell effect run by the fiber, an ask answered by the drain loop itself — and not a send
 * refused (a full `fail` mailbox) or a dead letter.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"
import { settle, withSystem } from "./_helpers.ts"

const C = Actor.make("DeliveredCounters", {
  Block: Actor.tell({}),
  Add: Actor.tell({ n: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})

describe("delivered counters", () => {
  it.effect("count each accepted message once, whatever the send path; refused and dead ones not", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const kernel = kernelOf(system)
      const gate = yield* Deferred.make<void>()
      let sum = 0
      const ref = yield* system.spawn(C.behavior(Effect.succeed({
        Block: () => Deferred.await(gate),
        Add: ({ n }) => Effect.sync(() => { sum += n }),
        Get: () => Effect.sync(() => sum)
      })), { mailbox: { capacity: 1000, overflow: "fail" } })
      const local = kernel.local(ref.address.id)!
      const base = kernel.counters().delivered
      for (let i = 0; i < 300; i++) yield* ref.tell(C.Add({ n: 1 })) // inline
      for (let i = 0; i < 200; i++) ref.tellUnsafe(C.Add({ n: 1 }))
      yield* Effect.forEach(Array.from({ length: 100 }), () => ref.tell(C.Add({ n: 1 })), { discard: true }) // by the fiber
      assert.strictEqual(yield* ref.ask(C.Get()), 600)
      assert.strictEqual(local.delivered, 601)
      assert.strictEqual(kernel.counters().delivered - base, 601)
      // a full `fail` mailbox refuses: not counted
      yield* ref.tell(C.Block())
      yield* settle() // the Block is being handled: the mailbox is empty
      for (let i = 0; i < 1000; i++) ref.tellUnsafe(C.Add({ n: 0 }))
      const refused = yield* Effect.flip(ref.tell(C.Add({ n: 0 })))
      assert.strictEqual(refused._tag, "MailboxFull")
      assert.strictEqual(local.delivered, 601 + 1 + 1000)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* ref.ask(C.Get()), 600)
      // stopped: a tell is a dead letter, not a delivery
      yield* system.stop(ref)
      const before = kernel.counters().delivered
      yield* ref.tell(C.Add({ n: 1 }))
      assert.strictEqual(kernel.counters().delivered, before)
    }).pipe(withSystem()))
})
