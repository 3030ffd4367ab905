import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ActorSystem, type Down, MailboxFull, type OverflowPolicy } from "../../src/index.ts"
import { assertError, collectDeadLetters, isDone, settle, waitUntil, withSystem } from "./_helpers.ts"

const Target = Actor.make("Target", { Noop: Actor.tell({}) })
const TargetLive = Target.behavior(Effect.succeed({ Noop: () => Effect.void }))

const Box = Actor.make("Box", {
  /** blocks the actor until the test's gate opens */
  Block: Actor.tell({}),
  Item: Actor.tell({ n: Schema.Int }),
  Echo: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  Items: Actor.ask({}, { success: Schema.Array(Schema.Int) }),
  Watch: Actor.tell({ target: ActorRef.schemaFor(Target) })
})

interface Probe {
  readonly started: Deferred.Deferred<void>
  readonly gate: Deferred.Deferred<void>
  readonly items: Array<number>
  readonly downs: Array<Down>
  readonly gotDown: Deferred.Deferred<Down>
}

const makeProbe = Effect.gen(function*() {
  const probe: Probe = {
    started: yield* Deferred.make<void>(),
    gate: yield* Deferred.make<void>(),
    items: [],
    downs: [],
    gotDown: yield* Deferred.make<Down>()
  }
  return probe
})

const makeBox = (probe: Probe) =>
  Box.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Block: () => Deferred.succeed(probe.started, undefined).pipe(Effect.andThen(Deferred.await(probe.gate))),
      Item: ({ n }) => Effect.sync(() => { probe.items.push(n) }),
      Echo: ({ n }) => Effect.sync(() => { probe.items.push(n) }).pipe(Effect.as(n)),
      Items: () => Effect.sync(() => probe.items.slice()),
      Watch: ({ target }) => ctx.monitor(target),
      onDown: (down) =>
        Effect.sync(() => { probe.downs.push(down) }).pipe(Effect.andThen(Deferred.succeed(probe.gotDown, down)))
    }
  }))

/** Spawns a Box with a mailbox of capacity 2 and blocks it inside a handler (its mailbox is then empty). */
const blockedBox = (overflow: OverflowPolicy) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const probe = yield* makeProbe
    const box = yield* system.spawn(makeBox(probe), { mailbox: { capacity: 2, overflow } })
    yield* box.tell(Box.Block())
    yield* Deferred.await(probe.started)
    return { system, box, probe }
  })

describe("mailbox: backpressure", () => {
  it.effect("a tell to a full mailbox suspends the sender until there is room", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const third = yield* Effect.forkChild(box.tell(Box.Item({ n: 3 })))
      yield* settle()
      assert.isUndefined(third.pollUnsafe())
      yield* Deferred.succeed(probe.gate, undefined)
      yield* Fiber.join(third)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2, 3])
    }).pipe(withSystem()))

  it.effect("an ask to a full mailbox suspends too, then gets its reply", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const asked = yield* Effect.forkChild(box.ask(Box.Echo({ n: 3 })))
      const told = yield* Effect.forkChild(box.tell(Box.Item({ n: 4 })))
      yield* settle()
      assert.isUndefined(asked.pollUnsafe())
      assert.isUndefined(told.pollUnsafe())
      yield* Deferred.succeed(probe.gate, undefined)
      assert.strictEqual(yield* Fiber.join(asked), 3)
      yield* Fiber.join(told)
      // suspended senders are admitted in the order they started waiting
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2, 3, 4])
    }).pipe(withSystem()))

  it.effect("a suspended sender is released (message dead-lettered) when the actor stops", () =>
    Effect.gen(function*() {
      const { box, system } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const letters = yield* collectDeadLetters(3)
      const third = yield* Effect.forkChild(box.tell(Box.Item({ n: 3 })))
      yield* settle()
      assert.isUndefined(third.pollUnsafe())
      yield* system.stop(box)
      yield* Fiber.join(third)
      const dead = yield* Fiber.join(letters)
      assert.deepStrictEqual(dead.map((d) => (d.message as any).n), [1, 2, 3])
      assert.deepStrictEqual(dead.map((d) => d.reason._tag), ["ActorStopped", "ActorStopped", "ActorStopped"])
    }).pipe(withSystem()))

  it.effect("tellUnsafe to a full backpressure mailbox accepts the message anyway", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      box.tellUnsafe(Box.Item({ n: 3 }))
      yield* Deferred.succeed(probe.gate, undefined)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2, 3])
    }).pipe(withSystem()))
})

