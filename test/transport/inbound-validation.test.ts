/**
 * Inbound validation: a message failing its Schema, or a protocol whose fingerprint differs, is
 * refused with a typed error and the link stays up. The probe actor and the helpers are in
 * ./_remote.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { ActorRef } from "../../src/index.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { type TestNode } from "../../src/testing/TestNode.ts"
import { isInvalidLetter, next, subscribeDeadLetters, twoNodes } from "./_remote.ts"

// ---------------------------------------------------------------------------
// invalid inbound messages
// ---------------------------------------------------------------------------

/** Sends an ask envelope as is (no validation, no encoding), registering its reply like RemoteTarget does. */
const rawAsk = (from: TestNode, to: ActorRef.ActorRef<any>, message: unknown) =>
  Effect.callback<unknown, unknown>((resume) => {
    const peer = routerOf(from.node).peers.get(to.address.node.name)!
    const reply = (exit: Exit.Exit<unknown, unknown>) => resume(exit)
    const askId = peer.asks.add(reply, Counter as any, (message as { _tag: string })._tag)
    peer.conn!.send([Kind.Ask, to.address.id, to.address.protocol, message, askId, null])
  }).pipe(Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die(new Error("raw ask: no reply")) }))

describe("invalid inbound messages", () => {
  it.live("a message failing the target's Schema: dead letter (InvalidMessage), the ask gets InvalidMessage, the link stays up", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const counterLocal = yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      const letters = yield* subscribeDeadLetters(b)
      const conn = routerOf(a.node).peers.get("b")!.conn!

      // a tell whose field is not an Int, written straight onto the connection
      conn.send([Kind.Tell, counter.address.id, "Counter", { _tag: "Increment", by: 1.5 }])
      const letter = yield* next(letters, isInvalidLetter, "InvalidMessage dead letter")
      assert.strictEqual(letter.recipient, counterLocal.key)
      assert.deepStrictEqual(letter.message, { _tag: "Increment", by: 1.5 })

      // an ask with a wrong field type, and one with an unknown tag
      const invalid = yield* Effect.flip(rawAsk(a, counter, { _tag: "Decrement", by: "lots" }))
      assert.strictEqual((invalid as { _tag: string })._tag, "InvalidMessage")
      yield* next(letters, isInvalidLetter, "dead letter of the invalid ask")
      const unknownTag = yield* Effect.flip(rawAsk(a, counter, { _tag: "Explode" }))
      assert.strictEqual((unknownTag as { _tag: string })._tag, "InvalidMessage")

      // the connection is the same one, and valid messages still work
      assert.strictEqual(routerOf(a.node).peers.get("b")!.conn, conn)
      assert.isUndefined(conn.closed)
      yield* counter.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 2) // the invalid tell was not applied
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// protocol fingerprint mismatch
// ---------------------------------------------------------------------------

describe("protocol fingerprint mismatch", () => {
  it.live("tell and ask fail with ProtocolMismatch when the peer's fingerprint differs or is missing", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      const peer = routerOf(a.node).peers.get("b")!
      const original = peer.protocols["Counter"]!
      peer.protocols["Counter"] = "different"

      const tellError = yield* Effect.flip(counter.tell(Counter.Increment({ by: 1 })))
      assert.strictEqual(tellError._tag, "ProtocolMismatch")
      if (tellError._tag === "ProtocolMismatch") {
        assert.strictEqual(tellError.node, "b")
        assert.strictEqual(tellError.remote, "different")
        assert.strictEqual(tellError.local, original)
      }
      const askError = yield* Effect.flip(counter.ask(Counter.Get()))
      assert.strictEqual(askError._tag, "ProtocolMismatch")
      assert.throws(() => counter.tellUnsafe(Counter.Increment({ by: 1 })))

      delete peer.protocols["Counter"]
      const unknown = yield* Effect.flip(counter.ask(Counter.Get()))
      assert.strictEqual(unknown._tag, "ProtocolMismatch")
      assert.isUndefined((unknown as { remote?: string }).remote)

      // nothing was delivered; with the right fingerprint everything works again
      peer.protocols["Counter"] = original
      assert.strictEqual(yield* counter.ask(Counter.Get()), 0)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// outbound validation
// ---------------------------------------------------------------------------

describe("outbound validation", () => {
  it.live("a remote send failing the protocol's Schema fails at the sender (tell, tellUnsafe, ask) and sends nothing", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      const letters = yield* subscribeDeadLetters(a)
      const bad = { _tag: "Increment", by: "one" } as unknown as ReturnType<typeof Counter.Increment>

      const tellError = yield* Effect.flip(counter.tell(bad))
      assert.strictEqual(tellError._tag, "InvalidMessage")
      const letter = yield* next(letters, isInvalidLetter, "InvalidMessage dead letter at the sender")
      assert.strictEqual(letter.recipient, counter.key)
      assert.throws(() => counter.tellUnsafe(bad))
      const askError = yield* Effect.flip(counter.ask(bad as any))
      assert.strictEqual((askError as { _tag: string })._tag, "InvalidMessage")
      assert.include((askError as { issue: string }).issue, "by")

      // the same ref sends a valid message at once (nothing of the invalid ones is left behind)
      yield* counter.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
    }).pipe(Effect.scoped))
})
