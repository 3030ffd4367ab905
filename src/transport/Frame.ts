/**
 * Length-prefixed frames: `u32 big-endian length | u8 type | body`, where `length` counts the
 * type byte and the body. The decoder checks `length` against the maximum frame size BEFORE it
 * buffers anything, handles frames split across chunks and many frames coalesced in one chunk,
 * and turns every malformed input into a typed `ProtocolError` (which closes only that
 * connection).
 *
 * Frame types (see docs/protocol.md):
 * - handshake (JSON bodies): `HELLO`, `CHALLENGE`, `AUTH`, `READY`, `REFUSE`
 * - `HEARTBEAT` (empty body): the priority lane; any frame counts as a sign of life
 * - `MESSAGE`: one codec-encoded envelope (a tell, an ask, a reply or a signal), in order
 * - `FRAGMENT`: a piece of a message larger than the fragment size
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

export const FrameType = {
  Hello: 1,
  Challenge: 2,
  Auth: 3,
  Ready: 4,
  Refuse: 5,
  Heartbeat: 16,
  Message: 32,
  Fragment: 33
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

const known = new Set<number>(Object.values(FrameType))

/** 256 KiB, as Akka Artery's `maximum-frame-size`. Larger messages travel as fragments. */
export const defaultMaxFrameSize = 256 * 1024
/** Messages whose encoded envelope exceeds `singleFrameLimit` are split into fragments of this size. */
export const defaultFragmentSize = 64 * 1024
/**
 * Envelopes up to this size go in one MESSAGE frame (well under the maximum frame size): a
 * 64 KiB payload plus its envelope is not split in two pieces that the receiver copies once more
 * to put them together.
 */
export const singleFrameLimit = 128 * 1024
export const HEADER_SIZE = 5

export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  reason: Schema.Literals(["FrameTooLarge", "EmptyFrame", "UnknownFrameType", "BadEnvelope", "UnexpectedFrame", "BadFragment"]),
  message: Schema.String
}) {}

export interface Frame {
  readonly type: FrameType
  readonly body: Uint8Array
  /**
   * the body is a view of the decoder's read buffer, which the next read overwrites: whatever is
   * kept of it must be copied (see `FrameDecoder.readBuffer`)
   */
  readonly shared?: boolean
}

/**
 * The largest frame accepted before the peer has proved it knows the cluster secret (HELLO and
 * AUTH on the server, CHALLENGE on the client): an unauthenticated peer cannot make a node hold
 * more than this per connection (a 5-byte header announcing a larger frame is refused at once).
 */
export const maxUnauthenticatedFrameSize = 16 * 1024

/** the buffer frames are read into when the decoder chooses where reads go (`readBuffer`) */
export const READ_SLAB_SIZE = 64 * 1024
/** a frame of this size or more that a read did not bring whole is read into a buffer of its own */
export const IN_PLACE_SIZE = 16 * 1024
/**
 * after a frame read into its own buffer, the next read is at most this long: what it brings of
 * a next large frame is copied into that frame's buffer, so it is kept short
 */
const PEEK_SIZE = 4 * 1024

/**
 * Incremental decoder, fed in one of two ways:
 *
 * - `push(chunk)`: chunks the socket allocated (`data` events). Frames inside one chunk are
 *   views of it; a frame split across chunks is assembled in a buffer of its own.
 * - `readBuffer()` / `filled(n)`: the decoder says where the next read goes (a socket's
 *   `onread`). Small frames are read into one reused buffer (`READ_SLAB_SIZE`) and delivered as
 *   views of it (`shared`: valid until the next read); a frame of `IN_PLACE_SIZE` or more that
 *   one read did not bring whole gets a buffer of its own, and the rest of it is read straight
 *   into that buffer (no copy to assemble it; reads never go past its end).
 *
 * A decoder fed by `push` may go on with `readBuffer`/`filled` (the handshake is read through
 * `data` events, the connection after it in place), not back. Both return the complete frames
 * found so far, or a `ProtocolError`; after an error the decoder stays failed.
 */
