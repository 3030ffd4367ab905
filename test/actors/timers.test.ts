import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ActorSystem } from "../../src/index.ts"
import { settle, waitUntil, withSystem } from "./_helpers.ts"

const Ticker = Actor.make("Ticker", {
  Once: Actor.ask({ key: Schema.String, label: Schema.String, millis: Schema.Int }),
  Every: Actor.ask({ key: Schema.String, label: Schema.String, millis: Schema.Int }),
  Cancel: Actor.ask({ key: Schema.String }),
  Tick: Actor.tell({ label: Schema.String }),
  Block: Actor.tell({}),
  Ticks: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

interface Probe {
  readonly ticks: Array<string>
  readonly started: Deferred.Deferred<void>
  readonly gate: Deferred.Deferred<void>
}

const makeProbe = Effect.gen(function*() {
  const probe: Probe = { ticks: [], started: yield* Deferred.make<void>(), gate: yield* Deferred.make<void>() }
  return probe
})

const makeTicker = (probe: Probe, initTimer?: { key: string; label: string; millis: number }) =>
  Ticker.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(Ticker)
    if (initTimer) yield* ctx.startTimer(initTimer.key, Ticker.Tick({ label: initTimer.label }), initTimer.millis)
    return {
      Once: ({ key, label, millis }) => ctx.startTimer(key, Ticker.Tick({ label }), millis),
      Every: ({ key, label, millis }) => ctx.startPeriodicTimer(key, Ticker.Tick({ label }), millis),
      Cancel: ({ key }) => ctx.cancelTimer(key),
      Tick: ({ label }) => Effect.sync(() => { probe.ticks.push(label) }),
      Block: () => Deferred.succeed(probe.started, undefined).pipe(Effect.andThen(Deferred.await(probe.gate))),
      Ticks: () => Effect.sync(() => probe.ticks.slice())
    }
  }))

const spawnTicker = (options?: Parameters<typeof makeTicker>[1]) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const probe = yield* makeProbe
    const ref = yield* system.spawn(makeTicker(probe, options))
    return { system, ref, probe }
  })

/** Advances the TestClock and lets the fired timers deliver. */
const advance = (millis: number) => TestClock.adjust(millis).pipe(Effect.andThen(settle()))

