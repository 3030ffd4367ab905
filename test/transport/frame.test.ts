/**
 * FrameDecoder / FrameWriter: property tests (seeded, 10 000 cases each; the seed is printed on
 * failure and set with TELEX_SEED), the edge cases of the frame header, and fragmented messages
 * between two nodes.
 */
import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { Actor } from "../../src/index.ts"
import {
  defaultMaxFrameSize,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  FrameWriter,
  HEADER_SIZE,
  ProtocolError,
  singleFrameLimit
} from "../../src/transport/Frame.ts"
import { routerOf, type NodeEvent } from "../../src/transport/Node.ts"
import { chunkLengths, forAll, Rng } from "./_random.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const RUNS = 10_000
const TYPES: ReadonlyArray<FrameType> = Object.values(FrameType)
const KNOWN = new Set<number>(TYPES)
const REASONS = new Set(["FrameTooLarge", "EmptyFrame", "UnknownFrameType", "BadEnvelope", "UnexpectedFrame", "BadFragment"])

// ---------------------------------------------------------------------------
// allocation spy: records the sizes of `new Uint8Array(n)` and `Buffer.allocUnsafe(Slow)(n)` made by
// the decoder during `push`
// ---------------------------------------------------------------------------

const RealUint8Array = globalThis.Uint8Array
let allocations: Array<number> = []
let recording = false
const SpyUint8Array: Uint8ArrayConstructor = new Proxy(RealUint8Array, {
  construct(target, args, newTarget): object {
    if (recording && typeof args[0] === "number") allocations.push(args[0])
    return Reflect.construct(target, args, newTarget === SpyUint8Array ? target : newTarget)
  }
})

const realAllocUnsafe = Buffer.allocUnsafe
const spyAllocUnsafe = (size: number): Buffer<ArrayBuffer> => {
  if (recording) allocations.push(size)
  return realAllocUnsafe(size)
}
const realAllocUnsafeSlow = Buffer.allocUnsafeSlow
const spyAllocUnsafeSlow = (size: number): Buffer<ArrayBuffer> => {
  if (recording) allocations.push(size)
  return realAllocUnsafeSlow(size)
}

/**
 * Runs `f` with the spy as the global `Uint8Array` and `Buffer.allocUnsafe(Slow)` (installed once:
 * replacing a global on every push would deoptimise everything that uses it).
 */
const withAllocationSpy = <A>(f: () => A): A => {
  globalThis.Uint8Array = SpyUint8Array
  Buffer.allocUnsafe = spyAllocUnsafe
  Buffer.allocUnsafeSlow = spyAllocUnsafeSlow
  try {
    return f()
  } finally {
    globalThis.Uint8Array = RealUint8Array
    Buffer.allocUnsafe = realAllocUnsafe
    Buffer.allocUnsafeSlow = realAllocUnsafeSlow
  }
}

/** `decoder.push`, recording its allocations (inside `withAllocationSpy`) */
const push = (decoder: FrameDecoder, chunk: Uint8Array, out: Array<Frame>): ProtocolError | undefined => {
  recording = true
  try {
    return decoder.push(chunk, out)
  } finally {
    recording = false
  }
}

/** a cheap assertion for the hot loops of the properties (chai's cost microseconds each) */
const check = (condition: boolean, message: () => string): void => {
  if (!condition) throw new Error(message())
}

/** the partial frame the decoder holds (private) */
const pendingSize = (decoder: FrameDecoder): number => ((decoder as any).pending as Uint8Array | undefined)?.length ?? 0

const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0, 0)
  return b
}
const header = (length: number, type: number): Uint8Array => Buffer.concat([u32(length), Uint8Array.of(type)])

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))

// ---------------------------------------------------------------------------
// generators
// ---------------------------------------------------------------------------

const bodyLength = (rng: Rng): number =>
  rng.weighted([
    [10, 0],
    [50, rng.int(1, 64)],
    [25, rng.int(65, 4096)],
    [6, rng.int(4097, 70_000)],
    [3, rng.pick([65_535, 65_536, 65_537, 69_999, 70_000])]
  ])