describe("mailbox: fail", () => {
  it.effect("a tell to a full mailbox fails with MailboxFull; an ask too", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("fail")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const error = yield* Effect.flip(box.tell(Box.Item({ n: 3 })))
      assertError(error, new MailboxFull({ actor: box.key, capacity: 2 }))
      const askError = yield* Effect.flip(box.ask(Box.Echo({ n: 4 })))
      assertError(askError, new MailboxFull({ actor: box.key, capacity: 2 }))
      const thrown = (() => {
        try {
          box.tellUnsafe(Box.Item({ n: 5 }))
        } catch (e) {
          return e
        }
      })()
      assertError(thrown, new MailboxFull({ actor: box.key, capacity: 2 }))
      yield* Deferred.succeed(probe.gate, undefined)
      yield* waitUntil("the queued items to be handled", () => probe.items.length === 2)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2])
    }).pipe(withSystem()))
})

describe("mailbox: dropNewest", () => {
  it.effect("the incoming message becomes a dead letter (MailboxFull); an ask fails with MailboxFull", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("dropNewest")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const letters = yield* collectDeadLetters(2)
      yield* box.tell(Box.Item({ n: 3 })) // accepted by tell, dropped by the mailbox
      const askError = yield* Effect.flip(box.ask(Box.Echo({ n: 4 })))
      assertError(askError, new MailboxFull({ actor: box.key, capacity: 2 }))
      const dead = yield* Fiber.join(letters)
      assert.deepStrictEqual(dead, [
        { recipient: box.key, message: { _tag: "Item", n: 3 }, reason: { _tag: "MailboxFull", capacity: 2 } },
        { recipient: box.key, message: { _tag: "Echo", n: 4 }, reason: { _tag: "MailboxFull", capacity: 2 } }
      ])
      yield* Deferred.succeed(probe.gate, undefined)
      yield* waitUntil("the queued items to be handled", () => probe.items.length === 2)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2])
    }).pipe(withSystem()))
})

describe("mailbox: dropOldest", () => {
  it.effect("the oldest message becomes a dead letter; an evicted ask fails with MailboxFull", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("dropOldest")
      const letters = yield* collectDeadLetters(2)
      const evictedAsk = yield* Effect.forkChild(Effect.flip(box.ask(Box.Echo({ n: 1 }))), { startImmediately: true })
      yield* box.tell(Box.Item({ n: 2 }))
      assert.isFalse(isDone(evictedAsk))
      yield* box.tell(Box.Item({ n: 3 })) // evicts the ask
      const askError = yield* Fiber.join(evictedAsk)
      assertError(askError, new MailboxFull({ actor: box.key, capacity: 2 }))
      yield* box.tell(Box.Item({ n: 4 })) // evicts Item 2
      const dead = yield* Fiber.join(letters)
      assert.deepStrictEqual(dead, [
        { recipient: box.key, message: { _tag: "Echo", n: 1 }, reason: { _tag: "MailboxFull", capacity: 2 } },
        { recipient: box.key, message: { _tag: "Item", n: 2 }, reason: { _tag: "MailboxFull", capacity: 2 } }
      ])
      yield* Deferred.succeed(probe.gate, undefined)
      yield* waitUntil("the queued items to be handled", () => probe.items.length === 2)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [3, 4])
    }).pipe(withSystem()))
})

