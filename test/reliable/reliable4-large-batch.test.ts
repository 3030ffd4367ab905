/**
 * Consecutive messages travel in one `DeliverBatch`; a node refuses to send an envelope larger
 * than the largest message a node accepts (64 MiB). Messages that fit one by one but not
 * together (here 3 of 24 MiB: 72 MiB in one batch) are sent in smaller batches: the channel
 * goes on instead of resending the same refused batch until every message's deadline.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ActorSystem, Reliable } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const Blob = Schema.Struct({ n: Schema.Int, data: Schema.String })

describe("reliable: a window of large messages", () => {
  it.live("whose batch is too large for one envelope is delivered in smaller batches, once each, in order", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port })
      const seen: Array<number> = []
      yield* b.system.spawn(
        Reliable.consumer({ id: "blobs", schema: Blob, handle: ({ n }) => Effect.sync(() => void seen.push(n)) }),
        { name: "blobs" }
      )
      const producer = yield* Reliable.producer({
        id: "to-blobs",
        schema: Blob,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "blobs"),
        resendInterval: "200 millis",
        resendIntervalMax: "400 millis",
        deadline: "20 seconds"
      }).pipe(Effect.provideService(ActorSystem, a.system))
      const data = "x".repeat(24 * 1024 * 1024)
      const total = 3
      yield* producer.offerAll(Array.from({ length: total }, (_, i) => ({ n: i + 1, data })))
      yield* producer.drain
      const stats = producer.stats()
      assert.strictEqual(stats.failed, 0, JSON.stringify(stats))
      assert.strictEqual(stats.confirmed, total)
      assert.deepStrictEqual(seen, Array.from({ length: total }, (_, i) => i + 1))
    }).pipe(Effect.scoped), 60_000)
})