/** Encodes frames with `encodeFrame` or a `FrameWriter` (small initial buffers, `take` at random points). */
const encodeAll = (rng: Rng, frames: ReadonlyArray<Frame>): Uint8Array => {
  if (rng.bool(0.4)) return Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)))
  const writer = new FrameWriter(rng.pick([1, 2, 7, 64, 1024, 16 * 1024]))
  const parts: Array<Uint8Array> = []
  for (const f of frames) {
    writer.write(f.type, f.body)
    if (rng.bool(0.3)) parts.push(writer.take())
  }
  parts.push(writer.take())
  return Buffer.concat(parts)
}

/** A chunk as the decoder may receive it: a view with an offset, a fresh copy, a Buffer. */
const asChunk = (rng: Rng, bytes: Uint8Array): Uint8Array => {
  switch (rng.int(0, 3)) {
    case 0:
      return bytes
    case 1:
      return Uint8Array.from(bytes)
    case 2:
      return Buffer.from(bytes)
    default: {
      const pad = rng.int(1, 16)
      const backing = new Uint8Array(bytes.length + 2 * pad).fill(0xee)
      backing.set(bytes, pad)
      return backing.subarray(pad, pad + bytes.length)
    }
  }
}

const frameStarts = (frames: ReadonlyArray<Frame>): Array<number> => {
  const starts: Array<number> = []
  let o = 0
  for (const f of frames) {
    starts.push(o)
    o += HEADER_SIZE + f.body.length
  }
  return starts
}

/**
 * The reference decoder: the whole input at once. Frames up to the first bad header, the error
 * (checked in this order: empty, too large, unknown type) and the offset of the bad header.
 */
const reference = (input: Uint8Array, max: number) => {
  const frames: Array<Frame> = []
  let o = 0
  while (input.length - o >= HEADER_SIZE) {
    const length = Buffer.from(input.buffer, input.byteOffset, input.length).readUInt32BE(o)
    const type = input[o + 4]!
    const reason = length === 0
      ? "EmptyFrame"
      : length > max
      ? "FrameTooLarge"
      : !KNOWN.has(type)
      ? "UnknownFrameType"
      : undefined
    if (reason !== undefined) return { frames, error: { reason, at: o }, boundaries: [] as Array<number> }
    if (input.length - o < 4 + length) break
    frames.push({ type: type as FrameType, body: input.subarray(o + HEADER_SIZE, o + 4 + length) })
    o += 4 + length
  }
  return { frames, error: undefined, boundaries: [] as Array<number> }
}

const specialLengths = (max: number) => [0, 1, max, max + 1, 2 ** 31, 2 ** 32 - 1]

