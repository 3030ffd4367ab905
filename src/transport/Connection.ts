/**
 * One authenticated TCP connection to a peer node, after the handshake.
 *
 * Outbound: envelopes are codec-encoded as they are sent (in order: the per-connection
 * msgpackr state depends on it) and queued; everything queued while a write is in flight, or in
 * the same tick, goes out in ONE `socket.write` (measured: one write per message is 36× slower).
 * What is sent while inbound data is handled (replies, the next asks of fibers a reply resumed)
 * is written once the pending I/O has been handled (`afterIo`): sends to one peer caused by data
 * from several peers then share a write (half the writes when consecutive asks go to different
 * nodes). A send made anywhere else is written at the end of its microtask turn.
 * A batch carries at most `batchBytes` of data frames, and a pending heartbeat always goes first,
 * so a large message (sent as 64 KiB fragments) delays heartbeats by at most one batch.
 *
 * Inbound: the frame decoder runs on each `data` chunk; envelopes are handed to the router
 * synchronously (no Effect per message). Reading never stops: flow control is per destination
 * actor (the router's `Hold`/`Release` envelopes), so heartbeats and every other actor's traffic
 * are read whatever one slow actor does.
 *
 * Failure detection: a heartbeat is sent every `heartbeatMillis`; any frame counts as a sign of
 * life, and a connection that has been silent for `acceptablePauseMillis` is closed (TCP alone
 * would not notice a silent partition for ~15 minutes). The deadline is never suspended.
 *
 * Outbound bounds: senders that can wait (`tell`, `ask`) wait above `highWaterBytes`; what cannot
 * wait (replies, signals) is queued, but a peer that has not taken a write for
 * `writeStallMillis`, or that lets more than `maxQueuedBytes` pile up, is disconnected (Erlang's
 * busy dist port and tick timeout): its asks then fail with `NodeDown` instead of memory growing.
 * `close` fires exactly once, whatever ended the connection (error, FIN, reset, protocol error,
 * heartbeat deadline, write stall, queue limit, local close).
 *
 * Sequence numbers: frames carrying envelopes are counted on both sides per connection
 * (`epoch`); when a connection ends, `sent` and `received` say how many envelopes may have been
 * lost in between (TCP guarantees order, not delivery past a reset).
 *
 * @since 0.1.0
 */
import type { NodeId } from "../actors/ActorRef.ts"
import type { Codec } from "./Codec.ts"
import { type Cancel, realTimers, type Socket, type Timers } from "./Network.ts"
import {
  defaultFragmentSize,
  type Frame,
  type FrameDecoder,
  FrameType,
  FrameWriter,
  LARGE_BODY,
  ProtocolError,
  singleFrameLimit
} from "./Frame.ts"
import { emitBuffered, readInPlace } from "./internal/readInPlace.ts"
import { Slabs } from "./internal/slabs.ts"
import { WaitQueue } from "../internal/WaitQueue.ts"

/** data handlers running (of any connection of this process): their sends are flushed after I/O */
let reading = 0

export interface ConnectionOptions {
  readonly heartbeatMillis: number
  readonly acceptablePauseMillis: number
  readonly fragmentSize?: number
  /** largest reassembled message (fragments); default 64 MiB */
  readonly maxMessageSize?: number
  /** bytes of data frames per socket write, default 256 KiB */
  readonly batchBytes?: number
  /** queued bytes above which senders are asked to wait, default 1 MiB (Erlang's dist buffer busy limit) */
  readonly highWaterBytes?: number
  /** queued bytes above which the connection is closed (the peer is not reading), default 64 MiB */
  readonly maxQueuedBytes?: number
  /** a write the peer has not taken for this long closes the connection, default 10 s */
  readonly writeStallMillis?: number
  /** where a connection closed for overload (write stall, queue limit) says so */
  readonly log?: (message: string) => void
  /** the clock for heartbeats and the deadline (the wall clock, or a simulation's) */
  readonly timers?: Timers
}

export interface ConnectionHandlers {
  /** `bytes`: the encoded size, for flow-control accounting */
  onEnvelope(envelope: unknown, bytes: number): void
  onClose(reason: string): void
}

const EMPTY = new Uint8Array(0)

/** The first buffer of a fragmented message being reassembled (it grows as its pieces arrive). */
const initialAssembly = 1024 * 1024

/** How many frames a connection handles before it lets pending I/O run (see `onFrames`). */
const READ_SLICE = 1024