export class FrameDecoder {
  /** may be raised (never above what the connection accepts) once the peer is authenticated */
  maxFrameSize: number
  /** partial data: either a header fragment or a frame body being assembled */
  private pending: Uint8Array | undefined = undefined
  private pendingLength = 0
  private expected = -1 // total bytes of the frame being assembled (header + length), -1: unknown
  failed: ProtocolError | undefined = undefined
  /** reading in place: the reused read buffer, and its bytes read but not yet decoded */
  private slab: Buffer | undefined = undefined
  private slabStart = 0
  private slabEnd = 0
  /** the next read into the slab is short (a frame was just read in place) */
  private peek = false

  constructor(maxFrameSize: number = defaultMaxFrameSize) {
    this.maxFrameSize = maxFrameSize
  }

  /**
   * Where the next read goes (never empty): the rest of the frame being read in place, exactly,
   * or free room in the read buffer. What was delivered from the read buffer is overwritten.
   */
  readBuffer(): Uint8Array {
    const pending = this.pending
    if (pending !== undefined && this.expected > 0 && this.failed === undefined) {
      return pending.subarray(this.pendingLength, this.expected)
    }
    const slab = (this.slab ??= Buffer.allocUnsafeSlow(READ_SLAB_SIZE))
    if (pending !== undefined) {
      // a partial header left by `push`
      slab.set(pending.subarray(0, this.pendingLength), 0)
      this.slabStart = 0
      this.slabEnd = this.pendingLength
      this.pending = undefined
      this.pendingLength = 0
    }
    if (this.failed !== undefined) return slab
    if (this.slabStart === this.slabEnd) {
      this.slabStart = 0
      this.slabEnd = 0
    } else if (READ_SLAB_SIZE - this.slabEnd < IN_PLACE_SIZE) {
      // what is left is part of a frame smaller than IN_PLACE_SIZE: moved to the front
      slab.copyWithin(0, this.slabStart, this.slabEnd)
      this.slabEnd -= this.slabStart
      this.slabStart = 0
    }
    const end = this.peek ? Math.min(READ_SLAB_SIZE, this.slabEnd + PEEK_SIZE) : READ_SLAB_SIZE
    return slab.subarray(this.slabEnd, end)
  }

  /** `n` bytes were read into the buffer `readBuffer` returned last. */
  filled(n: number, out: Array<Frame>): ProtocolError | undefined {
    if (this.failed !== undefined) return this.failed
    const pending = this.pending
    if (pending !== undefined) {
      this.pendingLength += n
      if (this.pendingLength < this.expected) return undefined
      this.pending = undefined
      this.expected = -1
      this.pendingLength = 0
      this.peek = true
      out.push({ type: pending[4] as FrameType, body: pending.subarray(HEADER_SIZE) })
      return undefined
    }
    this.peek = false
    const slab = this.slab!
    const end = (this.slabEnd += n)
    let offset = this.slabStart
    while (end - offset >= HEADER_SIZE) {
      const length = readU32(slab, offset)
      const type = slab[offset + 4]!
      const error = this.check(length, type)
      if (error !== undefined) return this.fail(error)
      const total = 4 + length
      if (end - offset < total) {
        if (total >= IN_PLACE_SIZE) {
          // the rest of it is read into its own buffer (not a slice of Node's pool: a delivered
          // view exposes its whole buffer)
          const buf = Buffer.allocUnsafeSlow(total)
          buf.set(slab.subarray(offset, end))
          this.pending = buf
          this.pendingLength = end - offset
          this.expected = total
          offset = end
        }
        break
      }
      out.push({ type: type as FrameType, body: slab.subarray(offset + HEADER_SIZE, offset + total), shared: true })
      offset += total
    }
    this.slabStart = offset
    return undefined
  }

  push(chunk: Uint8Array, out: Array<Frame>): ProtocolError | undefined {
    if (this.failed !== undefined) return this.failed
    let offset = 0
    if (this.pending !== undefined) {
      offset = this.fillPending(chunk, out)
      if (this.failed !== undefined) return this.failed
      if (offset < 0) return undefined // consumed everything, still incomplete
    }
    const n = chunk.length
    while (offset < n) {
      const available = n - offset
      if (available < HEADER_SIZE) {
        this.startPending(chunk.subarray(offset), -1)
        return undefined
      }
      const length = readU32(chunk, offset)
      const error = this.check(length, chunk[offset + 4]!)
      if (error !== undefined) return this.fail(error)
      const total = 4 + length
      if (available < total) {
        this.startPending(chunk.subarray(offset), total)
        return undefined
      }
      out.push({ type: chunk[offset + 4] as FrameType, body: chunk.subarray(offset + HEADER_SIZE, offset + total) })
      offset += total
    }
    return undefined
  }

