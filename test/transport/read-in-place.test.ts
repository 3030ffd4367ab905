/**
 * Reading in place: the frame decoder chooses where each read goes (`readBuffer` / `filled`),
 * small frames come from its reused read buffer, a large frame that one read did not bring whole
 * is read straight into a buffer of its own; a plain TCP socket is switched to it
 * (`readInPlace`) after what it buffered while paused; a shared body's byte arrays are copied
 * when decoded.
 */
import { once } from "node:events"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import * as Codec from "../../src/transport/Codec.ts"
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  HEADER_SIZE,
  IN_PLACE_SIZE,
  READ_SLAB_SIZE
} from "../../src/transport/Frame.ts"
import { emitBuffered, readInPlace } from "../../src/transport/internal/readInPlace.ts"
import { forAll } from "./_random.ts"

const TYPES: ReadonlyArray<FrameType> = Object.values(FrameType)

/** what a read delivered: the frame's bytes as they were when it was delivered */
interface Got {
  readonly type: FrameType
  readonly body: Buffer
  readonly shared: boolean
  /** the body is the whole of its own buffer (read in place, not a view of the read buffer) */
  readonly own: boolean
}

const take = (frames: Array<Frame>, got: Array<Got>): void => {
  for (const f of frames) {
    got.push({
      type: f.type,
      body: Buffer.from(f.body),
      shared: f.shared === true,
      own: f.body.byteOffset === HEADER_SIZE && f.body.buffer.byteLength === f.body.length + HEADER_SIZE
    })
  }
  frames.length = 0
}

describe("FrameDecoder, reading in place", () => {
  it("random frames in reads of random sizes (a kernel read fills at most what it is offered) decode intact, large ones into their own buffer", () => {
    forAll("read in place", 300, (rng) => {
      const frames: Array<{ type: FrameType; body: Uint8Array }> = []
      for (let i = rng.int(1, 8); i > 0; i--) {
        const length = rng.weighted([[6, rng.int(0, 200)], [2, rng.int(201, IN_PLACE_SIZE)], [2, rng.int(IN_PLACE_SIZE, 100_000)]])
        frames.push({ type: rng.pick(TYPES), body: rng.bytes(length) })
      }
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)))
      const decoder = new FrameDecoder(256 * 1024)
      const out: Array<Frame> = []
      const got: Array<Got> = []
      let offset = 0
      // the start through `push` (the handshake), cut anywhere: a partial header or frame carries over
      if (rng.bool(0.3)) {
        const n = rng.int(0, Math.min(stream.length, 300))
        assert.isUndefined(decoder.push(stream.subarray(0, n), out))
        take(out, got)
        offset = n
      }
      // reads of up to `maxRead` bytes; byte by byte over a window
      const maxRead = rng.pick([7, 100, 5000, 70_000])
      const ones = rng.int(0, stream.length)
      while (offset < stream.length) {
        const into = decoder.readBuffer()
        if (into.length === 0) throw new Error("an empty read buffer")
        const most = offset >= ones && offset < ones + 1000 ? 1 : rng.int(1, maxRead)
        const n = Math.min(into.length, stream.length - offset, most)
        into.set(stream.subarray(offset, offset + n))
        offset += n
        const error = decoder.filled(n, out)
        if (error !== undefined) throw error
        take(out, got)
      }
      assert.strictEqual(got.length, frames.length)
      for (let i = 0; i < frames.length; i++) {
        assert.strictEqual(got[i]!.type, frames[i]!.type)
        assert.isTrue(got[i]!.body.equals(frames[i]!.body), `body of frame ${i} (${frames[i]!.body.length} bytes)`)
        // a frame the read buffer cannot hold whole is never a view of it
        if (frames[i]!.body.length + HEADER_SIZE > READ_SLAB_SIZE) assert.isTrue(got[i]!.own, `frame ${i} has its own buffer`)
        if (got[i]!.shared) assert.isBelow(frames[i]!.body.length, READ_SLAB_SIZE)
      }
    })
  })

  it("a large frame in many small reads is read into its own buffer, and several frames in one read are views of the read buffer", () => {
    const big = Buffer.alloc(100_000, 7)
    const small = [Buffer.from("a"), Buffer.from("bb"), Buffer.from("ccc")]
    const stream = Buffer.concat([encodeFrame(FrameType.Message, big), ...small.map((b) => encodeFrame(FrameType.Message, b))])
    const decoder = new FrameDecoder()
    const out: Array<Frame> = []
    const offered: Array<Uint8Array> = []
    // the big frame in 1000-byte reads
    let offset = 0
    while (out.length === 0) {
      const into = decoder.readBuffer()
      offered.push(into)
      const n = Math.min(1000, into.length)
      into.set(stream.subarray(offset, offset + n))
      offset += n
      decoder.filled(n, out)
    }
    assert.strictEqual(offset, big.length + HEADER_SIZE)
    const body = out[0]!.body
    assert.isTrue(Buffer.from(body).equals(big))
    assert.isUndefined(out[0]!.shared)
    // after the first read, every read went into the frame's own buffer, where the next bytes go
    assert.isAbove(offered.length, 90)
    for (const into of offered.slice(1)) assert.strictEqual(into.buffer, body.buffer)
    assert.strictEqual(body.buffer.byteLength, big.length + HEADER_SIZE)
    // the three small frames in one read: views of the read buffer, not the big frame's
    out.length = 0
    const into = decoder.readBuffer()
    assert.notStrictEqual(into.buffer, body.buffer)
    into.set(stream.subarray(offset))
    decoder.filled(stream.length - offset, out)
    assert.deepStrictEqual(out.map((f) => Buffer.from(f.body).toString()), ["a", "bb", "ccc"])
    for (const f of out) {
      assert.isTrue(f.shared)
      assert.strictEqual(f.body.buffer, into.buffer)
    }
  })

  it("a header announcing more than the maximum fails at once", () => {
    const decoder = new FrameDecoder(1024)
    const into = decoder.readBuffer()
    into.set(encodeFrame(FrameType.Message, Buffer.alloc(2000)).subarray(0, 6))
    assert.strictEqual(decoder.filled(6, [])?.reason, "FrameTooLarge")
    assert.isAbove(decoder.readBuffer().length, 0)
  })
})

