/**
 * Socket writes: what is sent while inbound data is handled (replies, and the next asks of
 * fibers resumed by replies) is written once the pending I/O has been handled, so that sends to
 * one peer made while handling data from several peers go out in one write; a send made anywhere
 * else is written at once (at the end of its microtask turn).
 */
import { assert, describe, it } from "@effect/vitest"
import { EventEmitter } from "node:events"
import * as Codec from "../../src/transport/Codec.ts"
import { Connection } from "../../src/transport/Connection.ts"
import { encodeFrame, FrameDecoder, FrameType } from "../../src/transport/Frame.ts"
import type { Socket } from "../../src/transport/Network.ts"

/** A socket that records what is written to it; `data` is emitted by the test. */
class FakeSocket extends EventEmitter {
  readonly writes: Array<Uint8Array> = []
  destroyed = false
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean {
    this.writes.push(chunk)
    if (callback !== undefined) process.nextTick(callback)
    return true
  }
  pause() {
    return this
  }
  resume() {
    return this
  }
  destroy() {
    this.destroyed = true
    return this
  }
  setNoDelay() {
    return this
  }
  setKeepAlive() {
    return this
  }
}

const connection = (socket: FakeSocket, peer: string, onEnvelope: (e: unknown) => void) =>
  new Connection(
    socket as unknown as Socket,
    { peer: { name: peer, incarnation: 1 }, codec: Codec.make("msgpack"), decoder: new FrameDecoder(), leftover: [], outbound: true, session: "s" },
    1,
    { heartbeatMillis: 60_000, acceptablePauseMillis: 600_000 },
    { onEnvelope, onClose: () => {} }
  )

const frame = (envelope: unknown) => encodeFrame(FrameType.Message, Codec.make("msgpack").encode(envelope))
const microtasks = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}
const afterIo = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("write coalescing", () => {
  it("sends to one peer made while handling data from two peers go out in one write", async () => {
    const toC = new FakeSocket()
    const c = connection(toC, "c", () => {})
    const fromA = new FakeSocket()
    const fromB = new FakeSocket()
    connection(fromA, "a", (e) => c.send(["from a", e]))
    connection(fromB, "b", (e) => c.send(["from b", e]))
    // two data events of one I/O phase: Node runs the microtasks after each
    fromA.emit("data", frame(1))
    await microtasks()
    fromB.emit("data", frame(2))
    await microtasks()
    await afterIo()
    assert.strictEqual(toC.writes.length, 1)
    c.close("done")
  })

  it("a send outside a data handler is written at the end of its microtask turn", async () => {
    const toC = new FakeSocket()
    const c = connection(toC, "c", () => {})
    c.send(["hello"])
    await microtasks()
    assert.strictEqual(toC.writes.length, 1)
    c.close("done")
  })
})
