/**
 * Hostile input after the handshake (docs/protocol.md sections 2, 4.3 and 10), from raw
 * authenticated peers over loopback TCP against one node: each malformed frame or envelope
 * closes its connection, each invalid message is refused (a runtime error for an ask) with the
 * connection up, and neither loses what was sent before it nor stops the node from serving.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Redacted } from "effect"
import { Packr } from "msgpackr"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { Node, routerOf } from "../../src/transport/Node.ts"
import { fragment, RawPeer } from "./_raw.ts"

const cluster = "hostile"
const secret = "hostile-secret"
const MiB = 1024 * 1024

const header = (length: number, type: number) => {
  const b = Buffer.alloc(5)
  b.writeUInt32BE(length, 0)
  b[4] = type
  return b
}
const msgpack = new Packr({ useRecords: false })
const withClones = new Packr({ useRecords: false, structuredClone: true })
const cyclic: Array<unknown> = [1]
cyclic.push(cyclic)
const body = (text: string) => Buffer.from(text)

type Attack = (peer: RawPeer, counter: number) => void

/** Attacks that must close the connection. */
const closing: Array<[string, "json" | "msgpack", Attack]> = [
  ["frame length 0", "json", (p) => p.socket.write(header(0, FrameType.Message))],
  ["unknown frame type", "json", (p) => p.socket.write(Buffer.concat([header(1, 7)]))],
  ["handshake frame after the handshake", "json", (p) => p.sendJson(FrameType.Hello, {})],
  ["frame over the maximum", "json", (p) => p.socket.write(header(256 * 1024 + 1, FrameType.Message))],
  ["invalid JSON", "json", (p) => p.send(FrameType.Message, body("[0,"))],
  ["invalid UTF-8", "json", (p) => p.send(FrameType.Message, Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]))],
  ["JSON followed by more", "json", (p) => p.send(FrameType.Message, body("[99] [99]"))],
  ["truncated MessagePack", "msgpack", (p, id) => p.send(FrameType.Message, msgpack.pack([0, id, "Counter", { _tag: "Get" }]).subarray(0, 9))],
  ["MessagePack followed by more", "msgpack", (p) => p.send(FrameType.Message, Buffer.concat([msgpack.pack([99]), Buffer.from([0xc0])]))],
  ["MessagePack array announcing 2^32 - 1 elements", "msgpack", (p) => p.send(FrameType.Message, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]))],
  ["MessagePack nested 100 000 deep", "msgpack", (p) => p.send(FrameType.Message, Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]))],
  ["MessagePack cyclic value (structured clone)", "msgpack", (p, id) => p.send(FrameType.Message, withClones.pack([0, id, "Counter", { _tag: "Increment", by: cyclic }]))],
  ["envelope not an array", "json", (p) => p.sendEnvelope({ 0: 0 })],
  ["empty envelope", "json", (p) => p.sendEnvelope([])],
  ["kind not a number", "json", (p) => p.sendEnvelope(["0", 1, "Counter", {}])],
  ["tell to a string id", "json", (p, id) => p.sendEnvelope([0, String(id), "Counter", { _tag: "Get" }])],
  ["ask with a string ask id", "json", (p, id) => p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, "1", null])],
  ["reply with a string ask id", "json", (p) => p.sendEnvelope([2, "1", 0, null])],
  ["stop with a bad reason", "json", (p, id) => p.sendEnvelope([16, id, { _tag: "Nope" }])],
  ["link from an address on another node", "json", (p, id) =>
    p.sendEnvelope([10, { node: { name: "elsewhere", incarnation: 1 }, id: 1, protocol: "X" }, id])],
  ["monitor whose watcher is not an address", "json", (p, id) => p.sendEnvelope([13, { id: 1 }, id, 1])],
  ["hold of a string id", "json", (p) => p.sendEnvelope([30, "1", "backpressure", 10])],
  ["fragment shorter than its header", "json", (p) => p.send(FrameType.Fragment, Buffer.alloc(11))],
  ["fragmented message not starting at 0", "json", (p) => p.send(FrameType.Fragment, fragment(1, 1000, 10, Buffer.alloc(10)))],
  ["fragmented message over 64 MiB", "json", (p) => p.send(FrameType.Fragment, fragment(1, 64 * MiB + 1, 0, Buffer.alloc(10)))],
  ["fragment past its total", "json", (p) => p.send(FrameType.Fragment, fragment(1, 10, 0, Buffer.alloc(11)))],
  ["duplicate fragment", "json", (p) => {
    p.send(FrameType.Fragment, fragment(1, 100, 0, Buffer.alloc(10)))
    p.send(FrameType.Fragment, fragment(1, 100, 0, Buffer.alloc(10)))
  }],
  ["fragment of another message", "json", (p) => {
    p.send(FrameType.Fragment, fragment(1, 100, 0, Buffer.alloc(10)))
    p.send(FrameType.Fragment, fragment(2, 100, 10, Buffer.alloc(10)))
  }],
  ["new fragmented message before the last ended", "json", (p) => {
    p.send(FrameType.Fragment, fragment(1, 100, 0, Buffer.alloc(10)))
    p.send(FrameType.Fragment, fragment(2, 100, 0, Buffer.alloc(10)))
  }]
]

