/**
 * Activations, first tells and first asks are admitted by slices of a few ms. What must hold
 * whatever slice a message is admitted in: the messages of one sender to one key arrive in send
 * order (tells and asks mixed, Erlang's FIFO per pair), and a node stopped while admissions are
 * pending ends every pending ask (with an error, not a hang).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { eventually, quiet, soloLayer } from "./_runtime.ts"

const Log = Actor.make("test/VerifyTodayAdmission", {
  Add: Actor.tell({ n: Schema.Int }),
  AddAsk: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Array(Schema.Int) })
})
const LogEntity = Entity.make(Log, Log.behavior(Effect.sync(() => {
  const seen: Array<number> = []
  return {
    Add: ({ n }) => Effect.sync(() => void seen.push(n)),
    AddAsk: ({ n }) => Effect.sync(() => (seen.push(n), n)),
    Get: () => Effect.sync(() => [...seen])
  }
})))

const Stuck = Actor.make("test/VerifyTodayStuck", { Ping: Actor.ask({}, { success: Schema.Int }) })
/** its init never ends: an ask to it must end with its own timeout */
const StuckEntity = Entity.make(Stuck, Stuck.behavior(Effect.never))

const SHARDS = 16

describe("sharding admission slices (verify-today)", () => {
  it.live("one sender's tells and asks to one key arrive in send order while a burst of other first messages fills the slices", () =>
    quiet(Effect.gen(function*() {
      const sharding = yield* Sharding
      const log = yield* Sharding.entity(LogEntity)
      yield* eventually(`the node owns all ${SHARDS} shards`, () => sharding.ownedShards().length === SHARDS)
      // a burst of first tells to other keys: many slices of admissions
      const burst = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: 3000 }, (_, i) => i),
        (i) => Effect.exit(log.ref(`b${i}`).tell(Log.Add({ n: i }))),
        { concurrency: "unbounded", discard: true }
      ))
      // senders, each with its own key and one with a key shared by two senders
      const sender = (key: string, base: number) =>
        Effect.gen(function*() {
          const ref = log.ref(key)
          for (let i = 0; i < 30; i++) {
            const n = base + i
            if (i % 7 === 3) assert.strictEqual(yield* ref.ask(Log.AddAsk({ n }), { timeout: "30 seconds" }), n)
            else yield* ref.tell(Log.Add({ n }))
          }
        })
      yield* Effect.all([sender("s1", 0), sender("s2", 0), sender("shared", 0), sender("shared", 1000)], { concurrency: "unbounded", discard: true })
      yield* Fiber.join(burst)
      const expect = (from: number) => Array.from({ length: 30 }, (_, i) => from + i)
      assert.deepStrictEqual(yield* log.ref("s1").ask(Log.Get(), { timeout: "30 seconds" }), expect(0))
      assert.deepStrictEqual(yield* log.ref("s2").ask(Log.Get(), { timeout: "30 seconds" }), expect(0))
      const shared = yield* log.ref("shared").ask(Log.Get(), { timeout: "30 seconds" })
      assert.deepStrictEqual(shared.filter((n) => n < 1000), expect(0))
      assert.deepStrictEqual(shared.filter((n) => n >= 1000), expect(1000))
    }).pipe(Effect.provide(soloLayer({ shards: SHARDS, bufferSize: 10_000, entities: [LogEntity] })))))

  it.live("a first ask to an entity whose activation never ends fails with AskTimeout at its own timeout (not the activation's bound)", () =>
    quiet(Effect.gen(function*() {
      const sharding = yield* Sharding
      const stuck = yield* Sharding.entity(StuckEntity)
      yield* eventually(`the node owns all ${SHARDS} shards`, () => sharding.ownedShards().length === SHARDS)
      const error: any = yield* Effect.flip(stuck.ref("k").ask(Stuck.Ping(), { timeout: "300 millis" }))
      assert.strictEqual(error._tag, "AskTimeout", String(error))
    }).pipe(Effect.provide(soloLayer({ shards: SHARDS, entities: [StuckEntity] })))))

  it.live("the node stopped while first asks wait for admission: every pending ask ends with an error", () =>
    quiet(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(soloLayer({ shards: SHARDS, bufferSize: 10_000, entities: [LogEntity] }), scope)
      const asks = yield* Effect.gen(function*() {
        const sharding = yield* Sharding
        const log = yield* Sharding.entity(LogEntity)
        yield* eventually(`the node owns all ${SHARDS} shards`, () => sharding.ownedShards().length === SHARDS)
        return yield* Effect.forkDetach(Effect.forEach(
          Array.from({ length: 3000 }, (_, i) => i),
          (i) => Effect.exit(log.ref(`k${i}`).ask(Log.AddAsk({ n: i }), { timeout: "3 seconds" })),
          { concurrency: "unbounded" }
        ))
      }).pipe(Effect.provide(context))
      // some asks answered, most still waiting for their admission or activation
      yield* Effect.yieldNow
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("10 seconds"))
      const exits = yield* Fiber.join(asks).pipe(Effect.timeout("15 seconds"))
      const failed = exits.filter(Exit.isFailure)
      // every ask ended by its own timeout at the latest: answered, or failed with an error of its channel (no defect)
      for (const e of failed) assert.isFalse(e.cause.reasons.some((r) => r._tag === "Die"), String(e.cause))
      assert.strictEqual(exits.length, 3000)
    })))
})
