/**
 * Passivation is for idle entities (Pekko: no message within the idle timeout): an entity whose
 * handler is still running when passivateAfter has passed is not stopped under it; its asker
 * gets the answer, and the entity passivates once it is idle.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { eventually, fast, quiet, soloLayer } from "./_runtime.ts"

const Slow = Actor.make("test/SlowEntity", { Work: Actor.ask({ millis: Schema.Int }, { success: Schema.String }) })
const SlowEntity = Entity.make(
  Slow,
  Slow.behavior(Effect.succeed({ Work: ({ millis }) => Effect.sleep(millis).pipe(Effect.as("done")) })),
  { passivateAfter: "300 millis" }
)

describe("sharding: passivation of a busy entity", () => {
  it.live("a handler running three times passivateAfter is answered; the entity passivates afterwards", () =>
    quiet(Effect.gen(function*() {
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const slow = yield* Sharding.entity(SlowEntity)
        const answer = yield* slow.ref("k").ask(Slow.Work({ millis: 1000 }), { timeout: "10 seconds" })
        assert.strictEqual(answer, "done")
        assert.isFalse(events.some((e) => e.kind === "passivated"), "passivated while it handled the ask")
        yield* eventually("passivated once idle", () => events.some((e) => e.kind === "passivated" && e.key === "k"))
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [SlowEntity], onEvent: (e) => events.push(e) })))
    })), 30_000)
})