/** Random bytes, or a valid stream damaged by a few random mutations. */
const garbage = (rng: Rng, max: number): Uint8Array => {
  const kind = rng.weighted([[2, "random"], [5, "mutated"], [1, "headers"]] as const)
  if (kind === "random") return rng.bytes(rng.int(0, 300))
  if (kind === "headers") {
    // valid-looking headers with random lengths and types, short bodies
    const parts: Array<Uint8Array> = []
    for (let i = rng.int(1, 6); i > 0; i--) {
      parts.push(header(rng.bool(0.5) ? rng.pick(specialLengths(max)) : rng.int(0, Math.min(max + 2, 64)), rng.bool(0.7) ? rng.pick(TYPES) : rng.int(0, 255)))
      parts.push(rng.bytes(rng.int(0, 40)))
    }
    return Buffer.concat(parts)
  }
  const frames: Array<Frame> = []
  for (let i = rng.int(1, 8); i > 0; i--) {
    frames.push({ type: rng.pick(TYPES), body: rng.bytes(rng.int(0, Math.min(max - 1, rng.pick([8, 40, 300])))) })
  }
  let bytes: Uint8Array = Uint8Array.from(Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body))))
  const starts = frameStarts(frames)
  for (let k = rng.int(1, 4); k > 0; k--) {
    const n = bytes.length
    switch (rng.int(0, 5)) {
      case 0: // one byte changed
        if (n > 0) bytes[rng.int(0, n - 1)] = rng.int(0, 255)
        break
      case 1: { // a length field replaced
        const at = rng.pick(starts)
        if (at + 4 <= n) bytes.set(u32(rng.bool(0.6) ? rng.pick(specialLengths(max)) : rng.u32()), at)
        break
      }
      case 2: { // a type byte replaced
        const at = rng.pick(starts) + 4
        if (at < n) bytes[at] = rng.int(0, 255)
        break
      }
      case 3: { // bytes inserted
        const at = rng.int(0, n)
        bytes = Buffer.concat([bytes.subarray(0, at), rng.bytes(rng.int(1, 8)), bytes.subarray(at)])
        break
      }
      case 4: { // a range deleted
        const at = rng.int(0, n)
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(n, at + rng.int(1, 10)))])
        break
      }
      default: // truncated
        bytes = bytes.subarray(0, rng.int(0, n))
    }
  }
  return bytes
}

// ---------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------

