/**
 * Clients that connect under ever new names (each `telex status` is `status-<pid>`; section 12
 * asks every client for a unique name) and go away: the node remembers a bounded number of such
 * peers (`Router.maxIdlePeers`, the most recent ones), not one per name for ever. A ref that kept
 * a dropped peer still reaches its node when that node connects again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"
import type { Router } from "../../src/transport/internal/router.ts"
import { hostingPeer, RawPeer } from "./_raw.ts"

const cluster = "proto3-idle"
const secret = "proto3-idle-secret"

const until = (what: string, f: () => boolean) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 10_000
    while (!f()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })

/** A client named `name` connects, is answered once, and goes away (the node sees it gone). */
const visit = (router: Router, port: number, name: string) =>
  Effect.gen(function*() {
    const c = yield* Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name }))
    c.sendEnvelope([22, 1, "counter"])
    yield* Effect.promise(() => c.envelope(23))
    c.destroy()
    yield* until(`${name} seen gone`, () => router.peers.get(name)?.isUp !== true)
  })

describe("peers of clients that went away", () => {
  it.live("at most maxIdlePeers are remembered, the most recent ones; peers it dials and connected ones are kept", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const router = routerOf(b.node)
      router.maxIdlePeers = 4
      const port = b.node.address.port
      const stay = yield* Effect.acquireRelease(
        Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name: "stays" })),
        (p) => Effect.sync(() => p.destroy())
      )
      // a node this one dials (its link keeps dialling it once it is gone) and one that dialled
      // this one (nobody dials it back), both stopped
      yield* Effect.scoped(Effect.gen(function*() {
        const dialled = yield* TestNode.startNode("dialled", { cluster, secret: Redacted.make(secret), port: 0 })
        yield* TestNode.connect(b, dialled)
        const dialling = yield* TestNode.startNode("dialling", { cluster, secret: Redacted.make(secret), port: 0 })
        yield* TestNode.connect(dialling, b)
      }))
      yield* until("dialling seen gone", () => router.peers.get("dialling")?.isUp === false)
      yield* until("dialled seen gone", () => router.peers.get("dialled")?.isUp === false)
      for (let i = 0; i < 12; i++) yield* visit(router, port, `status-${i}`)
      const names = Array.from(router.peers.keys()).sort()
      assert.deepStrictEqual(names, ["dialled", "status-10", "status-11", "status-8", "status-9", "stays"])
      assert.isTrue(router.peers.get("stays")!.isUp)
      assert.isFalse(stay.closed)
    }).pipe(Effect.scoped))

  it.live("a ref that kept a dropped peer reaches the node when it connects again", () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const router = routerOf(b.node)
      router.maxIdlePeers = 2
      const port = b.node.address.port
      const ready = { protocols: { Counter: ProtocolRegistry.fingerprint(Counter) } }
      const first = yield* hostingPeer(b.node, { cluster, secret, codec: "json", readyBody: ready, protocol: "Counter" })
      yield* first.target.tell(Counter.Increment({ by: 1 }))
      assert.deepStrictEqual(yield* Effect.promise(() => first.peer.envelope(0)), [0, 5, "Counter", { _tag: "Increment", by: 1 }])
      const kept = router.peers.get("host")!
      first.peer.destroy()
      yield* until("host seen gone", () => !kept.isUp)
      for (let i = 0; i < 3; i++) yield* visit(router, port, `client-${i}`)
      assert.isTrue(kept.retired, "the host's peer was dropped")
      assert.isFalse(router.peers.has("host"))
      // the same ref, after its node connected again (a new peer object)
      const second = yield* hostingPeer(b.node, { cluster, secret, codec: "json", readyBody: ready, protocol: "Counter" })
      yield* first.target.tell(Counter.Increment({ by: 2 }))
      assert.deepStrictEqual(yield* Effect.promise(() => second.peer.envelope(0)), [0, 5, "Counter", { _tag: "Increment", by: 2 }])
    }).pipe(Effect.scoped))
})
