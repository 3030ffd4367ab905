/**
 * docs/protocol.md 8.2: an Ask's `sender` is any valid address, also one on a node the receiving
 * node has never heard of. Sending to such a ref (a tell, an ask, a monitor from the
 * handler) reaches no connection: a dead letter (`NoRoute`), a failed ask (`NodeDown`), a `Down`
 * with `NoConnection`. None of it may leave an entry per node name in the
 * node's peer table, or a client could grow that table without bound by naming fresh node names.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { Counter } from "../../examples/counter.ts"
import type { ActorRef } from "../../src/actors/ActorRef.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import { Actor, ActorContext } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { hostingPeer, RawPeer } from "./_raw.ts"
import { next, subscribeDeadLetters } from "./_remote.ts"

const cluster = "proto3-senders"
const secret = "proto3-senders-secret"

/** Answers each ask after doing `what` to its sender (a ref on the client's chosen node). */
const Echo = Actor.make("proto3/Echo", {
  Poke: Actor.ask({ what: Schema.String }, { success: Schema.String })
})

const EchoLive = Echo.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  let kept: ActorRef<any> | undefined
  return {
    Poke: ({ what }) =>
      Effect.gen(function*() {
        if (what === "tellKept") {
          yield* Effect.ignore(kept!.tell(Counter.Increment({ by: 7 })))
          return "done"
        }
        const sender = ctx.sender
        if (sender === undefined) return "no sender"
        switch (what) {
          case "tell":
            yield* Effect.ignore(sender.tell(Counter.Increment({ by: 1 })))
            break
          case "tellUnsafe":
            sender.tellUnsafe(Counter.Increment({ by: 1 }))
            break
          case "ask": {
            const exit = yield* Effect.exit(sender.ask(Counter.Get(), { timeout: "2 seconds" }))
            return exit._tag === "Failure" ? "ask failed" : "ask answered"
          }
          case "monitor":
            yield* ctx.monitor(sender)
            break
          case "keep":
            kept = sender
            break
        }
        return "done"
      })
  }
}))

const ghost = (i: number) => ({ node: { name: `ghost-${i}`, incarnation: 1 }, id: 5, protocol: "Counter" })

describe("asks whose sender names a node this node never heard of", () => {
  it.live("sends to the sender leave no peer entry behind, and fail as sends to an unreachable node", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
      const echo = yield* b.system.spawn(EchoLive, { name: "echo" })
      const router = routerOf(b.node)
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "py" })),
        (p) => Effect.sync(() => p.destroy())
      )
      const before = router.peers.size
      const kinds = ["tell", "tellUnsafe", "ask", "monitor"]
      const rounds = 20
      let askId = 0
      for (let i = 0; i < rounds; i++) {
        for (const what of kinds) {
          askId++
          client.sendEnvelope([1, echo.address.id, "proto3/Echo", { _tag: "Poke", what }, askId, ghost(askId)])
          const reply = yield* Effect.promise(() => client.envelope(2))
          assert.deepStrictEqual(reply, [2, askId, 0, what === "ask" ? "ask failed" : "done"], `${what} #${i}`)
        }
      }
      assert.strictEqual(router.peers.size, before, `peers: ${Array.from(router.peers.keys()).join(", ")}`)
      for (let i = 1; i <= askId; i++) assert.isFalse(router.peers.has(`ghost-${i}`))
    }).pipe(Effect.scoped))

  it.live("a tell to such a sender is a dead letter (NoRoute); the same ref reaches the node once it connects", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
      const echo = yield* b.system.spawn(EchoLive, { name: "echo" })
      const letters = yield* subscribeDeadLetters(b)
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => RawPeer.authenticated(b.node.address.port, { cluster, secret, name: "py" })),
        (p) => Effect.sync(() => p.destroy())
      )
      const host = { node: { name: "host", incarnation: 1 }, id: 5, protocol: "Counter" }
      const poke = (id: number, what: string, sender: unknown) =>
        Effect.promise(async () => {
          client.sendEnvelope([1, echo.address.id, "proto3/Echo", { _tag: "Poke", what }, id, sender])
          return client.envelope(2)
        })
      assert.deepStrictEqual(yield* poke(1, "keep", host), [2, 1, 0, "done"])
      assert.deepStrictEqual(yield* poke(2, "tellKept", null), [2, 2, 0, "done"])
      const letter = yield* next(letters, (d): d is typeof d => d.reason._tag === "NoRoute", "NoRoute dead letter")
      assert.deepStrictEqual(letter.reason, { _tag: "NoRoute", node: "host" })
      assert.isFalse(routerOf(b.node).peers.has("host"))

      // node "host" connects (hosting actor 5): the ref the actor kept now reaches it
      const ready = { protocols: { Counter: ProtocolRegistry.fingerprint(Counter) } }
      const { peer } = yield* hostingPeer(b.node, { cluster, secret, codec: "json", readyBody: ready, protocol: "Counter" })
      assert.deepStrictEqual(yield* poke(3, "tellKept", null), [2, 3, 0, "done"])
      const tell = yield* Effect.promise(() => peer.envelope(0))
      assert.deepStrictEqual(tell, [0, 5, "Counter", { _tag: "Increment", by: 7 }])
    }).pipe(Effect.scoped))
})
