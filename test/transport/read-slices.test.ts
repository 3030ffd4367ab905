/**
 * A connection hands the event loop back after a slice of frames: a peer that floods us (replies
 * after a freeze, envelopes we refuse) cannot hold it for as long as handling all it sent takes,
 * our timers (heartbeats) and other sockets with it. Nothing is lost or reordered meanwhile.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { encodeFrame, FrameType } from "../../src/transport/Frame.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "slices"
const secret = "slices-secret"

describe("reading in slices", () => {
  it.live("5 000 envelopes written at once are handled at most 1 024 per turn, all of them, in order", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const perTurn = yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw" })
        peer.sendEnvelope([22, 1, "counter"])
        const counter = (await peer.envelope(23))[2].id as number
        // tells the node refuses (no such actor: a dead letter each, counted as it reads them),
        // then an ask whose reply says all were read
        const frames: Array<Uint8Array> = []
        for (let k = 0; k < 5_000; k++) frames.push(encodeFrame(FrameType.Message, peer.encode([0, 999_999, "Counter", { _tag: "Increment", by: 1 }])))
        frames.push(encodeFrame(FrameType.Message, peer.encode([1, counter, "Counter", { _tag: "Get" }, 1, null])))
        const before = b.system.deadLetterCount()
        const perTurn: Array<number> = []
        let seen = before
        let counting = true
        const turn = () => {
          const now = b.system.deadLetterCount()
          if (now > seen) perTurn.push(now - seen)
          seen = now
          if (counting) setImmediate(turn)
        }
        setImmediate(turn)
        peer.socket.write(Buffer.concat(frames))
        assert.deepStrictEqual(await peer.envelope(2), [2, 1, 0, 0])
        counting = false
        assert.strictEqual(b.system.deadLetterCount() - before, 5_000)
        peer.destroy()
        return perTurn
      })
      assert.isAtMost(Math.max(...perTurn), 1024, `envelopes handled per turn: ${perTurn.join(" ")}`)
    }).pipe(Effect.scoped), 20_000)
})
