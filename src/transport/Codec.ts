/**
 * Codecs for envelopes (the bodies of `MESSAGE` frames). Messages are first encoded with their
 * protocol Schema (so a value is validated and turned into plain data), then serialised by the
 * codec negotiated in the handshake:
 *
 * - `msgpackr-records` (preferred between Telex nodes): msgpackr with record structures shared
 *   per connection (`sequential`), measured 1.75× JSON throughput with half the bytes.
 *   It is msgpackr-specific: each connection gets its own
 *   packer/unpacker pair, and every packed envelope must be sent, in order.
 * - `msgpack`: standard MessagePack (maps, no extensions) — any MessagePack library can speak it.
 *   64-bit integers decode as numbers (as in JSON, exact up to 2^53).
 * - `json`: UTF-8 JSON, for debugging and the simplest foreign clients.
 *
 * msgpackr is used rather than a hand-written encoder: it is well kept, fast (native string
 * decoding) and standard-conformant in its plain mode.
 *
 * @since 0.1.0
 */
import { Packr, RESET_BUFFER_MODE, Unpackr } from "msgpackr"

export type CodecName = "msgpackr-records" | "msgpack" | "json"

export const supportedCodecs: ReadonlyArray<CodecName> = ["msgpackr-records", "msgpack", "json"]

/** One direction-pair of a connection's serialisation state. */
export interface Codec {
  readonly name: CodecName
  /** Throws on a value the codec cannot write (a `bigint` with `json`, one past 64 bits with MessagePack, a cycle). */
  encode(value: unknown): Uint8Array
  /**
   * The same bytes as `encode`, valid only until the next call (the encoder's buffer, reused):
   * for a caller that copies them at once, or calls `keep`.
   */
  encodeTransient(value: unknown): Uint8Array
  /** The last `encodeTransient` result stays valid, as one from `encode` would. */
  keep(): void
  /**
   * The last `encodeTransient` result will not be sent: the encoder forgets what it defined in
   * it (a msgpackr record structure used for the first time), so nothing sent later refers to it.
   */
  discard(): void
  /**
   * `shared`: `bytes` is a view of a buffer that is overwritten once `decode` returns, so byte
   * arrays in the value are copies; otherwise they are views of `bytes` (no copy of a large payload).
   */
  decode(bytes: Uint8Array, shared?: boolean): unknown
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder("utf-8", { fatal: true })

const canMovePosition = Object.getOwnPropertyDescriptor(Packr.prototype, "position")?.set !== undefined

/**
 * msgpackr packs each value after the previous one in its buffer and starts a new buffer when it
 * is full; `RESET_BUFFER_MODE` packs the next value at the same place instead, and `keep` moves
 * past it as a plain `pack` would have (msgpackr's buffers start at offset 0).
 *
 * With records, a value that uses a record structure for the first time defines it inline (the
 * structure's id is msgpackr's `structures.nextId`, which moves on), and later values refer to
 * it by id: a value that defined one and is then not sent is discarded by starting a new packer.
 * The new one defines each structure again at its next use, from the first id; the peer's
 * unpacker (sequential) takes a definition for an id it already has as the new meaning of that
 * id, so it follows.
 */
const packing = (make: () => Packr, records: boolean): Pick<Codec, "encode" | "encodeTransient" | "keep" | "discard"> => {
  let packr = make()
  const structures = () => (packr as unknown as { structures?: { nextId?: number } }).structures?.nextId
  let defined = false
  const pack = (v: unknown, mode?: number) => {
    try {
      if (!records) return mode === undefined ? packr.pack(v) : packr.pack(v, mode)
      const before = structures()
      const bytes = mode === undefined ? packr.pack(v) : packr.pack(v, mode)
      defined = structures() !== before
      return bytes
    } catch (e) {
      // a value msgpackr cannot write (a bigint past 64 bits, a cycle) stopped it half way: a
      // new packer, as `discard` makes, so nothing sent later refers to what it defined
      packr = make()
      defined = false
      throw e
    }
  }
  let last: Uint8Array | undefined
  const discard = () => {
    last = undefined
    if (defined) packr = make()
    defined = false
  }
  // a msgpackr without the `position` setter: every result is kept (plain `pack`)
  if (!canMovePosition) return { encode: (v) => pack(v), encodeTransient: (v) => pack(v), keep: () => {}, discard }
  return {
    encode: (v) => pack(v),
    encodeTransient: (v) => (last = pack(v, RESET_BUFFER_MODE)),
    keep: () => {
      if (last !== undefined) (packr as unknown as { position: number }).position = last.byteOffset + last.length
      last = undefined
    },
    discard
  }
}

/** msgpackr reads `copyBuffers` from the unpacker at each `bin` it decodes */
const unpack = (unpackr: Unpackr, bytes: Uint8Array, shared: boolean | undefined): unknown => {
  ;(unpackr as { copyBuffers?: boolean }).copyBuffers = shared === true
  return unpackr.unpack(bytes as Buffer)
}

export const make = (name: CodecName): Codec => {
  switch (name) {
    case "msgpackr-records": {
      const unpackr = new Unpackr({ useRecords: true, sequential: true, moreTypes: false, structuredClone: false })
      return {
        name,
        ...packing(() => new Packr({ useRecords: true, sequential: true, moreTypes: false }), true),
        decode: (b, shared) => unpack(unpackr, b, shared)
      }
    }
    case "msgpack": {
      // other MessagePack libraries encode integers >= 2^32 (incarnations, ids) as uint 64 / int 64,
      // which msgpackr would decode as BigInt and every number check would reject
      // no structured-clone references (msgpackr's extensions 0x69/0x70): they would let a peer
      // send cyclic values, which nothing downstream expects
      const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number", structuredClone: false })
      return {
        name,
        // `undefined` (e.g. a request id a peer left out, echoed) as nil, as JSON writes null:
        // msgpackr would write its extension for it, which standard MessagePack does not have
        ...packing(() => new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, encodeUndefinedAsNil: true }), false),
        decode: (b, shared) => unpack(unpackr, b, shared)
      }
    }
    case "json": {
      const encode = (v: unknown) => textEncoder.encode(JSON.stringify(v))
      return {
        name,
        encode,
        encodeTransient: encode,
        keep: () => {},
        discard: () => {},
        decode: (b) => JSON.parse(textDecoder.decode(b))
      }
    }
  }
}

/** The first codec of the client's preference list that we support. */
export const choose = (offered: ReadonlyArray<string>): CodecName | undefined =>
  offered.find((c): c is CodecName => (supportedCodecs as ReadonlyArray<string>).includes(c))