/** How many senders waiting for room a closed connection wakes per turn (see `wakeWhenClosed`). */
const WAKE_SLICE = 1024

/**
 * What a queued envelope costs in memory beside its encoded bytes (its view and queue slots,
 * about 125 bytes of heap and 10 of buffer measured): counted for the outbound queue limit, which
 * small envelopes would otherwise let grow to about 12 times its size (see `queuedMemory`).
 */
export const QUEUED_ENTRY_BYTES = 128

/** How long a gracefully closed socket waits for the peer's own close before it is destroyed. */
const gracefulCloseMillis = 1000

export class Connection {
  readonly peer: NodeId
  readonly codec: Codec
  readonly epoch: number
  readonly outbound: boolean
  readonly session: string
  sent = 0
  received = 0
  /** bytes written to and read from the socket (frames, heartbeats included), for the observer */
  bytesOut = 0
  bytesIn = 0
  closed: string | undefined = undefined

  private readonly socket: Socket
  private readonly decoder: FrameDecoder
  private readonly options: Required<ConnectionOptions>
  private handlers: ConnectionHandlers
  private readonly writer = new FrameWriter()
  /** the encoded envelopes of the queue (see slabs.ts) */
  private readonly slabs = new Slabs()
  /** queue entries queued and written so far, and in the write in flight */
  private entries = 0
  private writtenEntries = 0
  private inFlightEntries = 0
  private queueTypes: Array<number> = []
  private queueBodies: Array<Uint8Array> = []
  private queueHead = 0
  /** the 12-byte headers of the queued fragments, in queue order (their pieces are in queueBodies) */
  private fragmentHeaders: Array<Uint8Array> = []
  private fragmentHead = 0
  queuedBytes = 0
  /** queue entries not yet handed to a write (a fragmented envelope is one per piece) */
  private queuedEntries = 0
  private writing = false
  private writeStarted = 0
  private flushScheduled = false
  private heartbeatDue = false
  private lastReceived: number
  private readonly timers: Timers
  private stopTimer: Cancel
  private readonly drainWaiters = new WaitQueue()
  private drainWakeScheduled = false
  private nextFragmentId = 1
  /**
   * the fragmented message being reassembled: its buffer grows with the pieces (doubling, up to
   * `total`), so what a peer announces costs nothing until it has sent it
   */
  private assembly: { id: number; total: number; buf: Buffer; filled: number } | undefined = undefined

  constructor(
    socket: Socket,
    established: {
      readonly peer: NodeId
      readonly codec: Codec
      readonly decoder: FrameDecoder
      readonly leftover: ReadonlyArray<Frame>
      readonly outbound: boolean
      readonly session: string
    },
    epoch: number,
    options: ConnectionOptions,
    handlers: ConnectionHandlers
  ) {
    this.socket = socket
    this.peer = established.peer
    this.codec = established.codec
    this.decoder = established.decoder
    this.outbound = established.outbound
    this.session = established.session
    this.epoch = epoch
    this.handlers = handlers
    this.options = {
      fragmentSize: defaultFragmentSize,
      maxMessageSize: 64 * 1024 * 1024,
      batchBytes: 256 * 1024,
      highWaterBytes: 1024 * 1024,
      maxQueuedBytes: 64 * 1024 * 1024,
      writeStallMillis: 10_000,
      log: () => {},
      timers: realTimers,
      ...options
    }
    this.timers = this.options.timers
    this.lastReceived = this.timers.now()
    socket.setNoDelay(true)
    socket.setKeepAlive(true, Math.max(1000, options.acceptablePauseMillis))
    socket.on("data", this.onData)
    socket.on("error", (e) => this.close(`socket error: ${e.message}`))
    socket.on("end", () => this.close("connection closed by peer"))
    socket.on("close", () => this.close("connection closed"))
    this.stopTimer = this.timers.setInterval(this.tick, options.heartbeatMillis)
    this.leftover = established.leftover
  }

  private leftover: ReadonlyArray<Frame>

  /** Delivers what arrived with the end of the handshake and resumes reading; call once handlers are set. */
  start(): void {
    const leftover = this.leftover
    this.leftover = []
    for (const frame of leftover) {
      this.onFrame(frame)
      if (this.closed !== undefined) return
    }
    // bad bytes in the chunk that ended the handshake: the decoder failed after the leftover frames
    const failed = this.decoder.failed
    if (failed !== undefined) return this.close(`protocol error: ${failed.message}`)
    const socket = this.socket
    // what the socket read after the handshake's last frame comes first (as `data`, to onData)
    emitBuffered(socket, () => this.closed !== undefined)
    if (this.closed !== undefined) return
    // frames are read into the decoder's buffers where the socket allows it (plain TCP), not
    // into a new buffer per read that a large frame is then copied out of
    const decoder = this.decoder
    readInPlace(socket, () => decoder.readBuffer(), this.onRead)
    socket.resume()
  }

