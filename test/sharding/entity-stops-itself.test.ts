/**
 * Entities are virtual actors: a message that meets its entity stopping — it stopped itself, its
 * actor is stopping (finalizers running) — is not lost and does not fail: it goes to the key's
 * next activation, in order. Tells queued behind the stop, asks queued behind it, asks and tells
 * sent while the actor stops; from the node that owns the shard and from another node (through
 * the regions).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, fast, quiet, settled, soloLayer, startNode } from "./_runtime.ts"

const Quitter = Actor.make("test/Quitter", {
  Add: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int }),
  Quit: Actor.tell({}),
  QuitLater: Actor.tell({})
})

const QuitterEntity = Entity.make(
  Quitter,
  Quitter.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const count = yield* Entity.state(Schema.Int)
    // its stop takes a while: messages sent meanwhile meet it stopping
    yield* Effect.addFinalizer(() => Effect.sleep("150 millis"))
    return {
      Add: ({ by }) => count.update((n) => n + by),
      Get: () => count.get,
      Quit: () => ctx.stop(),
      QuitLater: () => Effect.andThen(Effect.sleep("100 millis"), ctx.stop())
    }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

/** the same, with a mailbox of 4 under back-pressure */
const SmallQuitterEntity = Entity.make(Quitter, QuitterEntity.behavior, {
  type: "test/SmallQuitter",
  state: { schema: Schema.Int, initial: 0 },
  mailbox: { capacity: 4, overflow: "backpressure" }
})

const activations = (events: ReadonlyArray<{ readonly kind: string }>, key: string) =>
  events.filter((e) => e.kind === "activated" && (e as any).key === key).length

/** on `ref`: messages behind a Quit in its mailbox, then messages sent while it stops */
const exercise = (ref: Entity.EntityRef<typeof Quitter.defs>) =>
  Effect.gen(function*() {
    yield* ref.tell(Quitter.Add({ by: 1 }))
    assert.strictEqual(yield* ref.ask(Quitter.Get()), 1)
    // queued behind the stop
    yield* ref.tell(Quitter.Quit())
    yield* ref.tell(Quitter.Add({ by: 1 }))
    yield* ref.tell(Quitter.Add({ by: 1 }))
    assert.strictEqual(yield* ref.ask(Quitter.Get(), { timeout: "5 seconds" }), 3)
    // sent while its actor stops (its finalizer runs)
    yield* ref.tell(Quitter.Quit())
    yield* Effect.sleep("40 millis")
    yield* ref.tell(Quitter.Add({ by: 10 }))
    assert.strictEqual(yield* ref.ask(Quitter.Get(), { timeout: "5 seconds" }), 13)
    // an ask alone while it stops
    yield* ref.tell(Quitter.Quit())
    yield* Effect.sleep("40 millis")
    assert.strictEqual(yield* ref.ask(Quitter.Get(), { timeout: "5 seconds" }), 13)
  })

describe("sharding: an entity that stops itself", () => {
  it.live("messages behind its stop, or sent while it stops, reach its next activation (one node)", () =>
    quiet(Effect.gen(function*() {
      const events: Array<{ readonly kind: string }> = []
      yield* Effect.gen(function*() {
        const quitters = yield* Sharding.entity(QuitterEntity)
        yield* exercise(quitters.ref("q"))
        assert.strictEqual(activations(events, "q"), 4)
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [QuitterEntity], onEvent: (e) => events.push(e) })))
    })), 20_000)

  it.live("tells waiting for room in its full mailbox when it stops reach its next activation", () =>
    quiet(Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const ref = (yield* Sharding.entity(SmallQuitterEntity)).ref("small")
        assert.strictEqual(yield* ref.ask(Quitter.Get()), 0)
        yield* ref.tell(Quitter.QuitLater())
        // 4 fit in its mailbox, 16 wait for room
        const senders = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 20 }), () => ref.tell(Quitter.Add({ by: 1 })), {
          concurrency: "unbounded",
          discard: true
        }))
        yield* Fiber.join(senders)
        assert.strictEqual(yield* ref.ask(Quitter.Get(), { timeout: "5 seconds" }), 20)
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [SmallQuitterEntity] })))
    })), 20_000)

  it.live("from another node, through the regions", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [QuitterEntity] })
      const b = yield* startNode("b", store, { entities: [QuitterEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      const key = Array.from({ length: 100 }, (_, i) => `q-${i}`).find((k) =>
        a.sharding.ownedShards().some((l) => l.shard === a.sharding.shardOf(k))
      )!
      const quitters = yield* b.sharding.entity(QuitterEntity)
      yield* exercise(quitters.ref(key))
      assert.strictEqual(activations(a.events, key), 4)
      assert.strictEqual(activations(b.events, key), 0)
    })), 20_000)
})
