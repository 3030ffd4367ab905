/**
 * Reassembly of fragmented messages (docs/protocol.md 4.3), from a raw peer over loopback TCP:
 * what a peer announces as a message's size costs the node nothing until the peer sends it (one
 * 64 KiB piece of an announced 60 MiB message leaves the node's memory small, and the connection
 * serves on, MESSAGE frames between pieces included); pieces of any size reassemble exactly; a
 * piece out of sequence closes the connection.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { fragment, RawPeer } from "./_raw.ts"

const MiB = 1024 * 1024
const cluster = "frag"
const secret = "frag-secret"

/** Node "b" with a counter, and a raw peer authenticated to it that has looked the counter up. */
const withPeer = <A>(f: (peer: RawPeer, counter: number) => Promise<A>) =>
  Effect.gen(function*() {
    const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
    yield* b.system.spawn(CounterLive, { name: "counter" })
    return yield* Effect.promise(async () => {
      const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw" })
      try {
        peer.sendEnvelope([22, 1, "counter"])
        const found = await peer.envelope(23)
        return await f(peer, found[2].id)
      } finally {
        peer.destroy()
      }
    })
  }).pipe(Effect.scoped)

/** Asks the counter for its count (a round trip: everything sent before it was handled). */
const count = async (peer: RawPeer, counter: number, askId: number): Promise<number> => {
  peer.sendEnvelope([1, counter, "Counter", { _tag: "Get" }, askId, null])
  const reply = await peer.envelope(2)
  assert.deepStrictEqual(reply.slice(0, 3), [2, askId, 0])
  return reply[3]
}

describe("fragment reassembly", () => {
  it.live("one piece of an announced 60 MiB message: the node's memory stays small, the connection serves on", () =>
    withPeer(async (peer, counter) => {
      await count(peer, counter, 1) // everything warmed up
      const before = process.memoryUsage().arrayBuffers
      peer.send(FrameType.Fragment, fragment(1, 60 * MiB, 0, new Uint8Array(64 * 1024)))
      // MESSAGE frames between pieces are delivered (4.3): the round trip shows the piece was read
      peer.sendEnvelope([0, counter, "Counter", { _tag: "Increment", by: 3 }])
      assert.strictEqual(await count(peer, counter, 2), 3)
      const grown = process.memoryUsage().arrayBuffers - before
      assert.isBelow(grown, 16 * MiB, `external memory grew by ${grown} bytes for one 64 KiB piece`)
      assert.isFalse(await peer.closesWithin(100), "the connection stays up while the message is incomplete")
      // a piece out of sequence closes it
      peer.send(FrameType.Fragment, fragment(1, 60 * MiB, 1, new Uint8Array(10)))
      assert.isTrue(await peer.closesWithin(5000))
    }), 30_000)

  it.live("pieces of any size reassemble exactly; the message is delivered", () =>
    withPeer(async (peer, counter) => {
      // a 3 MiB envelope (the counter ignores the field it does not declare), in pieces of
      // 1 byte to 200 KiB, so the buffer grows at many different points
      const envelope = peer.encode([0, counter, "Counter", { _tag: "Increment", by: 7, pad: "é".repeat(1.5 * MiB) }])
      const sizes = [1, 200 * 1024, 17, 64 * 1024, 100_000, 3, 200 * 1024 - 5]
      let offset = 0
      for (let i = 0; offset < envelope.length; i++) {
        const piece = envelope.subarray(offset, Math.min(envelope.length, offset + sizes[i % sizes.length]!))
        peer.send(FrameType.Fragment, fragment(9, envelope.length, offset, piece))
        offset += piece.length
      }
      assert.strictEqual(await count(peer, counter, 1), 7)
      assert.isFalse(peer.closed)
    }), 30_000)
})