  /** Replaces the envelope handlers (the router installs its own once the peer is attached). */
  setHandlers(handlers: ConnectionHandlers): void {
    this.handlers = handlers
  }

  get isFull(): boolean {
    return this.queuedBytes > this.options.highWaterBytes
  }

  get highWaterBytes(): number {
    return this.options.highWaterBytes
  }

  /**
   * What the outbound queue holds in memory, about: its encoded bytes plus `QUEUED_ENTRY_BYTES`
   * per entry. The queue limit (`maxQueuedBytes`) and the limit of `tellUnsafe`s count this: a
   * peer that sends asks and does not read their replies (a few bytes each) made a node hold
   * 300 MiB of heap for 25 MiB of queued replies.
   */
  get queuedMemory(): number {
    return this.queuedBytes + this.queuedEntries * QUEUED_ENTRY_BYTES
  }

  /**
   * Encodes and queues one envelope. An envelope the codec cannot encode (a `bigint` with
   * `json`, one past 64 bits with MessagePack), or whose encoding is larger than the largest
   * message a node accepts (`maxMessageSize`, 64 MiB), since its receiver would close the
   * connection on it, is not sent: the reason is returned, and the caller refuses that one send.
   */
  send(envelope: unknown): string | undefined {
    if (this.closed !== undefined) return undefined
    // a small envelope is kept where the encoder put it; a large one is copied into a reused slab
    // (the encoder's buffer is reused for the next one)
    let transient: Uint8Array
    try {
      transient = this.codec.encodeTransient(envelope)
    } catch (e) {
      // thrown out of a reply or a send, it would crash the actor that made it
      return `it cannot be encoded with ${this.codec.name}: ${e instanceof Error ? e.message : String(e)}`
    }
    const length = transient.length
    if (length > this.options.maxMessageSize) {
      const issue = `its encoding of ${length} bytes exceeds the largest message a node accepts (${this.options.maxMessageSize} bytes)`
      this.codec.discard()
      return issue
    }
    this.sent++
    if (length <= Math.max(this.options.fragmentSize, singleFrameLimit)) {
      let body = transient
      if (length < LARGE_BODY) this.codec.keep()
      else body = this.slabs.copy(transient, this.entries + 1)
      this.enqueue(FrameType.Message, body)
    } else {
      const size = this.options.fragmentSize
      this.enqueueFragments(this.slabs.copy(transient, this.entries + Math.ceil(length / size)))
    }
    // what was queued before this envelope: one large message alone is no sign of a peer not reading
    if (this.queuedMemory - length > this.options.maxQueuedBytes) {
      this.overloaded(
        `${this.peer.name} is not reading: more than ${this.options.maxQueuedBytes} bytes queued for it (outbound queue limit)`
      )
      return undefined
    }
    this.scheduleFlush()
    return undefined
  }

  /** Calls `wake` once the outbound queue is below the high-water mark (or the connection closed). */
  waitForDrain(wake: () => void): () => void {
    if (!this.isFull || this.closed !== undefined) {
      queueMicrotask(wake)
      return () => {}
    }
    return this.drainWaiters.add(wake)
  }

  /** Closes a connection whose peer does not keep up, and says so in the log (both directions). */
  private overloaded(reason: string): void {
    if (this.closed !== undefined) return
    this.options.log(`closing the connection to ${this.peer.name}: ${reason}`)
    this.close(reason)
  }

  /**
   * Closes the connection. `graceful` (this node stopping): the socket is ended (a FIN after what
   * was written) and read until the peer closes too, and destroyed only after a grace period.
   * Destroying a socket with unread bytes makes the kernel send a reset, which the peer could
   * only report as a fault.
   */
  /** Resolves once the socket is closed (at once when it is already). */
  socketClosed(): Promise<void> {
    const socket = this.socket
    if (socket.destroyed) return Promise.resolve()
    return new Promise((resolve) => socket.once("close", () => resolve()))
  }

