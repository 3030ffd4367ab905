/**
 * A foreign client written only from docs/protocol.md: node:net, node:crypto and JSON, no import
 * from src/transport. The server side is a real node (Node.layerWithSystem) on loopback; the
 * client authenticates, offers the "json" codec, looks up "counter" by name and talks to it.
 */
import { createHmac, randomBytes } from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, PubSub, Redacted, Schema } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { Actor, ActorSystem } from "../../src/index.ts"
import { Node } from "../../src/transport/Node.ts"

// ---------------------------------------------------------------------------------------------
// the client (protocol.md §2 frames, §3 handshake, §5 envelopes)
// ---------------------------------------------------------------------------------------------

const HELLO = 1
const CHALLENGE = 2
const AUTH = 3
const READY = 4
const REFUSE = 5
const HEARTBEAT = 16
const MESSAGE = 32

interface Frame {
  readonly type: number
  readonly body: Buffer
}

/** `u32 big-endian length (type byte + body) | u8 type | body` */
const encodeFrame = (type: number, body: Buffer): Buffer => {
  const header = Buffer.alloc(5)
  header.writeUInt32BE(body.length + 1, 0)
  header[4] = type
  return Buffer.concat([header, body])
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8")

/** `telex/<role>\n<nonce a>\n<nonce b>\n<server name>#<incarnation>\n<client name>#<incarnation>`, HMAC-SHA256, base64 */
const proof = (
  secret: string,
  role: "server" | "client",
  a: string,
  b: string,
  server: { name: string; incarnation: number },
  client: { name: string; incarnation: number }
) =>
  createHmac("sha256", secret)
    .update(`telex/${role}\n${a}\n${b}\n${server.name}#${server.incarnation}\n${client.name}#${client.incarnation}`, "utf8")
    .digest("base64")

class Client {
  private readonly socket: Net.Socket
  private buffer = Buffer.alloc(0)
  private readonly frames: Array<Frame> = []
  private waiters: Array<() => void> = []
  closed = false
  private heartbeat: ReturnType<typeof setInterval> | undefined

  private constructor(socket: Net.Socket) {
    this.socket = socket
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      while (this.buffer.length >= 5) {
        const length = this.buffer.readUInt32BE(0)
        if (this.buffer.length < 4 + length) break
        this.frames.push({ type: this.buffer[4]!, body: this.buffer.subarray(5, 4 + length) })
        this.buffer = this.buffer.subarray(4 + length)
      }
      this.wake()
    })
    socket.on("close", () => {
      this.closed = true
      if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
      this.wake()
    })
    socket.on("error", () => {})
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      socket.once("error", reject)
      socket.once("connect", () => {
        socket.off("error", reject)
        resolve(new Client(socket))
      })
    })
  }

  private wake() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  send(type: number, body: Buffer): void {
    this.socket.write(encodeFrame(type, body))
  }

  sendEnvelope(envelope: ReadonlyArray<unknown>): void {
    this.send(MESSAGE, json(envelope))
  }

  /** The next frame, skipping heartbeats unless asked for; undefined once the socket is closed. */
  async next(options: { heartbeats?: boolean; timeoutMillis?: number } = {}): Promise<Frame | undefined> {
    const deadline = Date.now() + (options.timeoutMillis ?? 5000)
    for (;;) {
      while (this.frames.length > 0) {
        const frame = this.frames.shift()!
        if (frame.type === HEARTBEAT && options.heartbeats !== true) continue
        return frame
      }
      if (this.closed) return undefined
      const remaining = deadline - Date.now()
      if (remaining <= 0) throw new Error("timed out waiting for a frame")
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** The next envelope (MESSAGE frame, json codec). */
  async envelope(): Promise<Array<any>> {
    const frame = await this.next()
    if (frame === undefined) throw new Error("connection closed")
    assert.strictEqual(frame.type, MESSAGE)
    return JSON.parse(frame.body.toString("utf8"))
  }

  /** Keeps the connection alive: any frame at least every acceptable pause (3 s by default). */
  startHeartbeats(millis = 1000): void {
    this.heartbeat = setInterval(() => this.send(HEARTBEAT, Buffer.alloc(0)), millis)
  }

  /** Stops reading the socket (heartbeats go on): a peer that does not read what it asked for. */
  stopReading(): void {
    this.socket.pause()
  }

  stopHeartbeats(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }

  close(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.socket.destroy()
  }

  /**
   * HELLO → CHALLENGE (verify the server's proof) → AUTH → READY (server) → READY (client).
   * Returns the server's node id and READY body, or the REFUSE body.
   */
  async handshake(options: {
    cluster: string
    secret: string
    node: { name: string; incarnation: number }
    /** the secret used for our AUTH proof (to test refusals) */
    authSecret?: string
  }): Promise<
    | { ok: true; server: { name: string; incarnation: number }; ready: any }
    | { ok: false; refuse: any }
  > {
    const clientNonce = randomBytes(32).toString("base64")
    this.send(HELLO, json({
      protocol: "telex",
      version: 1,
      cluster: options.cluster,
      node: options.node,
      listen: null,
      codecs: ["json"],
      nonce: clientNonce
    }))
    const challenge = await this.next()
    if (challenge === undefined) throw new Error("closed during the handshake")
    if (challenge.type === REFUSE) return { ok: false, refuse: JSON.parse(challenge.body.toString("utf8")) }
    assert.strictEqual(challenge.type, CHALLENGE)
    const c = JSON.parse(challenge.body.toString("utf8"))
    assert.strictEqual(c.codec, "json")
    const expected = proof(options.secret, "server", clientNonce, c.nonce, c.node, options.node)
    if (c.proof !== expected) throw new Error("the server does not know the cluster secret")
    this.send(AUTH, json({ proof: proof(options.authSecret ?? options.secret, "client", c.nonce, clientNonce, c.node, options.node) }))
    const ready = await this.next()
    if (ready === undefined) throw new Error("closed during the handshake")
    if (ready.type === REFUSE) return { ok: false, refuse: JSON.parse(ready.body.toString("utf8")) }
    assert.strictEqual(ready.type, READY)
    this.send(READY, json({ protocols: {} }))
    this.startHeartbeats()
    return { ok: true, server: c.node, ready: JSON.parse(ready.body.toString("utf8")) }
  }
}

// envelope kinds (protocol.md §5)
const TELL = 0
const ASK = 1
const REPLY = 2
const LOOKUP = 22
const FOUND = 23

// ---------------------------------------------------------------------------------------------
// the server side
// ---------------------------------------------------------------------------------------------

const SECRET = "foreign-secret"

const startServer = (extra?: Partial<Parameters<typeof Node.layerWithSystem>[0]>) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(
      Node.layerWithSystem({ name: "server", cluster: "foreign", secret: Redacted.make(SECRET), ...extra })
    )
    const node = Context.get(ctx, Node)
    const system = Context.get(ctx, ActorSystem)
    yield* system.spawn(CounterLive, { name: "counter" })
    return { node, system }
  })

