/**
 * An ask queued for an entity that is starting, whose timeout comes once the activation has
 * handed it to the entity (its handler still running): the ask ends with `AskTimeout` and is
 * not sent again. Timers may fire a little before their time by the monotonic clock (Node's
 * fire by the event loop's cached time, early by the length of a busy turn); an ask whose wait
 * ended with time left must not be routed a second time to an entity that already has it.
 * Here a clock whose sleeps end 20 ms early stands for that.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Tally = Actor.make("test/QueuedAskTimeout", {
  AddSlowly: Actor.ask({ by: Schema.Int }, { success: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})
const TallyEntity = Entity.make(
  Tally,
  Tally.behavior(Effect.gen(function*() {
    const count = yield* Entity.state(Schema.Int)
    return {
      AddSlowly: ({ by }) => Effect.andThen(Effect.sleep("150 millis"), Effect.andThen(count.update((n) => n + by), count.get)),
      Get: () => count.get
    }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)

describe("sharding: an ask queued for a starting entity, timing out", () => {
  it.live("once handed to the entity, it is not sent again when its wait ends early", () =>
    Effect.gen(function*() {
      const base = yield* Clock.Clock
      const early: Clock.Clock = {
        currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe(),
        currentTimeMillis: base.currentTimeMillis,
        currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe(),
        currentTimeNanos: base.currentTimeNanos,
        monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
        monotonicTimeNanos: base.monotonicTimeNanos,
        sleep: (d) => base.sleep(Duration.millis(Math.max(0, Duration.toMillis(d) - 20)))
      }
      const memory = ShardStore.memory()
      // the activation takes 200 ms (its state loads slowly)
      const store: ShardStore.ShardStore = { ...memory, loadState: (t, k) => Effect.andThen(Effect.sleep("200 millis"), memory.loadState(t, k)) }
      return yield* quiet(Effect.gen(function*() {
        const ref = (yield* Sharding.entity(TallyEntity)).ref("t")
        yield* Effect.sleep("300 millis") // the shards are acquired
        const first = yield* Effect.exit(ref.ask(Tally.AddSlowly({ by: 1 }), { timeout: "300 millis" }))
        assert.isTrue(Exit.isFailure(first), "the ask timed out")
        yield* Effect.sleep("600 millis")
        assert.strictEqual(yield* ref.ask(Tally.Get(), { timeout: "5 seconds" }), 1, "the ask was handled once")
      }).pipe(
        Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] }, store)),
        Effect.provideService(Clock.Clock, early)
      ))
    }), 20_000)
})
