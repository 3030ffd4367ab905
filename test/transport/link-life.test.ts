/**
 * The life of a link actor (one per peer a node dials) and of the members a node learns from
 * its peers' `Members` envelopes:
 *
 * - a link whose dial failed stays in the supervision tree while it waits to dial again, and an
 *   inbound connection from that peer ends the wait at once (it does not sit out a backoff while
 *   the peer's own connection serves);
 * - a member learned only from gossip that leaves is dialled no more, and nobody passes it on;
 * - a node that listens on loopback dials no member at another address;
 * - a dial whose connection is reset before the peer answers (a proxy in front of a node not
 *   listening yet) is a peer not reachable yet, logged below WARN, not a refusal.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Redacted, Scope } from "effect"
import { FaultProxy } from "../../src/testing/FaultProxy.ts"
import * as Supervisor from "../../src/supervision/Supervisor.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { freePort } from "./_remote.ts"

const secret = Redacted.make("link-life")
const common = { cluster: "link-life", secret } as const


/** The link children of a node's transport supervisor, by peer name. */
const links = (n: TestNode.TestNode) =>
  Effect.gen(function*() {
    const services = yield* Supervisor.whichChildren(n.system.services)
    const transport = services.find((c) => c.id === "transport")?.ref
    if (transport === undefined) return new Map<string, Supervisor.ChildInfo>()
    const children = yield* Supervisor.whichChildren(transport as Supervisor.SupervisorRef)
    return new Map(children.filter((c) => c.id.startsWith("link:")).map((c) => [c.id.slice(5), c]))
  })

/** Polls `check` every 20 ms until it holds (a bound against hangs, not a speed assertion). */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMillis = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${timeoutMillis} ms waiting for: ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const up = (n: TestNode.TestNode, peer: string) => n.node.peers().some((p) => p.name === peer && p.up)

