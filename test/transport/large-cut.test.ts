/**
 * Large messages over a connection that is reset in the middle of a frame, again and again, and
 * comes back: what the receiving actor gets is always a whole message as it was at `tell` (the
 * sender scribbles over its array right after), never twice, never out of order (a lost tell is
 * allowed: remote tells are at most once across a connection loss), also for the sends buffered
 * while the node is dialled again. The reset is done by a TCP
 * forwarder that passes half of a chunk, then destroys both sides, so the receiver's frame
 * decoder holds a partial frame and the sender's write fails with its slabs and batch buffer in
 * use.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { LARGE_BODY } from "../../src/transport/Frame.ts"
import { SLAB_SIZE } from "../../src/transport/internal/slabs.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { makeProxy, remote, withTimeout } from "./_remote.ts"

const Sink = Actor.make("test/LargeCutSink", {
  Bulk: Actor.tell({ seq: Schema.Int, data: Schema.Uint8Array }),
  Stats: Actor.ask({}, {
    success: Schema.Struct({ count: Schema.Int, last: Schema.Int, bad: Schema.Array(Schema.String) })
  })
})

// sizes: under and over the slab-copy threshold, past a quarter slab (a buffer of its own), and
// past the default single-frame limit (fragmented)
const sizes = [100, LARGE_BODY + 1, 65_536, 200_000, SLAB_SIZE / 4 + 5, 1_200_000]
const sizeOf = (seq: number) => sizes[seq % sizes.length]!
const byteOf = (seq: number, j: number) => (seq * 131 + j * 7) & 0xff

const makeData = (seq: number): Uint8Array => {
  const data = new Uint8Array(sizeOf(seq))
  for (let j = 0; j < data.length; j++) data[j] = byteOf(seq, j)
  return data
}

const SinkLive = Sink.behavior(Effect.sync(() => {
  let count = 0
  let last = -1
  const bad: Array<string> = []
  return {
    Bulk: ({ seq, data }) =>
      Effect.sync(() => {
        count++
        if (seq <= last) bad.push(`seq ${seq} after ${last} (duplicate or reordered)`)
        last = Math.max(last, seq)
        if (data.length !== sizeOf(seq)) bad.push(`seq ${seq}: ${data.length} bytes, sent ${sizeOf(seq)}`)
        else {
          for (let j = 0; j < data.length; j++) {
            if (data[j] !== byteOf(seq, j)) {
              bad.push(`seq ${seq}: byte ${j} is ${data[j]}, sent ${byteOf(seq, j)}`)
              break
            }
          }
        }
      }),
    Stats: () => Effect.sync(() => ({ count, last, bad: bad.slice(0, 10) }))
  }
}))

/** A forwarder whose next client→upstream chunk is cut in half, then both sockets destroyed. */
const cuttingProxy = (upstreamPort: number) =>
  Effect.acquireRelease(
    Effect.callback<{ server: Net.Server; port: number; arm: () => void; cuts: () => number; sockets: Set<Net.Socket> }>((resume) => {
      const sockets = new Set<Net.Socket>()
      let armed = false
      let cuts = 0
      const server = Net.createServer((client) => {
        const upstream = Net.connect({ host: "127.0.0.1", port: upstreamPort })
        sockets.add(client)
        sockets.add(upstream)
        const kill = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        for (const s of [client, upstream]) {
          s.on("error", kill)
          s.on("close", kill)
        }
        client.on("data", (chunk: Buffer) => {
          if (armed && chunk.length > 16) {
            armed = false
            cuts++
            upstream.write(chunk.subarray(0, chunk.length >> 1), () => kill())
            client.pause()
            return
          }
          if (!upstream.write(chunk)) {
            client.pause()
            upstream.once("drain", () => client.resume())
          }
        })
        upstream.pipe(client)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          server,
          port: (server.address() as Net.AddressInfo).port,
          arm: () => { armed = true },
          cuts: () => cuts,
          sockets
        })))
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const s of sockets) s.destroy()
        server.close()
      })
  )

