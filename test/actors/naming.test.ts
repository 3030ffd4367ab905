import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Actor, ActorNotFound, ActorSystem, SpawnError } from "../../src/index.ts"
import { assertError, withSystem } from "./_helpers.ts"

const Greeter = Actor.make("Greeter", {
  Hello: Actor.ask({}, { success: Schema.String }),
  Crash: Actor.tell({})
})
const makeGreeter = (id: string) =>
  Greeter.behavior(Effect.succeed({
    Hello: () => Effect.succeed(`hello from ${id}`),
    Crash: () => Effect.die("crash")
  }))

const Other = Actor.make("Other", { Ping: Actor.ask({}) })

describe("named actors", () => {
  it.effect("spawn with { name }; lookup(protocol, name) and whereis find it", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(makeGreeter("g1"), { name: "greeter" })
      const found = yield* system.lookup(Greeter, "greeter")
      assert.isTrue(found.equals(ref))
      assert.strictEqual(yield* found.ask(Greeter.Hello()), "hello from g1")
      const w = system.whereis("greeter")
      assert.isTrue(Option.isSome(w) && w.value.equals(ref))
    }).pipe(withSystem()))

  it.effect("an unknown name: ActorNotFound / None", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const error = yield* Effect.flip(system.lookup(Greeter, "nobody"))
      assertError(error, new ActorNotFound({ name: "nobody" }))
      assert.isTrue(Option.isNone(system.whereis("nobody")))
    }).pipe(withSystem()))

  it.effect("a duplicate name gives SpawnError, and the first actor is untouched", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const first = yield* system.spawn(makeGreeter("g1"), { name: "greeter" })
      const count = system.actorCount()
      const error = yield* Effect.flip(system.spawn(makeGreeter("g2"), { name: "greeter" }))
      assert.instanceOf(error, SpawnError)
      assert.strictEqual(error.protocol, "Greeter")
      assert.include(error.message, `"greeter"`)
      assert.include(error.message, "already registered")
      assert.strictEqual(system.actorCount(), count)
      const found = yield* system.lookup(Greeter, "greeter")
      assert.isTrue(found.equals(first))
      assert.strictEqual(yield* found.ask(Greeter.Hello()), "hello from g1")
    }).pipe(withSystem()))

  it.effect("the name is freed after stop and can be reused", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const first = yield* system.spawn(makeGreeter("g1"), { name: "greeter" })
      yield* system.stop(first)
      assertError(yield* Effect.flip(system.lookup(Greeter, "greeter")), new ActorNotFound({ name: "greeter" }))
      assert.isTrue(Option.isNone(system.whereis("greeter")))
      const second = yield* system.spawn(makeGreeter("g2"), { name: "greeter" })
      assert.isFalse(second.equals(first))
      const found = yield* system.lookup(Greeter, "greeter")
      assert.isTrue(found.equals(second))
      assert.strictEqual(yield* found.ask(Greeter.Hello()), "hello from g2")
    }).pipe(withSystem()))

  it.effect("the name is freed after a crash", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const first = yield* system.spawn(makeGreeter("g1"), { name: "greeter" })
      yield* first.tell(Greeter.Crash())
      assert.strictEqual((yield* system.awaitExit(first))._tag, "Error")
      assert.isTrue(Option.isNone(system.whereis("greeter")))
      const second = yield* system.spawn(makeGreeter("g2"), { name: "greeter" })
      assert.strictEqual(yield* (yield* system.lookup(Greeter, "greeter")).ask(Greeter.Hello()), "hello from g2")
      assert.isFalse(second.equals(first))
    }).pipe(withSystem()))

  it.effect("lookup with the wrong protocol fails with ActorNotFound", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      yield* system.spawn(makeGreeter("g1"), { name: "greeter" })
      const error = yield* Effect.flip(system.lookup(Other, "greeter"))
      assertError(error, new ActorNotFound({ name: "greeter" }))
      // whereis is untyped and still finds it
      assert.isTrue(Option.isSome(system.whereis("greeter")))
    }).pipe(withSystem()))

  it.effect("names are per system", () =>
    Effect.gen(function*() {
      const inner = yield* Effect.gen(function*() {
        const system = yield* ActorSystem
        yield* system.spawn(makeGreeter("inner"), { name: "greeter" })
        return system.whereis("greeter")
      }).pipe(withSystem())
      assert.isTrue(Option.isSome(inner))
      const system = yield* ActorSystem
      assert.isTrue(Option.isNone(system.whereis("greeter")))
      yield* system.spawn(makeGreeter("outer"), { name: "greeter" })
      assert.strictEqual(yield* (yield* system.lookup(Greeter, "greeter")).ask(Greeter.Hello()), "hello from outer")
    }).pipe(withSystem()))
})