describe("link actors and learned members", () => {
  it.live("a link waiting to redial stays supervised and takes the peer's inbound connection at once", () =>
    Effect.gen(function*() {
      const pb = yield* freePort()
      // something that accepts b's port (a's dial connects, its handshake waits), then hangs up
      const held: Array<Net.Socket> = []
      const impostor = Net.createServer((s) => void held.push(s))
      yield* Effect.callback<void>((resume) => void impostor.listen(pb, "127.0.0.1", () => resume(Effect.void)))
      // a waits a minute between dials: whatever brings the link up within the test is b's own dial
      const a = yield* TestNode.startNode("a", {
        ...common,
        peers: [{ name: "b", host: "127.0.0.1", port: pb }],
        reconnect: { initial: "60 seconds", max: "60 seconds" }
      })
      yield* eventually("a dialled b's port", Effect.sync(() => held.length > 0))
      assert.isTrue(routerOf(a.node).peers.get("b")!.outbox.dialing, "a's handshake with the impostor is under way")
      yield* Effect.callback<void>((resume) => {
        for (const s of held) s.destroy()
        impostor.close(() => resume(Effect.void))
      })
      yield* eventually("a's dial failed", Effect.sync(() => !routerOf(a.node).peers.get("b")!.outbox.dialing))
      const waiting = (yield* links(a)).get("b")
      assert.isDefined(waiting, "the link waits in the tree")
      assert.strictEqual(waiting!.status, "running", "a failed dial is no crash: the link waits to dial again")

      // b starts on that port and dials a: a's link watches that connection
      const b = yield* TestNode.startNode("b", {
        ...common,
        port: pb,
        peers: [{ name: "a", host: "127.0.0.1", port: a.node.address.port }]
      })
      yield* eventually("a and b connected", Effect.sync(() => up(a, "b") && up(b, "a")))
      yield* eventually(
        "a's link to b is running and watches b's connection",
        Effect.map(links(a), (l) => l.get("b")?.status === "running" && a.node.linkActors.size === 1 && routerOf(a.node).peers.get("b")!.isUp),
        10_000
      )
      const linkKey = [...a.node.linkActors.keys()][0]!
      assert.strictEqual(a.node.linkActors.get(linkKey), "b")
      // the link watches that connection: its loss restarts the link (a's first restart of it)
      const before = (yield* links(a)).get("b")!.restarts
      yield* b.node.partition("a", "200 millis")
      yield* eventually("the loss of b's connection restarted a's link", Effect.map(links(a), (l) => (l.get("b")?.restarts ?? 0) > before))
    }).pipe(Effect.scoped), 60_000)

  it.live("after a lost connection the link waits to redial in the tree, and takes the peer's inbound connection at once", () =>
    Effect.gen(function*() {
      // a waits a minute before redialling: whatever brings the link back within the test is b's dial
      const b = yield* TestNode.startNode("b", common)
      const a = yield* TestNode.startNode("a", {
        ...common,
        peers: [{ name: "b", host: "127.0.0.1", port: b.node.address.port }],
        reconnect: { initial: "60 seconds", max: "60 seconds" }
      })
      yield* eventually("a connected to b", Effect.sync(() => up(a, "b") && up(b, "a")))
      yield* b.node.disconnect("a")
      yield* eventually("a's link restarted after the loss", Effect.map(links(a), (l) => (l.get("b")?.restarts ?? 0) > 0))
      assert.strictEqual((yield* links(a)).get("b")!.status, "running", "the restarted link waits in the tree")
      // b dials a: a's waiting link takes that connection
      yield* TestNode.connect(b, a)
      yield* eventually(
        "a's link watches b's connection",
        Effect.map(links(a), (l) => l.get("b")?.status === "running" && a.node.linkActors.size === 1 && up(a, "b")),
        10_000
      )
      const restarts = (yield* links(a)).get("b")!.restarts
      yield* b.node.disconnect("a")
      yield* eventually("the loss of b's connection restarted a's link again", Effect.map(links(a), (l) => (l.get("b")?.restarts ?? 0) > restarts))
      assert.strictEqual((yield* links(a)).get("b")!.status, "running", "after a second loss too, the link waits in the tree")
    }).pipe(Effect.scoped), 60_000)

  it.live("a member learned from gossip that leaves is dialled no more and not passed on", () =>
    Effect.gen(function*() {
      const options = { ...common, reconnect: { initial: "20 millis", max: "100 millis" } } as const
      const seed = yield* TestNode.startNode("seed", options)
      const at = { name: "seed", host: "127.0.0.1", port: seed.node.address.port }
      // c: a node with an address that joins through the seed, and later leaves for good
      const cScope = yield* Scope.make()
      const c = yield* TestNode.startNode("c", { ...options, peers: [at] }).pipe(Scope.provide(cScope))
      yield* eventually("c connected to the seed", Effect.sync(() => up(seed, "c")))
      // a joins through the seed, learns c from it and dials it
      const a = yield* TestNode.startNode("a", { ...options, peers: [at] })
      yield* eventually("a dialled c, learned from the seed", Effect.sync(() => up(a, "c")))
      assert.isTrue((yield* links(a)).has("c"))
      // c leaves
      const cPort = c.node.address.port
      yield* Scope.close(cScope, Exit.void)
      yield* eventually("a's link to c is gone", Effect.map(links(a), (l) => !l.has("c")))
      assert.isUndefined(a.node.peers().find((p) => p.name === "c")?.listen, "a forgot c's address")
      // nothing listens on c's port now; a does not dial it again
      let dials = 0
      const watch = Net.createServer((s) => {
        dials++
        s.destroy()
      })
      yield* Effect.callback<void>((resume) => void watch.listen(cPort, "127.0.0.1", () => resume(Effect.void)))
      yield* Effect.addFinalizer(() => Effect.sync(() => watch.close()))
      // a node joining later is not told of c (the seed passes on only the members it is connected to)
      const d = yield* TestNode.startNode("d", { ...options, peers: [at] })
      yield* eventually("d meshed with a", Effect.sync(() => up(d, "a") && up(a, "d")))
      yield* Effect.sleep("500 millis")
      assert.isFalse(d.node.peers().some((p) => p.name === "c"), "d never heard of c")
      assert.strictEqual(dials, 0, "nobody dialled c's old address")
    }).pipe(Effect.scoped), 60_000)

  it.live("a loopback node dials no member at another address", () =>
    Effect.gen(function*() {
      const a = yield* TestNode.startNode("a", common)
      const b = yield* TestNode.startNode("b", common)
      yield* TestNode.connect(b, a)
      // b (an authenticated peer) tells a of members elsewhere, and of one on loopback
      const pc = yield* freePort()
      let dialled = 0
      const c = Net.createServer((s) => {
        dialled++
        s.destroy()
      })
      yield* Effect.callback<void>((resume) => void c.listen(pc, "127.0.0.1", () => resume(Effect.void)))
      yield* Effect.addFinalizer(() => Effect.sync(() => c.close()))
      routerOf(b.node).peers.get("a")!.conn!.send([Kind.Members, [
        { name: "far", host: "192.0.2.1", port: 7000 },
        { name: "named", host: "example.invalid", port: 7000 },
        { name: "c", host: "127.0.0.1", port: pc }
      ]])
      yield* eventually("a dialled the loopback member", Effect.sync(() => dialled > 0))
      const l = yield* links(a)
      assert.isTrue(l.has("c"))
      assert.isFalse(l.has("far"), "a does not dial 192.0.2.1")
      assert.isFalse(l.has("named"), "a does not dial a host name that is not localhost")
    }).pipe(Effect.scoped), 30_000)
  it.live("a dial reset before the peer answers (a proxy, its node not up yet) is no refusal: nothing at WARN", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") {
          logged.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
        }
      })
      const pb = yield* freePort()
      // a's way to b goes through a proxy; b does not listen yet, so the proxy resets a's dials
      const proxy = yield* Effect.promise(() => FaultProxy.start({ upstream: { host: "127.0.0.1", port: pb } }))
      yield* Effect.addFinalizer(() => Effect.promise(() => proxy.close()))
      yield* Effect.gen(function*() {
        const a = yield* TestNode.startNode("a", {
          ...common,
          peers: [{ name: "b", host: "127.0.0.1", port: proxy.address.port }],
          reconnect: { initial: "20 millis", max: "100 millis" }
        })
        yield* eventually("a's dials were reset", Effect.sync(() => proxy.stats.resets >= 2))
        yield* TestNode.startNode("b", { ...common, port: pb })
        yield* eventually("a connected to b through the proxy", Effect.sync(() => up(a, "b")))
      }).pipe(Effect.scoped, Effect.provide(Logger.layer([logger])))
      assert.deepStrictEqual(logged, [])
    }).pipe(Effect.scoped), 30_000)
  it.live("a peer's gossip makes a node dial at most 1 024 learned members", () =>
    Effect.gen(function*() {
      const skipped: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        const text = Array.isArray(message) ? message.join(" ") : String(message)
        if (logLevel === "Warn" && text.includes("members learned from peers")) skipped.push(text)
      })
      const closed = yield* freePort() // nothing listens there: every dial is refused
      yield* Effect.gen(function*() {
        const a = yield* TestNode.startNode("a", common)
        const b = yield* TestNode.startNode("b", common)
        yield* TestNode.connect(b, a)
        const members = Array.from({ length: 1100 }, (_, i) => ({ name: `m${i}`, host: "127.0.0.1", port: closed }))
        routerOf(b.node).peers.get("a")!.conn!.send([Kind.Members, members])
        yield* eventually("a skipped the members past the bound", Effect.sync(() => skipped.length >= 1))
        // the members it did dial are refused, hence forgotten
        yield* eventually("a forgot the refused members", Effect.map(links(a), (l) => l.size === 0), 60_000)
      }).pipe(Effect.scoped, Effect.provide(Logger.layer([logger])))
      // one warning for the list, naming the 76 members past the bound
      assert.strictEqual(skipped.length, 1)
      assert.match(skipped[0]!, /^not dialling 76 members m1024, m1025, .*and 71 more: this node already dials 1024 members learned from peers/)
    }).pipe(Effect.scoped), 90_000)
})