  close(reason: string, graceful = false): void {
    if (this.closed !== undefined) return
    this.closed = reason
    this.stopTimer()
    this.queueTypes = []
    this.queueBodies = []
    this.queueHead = 0
    this.fragmentHeaders = []
    this.fragmentHead = 0
    this.queuedBytes = 0
    this.queuedEntries = 0
    this.slabs.clear()
    const socket = this.socket
    if (graceful && socket.end !== undefined && !socket.destroyed) {
      socket.end()
      socket.resume()
      const cancel = this.timers.setTimeout(() => socket.destroy(), gracefulCloseMillis)
      socket.once("close", cancel)
    } else {
      socket.destroy()
    }
    this.wakeWhenClosed()
    this.handlers.onClose(reason)
  }

  /**
   * The senders that waited for room try again, oldest first, at most `WAKE_SLICE` per turn and
   * the rest after pending I/O: each refused ask builds its outcome, and tens of thousands of
   * them woken in one turn held the event loop (a peer's heartbeats with it) for seconds.
   */
  private wakeWhenClosed = (): void => {
    for (let n = 0; n < WAKE_SLICE; n++) {
      const wake = this.drainWaiters.shift()
      if (wake === undefined) return
      wake()
    }
    if (this.drainWaiters.size > 0) this.timers.afterIo(this.wakeWhenClosed)
  }

  // --- outbound ------------------------------------------------------------

  private enqueue(type: number, body: Uint8Array): void {
    this.entries++
    this.queuedEntries++
    this.writerIdle = false
    this.queueTypes.push(type)
    this.queueBodies.push(body)
    this.queuedBytes += body.length + 5
  }

  /**
   * fragment body: u32 id | u32 total length | u32 offset | bytes. The pieces are views of the
   * encoded message, not copies: the writer puts each header before its piece.
   */
  private enqueueFragments(bytes: Uint8Array): void {
    const id = this.nextFragmentId++
    const size = this.options.fragmentSize
    for (let offset = 0; offset < bytes.length; offset += size) {
      const header = Buffer.allocUnsafe(12)
      header.writeUInt32BE(id, 0)
      header.writeUInt32BE(bytes.length, 4)
      header.writeUInt32BE(offset, 8)
      this.fragmentHeaders.push(header)
      this.queuedBytes += 12
      this.enqueue(FrameType.Fragment, bytes.subarray(offset, Math.min(bytes.length, offset + size)))
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing) return
    this.flushScheduled = true
    if (reading > 0) this.timers.afterIo(this.flush)
    else queueMicrotask(this.flush)
  }

  private flush = (): void => {
    this.flushScheduled = false
    if (this.writing || this.closed !== undefined) return
    const writer = this.writer
    if (this.heartbeatDue) {
      this.heartbeatDue = false
      writer.write(FrameType.Heartbeat, EMPTY)
    }
    const budget = this.options.batchBytes
    const types = this.queueTypes
    const bodies = this.queueBodies
    let i = this.queueHead
    let bytes = 0
    while (i < bodies.length && (bytes < budget || i === this.queueHead)) {
      const body = bodies[i]!
      const type = types[i] as FrameType
      if (type === FrameType.Fragment) {
        const header = this.fragmentHeaders[this.fragmentHead]!
        this.fragmentHeaders[this.fragmentHead++] = EMPTY
        writer.writeWithPrefix(type, header, body)
        bytes += 12
      } else {
        writer.write(type, body)
      }
      bytes += body.length + 5
      bodies[i] = EMPTY
      i++
    }
    this.queuedBytes -= bytes
    this.inFlightEntries = i - this.queueHead
    this.queuedEntries -= this.inFlightEntries
    if (i === bodies.length) {
      this.queueTypes = []
      this.queueBodies = []
      this.queueHead = 0
      this.fragmentHeaders = []
      this.fragmentHead = 0
    } else {
      this.queueHead = i
      if (i > 1024 && i * 2 > bodies.length) {
        this.queueTypes = types.slice(i)
        this.queueBodies = bodies.slice(i)
        this.queueHead = 0
      }
      if (this.fragmentHead > 1024 && this.fragmentHead * 2 > this.fragmentHeaders.length) {
        this.fragmentHeaders = this.fragmentHeaders.slice(this.fragmentHead)
        this.fragmentHead = 0
      }
    }
    if (writer.size === 0) return
    this.bytesOut += writer.size
    this.writing = true
    this.writeStarted = this.timers.now()
    const out = writer.takeParts()
    if (!Array.isArray(out)) {
      this.socket.write(out, this.afterWrite)
    } else if (this.socket.cork !== undefined && this.socket.uncork !== undefined) {
      // one gather write (writev) for the batch and the large bodies it references
      this.socket.cork()
      const last = out.length - 1
      for (let k = 0; k < last; k++) this.socket.write(out[k]!)
      this.socket.write(out[last]!, this.afterWrite)
      this.socket.uncork()
    } else {
      this.socket.write(Buffer.concat(out), this.afterWrite)
    }
    if (this.drainWaiters.size > 0 && !this.isFull && !this.drainWakeScheduled) this.wakeDrainWaiters()
  }

