/**
 * The inbound envelope decoders against what docs/protocol.md §8 and §10 say a receiver checks:
 * a malformed envelope is a protocol error, what is not validated never is, an unknown kind
 * is skipped, and a well-formed message is handed on as the same array (no copy).
 */
import { assert, describe, it } from "@effect/vitest"
import { decode, Kind } from "../../src/transport/Envelope.ts"

const address = { node: { name: "a", incarnation: 1 }, id: 7, protocol: "Counter" }

describe("envelope decoding", () => {
  it("well-formed messages are the same array", () => {
    const tell: Array<unknown> = [Kind.Tell, 3, "Counter", { _tag: "Increment", by: 1 }]
    assert.strictEqual<unknown>(decode(tell), tell)
    const ask: Array<unknown> = [Kind.Ask, 3, "Counter", { _tag: "Get" }, 9, address, "00-trace"]
    assert.strictEqual<unknown>(decode(ask), ask)
    const reply: Array<unknown> = [Kind.Reply, 9, 0, 5]
    assert.strictEqual<unknown>(decode(reply), reply)
  })

  it("malformed envelopes are protocol errors", () => {
    const malformed: Array<unknown> = [
      {},
      ["0"],
      [Kind.Tell, "3", "Counter", {}],
      [Kind.Ask, 3, "Counter", {}, "9", null],
      [Kind.Reply, 9, "0", 5],
      [Kind.Link, { id: 1 }, 3],
      [Kind.Exit, address, "3", { _tag: "Normal" }, false],
      [Kind.Monitor, address, 3, "m"],
      [Kind.Stop, "3", { _tag: "Normal" }],
      [Kind.Protocols, null],
      [Kind.Members, {}],
      [Kind.Hold, "3", "backpressure", 4],
      [Kind.Release, null]
    ]
    for (const e of malformed) assert.isString(decode(e), JSON.stringify(e))
  })

  it("what is not validated is skipped or passed on, never a protocol error", () => {
    // unknown kinds (a newer protocol version), Demonitor fields, Down for a non-numeric id
    assert.isUndefined(decode([99, "anything"]))
    assert.isUndefined(decode([Kind.Demonitor, 3, "x"]))
    assert.isUndefined(decode([Kind.Down, "x", address, { _tag: "Normal" }]))
    // request ids are echoed as they are; a non-string lookup name or spawn module is answered
    assert.deepStrictEqual(decode([Kind.Lookup, "r1", 42]), [Kind.Lookup, "r1", 42])
    assert.deepStrictEqual(decode([Kind.Spawn, { r: 1 }, 5, null]), [Kind.Spawn, { r: 1 }, 5, null])
  })

  it("fields a receiver normalises", () => {
    // a sender that is not an address is no sender (the trailing trace context stays)
    assert.deepStrictEqual(decode([Kind.Ask, 3, "C", {}, 9, "nope", "tp"]), [Kind.Ask, 3, "C", {}, 9, null, "tp"])
    // untrappable and direct count only when true
    assert.deepStrictEqual(decode([Kind.Exit, address, 3, { _tag: "Normal" }, 1, "yes"]), [Kind.Exit, address, 3, { _tag: "Normal" }, false])
    assert.deepStrictEqual(decode([Kind.Exit, address, 3, { _tag: "Kill" }, true, true]), [Kind.Exit, address, 3, { _tag: "Kill" }, true, true])
    // an unknown overflow policy is backpressure; a missing capacity 0
    assert.deepStrictEqual(decode([Kind.Hold, 3, "sideways"]), [Kind.Hold, 3, "backpressure", 0])
    // a Release without a positive credit lifts the hold
    assert.deepStrictEqual(decode([Kind.Release, 3, 0]), [Kind.Release, 3])
    assert.deepStrictEqual(decode([Kind.Release, 3, 5]), [Kind.Release, 3, 5])
    // member entries of the wrong shape are dropped
    const good = { name: "c", host: "127.0.0.1", port: 7003 }
    assert.deepStrictEqual(decode([Kind.Members, [good, { name: "d", host: "x", port: 0 }, null]]), [Kind.Members, [good]])
    // an answer's address is checked, its error is text
    assert.deepStrictEqual(decode([Kind.Found, 1, { id: 1 }]), [Kind.Found, 1, null])
    assert.deepStrictEqual(decode([Kind.Spawned, 1, null, 42]), [Kind.Spawned, 1, null, "42"])
  })
})