/** Attacks that are refused with the connection up: the replies expected to `ask 1` (none: a tell). */
const refused: Array<[string, "json" | "msgpack", Attack, ReadonlyArray<string>]> = [
  ["unknown envelope kinds", "json", (p) => (p.sendEnvelope([99, "x"]), p.sendEnvelope([0.5])), []],
  ["tell to an unknown actor", "json", (p) => p.sendEnvelope([0, 999_999, "Counter", { _tag: "Increment", by: 1 }]), []],
  ["tell failing the Schema", "json", (p, id) => p.sendEnvelope([0, id, "Counter", { _tag: "Increment", by: "x" }]), []],
  ["ask to an unknown actor", "json", (p) => p.sendEnvelope([1, 999_999, "Counter", { _tag: "Get" }, 1, null]), ["NoProc"]],
  ["ask naming another protocol", "json", (p, id) => p.sendEnvelope([1, id, "Other", { _tag: "Get" }, 1, null]), ["InvalidMessage"]],
  ["ask with an unknown tag", "json", (p, id) => p.sendEnvelope([1, id, "Counter", { _tag: "constructor" }, 1, null]), ["InvalidMessage"]],
  ["ask whose message is not an object", "msgpack", (p, id) => p.sendEnvelope([1, id, "Counter", 42, 1, null]), ["InvalidMessage"]],
  ["ask failing the Schema with a 200 KB string", "json", (p, id) =>
    p.sendEnvelope([1, id, "Counter", { _tag: "Decrement", by: "x".repeat(200_000) }, 1, null]), ["InvalidMessage"]],
  ["ask with a field nested 100 000 deep (JSON)", "json", (p, id) =>
    p.send(FrameType.Message, body(`[1,${id},"Counter",{"_tag":"Decrement","by":${"[".repeat(100_000)}${"]".repeat(100_000)}},1,null]`)), ["InvalidMessage"]],
  ["ask with a MessagePack extension value", "msgpack", (p, id) =>
    p.sendEnvelope([1, id, "Counter", { _tag: "Decrement", by: new Set([1]) }, 1, null]), ["InvalidMessage"]],
  ["ask id used twice", "json", (p, id) => {
    p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 1, null])
    p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 1, null])
  }, ["0", "0"]],
  ["reply to an unknown ask", "json", (p) => p.sendEnvelope([2, 12345, 0, null]), []],
  ["a sender that is not an address", "json", (p, id) => p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 1, { id: "x" }]), ["0"]]
]