  private afterWrite = (error?: Error | null): void => {
    this.writing = false
    if (error) return this.close(`write failed: ${error.message}`)
    // the socket is done with the batch's buffers: they may be reused
    this.writer.written()
    this.writtenEntries += this.inFlightEntries
    this.inFlightEntries = 0
    if (this.writtenEntries === this.entries) this.slabs.rewind(this.writtenEntries)
    else this.slabs.release(this.writtenEntries)
    if (this.queueHead < this.queueBodies.length || this.heartbeatDue) this.flush()
  }

  /**
   * Senders waiting for room try again, oldest first, while there is room: at most `WAKE_SLICE`
   * per turn, the rest after pending I/O (or at the next write, once the queue is full again).
   * Waking all of them at once had each encode its message, most only to find the queue full
   * again: with tens of thousands waiting, every write held the event loop for a second.
   */
  private wakeDrainWaiters = (): void => {
    this.drainWakeScheduled = false
    if (this.closed !== undefined) return
    for (let n = 0; n < WAKE_SLICE && !this.isFull; n++) {
      const wake = this.drainWaiters.shift()
      if (wake === undefined) return
      wake()
    }
    if (this.drainWaiters.size > 0 && !this.isFull && !this.drainWakeScheduled && this.closed === undefined) {
      this.drainWakeScheduled = true
      this.timers.afterIo(this.wakeDrainWaiters)
    }
  }

  private tick = (): void => {
    if (this.writing && this.timers.now() - this.writeStarted > this.options.writeStallMillis) {
      // as for the silence check below: look again once pending I/O (a completed write) is seen
      return this.timers.afterIo(() => {
        if (this.closed !== undefined || !this.writing) return
        if (this.timers.now() - this.writeStarted > this.options.writeStallMillis) {
          this.overloaded(
            `${this.peer.name} has not read for ${this.options.writeStallMillis} ms (write stall, ${this.queuedBytes} bytes queued)`
          )
        }
      })
    }
    if (this.timers.now() - this.lastReceived > this.options.acceptablePauseMillis) {
      // After a stall of this process, timers can fire before the bytes that arrived meanwhile
      // are read: look again once pending I/O has been processed, so that our own pause is not
      // taken for the peer's silence.
      return this.timers.afterIo(() => {
        if (this.closed !== undefined) return
        if (this.timers.now() - this.lastReceived > this.options.acceptablePauseMillis) {
          this.close(`no sign of life from ${this.peer.name} for ${this.options.acceptablePauseMillis} ms (heartbeat deadline)`)
        }
      })
    }
    this.heartbeatDue = true
    if (!this.writing) {
      // buffers of large messages are let go once the connection has not needed them for a beat
      if (this.writtenEntries === this.entries) {
        this.slabs.trim()
        if (this.writerIdle) this.writer.trim()
        this.writerIdle = true
      }
      this.scheduleFlush()
    }
  }

  /** no data frame was queued since the last heartbeat */
  private writerIdle = false

  // --- inbound -------------------------------------------------------------

  private frames: Array<Frame> = []

  private onData = (chunk: Buffer): void => {
    // a gracefully closing connection reads on only to drain the socket
    if (this.closed !== undefined) return
    this.lastReceived = this.timers.now()
    this.bytesIn += chunk.length
    this.onFrames(this.decoder.push(chunk, this.frames))
  }

  /** `n` bytes were read in place (see `readInPlace`) */
  private onRead = (n: number): void => {
    if (this.closed !== undefined) return
    this.lastReceived = this.timers.now()
    this.bytesIn += n
    this.onFrames(this.decoder.filled(n, this.frames))
  }

  /** the next of `frames` to handle */
  private frameHead = 0
  /** frames handled since reading last paused (see `onFrames`) */
  private sliceFrames = 0
  /** the decoder's error, once the frames before it are handled */
  private readError: ProtocolError | undefined = undefined

