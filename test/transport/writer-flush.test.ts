/**
 * The flush of a peer's outbox onto its new connection: an envelope the connection refuses to
 * send (larger than a node accepts, or not encodable with its codec) is refused as a direct send
 * is — a dead letter `InvalidMessage`, and an ask failed with `InvalidMessage` — whether it was
 * buffered before the peer's incarnation was known (a pending target) or added by id while the
 * flush ran. Nothing is dropped silently. (Stand-ins for the router, peer and connection: only
 * what the writer reads of them.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Kind } from "../../src/transport/Envelope.ts"
import { flushBuffer, Outbox, type Outbound } from "../../src/transport/internal/writer.ts"

describe("outbox flush", () => {
  it("a refused envelope becomes a dead letter and a failed ask, by id or pending target alike", () => {
    const deadLetters: Array<[string, unknown, { _tag: string }]> = []
    const failed: Array<[number, { _tag: string; actor?: string; issue?: string }]> = []
    const router = { system: { deadLetter: (actor: string, message: unknown, reason: { _tag: string }) => void deadLetters.push([actor, message, reason]) } }
    const peer = { name: "b", outbox: new Outbox(), asks: { fail: (id: number, error: any) => void failed.push([id, error]) } }
    const sent: Array<Outbound> = []
    const conn = {
      peer: { name: "b", incarnation: 7 },
      // a message holding `unencodable` is refused with the reason, as Connection.send does
      send: (e: any) => (e[3]?.unencodable === true ? "it cannot be encoded with json" : void sent.push(e))
    }
    const pending = { address: { node: { name: "b", incarnation: 7 }, id: 3, protocol: "P" } }
    const bad = { _tag: "M", unencodable: true }
    peer.outbox.add([Kind.Tell, pending, "P", bad] as Outbound)
    peer.outbox.add([Kind.Tell, 5, "P", bad] as Outbound)
    peer.outbox.add([Kind.Ask, 5, "P", bad, 9, null] as Outbound)
    peer.outbox.add([Kind.Tell, 5, "P", { _tag: "M" }] as Outbound)
    flushBuffer(router as any, peer as any, conn as any)
    assert.deepStrictEqual(sent, [[Kind.Tell, 5, "P", { _tag: "M" }]], "the good one is sent")
    assert.deepStrictEqual(deadLetters.map(([actor, , reason]) => [actor, reason._tag]), [
      ["P@b#7/3", "InvalidMessage"],
      ["P@b#7/5", "InvalidMessage"],
      ["P@b#7/5", "InvalidMessage"]
    ])
    assert.deepStrictEqual(failed.map(([id, e]) => [id, e._tag, e.actor]), [[9, "InvalidMessage", "P@b#7/5"]])
    assert.include(failed[0]![1].issue, "cannot be encoded")
  })
})
