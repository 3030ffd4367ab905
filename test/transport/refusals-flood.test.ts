/**
 * Asks a node refuses (to an actor it does not have, failing the Schema, to a full mailbox under
 * `fail`) are answered with the runtime error as the protocol encodes it, without an error
 * object each: a flood of refused asks from a peer must cost the node little, and capturing a
 * stack per refusal was most of it (6-7 µs each).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { InvalidMessage, MailboxFull, NoProc } from "../../src/actors/ActorError.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "refusals"
const secret = "refusals-secret"

/** Counts the instances of `cls` made until `restore` (a class inserted between it and its parent). */
const countMade = (cls: Function) => {
  const parent = Object.getPrototypeOf(cls)
  const counter = { made: 0, restore: () => void Object.setPrototypeOf(cls, parent) }
  function Counting(this: unknown, ...args: Array<unknown>) {
    counter.made++
    return Reflect.construct(parent, args, new.target)
  }
  Object.setPrototypeOf(Counting, parent)
  Counting.prototype = parent.prototype
  Object.setPrototypeOf(cls, Counting)
  return counter
}

describe("refused asks from a peer", () => {
  it.live("are answered with the encoded error, no error object made per refusal", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const full = yield* b.system.spawn(Counter.behavior(Effect.succeed({
        Increment: () => Effect.never,
        Decrement: () => Effect.never,
        Get: () => Effect.never
      })), { name: "full", mailbox: { capacity: 1, overflow: "fail" } })
      const counters = [countMade(NoProc), countMade(InvalidMessage), countMade(MailboxFull)]
      const replies = yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "raw" })
        peer.sendEnvelope([22, 1, "counter"])
        const counter = (await peer.envelope(23))[2].id as number
        let askId = 1
        // these fill the `fail` mailbox: one handled forever, then one waiting
        peer.sendEnvelope([1, full.address.id, "Counter", { _tag: "Get" }, 1_000, null])
        await new Promise((resolve) => setTimeout(resolve, 50))
        peer.sendEnvelope([1, full.address.id, "Counter", { _tag: "Get" }, 1_001, null])
        for (let k = 0; k < 50; k++) {
          peer.sendEnvelope([1, 999_999, "Counter", { _tag: "Get" }, askId++, null])
          peer.sendEnvelope([1, counter, "Counter", { _tag: "Decrement", by: "x" }, askId++, null])
          peer.sendEnvelope([1, counter, "Other", { _tag: "Get" }, askId++, null])
          peer.sendEnvelope([1, full.address.id, "Counter", { _tag: "Get" }, askId++, null])
        }
        const got: Array<string> = []
        for (let k = 0; k < 200; k++) {
          const reply = await peer.envelope(2)
          assert.strictEqual(reply[2], 2, "a runtime error")
          got.push(reply[3]._tag)
        }
        peer.destroy()
        return got
      })
      for (const c of counters) c.restore()
      assert.deepStrictEqual(replies, Array.from({ length: 50 }, () => ["NoProc", "InvalidMessage", "InvalidMessage", "MailboxFull"]).flat())
      assert.deepStrictEqual(counters.map((c) => c.made), [0, 0, 0], "NoProc, InvalidMessage, MailboxFull objects made")
    }).pipe(Effect.scoped), 20_000)
})
