/**
 * An entity answering an ask from a forked handler (`Actor.fork`, so it stays responsive
 * meanwhile) is not idle while that handler runs: passivation waits for it, the asker gets the
 * answer (not `ActorStopped`), and the handler runs once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { eventually, fast, quiet, soloLayer } from "./_runtime.ts"

const Slow = Actor.make("test/ForkedSlowEntity", { Work: Actor.ask({ millis: Schema.Int }, { success: Schema.String }) })
let runs = 0
const SlowEntity = Entity.make(
  Slow,
  Slow.behavior(Effect.succeed({
    Work: ({ millis }) => Actor.fork(Effect.sync(() => runs++).pipe(Effect.andThen(Effect.sleep(millis)), Effect.as("done")))
  })),
  { passivateAfter: "300 millis" }
)

describe("sharding: passivation of an entity with a forked handler running", () => {
  it.live("the ask is answered; the entity passivates once the handler has ended", () =>
    quiet(Effect.gen(function*() {
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const slow = yield* Sharding.entity(SlowEntity)
        const answer = yield* slow.ref("k").ask(Slow.Work({ millis: 1200 }), { timeout: "10 seconds" })
        assert.strictEqual(answer, "done")
        assert.strictEqual(runs, 1)
        assert.isFalse(events.some((e) => e.kind === "passivated"), "passivated while its forked handler ran")
        yield* eventually("passivated once idle", () => events.some((e) => e.kind === "passivated" && e.key === "k"))
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [SlowEntity], onEvent: (e) => events.push(e) })))
    })), 30_000)
})
