/**
 * A flood of connections that never authenticate, over real loopback TCP: a node keeps at most
 * `maxPendingHandshakes` inbound connections in the handshake, closing the oldest silent one (no
 * valid HELLO yet) when another comes in, and logs that at debug, once a second at most. A
 * connection that has sent its HELLO outlives the silent ones, and a node still connects (and
 * is served) while the flood goes on. A flood of connections that send garbage is refused one by
 * one, with at most 10 warnings a second.
 */
import { randomBytes } from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Redacted, References } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { ActorSystem } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { Node } from "../../src/transport/Node.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "flood"
const secret = Redacted.make("flood-secret")
const MAX = 16

const until = async (what: string, p: () => boolean, millis = 10_000) => {
  const deadline = Date.now() + millis
  while (!p()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("a flood of unauthenticated connections", () => {
  it.live(`at most ${MAX} in the handshake; the oldest silent one is closed; a node still connects meanwhile`, () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const capture = Logger.make((o) => void logs.push(`${o.logLevel}: ${String(o.message)}`))
      const ctx = yield* Layer.build(
        Node.layerWithSystem({ name: "b", cluster, secret, maxPendingHandshakes: MAX, handshakeTimeout: "60 seconds" }).pipe(
          Layer.provide(Logger.layer([capture], { mergeWithExisting: false })),
          Layer.provide(Layer.succeed(References.MinimumLogLevel, "Debug"))
        )
      )
      const b = { node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem) }
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const port = b.node.address.port

      const sockets: Array<Net.Socket> = []
      let closed = 0
      let flooding = true
      const open = () => {
        const s = Net.connect({ host: "127.0.0.1", port })
        s.on("error", () => {})
        s.on("close", () => {
          closed++
          if (flooding) open() // the flood keeps every slot taken
        })
        sockets.push(s)
      }
      try {
        // a peer that has sent a valid HELLO (and got its CHALLENGE), then the silent flood
        const greeted = yield* Effect.promise(() => RawPeer.connect(port))
        greeted.sendJson(FrameType.Hello, {
          protocol: "telex", version: 1, cluster, node: { name: "slow", incarnation: 1 }, listen: null, codecs: ["json"],
          nonce: randomBytes(32).toString("base64")
        })
        yield* Effect.promise(() => greeted.next(FrameType.Challenge))
        flooding = false
        for (let i = 0; i < 200; i++) open()
        // every connection past the limit was closed at once: 199 + the greeted one = 216 - 16 slots
        yield* Effect.promise(() => until(`${200 - (MAX - 1)} closed (${closed})`, () => closed >= 200 - (MAX - 1)))
        yield* Effect.sleep("100 millis")
        assert.strictEqual(closed, 200 - (MAX - 1), "the rest stay in the handshake")
        assert.isFalse(greeted.closed, "the connection that sent its HELLO outlives silent ones")

        // while the flood goes on, a node connects and is served
        flooding = true
        for (let i = 0; i < 50; i++) open()
        const a = yield* TestNode.startNode("a", { cluster, secret })
        yield* TestNode.connect(a, { node: b.node } as TestNode.TestNode, "10 seconds")
        const counter = yield* a.node.lookup("b", Counter, "counter")
        yield* counter.tell(Counter.Increment({ by: 2 }))
        assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
        assert.isAbove(closed, 200, "the flood went on meanwhile")

        const shedLogs = logs.filter((l) => /closing inbound connections still in the handshake/.test(l))
        assert.isAtLeast(shedLogs.length, 1, logs.join("\n"))
        assert.isTrue(shedLogs.every((l) => l.startsWith("Debug")), shedLogs.join("\n"))
        assert.isAtMost(shedLogs.length, 30, "rate-limited: one line a second at most")
        assert.isFalse(logs.some((l) => /refused connection from/.test(l)), "no warning per flood connection")
      } finally {
        flooding = false
        for (const s of sockets) s.destroy()
      }
    }).pipe(Effect.scoped), 30_000)

  it.live("a flood of refused connections: at most 10 warnings a second, the rest counted", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const ctx = yield* Layer.build(
        Node.layerWithSystem({ name: "b", cluster, secret }).pipe(
          Layer.provide(Logger.layer([Logger.make((o) => void logs.push(String(o.message)))], { mergeWithExisting: false }))
        )
      )
      const port = Context.get(ctx, Node).address.port
      // an HTTP request: its first bytes announce a frame far over the limit, refused at once
      const probe = () =>
        new Promise<void>((resolve) => {
          const s = Net.connect({ host: "127.0.0.1", port }, () => s.write("GET / HTTP/1.1\r\n\r\n"))
          s.on("error", () => {})
          s.resume() // the REFUSE is read, so that the end is seen
          s.on("close", () => resolve())
        })
      yield* Effect.promise(() => Promise.all(Array.from({ length: 200 }, probe)))
      yield* Effect.sleep("1100 millis")
      yield* Effect.promise(probe)
      yield* Effect.sleep("100 millis")
      const warnings = logs.filter((l) => l.startsWith("refused connection from"))
      assert.isBelow(warnings.length, 100, `${warnings.length} warnings for 201 refused connections`)
      assert.match(warnings.at(-1)!, /protocol: .*\(and \d+ refused connections not logged before it\)$/)
    }).pipe(Effect.scoped), 30_000)
})