  private check(length: number, type: number): ProtocolError | undefined {
    if (length === 0) return new ProtocolError({ reason: "EmptyFrame", message: "frame length 0 (a frame has at least a type byte)" })
    if (length > this.maxFrameSize) {
      return new ProtocolError({
        reason: "FrameTooLarge",
        message: `frame of ${length} bytes exceeds the maximum of ${this.maxFrameSize}`
      })
    }
    if (!known.has(type)) return new ProtocolError({ reason: "UnknownFrameType", message: `unknown frame type ${type}` })
    return undefined
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failed = error
    this.pending = undefined
    return error
  }

  private startPending(rest: Uint8Array, total: number): void {
    // allocate at most the frame's (already checked) size; for a partial header, 5 bytes
    const size = total < 0 ? HEADER_SIZE : total
    // not zero-filled: every byte is written before the frame is delivered; a frame's buffer is
    // its own (not a slice of Node's shared pool: a delivered view exposes its whole buffer)
    const buf = total < 0 ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size)
    buf.set(rest.subarray(0, size))
    this.pending = buf
    this.pendingLength = Math.min(rest.length, size)
    this.expected = total
  }

  /** Completes the pending frame from `chunk`; returns the offset after it, or -1 if still incomplete. */
  private fillPending(chunk: Uint8Array, out: Array<Frame>): number {
    let offset = 0
    if (this.expected < 0) {
      // still reading the header
      const need = HEADER_SIZE - this.pendingLength
      const take = Math.min(need, chunk.length)
      this.pending!.set(chunk.subarray(0, take), this.pendingLength)
      this.pendingLength += take
      offset = take
      if (this.pendingLength < HEADER_SIZE) return -1
      const header = this.pending!
      const length = readU32(header, 0)
      const error = this.check(length, header[4]!)
      if (error !== undefined) {
        this.fail(error)
        return -1
      }
      const total = 4 + length
      const buf = Buffer.allocUnsafeSlow(total)
      buf.set(header)
      this.pending = buf
      this.expected = total
    }
    const need = this.expected - this.pendingLength
    const take = Math.min(need, chunk.length - offset)
    this.pending!.set(chunk.subarray(offset, offset + take), this.pendingLength)
    this.pendingLength += take
    offset += take
    if (this.pendingLength < this.expected) return -1
    const frame = this.pending!
    this.pending = undefined
    this.expected = -1
    this.pendingLength = 0
    out.push({ type: frame[4] as FrameType, body: frame.subarray(HEADER_SIZE) })
    return offset === chunk.length ? -1 : offset
  }
}

const readU32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!

/** batches up to this size are copied out of the writer (Node serves them from its Buffer pool) */
const SMALL_BATCH = Buffer.poolSize >>> 1
/** bodies from this size on are not copied into the batch: they are written as they are (gather write) */
export const LARGE_BODY = 16 * 1024

/**
 * Accumulates frames so a whole batch goes out in one socket write. Small frames are copied into
 * one buffer; a body of `LARGE_BODY` bytes or more is referenced, not copied, and the batch is
 * then a list of parts for one gather write (`writev`).
 */
export class FrameWriter {
  private buf: Buffer
  private length = 0
  /** bytes of `buf` before this offset are already in `parts` */
  private sealed = 0
  /** the batch so far, when it references large bodies */
  private parts: Array<Uint8Array> | undefined = undefined
  private partsBytes = 0

