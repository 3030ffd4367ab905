/**
 * What a peer's MessagePack extension types decode to (docs/protocol.md section 5): a BigInt
 * (msgpackr's 0x42) arrives as a number, a timestamp (-1) as its ISO text, and any other
 * extension value makes the body undecodable (the connection closes, section 10), so an actor
 * whose Schema takes any value only ever sees the protocol's data model. Between Telex nodes,
 * msgpackr-records' own records (and `undefined`) still decode, and a Map or a 64-bit BigInt a
 * Telex packer writes decodes as the msgpack codec decodes it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { Packr } from "msgpackr"
import { Actor } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import * as Codec from "../../src/transport/Codec.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "ext"
const secret = "ext-secret"

/** A value's class and its JSON text: what an actor that stores or logs it would see. */
const describeValue = (u: unknown): string => `${Object.prototype.toString.call(u)} ${JSON.stringify(u)}`

const Keep = Actor.make("Keep", {
  Put: Actor.tell({ value: Schema.Unknown }),
  Last: Actor.ask({}, { success: Schema.String }),
  Echo: Actor.ask({ value: Schema.Unknown }, { success: Schema.String })
})

const KeepLive = Keep.behavior(Effect.sync(() => {
  let last: unknown = null
  return {
    Put: ({ value }) => Effect.sync(() => { last = value }),
    Last: () => Effect.sync(() => describeValue(last)),
    Echo: ({ value }) => Effect.sync(() => describeValue(value))
  }
}))

const bigint5 = [0xd4, 0x42, 0x05]
const date1s = [0xd6, 0xff, 0, 0, 0, 1]
const invalidDate = [0xd4, 0xff, 0xff]
const set1 = [0xd4, 0x73, 0x00, 0x91, 0x01]
const float32 = [0xc7, 0x05, 0x74, 0x08, 0, 0, 0x80, 0x3f]
const unknownExt = [0xd4, 0x10, 0x00]
const c1 = [0xc1]

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })
const MARK = "\u0000ext\u0000"
/** `value` packed as plain MessagePack, with `raw` bytes where it holds the string MARK. */
const withRaw = (value: unknown, raw: ReadonlyArray<number>): Buffer => {
  const packed = Buffer.from(packr.pack(value))
  const mark = Buffer.from(packr.pack(MARK))
  const at = packed.indexOf(mark)
  return Buffer.concat([packed.subarray(0, at), Buffer.from(raw), packed.subarray(at + mark.length)])
}

describe("MessagePack extension values from a peer", () => {
  it("decode to the data model, or the body does not decode", () => {
    for (const name of ["msgpack", "msgpackr-records"] as const) {
      const decode = (raw: ReadonlyArray<number>) => Codec.make(name).decode(withRaw([0, { a: [MARK] }], raw))
      assert.deepStrictEqual(decode(bigint5), [0, { a: [5] }], name)
      assert.deepStrictEqual(decode(date1s), [0, { a: ["1970-01-01T00:00:01.000Z"] }], name)
      assert.deepStrictEqual(decode(invalidDate), [0, { a: [null] }], name)
      for (const raw of [set1, float32, unknownExt, c1]) assert.throws(() => decode(raw), undefined, undefined, `${name} ${raw}`)
    }
  })

  it("msgpackr-records between Telex nodes: records, undefined, a Map and a 64-bit BigInt a packer writes", () => {
    const a = Codec.make("msgpackr-records")
    const b = Codec.make("msgpackr-records")
    const sent = [0, 3, "Keep", { _tag: "Put", value: { n: 5n, m: new Map([["k", 1]]), u: undefined, d: new Date(1000) } }]
    for (let i = 0; i < 2; i++) {
      assert.deepStrictEqual(b.decode(a.encode(sent)), [0, 3, "Keep", {
        _tag: "Put",
        value: { n: 5, m: { k: 1 }, u: undefined, d: "1970-01-01T00:00:01.000Z" }
      }])
    }
  })

  it.live("an actor whose Schema takes any value sees the data model; other extension values close the connection", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(KeepLive, { name: "keep" })
      let peers = 0
      const connect = async () => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: `raw${++peers}`, codec: "msgpack" })
        peer.sendEnvelope([22, 1, "keep"])
        return { peer, keep: (await peer.envelope(23))[2].id as number }
      }
      yield* Effect.promise(async () => {
        const { peer, keep } = await connect()
        const ask = async (raw: ReadonlyArray<number>, askId: number) => {
          peer.send(FrameType.Message, withRaw([1, keep, "Keep", { _tag: "Echo", value: MARK }, askId, null], raw))
          return (await peer.envelope(2)).slice(1)
        }
        // a tell, then asks
        peer.send(FrameType.Message, withRaw([0, keep, "Keep", { _tag: "Put", value: { n: MARK } }], bigint5))
        peer.sendEnvelope([1, keep, "Keep", { _tag: "Last" }, 1, null])
        assert.deepStrictEqual((await peer.envelope(2)).slice(1), [1, 0, `[object Object] {"n":5}`])
        assert.deepStrictEqual(await ask(bigint5, 2), [2, 0, "[object Number] 5"])
        assert.deepStrictEqual(await ask(date1s, 3), [3, 0, `[object String] "1970-01-01T00:00:01.000Z"`])
        assert.isFalse(peer.closed)
        peer.destroy()
      })
      const closing: Array<[string, (peer: RawPeer, keep: number) => Buffer]> = [
        ["a Set in an ask", (_, keep) => withRaw([1, keep, "Keep", { _tag: "Echo", value: MARK }, 1, null], set1)],
        ["a Float32Array in a tell", (_, keep) => withRaw([0, keep, "Keep", { _tag: "Put", value: MARK }], float32)],
        ["an unknown extension type in a tell", (_, keep) => withRaw([0, keep, "Keep", { _tag: "Put", value: MARK }], unknownExt)],
        ["0xc1 in a tell", (_, keep) => withRaw([0, keep, "Keep", { _tag: "Put", value: MARK }], c1)],
        ["a Set in a reply to no ask", () => withRaw([2, 12345, 0, MARK], set1)],
        ["a Set as a lookup name", () => withRaw([22, 2, MARK], set1)]
      ]
      yield* Effect.promise(async () => {
        for (const [name, body] of closing) {
          const { peer, keep } = await connect()
          peer.send(FrameType.Message, body(peer, keep))
          assert.isTrue(await peer.closesWithin(5000), `${name}: the connection is closed`)
        }
        // the node serves on, and the actor never saw one of them
        const { peer, keep } = await connect()
        peer.sendEnvelope([1, keep, "Keep", { _tag: "Last" }, 1, null])
        assert.deepStrictEqual((await peer.envelope(2)).slice(1), [1, 0, `[object Object] {"n":5}`])
        peer.destroy()
      })
    }).pipe(Effect.scoped), 60_000)
})