describe("readInPlace", () => {
  it("a paused plain TCP socket: what it buffered comes first as data, then reads go where the reader says", async () => {
    const server = Net.createServer({ pauseOnConnect: true })
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    const client = Net.connect((server.address() as Net.AddressInfo).port, "127.0.0.1")
    const [accepted] = (await once(server, "connection")) as [Net.Socket]
    try {
      const received: Array<string> = []
      accepted.on("data", (chunk: Buffer) => received.push(`data:${chunk.toString()}`))
      // bytes that arrive while the socket is paused wait in its readable buffer
      accepted.read(0)
      client.write("first")
      while (accepted.readableLength === 0) await new Promise((r) => setTimeout(r, 5))
      emitBuffered(accepted, () => false)
      assert.deepStrictEqual(received, ["data:first"])
      const buffer = Buffer.alloc(64)
      const done = new Promise<void>((resolve) => {
        let got = ""
        assert.isTrue(readInPlace(accepted, () => buffer, (n) => {
          got += buffer.subarray(0, n).toString()
          if (got === "second") resolve()
        }))
      })
      accepted.resume()
      client.write("second")
      await done
      assert.deepStrictEqual(received, ["data:first"])
    } finally {
      client.destroy()
      accepted.destroy()
      server.close()
    }
  })
})

describe("Codec.decode of a shared body", () => {
  for (const name of ["msgpackr-records", "msgpack"] as const) {
    it(`${name}: byte arrays are copies when the body is shared, views of it otherwise`, () => {
      const codec = Codec.make(name)
      const bytes = Buffer.from(codec.encode([0, 1, "P", { data: Uint8Array.of(1, 2, 3) }]))
      const decoder = Codec.make(name)
      const copied = (decoder.decode(bytes, true) as Array<{ data: Uint8Array }>)[3]!.data
      const viewed = (decoder.decode(bytes, false) as Array<{ data: Uint8Array }>)[3]!.data
      bytes.fill(0)
      assert.deepStrictEqual([...copied], [1, 2, 3])
      assert.deepStrictEqual([...viewed], [0, 0, 0])
    })
  }
})
