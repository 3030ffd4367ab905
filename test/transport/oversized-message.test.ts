/**
 * A message larger than a node accepts (its encoding over 64 MiB, the largest reassembled
 * message): the one send is refused where it starts, with a typed error, and the connection
 * (with everything else in flight on it) is untouched.
 *
 * - an ask whose message is too large fails with `InvalidMessage` at the sender, a dead letter;
 * - a tell whose message is too large fails with `InvalidMessage` at the sender, a dead letter;
 * - a reply too large is replaced by an `InvalidMessage` runtime error for the asker;
 * - an ask made meanwhile is answered, and no NodeDown happens on either side.
 *
 * Every message shape is sent once first; that the first message of a shape is refused the same
 * way with `msgpackr-records` (it defines a record structure) is in large-messages.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Schema, Stream } from "effect"
import { Actor } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import type { NodeEvent } from "../../src/transport/Node.ts"

const Blob = Actor.make("test/OversizedBlob", {
  Put: Actor.ask({ data: Schema.String }, { success: Schema.Number }),
  Drop: Actor.tell({ data: Schema.String }),
  Make: Actor.ask({ bytes: Schema.Number }, { success: Schema.String }),
  Slow: Actor.ask({ millis: Schema.Number }, { success: Schema.String })
})

const BlobLive = Blob.behavior(Effect.succeed({
  Put: ({ data }) => Effect.succeed(data.length),
  Drop: () => Effect.void,
  Make: ({ bytes }) => Effect.sync(() => "y".repeat(bytes)),
  Slow: ({ millis }) => Effect.as(Effect.sleep(millis), "slow done")
}))

const MiB = 1024 * 1024
// Both nodes share this process, whose event loop encodes and decodes each 60 MiB message in one
// go: on a loaded machine (JSON most of all) that stalls it for seconds, long enough for the
// default 3 s pause to take the stall for a silent peer. Connection losses this test is about
// (a frame over the limit) close the connection at once, whatever the pause.
const common = { cluster: "oversized", secret: Redacted.make("oversized"), acceptablePause: "30 seconds" } as const

describe("a message larger than a node accepts", () => {
  for (const codec of ["msgpackr-records", "msgpack", "json"] as const) {
  it.live(`${codec}: is refused at the sender with InvalidMessage; the connection and what is in flight are untouched`, () =>
    Effect.gen(function*() {
      const a = yield* TestNode.startNode("a", { ...common, codecs: [codec] })
      const b = yield* TestNode.startNode("b", { ...common, spawnable: [BlobLive] })
      yield* b.system.spawn(BlobLive, { name: "blob" })
      yield* TestNode.connect(a, b)
      const events: Array<NodeEvent> = []
      for (const n of [a, b]) {
        yield* n.node.events.pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkScoped)
      }
      const blob = yield* a.node.lookup("b", Blob, "blob")
      // every message shape once (msgpackr-records defines a record structure at its first use)
      yield* blob.ask(Blob.Put({ data: "warm" }))
      yield* blob.tell(Blob.Drop({ data: "warm" }))
      // an ask in flight on the same connection the whole time
      const slow = yield* blob.ask(Blob.Slow({ millis: 1500 }), { timeout: "30 seconds" }).pipe(Effect.forkScoped)

      const big = "x".repeat(65 * MiB)
      const ask = yield* Effect.flip(blob.ask(Blob.Put({ data: big }), { timeout: "30 seconds" }))
      assert.strictEqual(ask._tag, "InvalidMessage", String(ask))
      assert.match((ask as any).issue, /exceeds the largest message a node accepts/)
      const tell = yield* Effect.flip(blob.tell(Blob.Drop({ data: big })))
      assert.strictEqual(tell._tag, "InvalidMessage", String(tell))
      const reply = yield* Effect.flip(blob.ask(Blob.Make({ bytes: 65 * MiB }), { timeout: "30 seconds" }))
      assert.strictEqual(reply._tag, "InvalidMessage", String(reply))
      assert.match((reply as any).issue, /reply: .*exceeds the largest message a node accepts/)

      // just under the limit still goes through, both ways
      assert.strictEqual(yield* blob.ask(Blob.Put({ data: big.slice(0, 60 * MiB) }), { timeout: "60 seconds" }), 60 * MiB)
      assert.strictEqual((yield* blob.ask(Blob.Make({ bytes: 60 * MiB }), { timeout: "60 seconds" })).length, 60 * MiB)
      assert.strictEqual(yield* Fiber.join(slow), "slow done")
      assert.deepStrictEqual(events.filter((e) => e._tag === "NodeDown"), [], "no connection was lost")
    }).pipe(Effect.scoped), 120_000)
  }
})
