/**
 * Statements of docs/protocol.md that a foreign client relies on, pinned against a node from raw
 * clients: how MessagePack map keys that are not strings are read (section 5), what a malformed
 * envelope takes with the connection (section 10), and which request ids a node can echo
 * (sections 8.4, 8.6).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Packr } from "msgpackr"
import { CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { encodeFrame, FrameType } from "../../src/transport/Frame.ts"
import { RawPeer } from "./_raw.ts"
import { next, subscribeDeadLetters } from "./_remote.ts"

const cluster = "proto3-pins"
const secret = "proto3-pins-secret"
/** writes a `Map`'s keys as they are (numbers, nil, booleans, bins as MessagePack keys) */
const packr = new Packr({ useRecords: false })

const started = Effect.gen(function*() {
  const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
  const counter = yield* b.system.spawn(CounterLive, { name: "counter" })
  const connect = (codec: "json" | "msgpack", name: string) =>
    Effect.acquireRelease(
      Effect.promise(() => RawPeer.authenticated(b.node.address.port, { cluster, secret, name, codec })),
      (p) => Effect.sync(() => p.destroy())
    )
  return { b, id: counter.address.id, connect }
})

describe("section 5: MessagePack map keys", () => {
  it.live("a number, nil or boolean key is read as its text (__proto__ as __proto_); a bin, array or map key closes the connection", () =>
    Effect.gen(function*() {
      const { b, id, connect } = yield* started
      const letters = yield* subscribeDeadLetters(b)
      const c = yield* connect("msgpack", "keys")
      // an unknown tag: a dead letter that shows the message as the node read it
      const message = new Map<unknown, unknown>([["_tag", "Nope"], [5, "five"], [-1, "minus"], [null, "nil"], [true, "yes"], [1.5, "x"], ["__proto__", "p"]])
      c.send(FrameType.Message, packr.pack([0, id, "Counter", message]))
      const letter = yield* next(letters, (d): d is typeof d => (d.message as { _tag?: unknown })?._tag === "Nope", "dead letter")
      assert.deepStrictEqual(letter.message, {
        _tag: "Nope",
        "5": "five",
        "-1": "minus",
        null: "nil",
        true: "yes",
        "1.5": "x",
        __proto_: "p"
      })
      // the connection is up
      c.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 1, null])
      assert.deepStrictEqual(yield* Effect.promise(() => c.envelope(2)), [2, 1, 0, 0])
      assert.isFalse(c.closed)

      for (const [what, key] of [["bin", new Uint8Array([1])], ["array", [1]], ["map", new Map([["a", 1]])]] as const) {
        const d = yield* connect("msgpack", `keys-${what}`)
        d.send(FrameType.Message, packr.pack([0, id, "Counter", new Map<unknown, unknown>([["_tag", "Increment"], [key, 1]])]))
        assert.isTrue(yield* Effect.promise(() => d.closesWithin(5000)), `a ${what} key closes the connection`)
      }
    }).pipe(Effect.scoped))
})

describe("section 10: a malformed envelope closes the connection at once", () => {
  it.live("the answer to a Lookup in the same read is dropped with the connection", () =>
    Effect.gen(function*() {
      const { connect } = yield* started
      const c = yield* connect("json", "same-read")
      // one write: a Lookup, then an envelope that is not an array (a malformed envelope)
      c.socket.write(Buffer.concat([encodeFrame(FrameType.Message, Buffer.from('[22,1,"counter"]')), encodeFrame(FrameType.Message, Buffer.from("{}"))]))
      assert.isTrue(yield* Effect.promise(() => c.closesWithin(5000)))
      assert.deepStrictEqual(c.frames.map((f) => Buffer.from(f.body).toString()), [], "nothing answered")
    }).pipe(Effect.scoped))
})

describe("sections 8.4, 8.6: request ids", () => {
  it.live("echoed as they are, nested too; one the node cannot write back (json, 100 000 levels) gets no answer, the connection stays up", () =>
    Effect.gen(function*() {
      const { connect } = yield* started
      const c = yield* connect("json", "ids")
      const nested = JSON.parse(`${"[".repeat(100)}{"a":[1,"x",null]}${"]".repeat(100)}`)
      for (const requestId of [nested, { any: ["value", 1.5, false] }, -7, "text", null]) {
        c.sendEnvelope([22, requestId, "counter"])
        const found = yield* Effect.promise(() => c.envelope(23))
        assert.deepStrictEqual(found[1], requestId)
        c.sendEnvelope([20, requestId, "Nope", null])
        const spawned = yield* Effect.promise(() => c.envelope(21))
        assert.deepStrictEqual(spawned[1], requestId)
      }
      const depth = 100_000
      c.send(FrameType.Message, Buffer.from(`[22,${"[".repeat(depth)}${"]".repeat(depth)},"counter"]`))
      c.sendEnvelope([22, "probe", "counter"])
      const answer = yield* Effect.promise(() => c.envelope(23))
      assert.strictEqual(answer[1], "probe", "no answer to the lookup whose id cannot be written back")
      assert.isFalse(c.closed)
    }).pipe(Effect.scoped))
})
