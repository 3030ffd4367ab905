/**
 * Tells forwarded from another node that the owner's entity refuses (its small `fail` mailbox
 * as it starts) are counted in a warning on the owner, not dropped with only a debug line: every
 * tell that reached the owner's region is handled or counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, settled, startNode } from "./_runtime.ts"

let handled = 0
const Sink = Actor.make("test/VerifyErrorsRemoteSink", {
  Hit: Actor.tell({}),
  Get: Actor.ask({}, { success: Schema.Int })
})
const SinkEntity = Entity.make(
  Sink,
  Sink.behavior(Effect.succeed({ Hit: () => Effect.sync(() => void handled++), Get: () => Effect.succeed(handled) })),
  { mailbox: { capacity: 16, overflow: "fail" } }
)

const warnings: Array<string> = []
const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
  if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
})
const counted = () =>
  warnings.reduce((sum, w) => {
    const m = /sharding: (\d+) tells? to .* refused/.exec(w)
    return sum + (m === null ? 0 : Number(m[1]))
  }, 0)

const keys = Array.from({ length: 32 }, (_, i) => `k-${i}`)

describe("sharding: tells from another node refused by the owner's entity", () => {
  it.live("are counted in a warning on the owner", () =>
    Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store, { entities: [SinkEntity] })
      const b = yield* startNode("b", store, { entities: [SinkEntity] })
      yield* connect(a, b)
      yield* settled([a, b])
      const owned = new Set(b.sharding.ownedShards().map((l) => l.shard))
      const key = keys.find((k) => owned.has(a.sharding.shardOf(k)))!
      const sinks = yield* a.sharding.entity(SinkEntity)
      let failed = 0
      yield* Effect.forEach(Array.from({ length: 2000 }), () =>
        Effect.result(sinks.ref(key).tell(Sink.Hit())).pipe(Effect.map((r) => {
          if (r._tag === "Failure") failed++
        })), { concurrency: "unbounded", discard: true })
      yield* Effect.sleep("1500 millis")
      assert.strictEqual(failed, 0)
      assert.isAbove(counted(), 0, `handled ${handled}; ${warnings.join(" | ")}`)
      assert.isAtMost(handled + counted(), 2000)
    }).pipe(
      Effect.provide(Logger.layer([logger])),
      Effect.provideService(References.MinimumLogLevel, "Warn")
    ), 60_000)
})