  /**
   * Handles the frames read. After `READ_SLICE` frames the socket is paused and the rest are
   * handled after pending I/O, then reading resumes: the kernel can hand over megabytes per
   * socket in one poll phase (libuv reads up to 32 times 64 KiB per ready socket), and a peer
   * flooding us (replies after a freeze, envelopes we refuse) held the event loop for as long as
   * handling all of them took, its timers (our heartbeats) and other sockets with it. The frames
   * left are copied out of the read buffer (see `keepFrames`).
   */
  private onFrames(error: ProtocolError | undefined): void {
    if (error !== undefined) this.readError = error
    const frames = this.frames
    reading++
    try {
      while (this.frameHead < frames.length) {
        if (this.sliceFrames >= READ_SLICE) {
          this.sliceFrames = 0
          this.socket.pause()
          this.keepFrames()
          return this.timers.afterIo(this.readOn)
        }
        this.sliceFrames++
        this.onFrame(frames[this.frameHead++]!)
        if (this.closed !== undefined) break
      }
    } finally {
      reading--
    }
    frames.length = 0
    this.frameHead = 0
    if (this.readError !== undefined && this.closed === undefined) this.close(`protocol error: ${this.readError.message}`)
  }

  /**
   * The frames left for after pending I/O that are views of the decoder's read buffer are
   * copied: the socket asks the decoder where its next read goes as soon as this one is handled,
   * paused or not, and the decoder may then move the unfinished frame at the buffer's end to its
   * front, over frames not handled yet.
   */
  private keepFrames(): void {
    const frames = this.frames
    for (let i = this.frameHead; i < frames.length; i++) {
      const f = frames[i]!
      // a copy ('Buffer#slice' would be a view)
      if (f.shared === true) frames[i] = { type: f.type, body: Uint8Array.prototype.slice.call(f.body) }
    }
  }

  /** The rest of a slice of frames (see `onFrames`), then reading again. */
  private readOn = (): void => {
    if (this.closed !== undefined) return
    this.onFrames(undefined)
    if (this.frameHead === 0 && this.closed === undefined) this.socket.resume()
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Heartbeat:
        return
      case FrameType.Message:
        return this.deliver(frame.body, frame.shared === true)
      case FrameType.Fragment:
        return this.onFragment(frame.body)
      default:
        return this.close(`protocol error: unexpected frame type ${frame.type} after the handshake`)
    }
  }

  private deliver(body: Uint8Array, shared: boolean): void {
    this.received++
    const bytes = body.length
    let envelope: unknown
    try {
      envelope = this.codec.decode(body, shared)
    } catch (e) {
      return this.close(
        `protocol error: ${new ProtocolError({ reason: "BadEnvelope", message: `undecodable envelope (${String(e)})` }).message}`
      )
    }
    try {
      this.handlers.onEnvelope(envelope, bytes)
    } catch (e) {
      // a fault in handling one envelope ends this connection, not the process (it would be
      // thrown out of the socket's data event)
      this.options.log(`closing the connection to ${this.peer.name}: handling an envelope failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
      this.close(`handling an envelope failed: ${String(e)}`)
    }
  }

  private onFragment(body: Uint8Array): void {
    if (body.length < 12) return this.close("protocol error: fragment shorter than its header")
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
    const id = view.getUint32(0)
    const total = view.getUint32(4)
    const offset = view.getUint32(8)
    const piece = body.subarray(12)
    if (offset === 0) {
      if (total > this.options.maxMessageSize) {
        return this.close(`protocol error: fragmented message of ${total} bytes exceeds ${this.options.maxMessageSize}`)
      }
      if (this.assembly !== undefined) return this.close("protocol error: new fragmented message before the previous one ended")
      // every byte is written before use
      this.assembly = { id, total, buf: Buffer.allocUnsafe(Math.min(total, Math.max(initialAssembly, piece.length))), filled: 0 }
    }
    const a = this.assembly
    if (a === undefined || a.id !== id || offset !== a.filled || a.total !== total || offset + piece.length > total) {
      return this.close("protocol error: fragment out of sequence")
    }
    const filled = offset + piece.length
    if (filled > a.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(total, Math.max(filled, a.buf.length * 2)))
      grown.set(a.buf.subarray(0, a.filled))
      a.buf = grown
    }
    a.buf.set(piece, offset)
    a.filled = filled
    if (filled === total) {
      this.assembly = undefined
      this.deliver(a.buf, false) // grown to exactly `total` by now
    }
  }
}
