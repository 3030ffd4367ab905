/**
 * One sender's ask then tell to a key on another node, the tell sent without waiting for the
 * ask's answer, while the sender's node still holds both (it has not looked up the owner's
 * region yet): the ask reaches the entity first, as it would once routing is known (SimCluster,
 * TestClock).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, References, Schema } from "effect"
import { Actor, ClusterApp } from "../../src/index.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { recordingSharding, stepClock } from "./_runtime.ts"

const Tally = Actor.make("test/AskTellRemote", {
  Add: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})
const TallyEntity = Entity.make(
  Tally,
  Tally.behavior(Effect.gen(function*() {
    const count = yield* Entity.state(Schema.Int)
    return { Add: ({ by }) => count.update((n) => n + by), Get: () => count.get }
  })),
  { state: { schema: Schema.Int, initial: 0 } }
)
const SHARDS = 64

describe("sharding: ask then tell from another node", () => {
  it.effect("held by the sender's node (the owner's region not looked up yet): the ask is handled first", () =>
    Effect.gen(function*() {
      const shardings = new Map<string, Sharding["Service"]>()
      yield* SimCluster.start({
        app: ClusterApp.make({ modules: {} }),
        seed: 1,
        heartbeatInterval: "200 millis",
        acceptablePause: "2 seconds",
        nodes: [{ name: "a" }, { name: "b" }],
        sharding: {
          layer: recordingSharding(shardings, [TallyEntity], SHARDS)
        }
      })
      const step = (millis: number) => stepClock(millis, 25)
      yield* step(2_000)
      const a = shardings.get("a")!
      const keys: Array<string> = []
      for (let i = 0; keys.length < 5; i++) if (Hash.owner(["a", "b"], Hash.shardOf(`t-${i}`, SHARDS)) === "a") keys.push(`t-${i}`)
      assert.isTrue(keys.every((k) => a.ownedShards().some((l) => l.shard === a.shardOf(k))))
      const onB = yield* shardings.get("b")!.entity(TallyEntity)
      const asks = []
      for (const key of keys) {
        asks.push(yield* Effect.forkChild(onB.ref(key).ask(Tally.Get(), { timeout: "5 seconds" })))
        yield* Effect.yieldNow
        yield* onB.ref(key).tell(Tally.Add({ by: 1 }))
      }
      yield* step(500)
      for (const [i, f] of asks.entries()) assert.strictEqual(yield* Fiber.join(f), 0, `${keys[i]}: the ask saw the tell sent after it`)
    }).pipe(
      Effect.scoped,
      Effect.provide(SimCluster.testClock),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ), 60_000)
})