describe("timers (TestClock)", () => {
  it.effect("startTimer fires once, after the delay", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Once({ key: "t", label: "once", millis: 1000 }))
      yield* advance(999)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), [])
      yield* TestClock.adjust(1)
      yield* waitUntil("the timer to fire", () => probe.ticks.length === 1)
      yield* advance(10_000)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["once"])
    }).pipe(withSystem()))

  it.effect("a timer started during init fires", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker({ key: "boot", label: "boot", millis: 50 })
      yield* TestClock.adjust(50)
      yield* waitUntil("the timer to fire", () => probe.ticks.length === 1)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["boot"])
    }).pipe(withSystem()))

  it.effect("startPeriodicTimer fires repeatedly", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Every({ key: "p", label: "p", millis: 100 }))
      yield* advance(99)
      assert.strictEqual(probe.ticks.length, 0)
      for (let i = 1; i <= 5; i++) {
        yield* TestClock.adjust(100)
        yield* waitUntil(`tick ${i}`, () => probe.ticks.length === i)
      }
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["p", "p", "p", "p", "p"])
    }).pipe(withSystem()))

  it.effect("cancelTimer stops a periodic timer", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Every({ key: "p", label: "p", millis: 100 }))
      yield* TestClock.adjust(100)
      yield* waitUntil("tick 1", () => probe.ticks.length === 1)
      yield* TestClock.adjust(100)
      yield* waitUntil("tick 2", () => probe.ticks.length === 2)
      yield* ref.ask(Ticker.Cancel({ key: "p" }))
      yield* advance(1000)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["p", "p"])
    }).pipe(withSystem()))

  it.effect("cancelTimer stops a one-shot timer before it fires; cancelling an unknown key is a no-op", () =>
    Effect.gen(function*() {
      const { ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Once({ key: "t", label: "once", millis: 100 }))
      yield* ref.ask(Ticker.Cancel({ key: "t" }))
      yield* ref.ask(Ticker.Cancel({ key: "nope" }))
      yield* advance(1000)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), [])
    }).pipe(withSystem()))

  it.effect("a timer with the same key replaces the previous one", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Once({ key: "t", label: "first", millis: 100 }))
      yield* ref.ask(Ticker.Once({ key: "t", label: "second", millis: 300 }))
      yield* advance(200)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), [])
      yield* TestClock.adjust(100)
      yield* waitUntil("the second timer", () => probe.ticks.length === 1)
      yield* advance(1000)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["second"])
    }).pipe(withSystem()))

  it.effect("timers with different keys are independent", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Once({ key: "a", label: "a", millis: 200 }))
      yield* ref.ask(Ticker.Once({ key: "b", label: "b", millis: 100 }))
      yield* TestClock.adjust(100)
      yield* waitUntil("b", () => probe.ticks.length === 1)
      yield* TestClock.adjust(100)
      yield* waitUntil("a", () => probe.ticks.length === 2)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["b", "a"])
    }).pipe(withSystem()))

  it.effect("a one-shot timer can be started again after it fired", () =>
    Effect.gen(function*() {
      const { probe, ref } = yield* spawnTicker()
      yield* ref.ask(Ticker.Once({ key: "t", label: "1", millis: 100 }))
      yield* TestClock.adjust(100)
      yield* waitUntil("first", () => probe.ticks.length === 1)
      yield* ref.ask(Ticker.Once({ key: "t", label: "2", millis: 100 }))
      yield* TestClock.adjust(100)
      yield* waitUntil("second", () => probe.ticks.length === 2)
      assert.deepStrictEqual(yield* ref.ask(Ticker.Ticks()), ["1", "2"])
    }).pipe(withSystem()))

  it.effect("timers stop when the actor stops (no tick, no dead letter)", () =>
    Effect.gen(function*() {
      const { probe, ref, system } = yield* spawnTicker()
      yield* ref.ask(Ticker.Every({ key: "p", label: "p", millis: 100 }))
      yield* ref.ask(Ticker.Once({ key: "t", label: "t", millis: 150 }))
      yield* TestClock.adjust(100)
      yield* waitUntil("tick 1", () => probe.ticks.length === 1)
      yield* system.stop(ref)
      const before = system.deadLetterCount()
      yield* advance(1000)
      assert.deepStrictEqual(probe.ticks, ["p"])
      assert.strictEqual(system.deadLetterCount(), before)
    }).pipe(withSystem()))

  it.effect("timer messages are never refused by a full mailbox", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* makeProbe
      const ref = yield* system.spawn(makeTicker(probe), { mailbox: { capacity: 1, overflow: "fail" } })
      yield* ref.ask(Ticker.Once({ key: "t", label: "late", millis: 100 }))
      yield* ref.tell(Ticker.Block())
      yield* Deferred.await(probe.started)
      yield* ref.tell(Ticker.Tick({ label: "queued" })) // the mailbox is now full
      assert.strictEqual((yield* Effect.flip(ref.tell(Ticker.Tick({ label: "refused" }))))._tag, "MailboxFull")
      yield* advance(100) // the timer fires into the full mailbox
      yield* Deferred.succeed(probe.gate, undefined)
      yield* waitUntil("both ticks", () => probe.ticks.length === 2)
      assert.deepStrictEqual(probe.ticks, ["queued", "late"])
    }).pipe(withSystem()))

  it("a context typed by its protocol: self is a ref of it, and timers take only its messages", () => {
    const Other = Actor.make("Timers/Other", { Ping: Actor.tell({}) })
    const typed = Ticker.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext.for(Ticker)
      const self: ActorRef.ActorRef<typeof Ticker.defs> = ctx.self
      void self
      // @ts-expect-error a message of another protocol
      yield* ctx.startTimer("wrong", Other.Ping(), 10)
      return {
        Once: () => Effect.void,
        Every: () => Effect.void,
        Cancel: () => Effect.void,
        Tick: () => Effect.void,
        Block: () => Effect.void,
        Ticks: () => Effect.succeed([])
      }
    }))
    assert.strictEqual(typed.protocol.name, "Ticker")
  })
})