describe("FrameDecoder properties", () => {
  it("round trip: random frame sequences in random chunk splits decode to the same frames, in order", () => {
    let frameCount = 0
    let byteCount = 0
    let pushes = 0
    const started = Date.now()
    const ran = withAllocationSpy(() => forAll("frame round trip", RUNS, (rng) => {
      const n = rng.weighted([[1, 0], [6, rng.int(1, 4)], [3, rng.int(5, 30)]])
      const frames: Array<Frame> = []
      for (let i = 0; i < n; i++) {
        const length = n > 4 && rng.bool(0.8) ? rng.int(0, 64) : bodyLength(rng)
        frames.push({ type: rng.pick(TYPES), body: rng.bytes(length) })
      }
      const largest = frames.reduce((m, f) => Math.max(m, f.body.length + 1), 1)
      // the largest frame is sometimes exactly the maximum (accepted)
      const max = rng.weighted([[3, defaultMaxFrameSize], [1, largest], [1, largest + rng.int(1, 100)]])
      const bytes = encodeAll(rng, frames)
      const lengths = chunkLengths(rng, bytes.length, frameStarts(frames))
      const decoder = new FrameDecoder(max)
      const out: Array<Frame> = []
      allocations = []
      let offset = 0
      for (const length of lengths) {
        if (rng.bool(0.02)) check(push(decoder, new Uint8Array(0), out) === undefined, () => "error on an empty chunk")
        const error = push(decoder, asChunk(rng, bytes.subarray(offset, offset + length)), out)
        offset += length
        pushes++
        if (error !== undefined) throw new Error(`unexpected ${error.reason} after ${offset} of ${bytes.length} bytes: ${error.message}`)
        check(pendingSize(decoder) <= max + 4, () => `pending buffer of ${pendingSize(decoder)} bytes, max ${max}`)
      }
      assert.strictEqual(offset, bytes.length)
      assert.strictEqual(out.length, frames.length, `frames decoded (chunks ${lengths.length}, max ${max})`)
      for (let i = 0; i < frames.length; i++) {
        assert.strictEqual(out[i]!.type, frames[i]!.type, `type of frame ${i}`)
        assert.isTrue(sameBytes(out[i]!.body, frames[i]!.body), `body of frame ${i} (${frames[i]!.body.length} bytes)`)
      }
      assert.strictEqual(pendingSize(decoder), 0, "nothing left pending")
      assert.isUndefined(decoder.failed)
      for (const size of allocations) assert.isAtMost(size, max + 4, "allocation")
      frameCount += n
      byteCount += bytes.length
    }))
    assert.isAtLeast(ran, process.env.TELEX_CASE ? 1 : RUNS)
    console.info(
      `round trip: ${ran} cases, ${frameCount} frames, ${(byteCount / 2 ** 20).toFixed(0)} MiB, ${pushes} pushes, ${Date.now() - started} ms`
    )
    // a budget for CPU work, nothing is waited for: 10 000 cases take about 3 s alone, and over
    // 20 s on a 2-core machine running the rest of the suite beside them
  }, 120_000)

  it("garbage in random chunks: never throws, decodes exactly the valid prefix, fails with a typed error and stays failed", () => {
    const outcomes: Record<string, number> = { ok: 0 }
    const started = Date.now()
    const ran = withAllocationSpy(() => forAll("frame garbage", RUNS, (rng) => {
      const max = rng.pick([1, 5, 16, 300, 4096, defaultMaxFrameSize])
      const input = garbage(rng, max)
      const expected = reference(input, max)
      const lengths = chunkLengths(rng, input.length, [])
      const decoder = new FrameDecoder(max)
      const out: Array<Frame> = []
      allocations = []
      let fed = 0
      let firstError: ProtocolError | undefined
      let errorAt = -1
      const feed = (chunk: Uint8Array) => {
        const before = out.length
        let error: ProtocolError | undefined
        try {
          error = push(decoder, chunk, out)
        } catch (e) {
          throw new Error(`the decoder threw ${String(e)}`)
        }
        fed += chunk.length
        if (firstError !== undefined) {
          check(error === firstError, () => `after an error, push returned ${String(error)}`)
          check(out.length === before, () => "frames after an error")
        } else if (error !== undefined) {
          check(error instanceof ProtocolError && REASONS.has(error.reason), () => `not a typed ProtocolError: ${String(error)}`)
          check(decoder.failed === error, () => "decoder.failed is not the error")
          firstError = error
          errorAt = fed
        }
        check(pendingSize(decoder) <= max + 4, () => `pending buffer of ${pendingSize(decoder)} bytes, max ${max}`)
      }
      let offset = 0
      for (const length of lengths) {
        feed(asChunk(rng, input.subarray(offset, offset + length)))
        offset += length
      }
      assert.strictEqual(out.length, expected.frames.length, "frames before the first bad header")
      for (let i = 0; i < out.length; i++) {
        assert.strictEqual(out[i]!.type, expected.frames[i]!.type)
        assert.isTrue(sameBytes(out[i]!.body, expected.frames[i]!.body))
      }
      if (expected.error === undefined) {
        assert.isUndefined(firstError, "no error on a valid (possibly truncated) stream")
        outcomes.ok!++
      } else {
        assert.isDefined(firstError, `expected ${expected.error.reason}`)
        assert.strictEqual(firstError!.reason, expected.error.reason)
        // reported by the push that completed the bad header, not later
        const headerEnd = expected.error.at + HEADER_SIZE
        assert.isAtLeast(errorAt, headerEnd)
        const chunkEnds: Array<number> = []
        lengths.reduce((s, l) => (chunkEnds.push(s + l), s + l), 0)
        assert.strictEqual(errorAt, chunkEnds.find((e) => e >= headerEnd), "error reported as soon as the header is complete")
        outcomes[firstError!.reason] = (outcomes[firstError!.reason] ?? 0) + 1
        // stays failed, whatever comes next (even a valid frame)
        feed(encodeFrame(FrameType.Heartbeat, new Uint8Array(0)))
        feed(rng.bytes(rng.int(0, 20)))
        assert.strictEqual(decoder.failed, firstError)
      }
      for (const size of allocations) assert.isAtMost(size, max + 4, "allocation")
    }))
    assert.isAtLeast(ran, process.env.TELEX_CASE ? 1 : RUNS)
    console.info(`garbage: ${ran} cases, outcomes ${JSON.stringify(outcomes)}, ${Date.now() - started} ms`)
  })
})

// ---------------------------------------------------------------------------
// header edge cases
// ---------------------------------------------------------------------------