describe("mailbox: signals are never refused", () => {
  for (const overflow of ["fail", "dropNewest", "dropOldest", "backpressure"] as const) {
    it.effect(`a Down reaches a full mailbox (${overflow})`, () =>
      Effect.gen(function*() {
        const system = yield* ActorSystem
        const target = yield* system.spawn(TargetLive)
        const probe = yield* makeProbe
        const box = yield* system.spawn(makeBox(probe), { mailbox: { capacity: 2, overflow } })
        yield* box.tell(Box.Watch({ target }))
        yield* box.tell(Box.Block())
        yield* Deferred.await(probe.started)
        yield* box.tell(Box.Item({ n: 1 }))
        yield* box.tell(Box.Item({ n: 2 }))
        yield* system.stop(target) // the Down goes to the full mailbox
        if (overflow === "dropOldest") {
          // the newcomer may evict user messages but never the Down
          yield* box.tell(Box.Item({ n: 3 }))
          yield* box.tell(Box.Item({ n: 4 }))
          yield* box.tell(Box.Item({ n: 5 }))
        }
        yield* Deferred.succeed(probe.gate, undefined)
        const down = yield* Deferred.await(probe.gotDown)
        assert.strictEqual(down.reason._tag, "Shutdown")
        assert.isTrue(down.actor.equals(target))
        yield* waitUntil("the queue to drain", () => probe.items.length >= 2)
        yield* settle()
        assert.strictEqual(probe.downs.length, 1)
      }).pipe(withSystem()))
  }
})

describe("mailbox: dropOldest with a signal at the head", () => {
  it.effect("evicts the oldest user message, not the newcomer, and keeps the Down", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const target = yield* system.spawn(TargetLive)
      const probe = yield* makeProbe
      const box = yield* system.spawn(makeBox(probe), { mailbox: { capacity: 2, overflow: "dropOldest" } })
      yield* box.tell(Box.Watch({ target }))
      yield* box.tell(Box.Block())
      yield* Deferred.await(probe.started)
      yield* system.stop(target) // mailbox: [Down]
      yield* box.tell(Box.Item({ n: 1 })) // [Down, 1]
      const letters = yield* collectDeadLetters(1)
      yield* box.tell(Box.Item({ n: 2 })) // full: Item 1 is the oldest user message
      const dead = yield* Fiber.join(letters)
      assert.deepStrictEqual(dead.map((d) => d.message), [{ _tag: "Item", n: 1 }])
      yield* Deferred.succeed(probe.gate, undefined)
      const down = yield* Deferred.await(probe.gotDown)
      assert.strictEqual(down.reason._tag, "Shutdown")
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [2])
    }).pipe(withSystem()))
})

describe("mailbox: giving up while waiting for room", () => {
  it.effect("an interrupted suspended tell is never delivered; the next waiter gets the room", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const abandoned = yield* Effect.forkChild(box.tell(Box.Item({ n: 3 })))
      const waiting = yield* Effect.forkChild(box.tell(Box.Item({ n: 4 })))
      yield* settle()
      assert.isUndefined(abandoned.pollUnsafe())
      yield* Fiber.interrupt(abandoned)
      yield* Deferred.succeed(probe.gate, undefined)
      yield* Fiber.join(waiting)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2, 4])
    }).pipe(withSystem()))

  it.effect("an ask that times out while waiting for room is never delivered", () =>
    Effect.gen(function*() {
      const { box, probe } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const asked = yield* Effect.forkChild(Effect.flip(box.ask(Box.Echo({ n: 3 }), { timeout: "1 second" })))
      yield* settle()
      assert.isUndefined(asked.pollUnsafe())
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(asked))._tag, "AskTimeout")
      yield* Deferred.succeed(probe.gate, undefined)
      assert.deepStrictEqual(yield* box.ask(Box.Items()), [1, 2])
    }).pipe(withSystem()))

  it.effect("an ask waiting for room fails with NoProc when the actor stops", () =>
    Effect.gen(function*() {
      const { box, system } = yield* blockedBox("backpressure")
      yield* box.tell(Box.Item({ n: 1 }))
      yield* box.tell(Box.Item({ n: 2 }))
      const asked = yield* Effect.forkChild(Effect.flip(box.ask(Box.Echo({ n: 3 }))))
      yield* settle()
      assert.isUndefined(asked.pollUnsafe())
      yield* system.stop(box)
      yield* waitUntil("the ask to fail", () => isDone(asked))
      assert.strictEqual((yield* Fiber.join(asked))._tag, "NoProc")
    }).pipe(withSystem()))
})
