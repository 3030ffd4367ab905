/**
 * An entity ref's ask is an effect like any actor ref's: made once and run later, or run again
 * (`Effect.retry`, `Effect.repeat`, a value kept in a variable), it finds the entity as it is
 * when it runs — passivated and activated again meanwhile — with its whole timeout from then.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, eventually, fast, quiet, soloLayer } from "./_runtime.ts"

const single = (store: ShardStore.ShardStore, events: Array<any>) =>
  soloLayer({ ...fast, entities: [CounterEntity], onEvent: (e) => events.push(e) }, store)

/** A memory store whose state loads take a while (as a database's would). */
const slowLoads = (): ShardStore.ShardStore => {
  const inner = ShardStore.memory()
  return { ...inner, loadState: (type, key) => Effect.delay(inner.loadState(type, key), "50 millis") }
}

describe("sharding: an entity ask made once, run again", () => {
  it.live("after the entity passivated and longer than its timeout after it was made: answered by the new activation", () =>
    quiet(Effect.gen(function*() {
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const counters = yield* Sharding.entity(CounterEntity)
        const a = counters.ref("reused")
        // made while the entity runs (the ref has reached it once)
        yield* a.tell(Counter.Add({ by: 5 }))
        assert.strictEqual(yield* a.ask(Counter.Get()), 5)
        const get = a.ask(Counter.Get(), { timeout: "1 second" })
        const made = Date.now()
        assert.strictEqual(yield* get, 5)
        yield* eventually("passivated", () => events.some((e) => e.kind === "passivated" && e.key === "reused"))
        // more than the ask's timeout since it was made
        const waited = Date.now() - made
        if (waited < 1300) yield* Effect.sleep(1300 - waited)
        assert.strictEqual(yield* get, 5)
        assert.strictEqual(events.filter((e) => e.kind === "activated" && e.key === "reused").length, 2)
        // and run again at once: the new activation, asked directly
        assert.strictEqual(yield* get, 5)
      }).pipe(Effect.provide(single(slowLoads(), events)))
    })), 30_000)
})