describe("FrameDecoder header edge cases", () => {
  const max = 1024

  /** feeds one byte at a time; returns the index of the byte whose push returned an error */
  const byteByByte = (decoder: FrameDecoder, bytes: Uint8Array, out: Array<Frame>): { at: number; error: ProtocolError | undefined } => {
    for (let i = 0; i < bytes.length; i++) {
      const error = push(decoder, bytes.subarray(i, i + 1), out)
      if (error !== undefined) return { at: i, error }
    }
    return { at: -1, error: undefined }
  }

  it("length 0 is EmptyFrame, reported with the 5th header byte", () =>
    withAllocationSpy(() => {
    for (const split of [false, true]) {
      const decoder = new FrameDecoder(max)
      const out: Array<Frame> = []
      const bytes = header(0, FrameType.Heartbeat)
      const { at, error } = split ? byteByByte(decoder, bytes, out) : { at: 4, error: push(decoder, bytes, out) }
      assert.strictEqual(at, 4)
      assert.strictEqual(error?.reason, "EmptyFrame")
      assert.deepStrictEqual(out, [])
    }
    }))

  it("a frame of exactly the maximum size is accepted, and its pending buffer is max+4 bytes", () =>
    withAllocationSpy(() => {
    const body = Uint8Array.from({ length: max - 1 }, (_, i) => i & 0xff)
    const bytes = encodeFrame(FrameType.Message, body)
    assert.strictEqual(bytes.readUInt32BE(0), max)
    // whole
    let out: Array<Frame> = []
    assert.isUndefined(new FrameDecoder(max).push(bytes, out))
    assert.strictEqual(out.length, 1)
    assert.isTrue(sameBytes(out[0]!.body, body))
    // header alone, then the body in pieces: the decoder allocates the frame once it knows the length
    for (const firstChunk of [3, 5, 6, 700]) {
      const decoder = new FrameDecoder(max)
      out = []
      allocations = []
      assert.isUndefined(push(decoder, bytes.subarray(0, firstChunk), out))
      assert.isUndefined(push(decoder, bytes.subarray(firstChunk, max), out))
      assert.deepStrictEqual(out, [])
      assert.strictEqual(pendingSize(decoder), max + 4)
      assert.isUndefined(push(decoder, bytes.subarray(max), out))
      assert.strictEqual(out.length, 1)
      assert.isTrue(sameBytes(out[0]!.body, body))
      assert.isAtLeast(allocations.length, 1, "the spy sees the decoder's allocations")
      assert.strictEqual(Math.max(...allocations), max + 4)
    }
    }))

  it("max+1, 2^31 and 2^32-1 are FrameTooLarge as soon as the 5-byte header is seen, before any body, with no large allocation", () =>
    withAllocationSpy(() => {
    for (const length of [max + 1, max + 2, 2 ** 31, 2 ** 32 - 1]) {
      for (const split of [false, true]) {
        const decoder = new FrameDecoder(max)
        const out: Array<Frame> = []
        allocations = []
        const bytes = header(length, FrameType.Message)
        const { at, error } = split ? byteByByte(decoder, bytes, out) : { at: 4, error: push(decoder, bytes, out) }
        assert.strictEqual(at, 4, `length ${length}`)
        assert.strictEqual(error?.reason, "FrameTooLarge")
        assert.include(error!.message, String(length))
        assert.isTrue(allocations.every((n) => n <= HEADER_SIZE), `allocations ${allocations}`)
        assert.strictEqual(pendingSize(decoder), 0)
        // the body never matters: still failed
        assert.strictEqual(push(decoder, new Uint8Array(100), out), error)
      }
    }
    // the default maximum
    const decoder = new FrameDecoder()
    assert.strictEqual(decoder.push(header(defaultMaxFrameSize + 1, FrameType.Fragment), [])?.reason, "FrameTooLarge")
    const ok = new FrameDecoder()
    assert.isUndefined(ok.push(header(defaultMaxFrameSize, FrameType.Fragment), []))
    }))

  it("an unknown frame type is UnknownFrameType; every known type is accepted", () => {
    for (let type = 0; type < 256; type++) {
      const decoder = new FrameDecoder(max)
      const out: Array<Frame> = []
      const error = decoder.push(encodeFrame(type as FrameType, Uint8Array.of(1, 2, 3)), out)
      if (KNOWN.has(type)) {
        assert.isUndefined(error, `type ${type}`)
        assert.strictEqual(out[0]?.type, type)
      } else {
        assert.strictEqual(error?.reason, "UnknownFrameType", `type ${type}`)
        assert.deepStrictEqual(out, [])
      }
    }
  })

  it("checks the header before a frame that follows complete frames in the same chunk", () =>
    withAllocationSpy(() => {
    const decoder = new FrameDecoder(max)
    const out: Array<Frame> = []
    const bytes = Buffer.concat([encodeFrame(FrameType.Heartbeat, new Uint8Array(0)), encodeFrame(FrameType.Message, Uint8Array.of(7)), header(2 ** 32 - 1, FrameType.Message)])
    allocations = []
    assert.strictEqual(push(decoder, bytes, out)?.reason, "FrameTooLarge")
    assert.deepStrictEqual(out.map((f) => f.type), [FrameType.Heartbeat, FrameType.Message])
    assert.isTrue(allocations.every((n) => n <= HEADER_SIZE))
    }))

  it("truncated frames wait for more data: every prefix gives the complete frames so far and no error", () => {
    const frames: Array<Frame> = [
      { type: FrameType.Hello, body: Buffer.from("{\"a\":1}") },
      { type: FrameType.Heartbeat, body: new Uint8Array(0) },
      { type: FrameType.Message, body: Uint8Array.from({ length: 300 }, (_, i) => i) }
    ]
    const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)))
    const ends = frameStarts(frames).slice(1).concat([bytes.length])
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new FrameDecoder(max)
      const out: Array<Frame> = []
      assert.isUndefined(decoder.push(bytes.subarray(0, cut), out))
      assert.strictEqual(out.length, ends.filter((e) => e <= cut).length, `prefix ${cut}`)
      assert.isUndefined(decoder.failed)
      // and the rest completes them
      assert.isUndefined(decoder.push(bytes.subarray(cut), out))
      assert.strictEqual(out.length, frames.length)
    }
  })

  it("FrameWriter batches decode like single frames, for any initial buffer size", () => {
    for (const initial of [0, 1, 3, 16 * 1024]) {
      const writer = new FrameWriter(initial)
      writer.write(FrameType.Heartbeat, new Uint8Array(0))
      writer.write(FrameType.Message, Uint8Array.of(1, 2, 3))
      const bytes = writer.take()
      assert.strictEqual(writer.size, 0)
      const out: Array<Frame> = []
      assert.isUndefined(new FrameDecoder().push(bytes, out))
      assert.deepStrictEqual(out.map((f) => [f.type, Array.from(f.body)]), [[FrameType.Heartbeat, []], [FrameType.Message, [1, 2, 3]]])
    }
  })
})

