/**
 * The outbound path of large envelopes: encoded into the codec's reused buffer, copied into the
 * connection's reused slabs (or kept where the encoder put them when small), and written by
 * reference. Over real TCP between two `Connection`s: large and small envelopes interleaved,
 * fragmented ones, ones larger than a slab, arrive intact and in order, and what a sender does
 * to its arrays after `send` does not change what was sent. And `encodeTransient` + `keep` give
 * exactly the bytes `encode` gives (the wire format does not change).
 */
import { assert, describe, it } from "@effect/vitest"
import { once } from "node:events"
import * as Net from "node:net"
import * as Codec from "../../src/transport/Codec.ts"
import { Connection } from "../../src/transport/Connection.ts"
import { FrameDecoder, LARGE_BODY } from "../../src/transport/Frame.ts"
import { SLAB_SIZE, Slabs } from "../../src/transport/internal/slabs.ts"
import { baseSeed, Rng } from "./_random.ts"

const sizes = [0, 1, 100, LARGE_BODY - 64, LARGE_BODY, 65536, 100_000, 200_000, SLAB_SIZE / 4 + 1, SLAB_SIZE + 3]

const fill = (n: number, seed: number): Uint8Array => {
  const data = new Uint8Array(n)
  for (let j = 0; j < n; j++) data[j] = (seed * 31 + j * 7) & 0xff
  return data
}

const intact = (data: Uint8Array, seed: number): boolean => {
  for (let j = 0; j < data.length; j++) if (data[j] !== ((seed * 31 + j * 7) & 0xff)) return false
  return true
}

const connect = async (): Promise<{ a: Net.Socket; b: Net.Socket; close: () => void }> => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const accepted = once(server, "connection")
  const a = Net.connect({ host: "127.0.0.1", port: (server.address() as Net.AddressInfo).port })
  await once(a, "connect")
  const [b] = (await accepted) as [Net.Socket]
  return {
    a,
    b,
    close: () => {
      a.destroy()
      b.destroy()
      server.close()
    }
  }
}

const connection = (
  socket: Net.Socket,
  codec: Codec.CodecName,
  onEnvelope: (e: unknown) => void,
  onClose: (r: string) => void,
  maxMessageSize?: number
) =>
  new Connection(
    socket,
    {
      peer: { name: "peer", incarnation: 1 },
      codec: Codec.make(codec),
      decoder: new FrameDecoder(),
      leftover: [],
      outbound: true,
      session: "s"
    },
    1,
    { heartbeatMillis: 60_000, acceptablePauseMillis: 600_000, ...(maxMessageSize !== undefined ? { maxMessageSize } : {}) },
    { onEnvelope, onClose }
  )

