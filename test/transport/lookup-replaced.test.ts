/**
 * A lookup in flight on a connection that a new connection to the peer replaces (the peer dialled
 * again, won a simultaneous connect, or restarted) is answered on the new connection, as a lookup
 * started a moment later would be; a spawn in flight fails with `NodeDown` (it may have been
 * done); and if the new connection does not come up, the lookup fails with `NodeDown`.
 *
 * In a simultaneous connect (a restarted node dials its peer while the peer's redial is in
 * flight), the node with the smaller name refuses the other's connection while its own is in the
 * handshake: the losing connection never comes up, to be used and closed a moment later.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, PubSub, Redacted } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import type { NodeEvent } from "../../src/transport/Node.ts"
import { RawPeer } from "./_raw.ts"
import { freePort, makeProxy } from "./_remote.ts"

const SECRET = "lookup-replaced"

const options = { cluster: "relookup", secret: SECRET, name: "b" }

/** Waits (bounded) until `node` has `b` up at `incarnation`. */
const upAt = (node: TestNode.TestNode, incarnation: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      if (node.node.peers().some((p) => p.name === "b" && p.up && p.node?.incarnation === incarnation)) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`b#${incarnation} never came up`)
  })

describe("a lookup across a replaced connection", () => {
  it.live("is sent again on the new connection; a spawn fails; without a new connection the lookup fails", () =>
    Effect.gen(function*() {
      const a = yield* TestNode.startNode("a", { cluster: "relookup", secret: Redacted.make(SECRET) })
      const port = a.node.address.port
      let current = yield* Effect.promise(() => RawPeer.authenticated(port, options))
      yield* upAt(a, 1)
      // the same incarnation dialling again, then a restart (a new incarnation)
      for (const incarnation of [1, 2]) {
        const lookup = yield* Effect.forkChild(Effect.result(a.node.lookup("b", Counter, "counter", { timeout: "5 seconds" })))
        const spawn = yield* Effect.forkChild(Effect.result(a.node.spawn("b", Counter, { timeout: "5 seconds" })))
        const asked = yield* Effect.promise(() => current.envelope(Kind.Lookup))
        yield* Effect.promise(() => current.envelope(Kind.Spawn))
        const next = yield* Effect.promise(() => RawPeer.authenticated(port, { ...options, incarnation }))
        yield* Effect.promise(() => current.closedPromise)
        const again = yield* Effect.promise(() => next.envelope(Kind.Lookup, 2000))
        assert.deepStrictEqual(again, asked, `incarnation ${incarnation}: the same request on the new connection`)
        next.sendEnvelope([Kind.Found, again[1], null])
        const found = yield* Fiber.join(lookup)
        assert.strictEqual(found._tag === "Failure" ? found.failure._tag : found._tag, "ActorNotFound", `incarnation ${incarnation}: answered on the new connection`)
        const spawned = yield* Fiber.join(spawn)
        assert.strictEqual(spawned._tag === "Failure" ? spawned.failure._tag : spawned._tag, "NodeDown", `incarnation ${incarnation}: the spawn is not sent twice`)
        current.destroy()
        current = next
        yield* upAt(a, incarnation)
      }
      // a new connection admitted that never comes up: the lookup fails when its handshake does
      const lookup = yield* Effect.forkChild(Effect.result(a.node.lookup("b", Counter, "counter", { timeout: "5 seconds" })))
      yield* Effect.promise(() => current.envelope(Kind.Lookup))
      const stalled = yield* Effect.promise(() => RawPeer.authenticated(port, { ...options, incarnation: 3, ready: false }))
      yield* Effect.promise(() => current.closedPromise)
      stalled.destroy()
      const failed = yield* Fiber.join(lookup)
      assert.strictEqual(failed._tag, "Failure")
      if (failed._tag === "Failure") {
        assert.strictEqual(failed.failure._tag, "NodeDown")
        assert.include(failed.failure.message + JSON.stringify(failed.failure), "the new connection did not come up")
      }
      current.destroy()
    }), 20_000)

  it.live("in a simultaneous connect, the smaller name refuses the other's connection while its own is in the handshake: none comes up to be closed", () =>
    Effect.gen(function*() {
      const common = { cluster: "relookup", secret: Redacted.make(SECRET), reconnect: { initial: "20 millis", max: "100 millis" } } as const
      const pb = yield* freePort()
      // a's dial of b waits in a proxy: connected, in its handshake
      const held = yield* makeProxy
      held.setTarget(pb)
      held.hold()
      const a = yield* TestNode.startNode("a", { ...common, peers: [{ name: "b", host: "127.0.0.1", port: held.port }] })
      const eventsA = yield* a.node.subscribe
      yield* Deferred.await(held.held)
      // b (just started, as after a restart) dials a meanwhile
      const b = yield* TestNode.startNode("b", { ...common, port: pb, peers: [{ name: "a", host: "127.0.0.1", port: a.node.address.port }] })
      const eventsB = yield* b.node.subscribe
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const refused = yield* PubSub.take(eventsA).pipe(
        Effect.repeat({ until: (e) => e._tag === "HandshakeRefused" || e._tag === "NodeUp" }),
        Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.succeed(undefined) })
      )
      assert.strictEqual(refused?._tag === "HandshakeRefused" ? refused.code : refused?._tag, "duplicate", "a refuses b's connection")
      assert.isFalse(a.node.peers().some((p) => p.up), "a lists no connection to b up before its own")
      held.release()
      const ref = yield* a.node.lookup("b", Counter, "counter", { timeout: "5 seconds" })
      yield* ref.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* ref.ask(Counter.Get()), 1)
      // one connection came up on each side, a's, and none went down
      const ups = (events: ReadonlyArray<NodeEvent>) => events.filter((e) => e._tag === "NodeUp" || e._tag === "NodeDown")
      const onA = ups(yield* PubSub.takeUpTo(eventsA, 100))
      const onB = ups(yield* PubSub.takeUpTo(eventsB, 100))
      assert.deepStrictEqual(onA.map((e) => e._tag === "NodeUp" ? `up outbound=${e.outbound}` : e._tag), ["up outbound=true"])
      assert.deepStrictEqual(onB.map((e) => e._tag === "NodeUp" ? `up outbound=${e.outbound}` : e._tag), ["up outbound=false"])
    }), 20_000)

  it.live("a node does not dial a peer while that peer's own connection, admitted, finishes its handshake", () =>
    Effect.gen(function*() {
      const pb = yield* freePort()
      const a = yield* TestNode.startNode("a", {
        cluster: "relookup",
        secret: Redacted.make(SECRET),
        reconnect: { initial: "20 millis", max: "50 millis" },
        peers: [{ name: "b", host: "127.0.0.1", port: pb }]
      })
      // b's connection: admitted by a, b's READY not sent yet
      const raw = yield* Effect.promise(() => RawPeer.authenticated(a.node.address.port, { ...options, ready: false }))
      // b's port opens: a dial from a would reach it now
      let dialled = 0
      yield* Effect.acquireRelease(
        Effect.callback<Net.Server>((resume) => {
          const server = Net.createServer((socket) => {
            dialled++
            socket.destroy()
          })
          server.listen(pb, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      yield* Effect.sleep("300 millis")
      raw.sendJson(FrameType.Ready, { protocols: {} })
      yield* upAt(a, 1)
      assert.strictEqual(dialled, 0, "a waited for b's connection instead of dialling b")
      raw.destroy()
    }), 20_000)
})
