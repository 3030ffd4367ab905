/**
 * A node with no other member stopping gracefully while tells wait for an entity that is still
 * starting: there is no next owner to forward them to, so the stop does not wait for one (it
 * ends once its entities have stopped, not a lease TTL later).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { quiet, soloLayer } from "./_runtime.ts"

const Sluggish = Actor.make("test/SluggishAlone", { Add: Actor.tell({ by: Schema.Int }) })
/** its init takes a minute: the tells sent to it wait */
const SluggishEntity = Entity.make(Sluggish, Sluggish.behavior(Effect.as(Effect.sleep("1 minute"), { Add: () => Effect.void })))

describe("sharding: a graceful stop with no other member", () => {
  it.effect("does not wait for a next owner for what it holds", () =>
    quiet(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(soloLayer({ leaseTtl: "30 seconds", entities: [SluggishEntity] }), scope)
      const sharding = Context.get(context, Sharding)
      yield* TestClock.adjust("1 second")
      const ref = (yield* sharding.entity(SluggishEntity)).ref("k")
      yield* ref.tell(Sluggish.Add({ by: 1 }))
      yield* TestClock.adjust("100 millis")
      const stopping = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      for (let i = 0; i < 20 && stopping.pollUnsafe() === undefined; i++) yield* TestClock.adjust("100 millis")
      assert.isDefined(stopping.pollUnsafe(), "stopped within 2 s (lease TTL 30 s)")
      yield* Fiber.join(stopping)
    })), 20_000)
})
