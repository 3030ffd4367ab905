/**
 * The cluster registry and peers that never answer it. A client written from docs/protocol.md
 * (node:net, node:crypto, JSON; nothing from src/transport) authenticates, sends heartbeats and
 * ignores every envelope — including the Lookup a node's registry sends to every new peer to
 * find that peer's registry. Two such peers are connected to node `a` while it registers names:
 * every `register` succeeds (none waits behind the unanswered Lookups, none fails with an
 * AskTimeout defect), replication between `a` and a real node `b` goes on, and the silent peers'
 * connections stay up. And the registry's search for a silent peer's registry is bounded: a
 * timeout per attempt, backoff between attempts, and a last attempt (driven by the TestClock).
 */
import { createHmac, randomBytes } from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor } from "../../src/index.ts"
import { eventually, keyOf, mesh, quiet, startNode } from "./_helpers.ts"

const SECRET = "registry-test-secret" // the secret of ./_helpers.ts's nodes
const CLUSTER = "registry-silent-peer"

const HELLO = 1
const CHALLENGE = 2
const AUTH = 3
const READY = 4
const HEARTBEAT = 16
const MESSAGE = 32
const LOOKUP = 22

const frame = (type: number, body: Buffer) => {
  const header = Buffer.alloc(5)
  header.writeUInt32BE(body.length + 1, 0)
  header[4] = type
  return Buffer.concat([header, body])
}
const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8")
const proof = (role: string, a: string, b: string, server: { name: string; incarnation: number }, client: { name: string; incarnation: number }) =>
  createHmac("sha256", SECRET)
    .update(`telex/${role}\n${a}\n${b}\n${server.name}#${server.incarnation}\n${client.name}#${client.incarnation}`, "utf8")
    .digest("base64")

interface SilentPeer {
  /** every envelope received after the handshake */
  readonly envelopes: Array<Array<any>>
  readonly closed: () => boolean
  readonly close: () => void
}

/**
 * An address a silent peer advertises: nothing listens on port 1 of loopback, so a node that
 * learns it from the member list and dials it is refused at once.
 */
const NOWHERE = { host: "127.0.0.1", port: 1 }

/**
 * Connects, completes the handshake (json codec), then only sends heartbeats: it answers nothing.
 * `listen`: the address it advertises (a node, as far as the cluster knows), or null (a
 * transient client).
 */
const silentPeer = (port: number, name: string, listen: { host: string; port: number } | null = NOWHERE): Promise<SilentPeer> =>
  new Promise((resolve, reject) => {
    const me = { name, incarnation: Date.now() }
    const nonce = randomBytes(32).toString("base64")
    const envelopes: Array<Array<any>> = []
    let closed = false
    let heartbeat: ReturnType<typeof setInterval> | undefined
    let buffer = Buffer.alloc(0)
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.on("error", reject)
    socket.on("close", () => {
      closed = true
      if (heartbeat !== undefined) clearInterval(heartbeat)
    })
    const peer: SilentPeer = {
      envelopes,
      closed: () => closed,
      close: () => {
        if (heartbeat !== undefined) clearInterval(heartbeat)
        socket.destroy()
      }
    }
    socket.once("connect", () =>
      socket.write(frame(HELLO, json({ protocol: "telex", version: 1, cluster: CLUSTER, node: me, listen, codecs: ["json"], nonce }))))
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      while (buffer.length >= 5 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0)
        const type = buffer[4]!
        const body = buffer.subarray(5, 4 + length)
        buffer = buffer.subarray(4 + length)
        if (type === CHALLENGE) {
          const c = JSON.parse(body.toString("utf8"))
          if (c.proof !== proof("server", nonce, c.nonce, c.node, me)) return reject(new Error("bad server proof"))
          socket.write(frame(AUTH, json({ proof: proof("client", c.nonce, nonce, c.node, me) })))
        } else if (type === READY) {
          socket.write(frame(READY, json({ protocols: {} })))
          heartbeat = setInterval(() => socket.write(frame(HEARTBEAT, Buffer.alloc(0))), 500)
          resolve(peer)
        } else if (type === MESSAGE) {
          envelopes.push(JSON.parse(body.toString("utf8")))
        } else if (type !== HEARTBEAT) {
          reject(new Error(`unexpected frame type ${type}: ${body.toString("utf8")}`))
        }
      }
    })
  })

const Echo = Actor.make("test/SilentPeerEcho", { Echo: Actor.ask({ text: Schema.String }, { success: Schema.String }) })
const EchoLive = Echo.behavior(Effect.succeed({ Echo: ({ text }) => Effect.succeed(text) }))

