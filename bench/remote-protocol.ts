/**
 * What the two processes of the `remote` benchmark group share: the target actor's protocol and
 * behaviour (both nodes must know the protocol, with the same fingerprint), the raw-socket
 * baseline's framing, and the messages both sides send.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../src/index.ts"

export const Bench = Actor.make("Bench", {
  /** the ~100-byte validated message of the tell-throughput test */
  Tell: Actor.tell({ seq: Schema.Int, account: Schema.String, amount: Schema.Number, note: Schema.String }),
  /** the small request of the ask tests (answered with its `seq`) */
  Ping: Actor.ask({ seq: Schema.Int, note: Schema.String }, { success: Schema.Int }),
  /** the bulk test's message: one 64 KiB payload */
  Bulk: Actor.tell({ data: Schema.Uint8Array }),
  /** messages handled so far (tells and bulk); FIFO makes it a barrier after a run of tells */
  Count: Actor.ask({}, { success: Schema.Int })
})

export const BenchLive = Bench.behavior(Effect.sync(() => {
  let count = 0
  let bytes = 0
  let check = 0
  return {
    Tell: ({ seq }) =>
      Effect.sync(() => {
        count++
        check += seq
      }),
    Ping: ({ seq }) => Effect.succeed(seq),
    Bulk: ({ data }) =>
      Effect.sync(() => {
        count++
        bytes += data.length
      }),
    Count: () => Effect.succeed(count)
  }
}))

/**
 * Node options of both processes. The failure detector is relaxed: on a shared 2-core machine a
 * process can be descheduled for seconds, and a benchmark measures throughput, not detection.
 */
export const nodeOptions = { acceptablePause: "60 seconds" } as const

/** Name under which the peer registers the target actor. */
export const TARGET = "bench-target"

/** 60 characters: sizes the tell envelope to ~100 bytes with the msgpackr-records codec. */
export const NOTE = "remote tell benchmark payload, sixty characters of padding.."
/** sizes the ask envelope to ~64 bytes (the raw ping-pong payload) */
export const PING_NOTE = "ping-pong request, 32 characters"

export const ACCOUNT = "acct-1234"
export const AMOUNT = 125.5

/** The tell message with sequence number `seq`, as both the runtime and the baseline send it. */
export const tellMessage = (seq: number) => Bench.Tell({ seq, account: ACCOUNT, amount: AMOUNT, note: NOTE })

/**
 * Raw baseline connections start with a 5-byte header: one mode byte and a u32 count.
 * - `p`: ping-pong, 4-byte big-endian length + payload frames, each echoed back (count unused)
 * - `t`: `count` msgpackr-records frames decoded one by one, one ack byte after the last
 * - `b`: `count` frames (any size) reassembled (one concat), one ack byte after the last
 */
export const RawMode = { PingPong: 0x70, Tell: 0x74, Bulk: 0x62 } as const

/** the options of the `msgpackr-records` codec (msgpackr keeps state in its options object: copy them) */
export const msgpackrRecordsOptions = { useRecords: true, sequential: true, moreTypes: false } as const

/**
 * Length-prefixed frame decoder of the raw baselines (as `shared/bench-baseline/lib.mjs`):
 * 4-byte big-endian length, then payload. Calls `onFrame(buf, start, end)` for each complete
 * frame without copying when the frame lies inside one chunk; a frame spanning chunks is
 * assembled with ONE concat once all its bytes have arrived.
 */
export class RawFrameDecoder {
  private parts: Array<Buffer> = []
  private partsLen = 0
  private need = 0
  private readonly onFrame: (buf: Buffer, start: number, end: number) => void

  constructor(onFrame: (buf: Buffer, start: number, end: number) => void) {
    this.onFrame = onFrame
  }

  push(chunk: Buffer): void {
    if (this.partsLen > 0) {
      this.parts.push(chunk)
      this.partsLen += chunk.length
      if (this.partsLen < this.need) return
      chunk = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLen)
      this.parts = []
      this.partsLen = 0
    }
    const len = chunk.length
    const onFrame = this.onFrame
    let off = 0
    while (len - off >= 4) {
      const n = chunk.readUInt32BE(off)
      if (len - off - 4 < n) break
      onFrame(chunk, off + 4, off + 4 + n)
      off += 4 + n
    }
    if (off < len) {
      const rest = off === 0 ? chunk : chunk.subarray(off)
      this.parts.push(rest)
      this.partsLen = rest.length
      this.need = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 4
    }
  }
}