describe("hostile input after the handshake", () => {
  it.live("malformed frames and envelopes close the connection; invalid messages are refused with it up; the node serves on", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      let peers = 0
      let increments = 0
      const connect = async (codec: "json" | "msgpack") => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: `raw${++peers}`, codec })
        peer.sendEnvelope([22, 1, "counter"])
        return { peer, counter: (await peer.envelope(23))[2].id as number }
      }
      yield* Effect.promise(async () => {
        for (const [name, codec, attack] of closing) {
          const { peer, counter } = await connect(codec)
          // what was sent before the bad input is handled
          peer.sendEnvelope([0, counter, "Counter", { _tag: "Increment", by: 1 }])
          increments++
          attack(peer, counter)
          assert.isTrue(await peer.closesWithin(5000), `${name}: the connection is closed`)
        }
        for (const [name, codec, attack, expected] of refused) {
          const { peer, counter } = await connect(codec)
          peer.sendEnvelope([0, counter, "Counter", { _tag: "Increment", by: 1 }])
          increments++
          attack(peer, counter)
          const replies: Array<string> = []
          for (const _ of expected) {
            const reply = await peer.envelope(2)
            assert.strictEqual(reply[1], 1, `${name}: ask id`)
            replies.push(reply[2] === 2 ? reply[3]._tag : String(reply[2]))
          }
          assert.deepStrictEqual(replies, expected, name)
          // the connection is up, and everything sent on it was handled in order
          peer.sendEnvelope([1, counter, "Counter", { _tag: "Get" }, 2, null])
          assert.deepStrictEqual(await peer.envelope(2), [2, 2, 0, increments], `${name}: the connection serves on`)
          assert.isFalse(peer.closed, name)
          peer.destroy()
        }
      })
      // signals about actors that do not exist are answered at once (8.5)
      yield* Effect.promise(async () => {
        const { peer } = await connect("json")
        const me = { node: { name: `raw${peers}`, incarnation: 1 }, id: 1, protocol: "X" }
        peer.sendEnvelope([13, me, 999_999, 7])
        const down = await peer.envelope(15)
        assert.deepStrictEqual([down[1], down[2].id, down[3]], [7, 999_999, { _tag: "NoProc" }])
        peer.sendEnvelope([10, me, 999_999])
        const exit = await peer.envelope(12)
        assert.deepStrictEqual([exit[1].id, exit[2], exit[3], exit[4]], [999_999, 1, { _tag: "NoProc" }, false])
        peer.destroy()
      })
      // a Protocols table keeps the entries whose fingerprint is a string
      yield* Effect.promise(async () => {
        const { peer } = await connect("json")
        peer.sendEnvelope([24, { A: "a1", B: 2, C: { x: 1 } }])
        peer.sendEnvelope([24, { D: "d1" }])
        peer.sendEnvelope([22, 2, "nobody"])
        await peer.envelope(23)
        assert.deepStrictEqual(routerOf(b.node).peers.get(`raw${peers}`)!.protocols, { A: "a1", D: "d1" })
        peer.destroy()
      })
      // a node connects and is served; no valid message was lost
      const a = yield* TestNode.startNode("a", { cluster, secret: Redacted.make(secret) })
      yield* TestNode.connect(a, b)
      const counter = yield* a.node.lookup("b", Counter, "counter")
      assert.strictEqual(yield* counter.ask(Counter.Get()), increments)
    }).pipe(Effect.scoped), 60_000)

  it.live("the node logs why it closed a client's connection (the client is told nothing); a client's own close is routine", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const ctx = yield* Layer.build(
        Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }).pipe(
          Layer.provide(Logger.layer([Logger.make((o) => void logs.push(`${o.logLevel} ${String(o.message)}`))], { mergeWithExisting: false }))
        )
      )
      const port = Context.get(ctx, Node).address.port
      yield* Effect.promise(async () => {
        const bad = await RawPeer.authenticated(port, { cluster, secret, name: "bad-client" })
        bad.sendEnvelope([0, "1", "Counter", {}])
        await bad.closedPromise
        const good = await RawPeer.authenticated(port, { cluster, secret, name: "good-client" })
        good.sendEnvelope([22, 1, "nobody"])
        await good.envelope(23)
        good.destroy()
        await new Promise((resolve) => setTimeout(resolve, 100))
      })
      const closes = logs.filter((l) => l.includes("connection from"))
      assert.strictEqual(closes.length, 2, logs.join("\n"))
      assert.match(closes[0]!, /^Warn connection from bad-client \(127\.0\.0\.1:\d+\) lost: protocol error: malformed tell$/)
      assert.match(closes[1]!, /^Info connection from good-client \(127\.0\.0\.1:\d+\) closed: connection closed by peer$/)
    }).pipe(Effect.scoped))

  it.live("a Members list of thousands of members the node will not dial costs one warning, not one per member", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const ctx = yield* Layer.build(
        Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }).pipe(
          Layer.provide(Logger.layer([Logger.make((o) => void logs.push(String(o.message)))], { mergeWithExisting: false }))
        )
      )
      const port = Context.get(ctx, Node).address.port
      yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(port, { cluster, secret, name: "gossip" })
        const members = Array.from({ length: 3000 }, (_, i) => ({ name: `m${i}`, host: "10.0.0.1", port: 4000 }))
        peer.sendEnvelope([25, members])
        peer.sendEnvelope([22, 1, "nobody"])
        await peer.envelope(23)
        await new Promise((resolve) => setTimeout(resolve, 100))
        peer.destroy()
      })
      const skipped = logs.filter((l) => l.startsWith("not dialling"))
      assert.strictEqual(skipped.length, 1, skipped.slice(0, 3).join("\n"))
      assert.match(skipped[0]!, /^not dialling 3000 members m0 at 10\.0\.0\.1:4000, .*and 2995 more: this node dials loopback addresses only/)
    }).pipe(Effect.scoped))
})
