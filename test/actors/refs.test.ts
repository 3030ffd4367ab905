import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { Actor, ActorRef, ActorSystem } from "../../src/index.ts"
import { withSystem } from "./_helpers.ts"

const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})
const CounterLive = Counter.behavior(Effect.sync(() => {
  let count = 0
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Get: () => Effect.succeed(count)
  }
}))

/** A message that carries a ref. */
const Subscribe = Schema.Struct({ _tag: Schema.Literal("Subscribe"), subscriber: ActorRef.schemaFor(Counter) })

describe("ActorRef", () => {
  it.effect("ActorRef.schema: encode a ref inside a message and decode it back; the decoded ref works", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      const encoded = Schema.encodeSync(Subscribe)({ _tag: "Subscribe", subscriber: counter })
      assert.deepStrictEqual(encoded, {
        _tag: "Subscribe",
        subscriber: { node: system.nodeId, id: counter.address.id, protocol: "Counter" }
      })
      const decoded = Schema.decodeUnknownSync(Subscribe)(structuredClone(encoded))
      assert.instanceOf(decoded.subscriber, ActorRef.ActorRef)
      assert.notStrictEqual(decoded.subscriber, counter)
      assert.isTrue(decoded.subscriber.equals(counter))
      assert.strictEqual(decoded.subscriber.key, counter.key)
      yield* decoded.subscriber.tell(Counter.Increment({ by: 5 }))
      assert.strictEqual(yield* decoded.subscriber.ask(Counter.Get()), 5)
      assert.strictEqual(yield* counter.ask(Counter.Get()), 5)
    }).pipe(withSystem()))

  it.effect("a JSON round trip of a message with a ref", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      const json = Schema.fromJsonString(Subscribe)
      const text = Schema.encodeSync(json)({ _tag: "Subscribe", subscriber: counter })
      assert.isString(text)
      const back = Schema.decodeSync(json)(text)
      yield* back.subscriber.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
    }).pipe(withSystem()))

  it.effect("refs as protocol fields: the protocol schema round-trips them", () =>
    Effect.gen(function*() {
      const Registry = Actor.make("Registry", { Register: Actor.tell({ ref: ActorRef.schemaFor(Counter) }) })
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      const encoded = Schema.encodeSync(Registry.schema)(Registry.Register({ ref: counter }))
      const decoded = Schema.decodeUnknownSync(Registry.schema)(encoded)
      assert.strictEqual(decoded._tag, "Register")
      assert.isTrue(decoded.ref.equals(counter))
      yield* decoded.ref.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 1)
    }).pipe(withSystem()))

  it.effect("a decoded ref to a stopped actor: tell is a dead letter, ask fails with NoProc", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      const encoded = Schema.encodeSync(Subscribe)({ _tag: "Subscribe", subscriber: counter })
      yield* system.stop(counter)
      const decoded = Schema.decodeUnknownSync(Subscribe)(encoded)
      const before = system.deadLetterCount()
      yield* decoded.subscriber.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(system.deadLetterCount(), before + 1)
      assert.strictEqual((yield* Effect.flip(decoded.subscriber.ask(Counter.Get())))._tag, "NoProc")
    }).pipe(withSystem()))

  it.effect("refs are values: equality by address, key and toString", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* system.spawn(CounterLive)
      const b = yield* system.spawn(CounterLive)
      assert.isFalse(a.equals(b))
      assert.isTrue(a.equals(system.refFor(a.address)))
      assert.strictEqual(a.key, `Counter@${system.nodeId.name}#${system.nodeId.incarnation}/${a.address.id}`)
      assert.strictEqual(String(a), `ActorRef(${a.key})`)
      assert.deepStrictEqual(JSON.parse(JSON.stringify(a)), { _id: "ActorRef", ...a.address })
    }).pipe(withSystem()))
})

describe("ActorRef decoding with several systems", () => {
  it.effect("closing another (nested) system does not break decoding refs of the live one", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = yield* system.spawn(CounterLive)
      const encoded = Schema.encodeSync(Subscribe)({ _tag: "Subscribe", subscriber: counter })
      // another system comes and goes
      yield* Effect.gen(function*() {
        const other = yield* ActorSystem
        yield* other.spawn(CounterLive)
      }).pipe(withSystem({ node: "other" }))
      const decoded = Schema.decodeUnknownSync(Subscribe)(encoded)
      yield* decoded.subscriber.tell(Counter.Increment({ by: 3 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 3)
    }).pipe(withSystem()))

  describe("two actor systems in one process", () => {
    /** Decodes a ref with the user's schema inside a handler, then asks through it. */
    const Relay = Actor.make("Relay", {
      AskThrough: Actor.ask({ counter: Schema.Unknown }, { success: Schema.Int })
    })
    const RelayLive = Relay.behavior(Effect.succeed({
      AskThrough: ({ counter }) =>
        Effect.gen(function*() {
          const ref = Schema.decodeUnknownSync(ActorRef.schemaFor(Counter))(counter)
          return yield* ref.ask(Counter.Get()).pipe(Effect.orDie)
        })
    }))

    const twoSystems = Effect.gen(function*() {
      const aContext = yield* Layer.build(ActorSystem.layer({ node: "a" }))
      // b starts last: a process-wide "newest system" would be b
      const b = Context.get(yield* Layer.build(ActorSystem.layer({ node: "b" })), ActorSystem)
      return { a: Context.get(aContext, ActorSystem), b, aContext }
    })

    it.effect("a ref decoded by user code in one system's handler reaches that system's actor", () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoSystems
        const counter = yield* a.spawn(CounterLive)
        yield* counter.tell(Counter.Increment({ by: 7 }))
        yield* b.spawn(CounterLive) // the same id in b: a ref bound to b would find this one
        const relay = yield* a.spawn(RelayLive)
        const encoded = Schema.encodeSync(ActorRef.schemaFor(Counter))(counter)
        assert.strictEqual(yield* relay.ask(Relay.AskThrough({ counter: encoded })), 7)
      }).pipe(Effect.scoped))

    it.effect("a ref decoded by code running under a system (outside actors) binds to that system", () =>
      Effect.gen(function*() {
        const { a, aContext, b } = yield* twoSystems
        const inA = yield* a.spawn(CounterLive)
        yield* inA.tell(Counter.Increment({ by: 1 }))
        const inB = yield* b.spawn(CounterLive)
        yield* inB.tell(Counter.Increment({ by: 2 }))
        const encoded = Schema.encodeSync(ActorRef.schemaFor(Counter))(inA)
        const decoded = yield* Effect.sync(() => Schema.decodeUnknownSync(ActorRef.schemaFor(Counter))(encoded)).pipe(
          Effect.provideContext(aContext)
        )
        assert.strictEqual(yield* decoded.ask(Counter.Get()), 1)
      }).pipe(Effect.scoped))
  })
})
