/**
 * The `msgpack` codec must read what other MessagePack libraries write (docs/protocol.md §5):
 * they encode integers >= 2^32 (incarnations, ask ids) as uint 64 / int 64.
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
})