// ---------------------------------------------------------------------------
// fragments, end to end: large messages between two nodes while heartbeats flow
// ---------------------------------------------------------------------------

const Blob = Actor.make("FrameTest/Blob", {
  Echo: Actor.ask({ data: Schema.String }, { success: Schema.String }),
  Put: Actor.tell({ data: Schema.String }),
  Digests: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex")

const BlobLive = Blob.behavior(Effect.sync(() => {
  const digests: Array<string> = []
  return {
    Echo: ({ data }) => Effect.succeed(data),
    Put: ({ data }) => Effect.sync(() => void digests.push(sha256(data))),
    Digests: () => Effect.sync(() => digests.slice())
  }
}))

/** A string of about `bytes` UTF-8 bytes mixing 1-, 2-, 3- and 4-byte characters (fragment cuts split them). */
const randomText = (rng: Rng, bytes: number): string => {
  const alphabet = ["a", "Z", "0", " ", "é", "ß", "Ж", "€", "中", "語", "😀", "𝄞"]
  const parts: Array<string> = []
  let size = 0
  while (size < bytes) {
    let piece = ""
    for (let i = 0; i < 256; i++) piece += alphabet[rng.u32() % alphabet.length]
    parts.push(piece)
    size += Buffer.byteLength(piece)
  }
  return parts.join("")
}

/**
 * Records the frames a connection receives (wraps its private `onFrame`): "H" heartbeat, "M" message,
 * fragments "F<" (first), "F" and "F>" (last).
 */
const traceFrames = (conn: unknown): Array<string> => {
  const trace: Array<string> = []
  const c = conn as { onFrame: (frame: Frame) => void }
  const original = c.onFrame
  c.onFrame = function(this: unknown, frame: Frame) {
    if (frame.type === FrameType.Fragment) {
      const view = new DataView(frame.body.buffer, frame.body.byteOffset, frame.body.byteLength)
      const total = view.getUint32(4)
      const offset = view.getUint32(8)
      trace.push(offset === 0 ? "F<" : offset + frame.body.length - 12 === total ? "F>" : "F")
    } else {
      trace.push(frame.type === FrameType.Heartbeat ? "H" : frame.type === FrameType.Message ? "M" : String(frame.type))
    }
    return original.call(this, frame)
  }
  return trace
}

/** heartbeats received between the first and the last fragment of a message */
const heartbeatsAmidFragments = (trace: ReadonlyArray<string>): number => {
  let inside = false
  let count = 0
  for (const t of trace) {
    if (t === "F<") inside = true
    else if (t === "F>") inside = false
    else if (t === "H" && inside) count++
  }
  return count
}

describe("fragmented messages between nodes", () => {
  it.live("1 MiB and 5 MiB messages arrive intact, in order, both ways, with heartbeats between fragments and no connection loss", () =>
    Effect.gen(function*() {
      const timing = { heartbeatInterval: "20 millis", acceptablePause: "3 seconds" } as const
      const b = yield* startNode("b", timing)
      const a = yield* startNode("a", timing)
      const events: Array<NodeEvent> = []
      for (const n of [a, b]) {
        yield* n.node.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
      }
      yield* b.system.spawn(BlobLive, { name: "blob" })
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
      const blob = yield* a.node.lookup("b", Blob, "blob")
      const aConn = routerOf(a.node).peers.get("b")!.conn!
      const bConn = routerOf(b.node).peers.get("a")!.conn!
      const atB = traceFrames(bConn)
      const atA = traceFrames(aConn)

      const rng = new Rng(42)
      const oneMiB = randomText(rng, 1024 * 1024)
      const fiveMiB = randomText(rng, 5 * 1024 * 1024)
      assert.isAtLeast(Buffer.byteLength(fiveMiB), 5 * 1024 * 1024)

      // both directions: the request and the reply are fragmented
      assert.isTrue((yield* blob.ask(Blob.Echo({ data: oneMiB }))) === oneMiB, "1 MiB echo")
      assert.isTrue((yield* blob.ask(Blob.Echo({ data: fiveMiB }))) === fiveMiB, "5 MiB echo")
      // in order with small messages around them
      yield* blob.tell(Blob.Put({ data: "small" }))
      yield* blob.tell(Blob.Put({ data: fiveMiB }))
      yield* blob.tell(Blob.Put({ data: "" }))
      yield* blob.tell(Blob.Put({ data: oneMiB }))
      assert.deepStrictEqual(yield* blob.ask(Blob.Digests()), ["small", fiveMiB, "", oneMiB].map(sha256))

      // keep large messages flowing for longer than the acceptable pause
      const started = Date.now()
      let rounds = 0
      while (Date.now() - started < 3500) {
        yield* blob.tell(Blob.Put({ data: fiveMiB }))
        assert.isTrue((yield* blob.ask(Blob.Echo({ data: oneMiB }))) === oneMiB)
        rounds++
      }
      const digests = yield* blob.ask(Blob.Digests())
      assert.strictEqual(digests.length, 4 + rounds)
      assert.isTrue(digests.slice(4).every((d) => d === sha256(fiveMiB)))

      // the same connections all along, no NodeDown
      assert.strictEqual(routerOf(a.node).peers.get("b")!.conn, aConn)
      assert.strictEqual(routerOf(b.node).peers.get("a")!.conn, bConn)
      assert.isUndefined(aConn.closed)
      assert.isUndefined(bConn.closed)
      assert.deepStrictEqual(events.filter((e) => e._tag === "NodeDown"), [])

      // fragments were used, and heartbeats kept arriving between the fragments of a message
      const count = (trace: ReadonlyArray<string>, t: string) => trace.filter((x) => x === t).length
      const fragments = (trace: ReadonlyArray<string>) => count(trace, "F<") + count(trace, "F") + count(trace, "F>")
      console.info(
        `fragments: ${rounds} extra rounds in ${Date.now() - started} ms; ` +
          `at b ${fragments(atB)} fragments, ${count(atB, "H")} heartbeats (${heartbeatsAmidFragments(atB)} amid the fragments of a message); ` +
          `at a ${fragments(atA)} fragments, ${count(atA, "H")} heartbeats (${heartbeatsAmidFragments(atA)} amid)`
      )
      // fragmented messages: at b the requests (2 echoes, 2 puts, then 2 per round), at a the echoes
      assert.strictEqual(count(atB, "F<"), 4 + 2 * rounds)
      assert.strictEqual(count(atB, "F>"), 4 + 2 * rounds)
      assert.strictEqual(count(atA, "F<"), 2 + rounds)
      assert.strictEqual(count(atA, "F>"), 2 + rounds)
      // 1 MiB = 17+ fragments of 64 KiB, 5 MiB = 81+
      assert.isAtLeast(fragments(atB), 2 * (17 + 81) + rounds * (81 + 17))
      assert.isAtLeast(fragments(atA), 17 + 81 + rounds * 17)
      assert.isAtLeast(count(atB, "H"), 1)
      assert.isAtLeast(count(atA, "H"), 1)
      assert.isAtLeast(heartbeatsAmidFragments(atB) + heartbeatsAmidFragments(atA), 1, "a heartbeat between the fragments of one message")
    }).pipe(Effect.scoped), 60_000)
})

describe("one frame or fragments", () => {
  it.live("an envelope up to singleFrameLimit goes in one MESSAGE frame (a 64 KiB payload is not split); a larger one in fragments", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* b.system.spawn(BlobLive, { name: "blob" })
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
      const blob = yield* a.node.lookup("b", Blob, "blob")
      const atB = traceFrames(routerOf(b.node).peers.get("a")!.conn!)
      const under = "u".repeat(singleFrameLimit - 200)
      const over = "o".repeat(singleFrameLimit + 1)
      const sixtyFour = "s".repeat(64 * 1024)
      yield* blob.tell(Blob.Put({ data: sixtyFour }))
      yield* blob.tell(Blob.Put({ data: under }))
      yield* blob.tell(Blob.Put({ data: over }))
      assert.deepStrictEqual(yield* blob.ask(Blob.Digests()), [sixtyFour, under, over].map(sha256))
      const data = atB.filter((t) => t !== "H")
      // two single frames, then the fragments of the third (64 KiB pieces), then the ask
      assert.deepStrictEqual(data.slice(0, 2), ["M", "M"])
      assert.strictEqual(data[2], "F<")
      assert.strictEqual(data.filter((t) => t.startsWith("F")).length, Math.ceil((singleFrameLimit + 1) / (64 * 1024)))
      assert.strictEqual(data.at(-1), "M")
    }).pipe(Effect.scoped))
})
