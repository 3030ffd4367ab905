/**
 * An envelope the connection's codec cannot encode (docs/protocol.md §4.5): a reply holding a
 * `bigint` (Effect's `Schema.BigInt` encodes to one) with `json`, or one past 64 bits with
 * MessagePack. The codec throws; the reply is replaced by a runtime error `InvalidMessage`
 * (issue "reply: …") as a reply too large to send is, the actor and the connection go on, and a
 * tell that cannot be encoded fails at its sender.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted, Schema } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { Node, routerOf } from "../../src/transport/Node.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "unencodable"
const secret = "unencodable-secret"
const Big = Actor.make("Probe/Big", {
  Get: Actor.ask({ n: Schema.String }, { success: Schema.BigInt }),
  Ping: Actor.ask({}, { success: Schema.String }),
  Put: Actor.tell({ n: Schema.BigInt })
})
const BigLive = Big.behavior(Effect.succeed({
  Get: ({ n }) => Effect.succeed(BigInt(n)),
  Ping: () => Effect.succeed("pong"),
  Put: () => Effect.void
}))

const startServer = Effect.gen(function*() {
  const ctx = yield* Layer.build(Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }))
  const node = Context.get(ctx, Node)
  const big = yield* Context.get(ctx, ActorSystem).spawn(BigLive, { name: "big" })
  return { node, big }
})

describe("an envelope the codec cannot encode", () => {
  for (const [codec, n] of [["json", "5"], ["msgpack", String(2n ** 70n)]] as const) {
    it.live(`${codec}: a reply holding ${n}n is answered InvalidMessage; the actor and the connection go on`, () =>
      Effect.gen(function*() {
        const { node, big } = yield* startServer
        const peer = yield* Effect.promise(() => RawPeer.authenticated(node.address.port, { cluster, secret, name: "c", codec }))
        yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
        const [reply, ping] = yield* Effect.promise(async () => {
          peer.sendEnvelope([Kind.Ask, big.address.id, "Probe/Big", { _tag: "Get", n }, 1, null])
          const reply = await peer.envelope(Kind.Reply)
          peer.sendEnvelope([Kind.Ask, big.address.id, "Probe/Big", { _tag: "Ping" }, 2, null])
          return [reply, await peer.envelope(Kind.Reply)]
        })
        assert.deepStrictEqual(reply.slice(0, 3), [Kind.Reply, 1, 2])
        assert.strictEqual(reply[3]._tag, "InvalidMessage")
        assert.strictEqual(reply[3].actor, big.key)
        assert.strictEqual(reply[3].protocol, "Probe/Big")
        assert.match(reply[3].issue, /^reply: /)
        assert.deepStrictEqual(ping, [Kind.Reply, 2, 0, "pong"])
        assert.isFalse(peer.closed)
      }).pipe(Effect.scoped))
  }

  it.live("json: a tell holding a bigint to a client's actor fails at the sender with InvalidMessage; the connection goes on", () =>
    Effect.gen(function*() {
      const { node, big } = yield* startServer
      const peer = yield* Effect.promise(() =>
        RawPeer.authenticated(node.address.port, {
          cluster,
          secret,
          name: "host",
          readyBody: { protocols: { "Probe/Big": ProtocolRegistry.fingerprint(Big) } }
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
      const router = routerOf(node)
      yield* Effect.promise(async () => {
        while (router.peers.get("host")?.isUp !== true) await new Promise((resolve) => setTimeout(resolve, 5))
      })
      const target = router.refFor({ node: { name: "host", incarnation: 1 }, id: 5, protocol: "Probe/Big" })
      const sent = yield* Effect.exit(target.tell(Big.Put({ n: 5n })))
      assert.isTrue(Exit.isFailure(sent))
      assert.include(JSON.stringify(sent), "InvalidMessage")
      // the connection is up: the node still answers
      const pong = yield* Effect.promise(async () => {
        peer.sendEnvelope([Kind.Ask, big.address.id, "Probe/Big", { _tag: "Ping" }, 1, null])
        return peer.envelope(Kind.Reply)
      })
      assert.deepStrictEqual(pong, [Kind.Reply, 1, 0, "pong"])
      assert.isFalse(peer.closed)
    }).pipe(Effect.scoped))

  it.live("msgpackr-records between nodes: a reply past 64 bits fails the ask with InvalidMessage, and the next ones work", () =>
    Effect.gen(function*() {
      const a = yield* TestNode.startNode("a", { cluster, secret: Redacted.make(secret) })
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret) })
      yield* b.system.spawn(BigLive, { name: "big" })
      yield* TestNode.connect(a, b)
      const big = yield* a.node.lookup("b", Big, "big")
      const huge = yield* Effect.flip(big.ask(Big.Get({ n: String(2n ** 70n) })))
      assert.strictEqual((huge as { _tag: string })._tag, "InvalidMessage")
      assert.strictEqual(yield* big.ask(Big.Get({ n: "5" })), 5n)
      assert.strictEqual(yield* big.ask(Big.Ping()), "pong")
    }).pipe(Effect.scoped))
})
