/**
 * Durable state and activations that fail (Pekko's DurableStateBehavior specs: a snapshot that
 * does not deserialize, a persist that fails; Orleans: an activation whose OnActivate throws):
 *
 * - saved state that fails its schema, or is not JSON: the ask that activates the key fails at
 *   once with `ShardingError` `ActivationFailed` naming the cause (not a timeout, not a restart
 *   loop: one activation per message); other keys are unaffected;
 * - a handler that sets a state its schema cannot encode: the asker gets `StateNotSaved`, the
 *   entity goes on from its saved state, which is unchanged (an ask or a tell);
 * - a singleton whose init fails every time: tried again at most about once per lease round (no
 *   hot loop), asks fail with `ActivationFailed`, and once its init succeeds it runs without a
 *   message; the node's other entities answer throughout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import * as Singleton from "../../src/sharding/Singleton.ts"
import { Counter, CounterEntity, eventually, fast, quiet, soloLayer } from "./_runtime.ts"

const Acct = Actor.make("test/VerifyState", {
  Set: Actor.ask({ to: Schema.Number }, { success: Schema.Number }),
  SetTell: Actor.tell({ to: Schema.Number }),
  Get: Actor.ask({}, { success: Schema.Number })
})
const AcctEntity = Entity.make(Acct, Acct.behavior(Effect.gen(function*() {
  const v = yield* Entity.state(Schema.Int)
  return {
    Set: ({ to }) => Effect.andThen(v.set(to), v.get),
    SetTell: ({ to }) => v.set(to),
    Get: () => v.get
  }
})), { state: { schema: Schema.Int, initial: 0 } })

describe("sharding: state and activations that fail", () => {
  it.live("saved state that does not decode, or is not JSON: ActivationFailed at once, one activation per message; other keys unaffected", () =>
    quiet(Effect.gen(function*() {
      const inner = ShardStore.memory()
      const store: ShardStore.ShardStore = {
        ...inner,
        loadState: (type, key) =>
          key === "bad"
            ? Effect.succeed(Option.some("\"not an int\""))
            : key === "notjson"
            ? Effect.succeed(Option.some("{nope"))
            : inner.loadState(type, key)
      }
      const events: Array<ShardingEvent> = []
      yield* Effect.gen(function*() {
        const counters = yield* Sharding.entity(CounterEntity)
        for (const key of ["bad", "notjson"]) {
          for (let i = 0; i < 2; i++) {
            const error = yield* Effect.flip(counters.ref(key).ask(Counter.Get(), { timeout: "20 seconds" }))
            assert.strictEqual(error._tag, "ShardingError", key)
            assert.strictEqual((error as any).reason, "ActivationFailed", key)
          }
          // one activation per message, counted per lease epoch: on a loaded machine the lease can
          // lapse while an activation loads its state, which then stops and hands its message to
          // the shard's next epoch (README, "An entity's start checks its lease too"); each epoch
          // lost is allowed that one activation more, a restart loop within an epoch is not
          const activations = events.filter((e) => e.kind === "activated" && e.key === key)
          const lost = new Set(events.filter((e) => e.kind === "shardLost" || e.kind === "shardReleased").map((e) => `${e.shard}/${e.epoch}`))
          const inLostEpochs = new Set(activations.filter((e) => lost.has(`${e.shard}/${e.epoch}`)).map((e) => e.epoch)).size
          assert.isAtLeast(activations.length, 2, key)
          assert.isAtMost(activations.length, 2 + inLostEpochs, `${key}: ${activations.length} activations, ${inLostEpochs} epochs lost`)
        }
        assert.include(JSON.stringify(yield* Effect.flip(counters.ref("bad").ask(Counter.Get()))), "does not decode")
        yield* counters.ref("good").tell(Counter.Add({ by: 3 }))
        assert.strictEqual(yield* counters.ref("good").ask(Counter.Get()), 3)
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [CounterEntity], onEvent: (e) => events.push(e) }, store)))
    })), 30_000)

  it.live("a state its schema cannot encode: StateNotSaved for the asker, the saved state unchanged", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      yield* Effect.gen(function*() {
        const accounts = yield* Sharding.entity(AcctEntity)
        const ref = accounts.ref("acct")
        assert.strictEqual(yield* ref.ask(Acct.Set({ to: 5 })), 5)
        const error = yield* Effect.flip(ref.ask(Acct.Set({ to: 1.5 })))
        assert.strictEqual((error as any).reason, "StateNotSaved")
        assert.strictEqual(yield* ref.ask(Acct.Get()), 5)
        yield* ref.tell(Acct.SetTell({ to: 2.5 }))
        assert.strictEqual(yield* ref.ask(Acct.Get()), 5)
        assert.strictEqual(yield* ref.ask(Acct.Set({ to: 7 })), 7)
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [AcctEntity] }, store)))
      const saved = yield* store.loadState(AcctEntity.type, "acct")
      assert.deepStrictEqual(Option.map(saved, (s) => JSON.parse(s)), Option.some(7))
    })), 30_000)

  it.live("a singleton whose init fails: retried about once per lease round, runs once its init succeeds", () =>
    quiet(Effect.gen(function*() {
      const P = Actor.make("test/VerifyFailingSingleton", { Ping: Actor.ask({}, { success: Schema.Int }) })
      let inits = 0
      let failing = true
      const S = Singleton.make(
        "verify-failing-singleton",
        P.behavior(Effect.suspend(() => {
          inits++
          return failing ? Effect.die(new Error("init fails on purpose")) : Effect.succeed({ Ping: () => Effect.succeed(inits) })
        }))
      )
      yield* Effect.gen(function*() {
        const sharding = yield* Sharding
        const ref = yield* Sharding.singleton(S)
        const counters = yield* Sharding.entity(CounterEntity)
        const started = Date.now()
        yield* Effect.sleep("1500 millis")
        const rounds = (Date.now() - started) / 150
        assert.isAtLeast(inits, 2, "tried again")
        assert.isAtMost(inits, rounds + 4, `${inits} inits in ${rounds} lease rounds`)
        const error = yield* Effect.flip(ref.ask(P.Ping(), { timeout: "2 seconds" }))
        assert.strictEqual((error as any).reason, "ActivationFailed")
        assert.strictEqual(yield* counters.ref("other").ask(Counter.Get()), 0)
        failing = false
        yield* eventually("the singleton runs without a message", () => sharding.activeEntities() >= 2)
        const answered = yield* ref.ask(P.Ping())
        assert.strictEqual(answered, inits)
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [CounterEntity] })))
    })), 30_000)
})
