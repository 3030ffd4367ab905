/**
 * The `msgpack` codec must read what other MessagePack libraries write (docs/protocol.md §5):
 * they encode integers >= 2^32 (incarnations, ask ids) as uint 64 / int 64; and a string whose
 * bytes are not UTF-8 decodes as §5 says (each bad sequence as U+FFFD, as a WHATWG TextDecoder).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Codec from "../../src/transport/Codec.ts"

// [1, 3, "Counter", {_tag: "Get"}, uint64 5000000000,
//  {node: {name: "py", incarnation: uint64 1718000000000}, id: int64 -5000000000, protocol: "X"}]
const askWithInt64 = Buffer.from(
  "960103a7436f756e74657281a45f746167a3476574cf000000012a05f20083a46e6f646582a46e616d65a27079ab696e6361726e6174696f6e" +
    "cf0000019000c79c00a26964d3fffffffed5fa0e00a870726f746f636f6ca158",
  "hex"
)

describe("msgpack codec interoperability", () => {
  it("decodes uint 64 / int 64 as numbers", () => {
    const decoded = Codec.make("msgpack").decode(askWithInt64) as Array<any>
    assert.deepStrictEqual(decoded, [
      1,
      3,
      "Counter",
      { _tag: "Get" },
      5000000000,
      { node: { name: "py", incarnation: 1718000000000 }, id: -5000000000, protocol: "X" }
    ])
  })

  it("round-trips Telex envelopes with large integers", () => {
    const codec = Codec.make("msgpack")
    const envelope = [23, 1, { node: { name: "b", incarnation: 1718000000000000 }, id: 3, protocol: "Counter" }]
    assert.deepStrictEqual(codec.decode(codec.encode(envelope)), envelope)
  })

  it("decodes a string that is not UTF-8 with each bad sequence as U+FFFD, short or long, one string or many", () => {
    const str = (bytes: ReadonlyArray<number>) => Buffer.from([0xd9, bytes.length, ...bytes])
    const bad: ReadonlyArray<ReadonlyArray<number>> = [
      [0x61, 0xff, 0xfe], // bytes no UTF-8 has
      [0x61, 0xed, 0xa0, 0x80], // a surrogate (CESU-8)
      [0x61, 0xc0, 0x80], // an overlong NUL
      [0x61, 0xe2, 0x82], // a sequence cut short
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [...Array(80).fill(0x62), 0xed, 0xa0, 0x80, 0x63], // long (decoded another way)
      [...Array(20).fill(0xe2, 0, 20), 0x64]
    ]
    const whatwg = new TextDecoder("utf-8")
    const codec = Codec.make("msgpack")
    for (const bytes of bad) {
      assert.strictEqual(codec.decode(str(bytes)), whatwg.decode(Buffer.from(bytes)), Buffer.from(bytes).toString("hex"))
    }
    // all of them in one body (an array of the strings, then a valid one)
    const body = Buffer.concat([Buffer.from([0x90 + bad.length + 1]), ...bad.map(str), str([0x6f, 0x6b])])
    assert.deepStrictEqual(codec.decode(body), [...bad.map((b) => whatwg.decode(Buffer.from(b))), "ok"])
  })
})