describe("cluster registry and peers that never answer it", () => {
  it.live("two peers ignore the registry's Lookup: every register succeeds, replication with a real node goes on", () =>
    quiet(Effect.gen(function*() {
      const a = yield* startNode("a", CLUSTER)
      const b = yield* startNode("b", CLUSTER)
      yield* mesh([a, b])
      const silent = yield* Effect.acquireRelease(
        Effect.promise(() => Promise.all([silentPeer(a.node.address.port, "silent-1"), silentPeer(a.node.address.port, "silent-2")])),
        (peers) => Effect.sync(() => peers.forEach((p) => p.close()))
      )
      // a's registry has asked both for their registry, and is waiting for answers that never come
      yield* eventually("a's registry looked up both silent peers' registry", () =>
        silent.every((p) => p.envelopes.some((e) => e[0] === LOOKUP && e[2] === "telex/registry")))

      for (let i = 0; i < 10; i++) {
        const ref = yield* a.system.spawn(EchoLive)
        const exit = yield* Effect.exit(a.registry.register(`svc-${i}`, ref))
        assert.isTrue(Exit.isSuccess(exit), `register svc-${i}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
        assert.strictEqual(keyOf(a, `svc-${i}`), ref.key)
        // local reads are immediate as well
        assert.strictEqual((yield* a.registry.lookup(Echo, `svc-${i}`)).key, ref.key)
      }
      // replication to and from the real peer is unaffected
      yield* eventually("b sees a's names", () => Array.from({ length: 10 }, (_, i) => keyOf(b, `svc-${i}`)).every((k) => k !== undefined))
      const onB = yield* b.system.spawn(EchoLive)
      yield* b.registry.register("on-b", onB)
      yield* eventually("a sees b's name", () => keyOf(a, "on-b") === onB.key)
      const found = yield* a.registry.lookup(Echo, "on-b")
      assert.strictEqual(yield* found.ask(Echo.Echo({ text: "hi" })), "hi")

      // the silent peers stay connected (a registry that gets no answer is no reason to drop a
      // peer) and were never sent a registry message: their registry was never found
      assert.isTrue(silent.every((p) => !p.closed()))
      assert.isTrue(["silent-1", "silent-2"].every((n) => a.node.peers().some((p) => p.name === n && p.up)))
      for (const p of silent) {
        assert.deepStrictEqual(p.envelopes.filter((e) => e[0] === 0 || e[0] === 1), [], "no tell or ask reached a silent peer")
      }
    })), 60_000)

  it.live("a transient client (no advertised address) is not looked up: attaching one changes nothing on the node", () =>
    quiet(Effect.gen(function*() {
      const a = yield* startNode("a", CLUSTER)
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => silentPeer(a.node.address.port, "client", null)),
        (p) => Effect.sync(() => p.close())
      )
      const advertised = yield* Effect.acquireRelease(
        Effect.promise(() => silentPeer(a.node.address.port, "advertised")),
        (p) => Effect.sync(() => p.close())
      )
      // the advertised peer is asked for its registry at once; by then the client would have been too
      yield* eventually("a looked up the advertised peer's registry", () =>
        advertised.envelopes.some((e) => e[0] === LOOKUP && e[2] === "telex/registry"))
      yield* Effect.sleep("500 millis")
      assert.deepStrictEqual(client.envelopes.filter((e) => e[0] === LOOKUP), [], "no Lookup sent to a transient client")
      assert.isFalse(client.closed())
    })), 60_000)

  it.effect("the search for a silent peer's registry is bounded: 20 attempts, each timed out, with backoff between them, then none", () =>
    quiet(Effect.gen(function*() {
      // the node's sockets and heartbeats run on real timers; the registry's timeouts and
      // backoff on Effect's Clock, which the test moves
      const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
      const a = yield* startNode("a", CLUSTER)
      const silent = yield* Effect.acquireRelease(
        Effect.promise(() => silentPeer(a.node.address.port, "silent")),
        (p) => Effect.sync(() => p.close())
      )
      const lookups = () => silent.envelopes.filter((e) => e[0] === LOOKUP && e[2] === "telex/registry").length
      for (let i = 0; i < 500 && lookups() === 0; i++) yield* realSleep(10)
      assert.strictEqual(lookups(), 1)
      // an attempt waits out its 5 s timeout, and the next one comes only after the backoff
      yield* TestClock.adjust("4999 millis")
      yield* realSleep(50)
      assert.strictEqual(lookups(), 1, "no new attempt before the timeout")
      const seen: Array<number> = [lookups()]
      // about 20 × (5 s + at most 6 s of backoff): move the clock well past it, a second at a time
      for (let second = 0; second < 400; second++) {
        yield* TestClock.adjust("1 second")
        yield* realSleep(2)
        seen.push(lookups())
      }
      yield* realSleep(100)
      assert.strictEqual(lookups(), 20, `attempts seen over time: ${seen.join(",")}`)
      // one sample a second: the 20 attempts took at least 19 timeouts (95 s) plus the backoff
      // between them (250 ms doubling to 5 s, -20 % jitter at least: 62 s); a late delivery to
      // the peer can only make this later
      assert.isAtLeast(seen.indexOf(20), 150, `attempts seen over time: ${seen.join(",")}`)
      // the registry is as available as ever, and the silent peer still connected
      const ref = yield* a.system.spawn(EchoLive)
      yield* a.registry.register("after", ref)
      assert.strictEqual(keyOf(a, "after"), ref.key)
      assert.isFalse(silent.closed())
    })), 60_000)
})