describe("large envelopes", () => {
  for (const codec of ["msgpackr-records", "msgpack"] as const) {
    it(`${codec}: encodeTransient + keep give the bytes encode gives, and they decode in sequence`, () => {
      const rng = new Rng(baseSeed)
      const plain = Codec.make(codec)
      const transient = Codec.make(codec)
      const decoder = Codec.make(codec)
      const kept: Array<{ got: Uint8Array; copy: Uint8Array; i: number }> = []
      for (let i = 0; i < 400; i++) {
        const n = rng.pick(sizes)
        const value = rng.pick([
          [0, i, "Bench", { _tag: "Bulk", data: fill(n, i) }],
          [0, i, "Bench", { _tag: "Tell", seq: i, note: "x".repeat(n % 300) }],
          [1, i, "Bench", { _tag: rng.pick(["A", "B"]), nested: { data: fill(n % 70_000, i), n: i } }, i, null]
        ])
        const expected = plain.encode(value)
        const got = transient.encodeTransient(value)
        assert.isTrue(Buffer.from(got).equals(Buffer.from(expected)), `value ${i} (${n} bytes, seed ${baseSeed})`)
        const copy = Uint8Array.from(got)
        if (got.length < LARGE_BODY || rng.pick([true, false])) {
          transient.keep()
          kept.push({ got, copy, i })
        }
        assert.deepStrictEqual(decoder.decode(copy), value, `value ${i} decodes (seed ${baseSeed})`)
      }
      // what was kept is still there after everything encoded since
      for (const k of kept) assert.isTrue(Buffer.from(k.got).equals(k.copy), `kept value ${k.i} unchanged (seed ${baseSeed})`)
    })
  }

  it("interleaved large and small envelopes arrive intact and in order, whatever the sender does to its arrays after send", async () => {
    const rng = new Rng(baseSeed)
    const { a, b, close } = await connect()
    try {
      const count = 300
      const received: Array<unknown> = []
      let closed: string | undefined
      let done: () => void = () => {}
      const all = new Promise<void>((resolve) => (done = resolve))
      const receiver = connection(b, "msgpackr-records", (e) => {
        received.push(e)
        if (received.length === count) done()
      }, (r) => {
        closed = r
        done()
      })
      const sender = connection(a, "msgpackr-records", () => {}, (r) => (closed = r))
      receiver.start()
      sender.start()
      const sent: Array<number> = []
      for (let i = 0; i < count; i++) {
        const n = rng.pick(sizes)
        const data = fill(n, i)
        sender.send([0, i, "Bench", { _tag: "Bulk", data }])
        data.fill(0) // the message was sent as it was at `send`
        sent.push(n)
        // the receiver stops reading for a while: the kernel's buffers fill, writes stay pending
        // (the socket still reads the slabs they reference) while more is queued behind them
        if (i === 60) b.pause()
        if (i === 150) b.resume()
        // sometimes let writes complete (slabs are reused), sometimes queue on
        if (rng.pick([true, false, false])) await new Promise((resolve) => setImmediate(resolve))
      }
      await all
      assert.isUndefined(closed)
      assert.strictEqual(received.length, count)
      for (let i = 0; i < count; i++) {
        const e = received[i] as [number, number, string, { data: Uint8Array }]
        assert.strictEqual(e[1], i, "in order")
        assert.strictEqual(e[3].data.length, sent[i])
        assert.isTrue(intact(e[3].data, i), `envelope ${i} (${sent[i]} bytes) intact (seed ${baseSeed})`)
      }
      sender.close("done")
      receiver.close("done")
    } finally {
      close()
    }
  })

  it("msgpackr-records: an envelope over the size limit is refused, also the first of its shape; the connection goes on and what follows decodes", async () => {
    const rng = new Rng(baseSeed)
    const { a, b, close } = await connect()
    try {
      const received: Array<unknown> = []
      let closed: string | undefined
      let wake: () => void = () => {}
      const receiver = connection(b, "msgpackr-records", (e) => {
        received.push(e)
        wake()
      }, (r) => (closed = r))
      const sender = connection(a, "msgpackr-records", () => {}, (r) => (closed = r), 1024 * 1024)
      receiver.start()
      sender.start()
      const expected: Array<unknown> = []
      const big = "x".repeat(1024 * 1024 + 1)
      // shapes new and known, nested (two record structures in one envelope), past msgpackr's 64
      // structure ids; a third of the first uses of a shape are too large
      for (let i = 0; i < 150; i++) {
        const shape = rng.int(0, 80)
        const oversized = rng.bool(0.3)
        const envelope = [0, i, "P", { _tag: `T${shape}`, [`k${shape}`]: { [`n${shape % 7}`]: oversized ? big : "s", i } }]
        const refused = sender.send(envelope)
        if (oversized) assert.match(refused ?? "", /exceeds the largest message a node accepts/, `envelope ${i} (seed ${baseSeed})`)
        else {
          assert.isUndefined(refused)
          expected.push(envelope)
        }
        assert.isUndefined(closed, `envelope ${i} (seed ${baseSeed})`)
      }
      while (received.length < expected.length && closed === undefined) await new Promise<void>((resolve) => (wake = resolve))
      assert.isUndefined(closed)
      assert.deepStrictEqual(received, expected, `seed ${baseSeed}`)
      sender.close("done")
      receiver.close("done")
    } finally {
      close()
    }
  })

  it("an envelope whose handling throws closes its connection (logged), not the process", async () => {
    const { a, b, close } = await connect()
    try {
      let closed: string | undefined
      const received: Array<unknown> = []
      const receiver = connection(b, "json", (e) => {
        if ((e as Array<unknown>)[0] === 666) throw new Error("boom")
        received.push(e)
      }, (r) => (closed = r))
      const sender = connection(a, "json", () => {}, () => {})
      receiver.start()
      sender.start()
      sender.send([0, 1])
      sender.send([666])
      sender.send([0, 2])
      while (closed === undefined) await new Promise((resolve) => setTimeout(resolve, 5))
      assert.match(closed, /handling an envelope failed: Error: boom/)
      assert.deepStrictEqual(received, [[0, 1]])
      sender.close("done")
    } finally {
      close()
    }
  })

  it("slabs: a copy is not overwritten until its entry is released; a slab unused for two trims is let go", () => {
    const rng = new Rng(baseSeed)
    const slabs = new Slabs()
    const live: Array<{ view: Uint8Array; seed: number; entry: number }> = []
    let entry = 0
    let released = 0
    for (let i = 0; i < 2000; i++) {
      const n = rng.pick([LARGE_BODY, 65536, 100_000, SLAB_SIZE / 4, SLAB_SIZE / 4 + 1])
      entry++
      live.push({ view: slabs.copy(fill(n, i), entry), seed: i, entry })
      if (rng.bool(0.3)) {
        // some of what was queued has been written: check it, then release it
        released = rng.int(released, entry)
        for (const l of live) if (l.entry <= released) assert.isTrue(intact(l.view, l.seed), `copy ${l.seed} intact until released (seed ${baseSeed})`)
        for (let k = live.length - 1; k >= 0; k--) if (live[k]!.entry <= released) live.splice(k, 1)
        if (released === entry) slabs.rewind(released)
        else slabs.release(released)
      }
    }
    for (const l of live) assert.isTrue(intact(l.view, l.seed), `copy ${l.seed} intact (seed ${baseSeed})`)
    slabs.rewind(entry)
    const before = slabs.copy(fill(LARGE_BODY, 1), ++entry).buffer
    slabs.rewind(entry)
    slabs.trim() // used since the last trim: kept
    assert.strictEqual(slabs.copy(fill(LARGE_BODY, 1), ++entry).buffer, before)
    slabs.rewind(entry)
    slabs.trim()
    slabs.trim() // unused for a whole beat: let go
    assert.notStrictEqual(slabs.copy(fill(LARGE_BODY, 1), ++entry).buffer, before)
  })
})