  constructor(initial = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initial)
  }

  get size(): number {
    return this.partsBytes + this.length - this.sealed
  }

  private ensure(extra: number): void {
    const need = this.length + extra
    if (need <= this.buf.length) return
    let cap = Math.max(1, this.buf.length * 2) // from 1: an initial size of 0 would loop forever
    while (cap < need) cap *= 2
    const next = Buffer.allocUnsafe(cap)
    this.buf.copy(next, 0, 0, this.length)
    this.buf = next
  }

  write(type: FrameType, body: Uint8Array): void {
    this.writeWithPrefix(type, undefined, body)
  }

  /** One frame whose body is `prefix` followed by `body` (a fragment: its header, then its piece). */
  writeWithPrefix(type: FrameType, prefix: Uint8Array | undefined, body: Uint8Array): void {
    const prefixLength = prefix === undefined ? 0 : prefix.length
    const large = body.length >= LARGE_BODY
    this.ensure(HEADER_SIZE + prefixLength + (large ? 0 : body.length))
    const buf = this.buf
    let o = this.length
    buf.writeUInt32BE(1 + prefixLength + body.length, o)
    buf[o + 4] = type
    o += HEADER_SIZE
    if (prefix !== undefined) {
      buf.set(prefix, o)
      o += prefixLength
    }
    if (large) {
      this.length = o
      this.seal()
      this.parts!.push(body)
      this.partsBytes += body.length
    } else {
      buf.set(body, o)
      this.length = o + body.length
    }
  }

  /** Moves the unsealed bytes of `buf` into `parts`. */
  private seal(): void {
    const parts = (this.parts ??= [])
    if (this.length > this.sealed) {
      parts.push(this.buf.subarray(this.sealed, this.length))
      this.partsBytes += this.length - this.sealed
      this.sealed = this.length
    }
  }

  /** Takes the batch as one buffer. */
  take(): Buffer {
    const out = this.takeParts()
    return Array.isArray(out) ? Buffer.concat(out) : out
  }

  /**
   * Takes the batch: one buffer, or the parts of a gather write. A large buffer is handed over
   * as it is (no copy) and a new one started; small ones (a lone ask or reply, the headers
   * around large bodies) are copied into pooled allocations and the buffer kept: a fresh 16 KiB
   * buffer per write was most of the GC work of an ask.
   */
  takeParts(): Buffer | Array<Uint8Array> {
    const length = this.length
    const parts = this.parts
    if (parts === undefined) {
      this.length = 0
      if (length <= SMALL_BATCH) return this.copyOut(0, length)
      const out = this.buf.subarray(0, length)
      this.lend(Math.min(Math.max(16 * 1024, length), 1024 * 1024))
      return out
    }
    this.seal()
    this.parts = undefined
    this.partsBytes = 0
    this.length = 0
    this.sealed = 0
    if (length > SMALL_BATCH) {
      this.lend(16 * 1024)
      return parts
    }
    // parts cut from the buffer we keep are copied out; large bodies and parts of a buffer
    // outgrown since (see ensure) are not
    const buf = this.buf
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!
      const from = part.byteOffset - buf.byteOffset
      if (part.buffer === buf.buffer && from >= 0 && from < buf.length) parts[i] = this.copyOut(from, part.length)
    }
    return parts
  }

  /** the buffer handed over with the batch being written, and one to reuse once it is */
  private lent: Buffer | undefined = undefined
  private spare: Buffer | undefined = undefined

  /** Hands the buffer over with the batch; the next batch goes into the spare or a new one. */
  private lend(size: number): void {
    this.lent = this.buf
    const spare = this.spare
    this.spare = undefined
    this.buf = spare !== undefined && spare.length >= size ? spare : Buffer.allocUnsafe(size)
  }

  /**
   * The batch last taken has been written (the socket no longer reads its buffers): its buffer
   * is reused for a later batch rather than a new one allocated per write.
   */
  written(): void {
    const lent = this.lent
    this.lent = undefined
    if (lent !== undefined && lent.length <= 1024 * 1024) this.spare = lent
  }

  /** Lets go of the spare buffer and of a batch buffer grown past its initial size (idle connection). */
  trim(): void {
    this.spare = undefined
    if (this.length === 0 && this.parts === undefined && this.buf.length > 16 * 1024) this.buf = Buffer.allocUnsafe(16 * 1024)
  }

  private copyOut(from: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    this.buf.copy(out, 0, from, from + length)
    return out
  }
}

/** One frame as bytes (handshake, tests). */
export const encodeFrame = (type: FrameType, body: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(HEADER_SIZE + body.length)
  out.writeUInt32BE(body.length + 1, 0)
  out[4] = type
  out.set(body, HEADER_SIZE)
  return out
}