const me = () => ({ name: "foreign", incarnation: Date.now() })

describe("a foreign client written from docs/protocol.md", () => {
  it.live("authenticates, looks up by name, tells, asks, and gets runtime errors", () =>
    Effect.gen(function*() {
      const { node, system } = yield* startServer()
      const deadLettersBefore = system.deadLetterCount()
      const result = yield* Effect.promise(async () => {
        const client = await Client.connect(node.address.port)
        try {
          const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
          if (!hs.ok) throw new Error(`refused: ${JSON.stringify(hs.refuse)}`)

          client.sendEnvelope([LOOKUP, 1, "counter"])
          const found = await client.envelope()
          client.sendEnvelope([LOOKUP, 2, "nobody"])
          const notFound = await client.envelope()
          const address = found[2]

          client.sendEnvelope([TELL, address.id, address.protocol, { _tag: "Increment", by: 5 }])
          client.sendEnvelope([TELL, address.id, address.protocol, { _tag: "Increment", by: "x" }]) // dead letter, no reply
          client.sendEnvelope([ASK, address.id, address.protocol, { _tag: "Get" }, 10, null])
          const get = await client.envelope()
          client.sendEnvelope([ASK, address.id, address.protocol, { _tag: "Increment", by: "x" }, 11, null])
          const invalid = await client.envelope()
          client.sendEnvelope([ASK, 999_999, "Counter", { _tag: "Get" }, 12, null])
          const noproc = await client.envelope()
          client.sendEnvelope([ASK, address.id, address.protocol, { _tag: "Decrement", by: 100 }, 13, null])
          const overdrawn = await client.envelope()
          client.sendEnvelope([ASK, address.id, "Other", { _tag: "Get" }, 14, null])
          const wrongProtocol = await client.envelope()
          client.sendEnvelope([ASK, address.id, address.protocol, { _tag: "Increment", by: 0 }, 15, null])
          const tellAsAsk = await client.envelope()
          client.sendEnvelope([ASK, address.id, address.protocol, { _tag: "Get" }, 16, null])
          const again = await client.envelope()
          return { hs, found, notFound, get, invalid, noproc, overdrawn, wrongProtocol, tellAsAsk, again, closed: client.closed }
        } finally {
          client.close()
        }
      })
      const { hs } = result
      assert.isTrue(hs.ok)
      if (!hs.ok) return
      assert.strictEqual(hs.server.name, "server")
      assert.strictEqual(hs.server.incarnation, node.nodeId.incarnation)
      assert.strictEqual(typeof hs.ready.protocols.Counter, "string")

      assert.deepStrictEqual(result.found, [FOUND, 1, { node: node.nodeId, id: result.found[2].id, protocol: "Counter" }])
      assert.deepStrictEqual(result.notFound, [FOUND, 2, null])
      assert.deepStrictEqual(result.get, [REPLY, 10, 0, 5])

      const [kind, askId, replyKind, error] = result.invalid
      assert.deepStrictEqual([kind, askId, replyKind], [REPLY, 11, 2])
      assert.strictEqual(error._tag, "InvalidMessage")
      assert.strictEqual(error.protocol, "Counter")
      assert.strictEqual(error.actor, `Counter@server#${node.nodeId.incarnation}/${result.found[2].id}`)
      assert.strictEqual(typeof error.issue, "string")

      assert.deepStrictEqual(result.noproc, [REPLY, 12, 2, { _tag: "NoProc", actor: `Counter@server#${node.nodeId.incarnation}/999999` }])
      assert.deepStrictEqual(result.overdrawn, [REPLY, 13, 1, { _tag: "Overdrawn", balance: 5 }])
      assert.strictEqual(result.wrongProtocol[2], 2)
      assert.strictEqual(result.wrongProtocol[3]._tag, "InvalidMessage")
      assert.strictEqual(result.wrongProtocol[3].protocol, "Other")
      assert.deepStrictEqual(result.tellAsAsk, [REPLY, 15, 0, null])
      // the invalid messages did not take the connection down, nor change the count
      assert.deepStrictEqual(result.again, [REPLY, 16, 0, 5])
      assert.isFalse(result.closed)
      // invalid tell, invalid ask, ask to a missing actor, ask with the wrong protocol: dead letters
      assert.strictEqual(system.deadLetterCount() - deadLettersBefore, 4)
    }))

  it.live("a message whose _tag names an Object.prototype property is an invalid message, not a crash", () =>
    Effect.gen(function*() {
      const { node } = yield* startServer()
      const replies = yield* Effect.promise(async () => {
        const client = await Client.connect(node.address.port)
        try {
          const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
          if (!hs.ok) throw new Error("refused")
          client.sendEnvelope([LOOKUP, 1, "counter"])
          const counter = (await client.envelope())[2]
          const tags = ["constructor", "__proto__", "toString", "hasOwnProperty"]
          for (const tag of tags) client.sendEnvelope([TELL, counter.id, "Counter", { _tag: tag }])
          tags.forEach((tag, i) => client.sendEnvelope([ASK, counter.id, "Counter", { _tag: tag }, 100 + i, null]))
          const out: Array<any> = []
          for (const _ of tags) out.push(await client.envelope())
          return out
        } finally {
          client.close()
        }
      })
      for (const [i, reply] of replies.entries()) {
        assert.deepStrictEqual(reply.slice(0, 3), [REPLY, 100 + i, 2])
        assert.strictEqual(reply[3]._tag, "InvalidMessage")
      }
    }))

  it.live("the server sends heartbeats, and closes a connection that sends a malformed envelope", () =>
    Effect.gen(function*() {
      const { node } = yield* startServer({ heartbeatInterval: "100 millis" })
      const result = yield* Effect.promise(async () => {
        const client = await Client.connect(node.address.port)
        const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
        const heartbeat = await client.next({ heartbeats: true, timeoutMillis: 2000 })
        // an unknown kind (from a newer version) is skipped: the connection stays up...
        client.sendEnvelope([99, "a kind from the future"])
        client.sendEnvelope([22, 7, "no-such-name"])
        const found = await client.next({ timeoutMillis: 2000 })
        // ...while an envelope that is not an array closes it
        client.sendEnvelope("not an array" as unknown as ReadonlyArray<unknown>)
        const after = await client.next({ timeoutMillis: 2000 })
        client.close()
        return { ok: hs.ok, heartbeat, found, after }
      })
      assert.isTrue(result.ok)
      assert.isDefined(result.found, "the connection survived the unknown kind and answered the lookup")
      assert.strictEqual(result.heartbeat?.type, HEARTBEAT)
      assert.strictEqual(result.heartbeat?.body.length, 0)
      assert.strictEqual(result.after, undefined) // closed, no REFUSE or reply
    }))

  it.live("a silent client is dropped after the acceptable pause", () =>
    Effect.gen(function*() {
      const { node } = yield* startServer({ heartbeatInterval: "100 millis", acceptablePause: "300 millis" })
      const result = yield* Effect.promise(async () => {
        const client = await Client.connect(node.address.port)
        const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
        client.stopHeartbeats()
        const start = Date.now()
        const frame = await client.next({ timeoutMillis: 3000 }) // server heartbeats are skipped
        const elapsed = Date.now() - start
        client.close()
        return { ok: hs.ok, frame, elapsed }
      })
      assert.isTrue(result.ok)
      assert.strictEqual(result.frame, undefined) // the server closed the connection
      assert.isAtLeast(result.elapsed, 250)
    }))

  it.live("a client that ignores Hold: the flood past the slack is refused (MailboxFull dead letters), the link and other actors are fine", () =>
    Effect.gen(function*() {
      const { node, system } = yield* startServer({ holdSlackBytes: 2000 })
      const gate = yield* Deferred.make<void>()
      const stuck = yield* system.spawn(
        Counter.behavior(Effect.succeed({
          Increment: () => Deferred.await(gate),
          Decrement: () => Effect.succeed(0),
          Get: () => Effect.succeed(0)
        })),
        { name: "stuck", mailbox: { capacity: 4, overflow: "backpressure" } }
      )
      const refused = () => system.deadLetterCount()
      const before = refused()
      const result = yield* Effect.promise(async () => {
        const client = await Client.connect(node.address.port)
        try {
          const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
          if (!hs.ok) throw new Error("refused")
          client.sendEnvelope([LOOKUP, 1, "counter"])
          const counter = (await client.envelope())[2]
          // a client that knows nothing of Hold floods the stuck actor...
          for (let i = 0; i < 500; i++) client.sendEnvelope([TELL, stuck.address.id, "Counter", { _tag: "Increment", by: 1 }])
          // ...and the node asks it to hold that actor (kind 30), which it ignores
          const hold = await client.envelope()
          client.sendEnvelope([ASK, counter.id, counter.protocol, { _tag: "Get" }, 2, null])
          const get = await client.envelope()
          return { hold, get, closed: client.closed }
        } finally {
          client.close()
        }
      })
      assert.deepStrictEqual(result.hold, [30, stuck.address.id, "backpressure", 4])
      assert.deepStrictEqual(result.get, [REPLY, 2, 0, 0])
      assert.isFalse(result.closed)
      // 500 tells of ~50 bytes, 2 000 bytes of slack past the capacity: most were refused, none
      // silently (one is in the blocked handler, the rest in the mailbox)
      const mailbox = (stuck.target as unknown as { mailbox: { size: number } }).mailbox.size
      assert.isAbove(refused() - before, 400)
      assert.strictEqual(1 + mailbox + (refused() - before), 500)
    }))

  it.live("a client that ignores Hold on two actors: the slack is for both together", () =>
    Effect.gen(function*() {
      const { node, system } = yield* startServer({ holdSlackBytes: 2000 })
      const gate = yield* Deferred.make<void>()
      const spawnStuck = (name: string) =>
        system.spawn(
          Counter.behavior(Effect.succeed({
            Increment: () => Deferred.await(gate),
            Decrement: () => Effect.succeed(0),
            Get: () => Effect.succeed(0)
          })),
          { name, mailbox: { capacity: 4, overflow: "backpressure" } }
        )
      const stuck = [yield* spawnStuck("stuck-1"), yield* spawnStuck("stuck-2")]
      const before = system.deadLetterCount()
      yield* Effect.promise(async () => {
        const client = await Client.connect(node.address.port)
        try {
          const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
          if (!hs.ok) throw new Error("refused")
          for (let i = 0; i < 500; i++) {
            for (const s of stuck) client.sendEnvelope([TELL, s.address.id, "Counter", { _tag: "Increment", by: 1 }])
          }
          // a round trip: every tell has been handled
          client.sendEnvelope([LOOKUP, 1, "stuck-1"])
          while ((await client.envelope())[0] !== 23);
        } finally {
          client.close()
        }
      })
      const size = (s: (typeof stuck)[number]) => (s.target as unknown as { mailbox: { size: number } }).mailbox.size
      // each actor: one in its handler, 4 in its mailbox, and what fits in the shared slack past it
      // (tells of ~50 bytes: at most 40 for both, not 40 each)
      const past = size(stuck[0]!) + size(stuck[1]!) - 2 * 4
      assert.isAtMost(past, 2000 / 40)
      assert.strictEqual(2 + size(stuck[0]!) + size(stuck[1]!) + (system.deadLetterCount() - before), 1000)
    }))

  it.live("a client that heartbeats but does not read its replies is disconnected: write stall, or queue limit", () =>
    Effect.gen(function*() {
      const Big = Actor.make("Foreign/Big", { Get: Actor.ask({}, { success: Schema.String }) })
      const reply = "x".repeat(60_000)
      const cases = [
        { options: { writeStallTimeout: "1 second" }, reason: /has not read for 1000 ms \(write stall/ },
        { options: { maxQueuedBytes: 4 * 1024 * 1024, writeStallTimeout: "1 minute" }, reason: /not reading: more than 4194304 bytes queued/ }
      ] as const
      for (const { options, reason } of cases) {
        const { node, system } = yield* startServer(options)
        const big = yield* system.spawn(Big.behavior(Effect.succeed({ Get: () => Effect.succeed(reply) })))
        const events = yield* node.subscribe
        const client = yield* Effect.promise(async () => {
          const client = await Client.connect(node.address.port)
          const hs = await client.handshake({ cluster: "foreign", secret: SECRET, node: me() })
          if (!hs.ok) throw new Error("refused")
          client.stopReading()
          // 300 asks for 60 KB each: 18 MB of replies for a peer that reads nothing
          for (let i = 1; i <= 300; i++) client.sendEnvelope([ASK, big.address.id, "Foreign/Big", { _tag: "Get" }, i, null])
          return client
        })
        const down = yield* PubSub.take(events).pipe(
          Effect.repeat({ until: (e) => e._tag === "NodeDown" && e.node.name === "foreign" }),
          Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error("never disconnected")) })
        )
        client.close()
        assert.match(down._tag === "NodeDown" ? down.reason : "", reason)
      }
    }).pipe(Effect.scoped), 60_000)

  it.live("refusals: wrong cluster, bad proof, no common codec", () =>
    Effect.gen(function*() {
      const { node } = yield* startServer()
      const result = yield* Effect.promise(async () => {
        const a = await Client.connect(node.address.port)
        const cluster = await a.handshake({ cluster: "elsewhere", secret: SECRET, node: me() })
        const b = await Client.connect(node.address.port)
        const auth = await b.handshake({ cluster: "foreign", secret: SECRET, authSecret: "wrong", node: me() })
        const c = await Client.connect(node.address.port)
        c.send(HELLO, json({ protocol: "telex", version: 1, cluster: "foreign", node: me(), listen: null, codecs: ["cbor"], nonce: "n" }))
        const codec = await c.next()
        const closedAfter = await c.next()
        for (const client of [a, b, c]) client.close()
        return { cluster, auth, codec: codec && JSON.parse(codec.body.toString("utf8")), codecType: codec?.type, closedAfter }
      })
      assert.deepStrictEqual(result.cluster.ok ? undefined : result.cluster.refuse.code, "cluster")
      assert.deepStrictEqual(result.auth.ok ? undefined : result.auth.refuse.code, "auth")
      assert.strictEqual(result.codecType, REFUSE)
      assert.strictEqual(result.codec.code, "codec")
      assert.strictEqual(typeof result.codec.reason, "string")
      assert.strictEqual(result.closedAfter, undefined)
    }))
})
