import { it } from "@effect/vitest"
import { Effect, Redacted, Stream } from "effect"
import { Packr } from "msgpackr"
import { CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "probe"
const secret = "probe-secret"
const clone = new Packr({ structuredClone: true, moreTypes: true, useRecords: false })
const more = new Packr({ moreTypes: true, useRecords: false })

const cases: Array<[string, "json" | "msgpack", (p: RawPeer, id: number) => void]> = [
  ["json deep nesting 100k", "json", (p) => p.send(FrameType.Message, Buffer.from("[0,3,\"Counter\"," + "[".repeat(100000) + "]".repeat(100000) + "]"))],
  ["json deep message field", "json", (p, id) => p.send(FrameType.Message, Buffer.from(`[0,${id},"Counter",{"_tag":"Increment","by":` + "[".repeat(50000) + "]".repeat(50000) + "}]"))],
  ["json deep ask field", "json", (p, id) => p.send(FrameType.Message, Buffer.from(`[1,${id},"Counter",{"_tag":"Increment","by":` + "[".repeat(50000) + "]".repeat(50000) + "},5,null]"))],
  ["msgpack deep nesting", "msgpack", (p) => p.send(FrameType.Message, Buffer.concat([Buffer.from([0x94, 0x00, 0x03, 0xa7]), Buffer.from("Counter"), Buffer.alloc(200000, 0x91), Buffer.from([0xc0])]))],
  ["msgpack deep message field", "msgpack", (p, id) => p.send(FrameType.Message, Buffer.concat([Buffer.from([0x94, 0x00, id, 0xa7]), Buffer.from("Counter"), Buffer.from([0x82, 0xa4]), Buffer.from("_tag"), Buffer.from([0xa9]), Buffer.from("Increment"), Buffer.from([0xa2]), Buffer.from("by"), Buffer.alloc(200000, 0x91), Buffer.from([0xc0])]))],
  ["msgpack array32 huge count", "msgpack", (p) => p.send(FrameType.Message, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]))],
  ["msgpack map32 huge count", "msgpack", (p) => p.send(FrameType.Message, Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0x00]))],
  ["msgpack str32 huge", "msgpack", (p) => p.send(FrameType.Message, Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]))],
  ["msgpack trailing bytes", "msgpack", (p, id) => p.send(FrameType.Message, Buffer.concat([more.pack([0, id, "Counter", { _tag: "Increment", by: 1 }]), Buffer.from([0x01, 0x02])]))],
  ["msgpack cycle in tell", "msgpack", (p, id) => { const m: any = { _tag: "Increment", by: 1 }; m.self = m; p.send(FrameType.Message, clone.pack([0, id, "Counter", m])) }],
  ["msgpack cycle bad tell", "msgpack", (p, id) => { const m: any = { _tag: "Increment" }; m.by = m; p.send(FrameType.Message, clone.pack([0, id, "Counter", m])) }],
  ["msgpack cycle bad ask", "msgpack", (p, id) => { const m: any = { _tag: "Increment" }; m.by = m; p.send(FrameType.Message, clone.pack([1, id, "Counter", m, 7, null])) }],
  ["msgpack cycle envelope", "msgpack", (p, id) => { const e: any = [0, id, "Counter"]; e.push(e); p.send(FrameType.Message, clone.pack(e)) }],
  ["msgpack cycle members", "msgpack", (p) => { const e: any = [25, []]; e[1].push(e[1]); p.send(FrameType.Message, clone.pack(e)) }],
  ["msgpack cycle protocols", "msgpack", (p) => { const t: any = {}; t.x = t; p.send(FrameType.Message, clone.pack([24, t])) }],
  ["msgpack cycle lookup name", "msgpack", (p) => { const t: any = {}; t.x = t; p.send(FrameType.Message, clone.pack([22, t, t])) }],
  ["msgpack cycle spawn", "msgpack", (p) => { const t: any = {}; t.x = t; p.send(FrameType.Message, clone.pack([20, t, t, t])) }],
  ["msgpack cycle stop reason", "msgpack", (p, id) => { const t: any = { _tag: "Error" }; t.message = t; p.send(FrameType.Message, clone.pack([16, id, t])) }],
  ["msgpack set/regexp/error", "msgpack", (p, id) => p.send(FrameType.Message, more.pack([0, id, "Counter", { _tag: "Increment", by: new Set([1]), r: /a/, e: new Error("x") }]))],
  ["msgpack bigint to", "msgpack", (p) => p.send(FrameType.Message, Buffer.from([0x94, 0x00, 0xd4, 0x42, 0x05, 0xa1, 0x61, 0xc0]))],
  ["msgpack bad regexp", "msgpack", (p) => p.send(FrameType.Message, Buffer.concat([Buffer.from([0x91, 0xd4, 0x78, 0x00, 0x92, 0xa1]), Buffer.from("("), Buffer.from([0xa0])]))],
  ["msgpack proto key", "msgpack", (p, id) => p.send(FrameType.Message, more.pack([1, id, "Counter", JSON.parse('{"__proto__":{"_tag":"Get"}}'), 9, null]))],
  ["json proto tag", "json", (p, id) => p.send(FrameType.Message, Buffer.from(`[1,${id},"Counter",{"__proto__":{"_tag":"Get"}},9,null]`))],
  ["json ask id reused", "json", (p, id) => { p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 4, null]); p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 4, null]) }],
  ["json ask id NaN-ish", "json", (p, id) => p.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 1e308, null])],
  ["json huge issue", "json", (p, id) => p.sendEnvelope([1, id, "Counter", { _tag: "Increment", by: "x".repeat(200000) }, 4, null])],
  ["json long tag", "json", (p, id) => p.sendEnvelope([1, id, "Counter", { _tag: "x".repeat(200000) }, 4, null])],
  ["json long protocol", "json", (p, id) => p.sendEnvelope([1, id, "y".repeat(200000), { _tag: "Get" }, 4, null])],
  ["json kind -1 / 1e400", "json", (p) => p.send(FrameType.Message, Buffer.from("[1e400]"))],

  ["json stop supervisor", "json", (p) => p.sendEnvelope([16, 1, { _tag: "Killed" }])],
]

it.live("probe", () =>
  Effect.gen(function*() {
    for (const [name, codec, attack] of cases) {
      const result = yield* Effect.gen(function*() {
        const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
        yield* b.system.spawn(CounterLive, { name: "counter" })
        const letters: Array<string> = []
        yield* b.system.deadLetters.pipe(Stream.runForEach((l) => Effect.sync(() => void letters.push(JSON.stringify(l.reason).slice(0, 150)))), Effect.forkScoped)
        return yield* Effect.promise(async () => {
          const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw", codec })
          peer.sendEnvelope([22, 1, "counter"])
          const id = (await peer.envelope(23))[2].id
          const t0 = Date.now()
          attack(peer, id)
          peer.sendEnvelope([1, id, "Counter", { _tag: "Get" }, 99, null])
          const got: Array<string> = []
          try {
            for (;;) {
              const f = await peer.next(FrameType.Message, 1500)
              const e = peer.decode(f.body)
              got.push(JSON.stringify(e).slice(0, 200))
              if (e[0] === 2 && e[1] === 99) break
            }
          } catch (e) { got.push(String(e)) }
          peer.destroy()
          return `${Date.now() - t0}ms got=${JSON.stringify(got)} letters=${JSON.stringify(letters)}`
        })
      }).pipe(Effect.scoped)
      console.log(`PROBE ${name}: ${result}`)
    }
  }), 300_000)
