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
  it.live("5 000 envelopes written at once are handled at most 1 024 per turn, all of them once, in order", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const perTurn = yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw" })
        peer.sendEnvelope([22, 1, "counter"])
        const counter = (await peer.envelope(23))[2].id as number
        // tells the node refuses (no such actor: a dead letter each, counted as it reads them),
        // each followed by a tell to the counter (its own number, so that a frame handled twice,
        // or bytes read over a frame not yet handled, show in the sum), then an ask for the sum
        const frames: Array<Uint8Array> = []
        for (let k = 1; k <= 2_500; k++) {
          frames.push(encodeFrame(FrameType.Message, peer.encode([0, 999_999, "Counter", { _tag: "Increment", by: k }])))
          frames.push(encodeFrame(FrameType.Message, peer.encode([0, counter, "Counter", { _tag: "Increment", by: k }])))
        }
        frames.push(encodeFrame(FrameType.Message, peer.encode([1, counter, "Counter", { _tag: "Get" }, 1, null])))
        const before = b.system.deadLetterCount()
        const perTurn: Array<number> = []
        let seen = before
        let counting = true
        const turn = () => {
          const now = b.system.deadLetterCount()
          if (now > seen) perTurn.push(2 * (now - seen))
          seen = now
          if (counting) setImmediate(turn)
        }
        setImmediate(turn)
        peer.socket.write(Buffer.concat(frames))
        assert.deepStrictEqual(await peer.envelope(2), [2, 1, 0, (2_500 * 2_501) / 2])
        counting = false
        assert.strictEqual(b.system.deadLetterCount() - before, 2_500)
        peer.destroy()
        return perTurn
      })
      // (two envelopes per dead letter: at most one more than a slice)
      assert.isAtMost(Math.max(...perTurn), 1026, `envelopes handled per turn: ${perTurn.join(" ")}`)
    }).pipe(Effect.scoped), 20_000)

  it.live("frames left for the next turn keep their bytes while the socket reads in place", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const [sum, expected] = yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw" })
        peer.sendEnvelope([22, 1, "counter"])
        const counter = (await peer.envelope(23))[2].id as number
        const tell = (by: number) => encodeFrame(FrameType.Message, peer.encode([0, counter, "Counter", { _tag: "Increment", by }]))
        const get = (id: number) => encodeFrame(FrameType.Message, peer.encode([1, counter, "Counter", { _tag: "Get" }, id, null]))
        // a slice's worth of frames (with the Lookup's): the next frame read starts a new slice,
        // so the whole next read (into the decoder's buffer, from its start) is left for later
        peer.socket.write(Buffer.concat([...Array.from({ length: 1022 }, () => tell(1)), get(1)]))
        await peer.envelope(2)
        // more than the 64 KiB read buffer, with a 1 500-byte frame across its end (to a missing
        // actor: a dead letter), moved to the buffer's front once the read is handled: over the
        // first frames of the read, left for later
        const frames: Array<Uint8Array> = []
        let bytes = 0
        let total = 1022
        for (let k = 1; bytes < 100_000; k++) {
          if (bytes > 64_000 && bytes < 65_536) {
            const big = encodeFrame(FrameType.Message, peer.encode([0, 999_999, "Counter", { _tag: "Increment", by: 0, pad: "x".repeat(1_500) }]))
            frames.push(big)
            bytes += big.length
          }
          const f = tell(k)
          frames.push(f)
          bytes += f.length
          total += k
        }
        frames.push(get(2))
        peer.socket.write(Buffer.concat(frames))
        const reply = await peer.envelope(2)
        peer.destroy()
        return [reply[3], total]
      })
      assert.strictEqual(sum, expected, "every tell counted once")
    }).pipe(Effect.scoped), 20_000)
})
