import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { Actor, ActorRef, ActorSystem, InvalidMessage } from "../../src/index.ts"
import { collectDeadLetters, withSystem } from "./_helpers.ts"

const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})

const CounterLive = Counter.behavior(Effect.gen(function*() {
  let count = 0
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Get: () => Effect.succeed(count)
  }
}))

/** A behaviour that lacks a handler (built by hand: the types would not allow it). */
const PartialLive = Counter.behavior(Effect.succeed({ Get: () => Effect.succeed(-1) } as any))

describe("dead letters", () => {
  it.effect("a tell to an unknown actor id: NoSuchActor", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const letters = yield* collectDeadLetters(1)
      const before = system.deadLetterCount()
      const ghost = system.refFor({ node: system.nodeId, id: 424242, protocol: "Counter" }) as ActorRef.ActorRef<
        typeof Counter.defs
      >
      yield* ghost.tell(Counter.Increment({ by: 1 })) // not an error
      const [letter] = yield* Fiber.join(letters)
      assert.deepStrictEqual(letter, {
        recipient: ghost.key,
        message: { _tag: "Increment", by: 1 },
        reason: { _tag: "NoSuchActor" }
      })
      assert.strictEqual(system.deadLetterCount(), before + 1)
    }).pipe(withSystem()))

  it.effect("a tell to a stopped actor: ActorStopped with the exit reason", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      yield* system.stop(counter)
      const letters = yield* collectDeadLetters(1)
      yield* counter.tell(Counter.Increment({ by: 2 }))
      const [letter] = yield* Fiber.join(letters)
      assert.deepStrictEqual(letter, {
        recipient: counter.key,
        message: { _tag: "Increment", by: 2 },
        reason: { _tag: "ActorStopped", reason: { _tag: "Shutdown" } }
      })
    }).pipe(withSystem()))

  it.effect("a fresh ref (by address) to a stopped actor: NoSuchActor", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      yield* system.stop(counter)
      const letters = yield* collectDeadLetters(1)
      yield* system.refFor(counter.address).tell(Counter.Increment({ by: 3 }))
      const [letter] = yield* Fiber.join(letters)
      assert.strictEqual(letter!.recipient, counter.key)
      assert.deepStrictEqual(letter!.reason, { _tag: "NoSuchActor" })
    }).pipe(withSystem()))

  it.effect("messages still queued when an actor stops become ActorStopped dead letters", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const Slow = Actor.make("Slow", { Block: Actor.tell({}), Item: Actor.tell({ n: Schema.Int }) })
      const slow = yield* system.spawn(Slow.behavior(Effect.succeed({
        Block: () => Effect.never,
        Item: () => Effect.void
      })))
      yield* slow.tell(Slow.Block())
      yield* slow.tell(Slow.Item({ n: 1 }))
      yield* slow.tell(Slow.Item({ n: 2 }))
      const letters = yield* collectDeadLetters(2)
      yield* system.stop(slow)
      const dead = yield* Fiber.join(letters)
      assert.deepStrictEqual(dead.map((d) => d.message), [{ _tag: "Item", n: 1 }, { _tag: "Item", n: 2 }])
      assert.deepStrictEqual(dead.map((d) => d.reason), [
        { _tag: "ActorStopped", reason: { _tag: "Shutdown" } },
        { _tag: "ActorStopped", reason: { _tag: "Shutdown" } }
      ])
    }).pipe(withSystem()))

  it.effect("a message without a handler: InvalidMessage dead letter, an ask fails with InvalidMessage", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const partial = yield* system.spawn(PartialLive)
      const letters = yield* collectDeadLetters(2)
      yield* partial.tell(Counter.Increment({ by: 1 }))
      const error = yield* Effect.flip(partial.ask({ _tag: "Nope" } as any))
      assert.instanceOf(error, InvalidMessage)
      assert.strictEqual((error as InvalidMessage).issue, `no handler for message tag "Nope"`)
      const dead = yield* Fiber.join(letters)
      assert.deepStrictEqual(dead, [
        {
          recipient: partial.key,
          message: { _tag: "Increment", by: 1 },
          reason: { _tag: "InvalidMessage", issue: `no handler for message tag "Increment"` }
        },
        {
          recipient: partial.key,
          message: { _tag: "Nope" },
          reason: { _tag: "InvalidMessage", issue: `no handler for message tag "Nope"` }
        }
      ])
      // the actor keeps running
      assert.strictEqual(yield* partial.ask(Counter.Get()), -1)
    }).pipe(withSystem()))
})

// ---------------------------------------------------------------------------
// validateLocal
// ---------------------------------------------------------------------------

const invalid = { _tag: "Increment", by: 1.5 } as any

const checkValidation = (spawnOptions: { validateLocal?: boolean }) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const counter = yield* system.spawn(CounterLive, spawnOptions)
    const letters = yield* collectDeadLetters(1)
    const error = yield* Effect.flip(counter.tell(invalid))
    assert.instanceOf(error, InvalidMessage)
    const e = error as InvalidMessage
    assert.strictEqual(e.actor, counter.key)
    assert.strictEqual(e.protocol, "Counter")
    assert.strictEqual(e.issue, `Expected an integer\n  at ["by"]`)
    const [letter] = yield* Fiber.join(letters)
    assert.deepStrictEqual(letter, {
      recipient: counter.key,
      message: invalid,
      reason: { _tag: "InvalidMessage", issue: e.issue }
    })
    // the actor never saw it, and keeps processing valid messages
    yield* counter.tell(Counter.Increment({ by: 2 }))
    assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
    // an invalid ask fails the same way, before reaching the mailbox
    const askError = yield* Effect.flip(counter.ask({ _tag: "Gett" } as any))
    assert.instanceOf(askError, InvalidMessage)
    assert.strictEqual((askError as InvalidMessage).protocol, "Counter")
    // tellUnsafe throws it
    assert.throws(() => counter.tellUnsafe(invalid))
    assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
  })

describe("validateLocal", () => {
  it.effect("spawn option: an invalid message fails tell with InvalidMessage, dead letter, actor keeps going", () =>
    checkValidation({ validateLocal: true }).pipe(withSystem()))

  it.effect("system option: ActorSystem.layer({ validateLocal: true })", () =>
    checkValidation({}).pipe(withSystem({ validateLocal: true })))

  it.effect("the spawn option overrides the system default", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive, { validateLocal: false })
      yield* counter.tell(invalid) // not validated: delivered as is
      assert.strictEqual(yield* counter.ask(Counter.Get()), 1.5)
    }).pipe(withSystem({ validateLocal: true })))

  it.effect("without validation, messages are passed by reference", () =>
    Effect.gen(function*() {
      const Holder = Actor.make("Holder", {
        Put: Actor.tell({ value: Schema.Array(Schema.Int) }),
        Same: Actor.ask({ value: Schema.Array(Schema.Int) }, { success: Schema.Boolean })
      })
      const system = yield* ActorSystem
      const holder = yield* system.spawn(Holder.behavior(Effect.sync(() => {
        let held: ReadonlyArray<number> | undefined
        return {
          Put: ({ value }) => Effect.sync(() => { held = value }),
          Same: ({ value }) => Effect.succeed(held === value)
        }
      })))
      const value = [1, 2, 3]
      yield* holder.tell(Holder.Put({ value }))
      assert.isTrue(yield* holder.ask(Holder.Same({ value })))
      assert.isFalse(yield* holder.ask(Holder.Same({ value: [1, 2, 3] })))
    }).pipe(withSystem()))
})