describe("large messages across connection resets", () => {
  it.live("cut mid-frame three times: every message delivered is whole, as at tell, once and in order", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a", { reconnect: { initial: "20 millis", max: "100 millis" } })
      const proxy = yield* cuttingProxy(b.node.address.port)
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: proxy.port }, "5 seconds")
      const sinkLocal = yield* b.system.spawn(SinkLive)
      const sink = remote(a, sinkLocal)
      const stats = () => withTimeout("stats", sink.ask(Sink.Stats(), { timeout: "5 seconds" }), 6000)

      let seq = 0
      const burst = (n: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < n; i++) {
            const data = makeData(seq++)
            // a tell to a node that is down fails or dead-letters: that message is lost, not resent
            yield* Effect.ignore(sink.tell(Sink.Bulk({ seq: seq - 1, data })))
            // what was sent is what it was at tell
            data.fill(0xee)
            // now and then let writes complete between sends, so slabs are released and reused
            // while later envelopes are queued
            if (i % 4 === 3) yield* Effect.sleep("1 millis")
          }
        })

      yield* burst(12)
      assert.strictEqual((yield* stats()).count, 12)
      for (let round = 0; round < 3; round++) {
        proxy.arm()
        yield* burst(12)
        for (let tries = 0; proxy.cuts() <= round && tries < 100; tries++) yield* Effect.sleep("10 millis")
        assert.strictEqual(proxy.cuts(), round + 1, `round ${round}: the proxy cut the connection`)
        // until the link is back and messages flow again
        let flowing = false
        let countBefore = 0
        for (let tries = 0; !flowing && tries < 100; tries++) {
          const exit = yield* Effect.exit(sink.ask(Sink.Stats(), { timeout: "1 second" }))
          if (exit._tag === "Success") {
            flowing = true
            countBefore = exit.value.count
          } else yield* Effect.sleep("50 millis")
        }
        assert.isTrue(flowing, `round ${round}: the link did not come back`)
        yield* burst(6)
        // all of a burst sent over a link that stays up arrives
        assert.strictEqual((yield* stats()).count, countBefore + 6, `round ${round}: the burst after the reconnect`)
      }
      const final = yield* stats()
      assert.deepStrictEqual(final.bad, [])
      assert.strictEqual(final.last, seq - 1, "the last burst (after the link came back) arrived")
      assert.isAtLeast(final.count, 12 + 3 * 6)
    }).pipe(Effect.scoped), 60_000)

  it.live("sends buffered while the node is dialled are sent as they were at tell", () =>
    Effect.gen(function*() {
      const proxy = yield* makeProxy
      const b = yield* startNode("b")
      proxy.setTarget(b.node.address.port)
      const a = yield* startNode("a")
      const sinkLocal = yield* b.system.spawn(SinkLive)
      // the dial is held by the proxy: connected, the handshake not yet answered
      proxy.hold()
      const dial = yield* Effect.forkChild(a.node.connect({ name: "b", host: "127.0.0.1", port: proxy.port }, "10 seconds"), {
        startImmediately: true
      })
      yield* withTimeout("the dial", Deferred.await(proxy.held))
      assert.isTrue(routerOf(a.node).peers.get("b")!.outbox.dialing)
      const sink = a.system.refFor(sinkLocal.address) as typeof sinkLocal
      for (let seq = 0; seq < 4; seq++) {
        const data = makeData(seq)
        yield* sink.tell(Sink.Bulk({ seq, data }))
        data.fill(0xee)
      }
      assert.strictEqual(routerOf(a.node).peers.get("b")!.outbox.buffer.length, 4, "all four are buffered")
      proxy.release()
      yield* withTimeout("the dial", Fiber.join(dial), 10_000)
      const stats = yield* withTimeout("stats", sink.ask(Sink.Stats()))
      assert.deepStrictEqual(stats, { count: 4, last: 3, bad: [] })
    }).pipe(Effect.scoped), 30_000)
})
