/**
 * Fields whose Schema encodes to a value that is not plain data (docs/protocol.md §5): Effect's
 * `Schema.Date` and `Schema.Uint8Array` encode to themselves. With `msgpack` Telex sends a Date
 * as the MessagePack timestamp extension (type -1) and bytes as `bin`, and accepts both back;
 * with `json` it sends what `JSON.stringify` writes (an ISO string, an object of index → byte),
 * which such a field refuses when a client sends it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { Node } from "../../src/transport/Node.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "non-plain"
const secret = "non-plain-secret"
const Values = Actor.make("Probe/Values", {
  Echo: Actor.ask({ d: Schema.Date, b: Schema.Uint8Array }, { success: Schema.Struct({ d: Schema.Date, b: Schema.Uint8Array }) }),
  Make: Actor.ask({}, { success: Schema.Struct({ d: Schema.Date, b: Schema.Uint8Array }) })
})

const start = Effect.gen(function*() {
  const ctx = yield* Layer.build(Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }))
  const values = yield* Context.get(ctx, ActorSystem).spawn(Values.behavior(Effect.succeed({
    Echo: ({ b, d }) => Effect.succeed({ d, b }),
    Make: () => Effect.succeed({ d: new Date(86_400_000), b: new Uint8Array([1, 2, 3]) })
  })), { name: "values" })
  return { port: Context.get(ctx, Node).address.port, values }
})

describe("fields whose Schema encodes to a Date or bytes", () => {
  it.live("msgpack: a Date travels as the timestamp extension, bytes as bin, both ways", () =>
    Effect.gen(function*() {
      const { port, values } = yield* start
      const peer = yield* Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name: "c", codec: "msgpack" }))
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
      const [made, raw, echoed] = yield* Effect.promise(async () => {
        peer.sendEnvelope([Kind.Ask, values.address.id, "Probe/Values", { _tag: "Make" }, 1, null])
        const frame = await peer.next()
        const made = peer.decode(frame.body)
        peer.sendEnvelope([Kind.Ask, values.address.id, "Probe/Values", { _tag: "Echo", d: new Date(5000), b: new Uint8Array([9, 8]) }, 2, null])
        return [made, Buffer.from(frame.body), await peer.envelope(Kind.Reply)]
      })
      assert.strictEqual(made[2], 0)
      assert.instanceOf(made[3].d, Date)
      assert.strictEqual(made[3].d.getTime(), 86_400_000)
      assert.deepStrictEqual([...made[3].b], [1, 2, 3])
      // on the wire: timestamp 32 (fixext 4, type -1: d6 ff) and bin 8 (c4) of 3 bytes
      assert.isTrue(raw.includes(Buffer.from([0xd6, 0xff, 0x00, 0x01, 0x51, 0x80])), raw.toString("hex"))
      assert.isTrue(raw.includes(Buffer.from([0xc4, 0x03, 0x01, 0x02, 0x03])), raw.toString("hex"))
      assert.strictEqual(echoed[2], 0)
      assert.strictEqual(echoed[3].d.getTime(), 5000)
      assert.deepStrictEqual([...echoed[3].b], [9, 8])
    }).pipe(Effect.scoped))

  it.live("json: sent as JSON.stringify writes them; a client's ISO string or array is refused", () =>
    Effect.gen(function*() {
      const { port, values } = yield* start
      const peer = yield* Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name: "c", codec: "json" }))
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
      const [made, refused] = yield* Effect.promise(async () => {
        peer.sendEnvelope([Kind.Ask, values.address.id, "Probe/Values", { _tag: "Make" }, 1, null])
        const made = await peer.envelope(Kind.Reply)
        peer.sendEnvelope([Kind.Ask, values.address.id, "Probe/Values", { _tag: "Echo", d: "1970-01-01T00:00:05.000Z", b: [9, 8] }, 2, null])
        return [made, await peer.envelope(Kind.Reply)]
      })
      assert.deepStrictEqual(made, [Kind.Reply, 1, 0, { d: "1970-01-02T00:00:00.000Z", b: { 0: 1, 1: 2, 2: 3 } }])
      assert.deepStrictEqual(refused.slice(0, 3), [Kind.Reply, 2, 2])
      assert.strictEqual(refused[3]._tag, "InvalidMessage")
    }).pipe(Effect.scoped))
})
