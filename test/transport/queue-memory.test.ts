/**
 * The outbound queue limit counts what a queued envelope costs in memory, not only its encoded
 * bytes: a peer that sends asks and never reads their replies (a few bytes each) is disconnected
 * before the node holds many times the limit in queue entries.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { QUEUED_ENTRY_BYTES } from "../../src/transport/Connection.ts"
import { encodeFrame, FrameType } from "../../src/transport/Frame.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "queue-memory"
const secret = "queue-memory-secret"
const limit = 1024 * 1024

describe("the outbound queue limit", () => {
  it.live("a peer that does not read the replies to its asks is disconnected before its queue holds more than the limit in memory", () =>
    Effect.gen(function*() {
      // the write stall (the other way out) far off: only the queue limit closes the connection
      const b = yield* TestNode.startNode("qmb", { cluster, secret: Redacted.make(secret), maxQueuedBytes: limit, writeStallTimeout: "60 seconds" })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const peak = yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw", codec: "msgpack" })
        peer.sendEnvelope([22, 1, "counter"])
        const counter = (await peer.envelope(23))[2].id as number
        peer.socket.pause()
        const frames: Array<Uint8Array> = []
        for (let k = 1; k <= 2_000; k++) frames.push(encodeFrame(FrameType.Message, peer.encode([1, counter, "Counter", { _tag: "Get" }, k, null])))
        const batch = Buffer.concat(frames)
        const pump = () => {
          while (!peer.closed) if (!peer.socket.write(batch)) return void peer.socket.once("drain", pump)
        }
        pump()
        // the node's queue for the peer, in entries, at its largest (a look at the connection's inside)
        let peak = 0
        const look = () => {
          const conn = routerOf(b.node).peers.get("raw")?.conn as unknown as { queueBodies: Array<unknown>; queueHead: number } | undefined
          if (conn !== undefined) peak = Math.max(peak, conn.queueBodies.length - conn.queueHead)
          if (!peer.closed) setImmediate(look)
        }
        look()
        await Promise.race([peer.closedPromise, new Promise((resolve) => setTimeout(resolve, 20_000))])
        assert.isTrue(peer.closed, "the node closed the connection")
        peer.destroy()
        return peak
      })
      // a reply is ~12 bytes encoded: counted by its bytes alone, ~90 000 of them fit in 1 MiB
      assert.isAtMost(peak, limit / QUEUED_ENTRY_BYTES + 2_000, `${peak} replies queued`)
    }).pipe(Effect.scoped), 30_000)
})
