/**
 * The connection handshake over real loopback TCP, against a node "srv" (cluster "c", secret
 * "good"): refusals (secret, cluster, version, codec, name, timeout, protocol violations), the
 * server still serving after each bad client, what crosses the wire (never the secret), and a
 * property: a raw client speaking the handshake in random chunk splits always gets a working
 * session (the seed is printed on failure, TELEX_SEED sets it).
 */
import { createHmac, randomBytes } from "node:crypto"
import * as Net from "node:net"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, PubSub, Redacted, Scope } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { ActorSystem } from "../../src/index.ts"
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "../../src/transport/Frame.ts"
import { PROTOCOL_VERSION } from "../../src/transport/Handshake.ts"
import { Node, type NodeEvent, type NodeOptions } from "../../src/transport/Node.ts"
import { chunkLengths, forAllAsync, type Rng } from "./_random.ts"

// long enough that it cannot appear by chance in random nonces or proofs (the wire check below)
const SECRET = "good-secret-correct-horse-battery-staple"
const CLUSTER = "c"
const PROPERTY_RUNS = 300

// ---------------------------------------------------------------------------
// nodes
// ---------------------------------------------------------------------------

interface Started {
  readonly node: Node["Service"]
  readonly system: ActorSystem["Service"]
  /** every event of the node since it started */
  readonly events: Array<NodeEvent>
  /** every log line of the node */
  readonly logs: Array<string>
}

const startNode = (options: Partial<NodeOptions> & { readonly name: string }) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const capture = Logger.make((o) => void logs.push(`${o.logLevel}: ${Array.isArray(o.message) ? o.message.join(" ") : String(o.message)}`))
    const ctx = yield* Layer.build(
      Node.layerWithSystem({ cluster: CLUSTER, secret: Redacted.make(SECRET), ...options }).pipe(
        Layer.provide(Logger.layer([capture], { mergeWithExisting: false }))
      )
    )
    const node = Context.get(ctx, Node)
    const system = Context.get(ctx, ActorSystem)
    const events: Array<NodeEvent> = []
    // subscribed before this returns, so no event is missed
    const subscription = yield* node.subscribe
    yield* PubSub.take(subscription).pipe(
      Effect.flatMap((e) => Effect.sync(() => events.push(e))),
      Effect.forever,
      Effect.forkScoped
    )
    return { node, system, events, logs } satisfies Started
  })

/** The shared server, started once for the file (tests below run one after the other). */
let srv: Started
let srvScope: Scope.Closeable
/** what the server's counter should hold */
let expectedCount = 0
let goodClients = 0

beforeAll(async () => {
  srvScope = await Effect.runPromise(Scope.make())
  srv = await Effect.runPromise(
    Effect.gen(function*() {
      const started = yield* startNode({ name: "srv", handshakeTimeout: "2 seconds" })
      yield* started.system.spawn(CounterLive, { name: "counter" })
      return started
    }).pipe(Scope.provide(srvScope))
  )
})
afterAll(async () => {
  if (srvScope !== undefined) await Effect.runPromise(Scope.close(srvScope, Exit.void))
})

/** A good node connects to `server` and tells/asks its counter. */
const serverWorks = (server: Started = srv) =>
  Effect.gen(function*() {
    const good = yield* startNode({ name: `good${++goodClients}` })
    yield* good.node.connect({ name: "srv", host: "127.0.0.1", port: server.node.address.port }, "5 seconds")
    const counter = yield* good.node.lookup("srv", Counter, "counter").pipe(Effect.timeout("5 seconds"))
    yield* counter.tell(Counter.Increment({ by: 2 }))
    const count = yield* counter.ask(Counter.Get()).pipe(Effect.timeout("5 seconds"))
    if (server === srv) {
      expectedCount += 2
      assert.strictEqual(count, expectedCount, "the server's counter")
    } else {
      assert.isAtLeast(count, 2)
    }
  }).pipe(Effect.scoped)

/** Waits until `events` holds an event matching `p` (at or after index `from`). */
const awaitEvent = <E extends NodeEvent>(
  server: Started,
  from: number,
  p: (e: NodeEvent) => e is E,
  what: string
): Effect.Effect<E> =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      const found = server.events.slice(from).find(p)
      if (found !== undefined) return found
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`no ${what} event; events: ${JSON.stringify(server.events.slice(from))}`))
  })

const refused = (code: string, peer?: string) => (e: NodeEvent): e is Extract<NodeEvent, { _tag: "HandshakeRefused" }> =>
  e._tag === "HandshakeRefused" && e.code === code && (peer === undefined || e.peer === peer)

// ---------------------------------------------------------------------------
// a raw client (node:net) that records every byte both ways
// ---------------------------------------------------------------------------

class RawClient {
  readonly socket: Net.Socket
  readonly sent: Array<Buffer> = []
  readonly received: Array<Buffer> = []
  readonly frames: Array<Frame> = []
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024)
  private wake: (() => void) | undefined
  closed = false
  decodeError: string | undefined
  /** `127.0.0.1:<port>`, as the server names this client in its events and logs */
  readonly peerName: string

  private constructor(socket: Net.Socket) {
    this.socket = socket
    this.peerName = `${socket.localAddress}:${socket.localPort}`
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => {
      this.received.push(Buffer.from(chunk))
      const error = this.decoder.push(chunk, this.frames)
      if (error !== undefined) this.decodeError = error.message
      this.wake?.()
    })
    socket.on("close", () => {
      this.closed = true
      this.wake?.()
    })
    socket.on("error", () => {})
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      socket.once("error", reject)
      socket.once("connect", () => {
        socket.off("error", reject)
        resolve(new RawClient(socket))
      })
    })
  }

  write(bytes: Uint8Array): void {
    this.sent.push(Buffer.from(bytes))
    this.socket.write(bytes)
  }

  /** Writes `bytes` in the given chunk lengths, yielding to the event loop in between. */
  async writeChunks(bytes: Uint8Array, lengths: ReadonlyArray<number>, rng?: Rng): Promise<void> {
    let offset = 0
    for (const length of lengths) {
      if (this.closed) return
      this.write(bytes.subarray(offset, offset + length))
      offset += length
      if (offset < bytes.length) {
        await (rng !== undefined && rng.bool(0.2) ? new Promise((r) => setTimeout(r, rng.int(0, 2))) : new Promise((r) => setImmediate(r)))
      }
    }
  }

  sendJson(type: FrameType, body: unknown): void {
    this.write(jsonFrame(type, body))
  }

  private waitChange(deadline: number): Promise<boolean> {
    const left = deadline - Date.now()
    if (left <= 0) return Promise.resolve(false)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined
        resolve(false)
      }, left)
      this.wake = () => {
        clearTimeout(timer)
        this.wake = undefined
        resolve(true)
      }
    })
  }

  /** The next frame (frames are consumed in order); fails on close or after `timeoutMs`. */
  async nextFrame(timeoutMs = 3000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const frame = this.frames.shift()
      if (frame !== undefined) return frame
      if (this.closed) throw new Error("connection closed while waiting for a frame")
      if (!(await this.waitChange(deadline))) throw new Error(`no frame within ${timeoutMs} ms`)
    }
  }

  /** The next frame that is not a heartbeat (the server may send heartbeats once the session is up). */
  async nextJsonFrame(timeoutMs = 3000): Promise<{ type: number; body: any }> {
    for (;;) {
      const frame = await this.nextFrame(timeoutMs)
      if (frame.type === FrameType.Heartbeat) continue
      return { type: frame.type, body: JSON.parse(Buffer.from(frame.body).toString("utf8")) }
    }
  }

  /** Resolves once the server has closed the connection. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) {
      if (!(await this.waitChange(deadline))) throw new Error(`the server did not close the connection within ${timeoutMs} ms`)
    }
  }

  close(): void {
    this.socket.destroy()
  }

  allBytes(): Buffer {
    return Buffer.concat([...this.sent, ...this.received])
  }
}

const jsonFrame = (type: FrameType, body: unknown): Buffer => encodeFrame(type, Buffer.from(JSON.stringify(body), "utf8"))

const hmac = (secret: string, text: string) => createHmac("sha256", secret).update(text).digest("base64")
const key = (node: { name: string; incarnation: number }) => `${node.name}#${node.incarnation}`

const hello = (node: { name: string; incarnation: number }, nonce: string, extra?: Record<string, unknown>) => ({
  protocol: "telex",
  version: PROTOCOL_VERSION,
  cluster: CLUSTER,
  node,
  listen: null,
  codecs: ["json"],
  nonce,
  ...extra
})

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Expects a REFUSE frame with `code` (after any frames in `before`), then the close; and the server's event. */
const expectRefusal = (client: RawClient, code: string, server: Started = srv, before: ReadonlyArray<number> = []) =>
  Effect.gen(function*() {
    for (const type of before) {
      const frame = yield* promise(() => client.nextFrame())
      assert.strictEqual(frame.type, type)
    }
    const refuse = yield* promise(() => client.nextJsonFrame())
    assert.strictEqual(refuse.type, FrameType.Refuse, `expected REFUSE, got ${JSON.stringify(refuse)}`)
    assert.strictEqual(refuse.body.code, code, JSON.stringify(refuse.body))
    assert.isString(refuse.body.reason)
    yield* promise(() => client.waitClosed())
    assert.deepStrictEqual(client.frames, [], "nothing after REFUSE")
    const event = yield* awaitEvent(server, 0, refused(code, client.peerName), `HandshakeRefused ${code}`)
    return { refuse: refuse.body, event }
  })

// ---------------------------------------------------------------------------
// refusals
// ---------------------------------------------------------------------------

describe("handshake refusals", () => {
  it.live("a node with a bad secret is refused with code auth on both sides; connect fails with NodeDown", () =>
    Effect.gen(function*() {
      const from = srv.events.length
      const bad = yield* startNode({ name: "bad", secret: Redacted.make("bad"), reconnect: { initial: "1 second", max: "5 seconds" } })
      const exit = yield* Effect.exit(bad.node.connect({ name: "srv", host: "127.0.0.1", port: srv.node.address.port }, "1 second"))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(JSON.stringify(exit.cause), "NodeDown")
      const event = yield* awaitEvent(srv, from, refused("auth"), "HandshakeRefused auth")
      assert.include(event.message, "refused by peer")
      // the client saw the server fail the proof (it checks the server first) and said so
      assert.isTrue(bad.logs.some((l) => l.includes("connection to srv refused: auth")), JSON.stringify(bad.logs))
      assert.isTrue(srv.logs.some((l) => l.includes(`refused connection from ${event.peer}: auth`)), JSON.stringify(srv.logs))
      assert.isFalse(srv.node.peers().some((p) => p.name === "bad" && p.up))
      assert.isFalse(bad.node.peers().some((p) => p.up))
    }).pipe(Effect.scoped, Effect.andThen(serverWorks())))

  it.live("a node of another cluster is refused with code cluster", () =>
    Effect.gen(function*() {
      const from = srv.events.length
      const other = yield* startNode({ name: "stranger", cluster: "other", reconnect: { initial: "1 second", max: "5 seconds" } })
      const exit = yield* Effect.exit(other.node.connect({ name: "srv", host: "127.0.0.1", port: srv.node.address.port }, "1 second"))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(JSON.stringify(exit.cause), "NodeDown")
      const event = yield* awaitEvent(srv, from, refused("cluster"), "HandshakeRefused cluster")
      assert.include(event.message, "wrong cluster")
      assert.isTrue(other.logs.some((l) => l.includes("connection to srv refused: cluster")), JSON.stringify(other.logs))
    }).pipe(Effect.scoped, Effect.andThen(serverWorks())))

  const nonce = () => randomBytes(32).toString("base64")
  const helloRefusals: ReadonlyArray<readonly [string, string, (n: string) => unknown]> = [
    ["version 999", "version", (n) => hello({ name: "raw", incarnation: 1 }, n, { version: 999 })],
    ["wrong cluster", "cluster", (n) => hello({ name: "raw", incarnation: 1 }, n, { cluster: "x" })],
    ["no common codec", "codec", (n) => hello({ name: "raw", incarnation: 1 }, n, { codecs: ["cbor"] })],
    ["the server's own name", "name", (n) => hello({ name: "srv", incarnation: 1 }, n)],
    ["not telex", "protocol", (n) => hello({ name: "raw", incarnation: 1 }, n, { protocol: "http" })],
    ["no nonce", "protocol", () => hello({ name: "raw", incarnation: 1 }, "", { nonce: undefined })],
    ["a node without a name", "protocol", (n) => hello({ name: "", incarnation: 1 }, n)],
    ["a JSON array", "protocol", () => [1, 2, 3]]
  ]
  for (const [what, code, body] of helloRefusals) {
    it.live(`a raw HELLO with ${what} gets REFUSE ${code}, then the server closes`, () =>
      Effect.gen(function*() {
        const client = yield* promise(() => RawClient.connect(srv.node.address.port))
        client.sendJson(FrameType.Hello, body(nonce()))
        yield* expectRefusal(client, code)
      }).pipe(Effect.andThen(serverWorks())))
  }

  const protocolViolations: ReadonlyArray<readonly [string, () => Uint8Array]> = [
    ["a header announcing 2^31 bytes before HELLO", () => Buffer.from([0x80, 0, 0, 0, FrameType.Hello])],
    ["a header announcing 2^32-1 bytes", () => Buffer.from([0xff, 0xff, 0xff, 0xff, FrameType.Message])],
    ["garbage bytes (an HTTP request)", () => Buffer.from("GET / HTTP/1.1\r\nHost: srv\r\n\r\n")],
    ["an unknown frame type", () => Buffer.from([0, 0, 0, 3, 0x7f, 1, 2])],
    ["an empty frame (length 0)", () => Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])],
    ["a MESSAGE frame before HELLO", () => jsonFrame(FrameType.Message, [0, 1, "Counter", { _tag: "Increment", by: 1 }])],
    ["a HEARTBEAT before HELLO", () => encodeFrame(FrameType.Heartbeat, new Uint8Array(0))],
    ["a HELLO whose body is not JSON", () => encodeFrame(FrameType.Hello, Buffer.from([0x93, 1, 2, 3]))],
    ["AUTH before HELLO", () => jsonFrame(FrameType.Auth, { proof: "x" })]
  ]
  for (const [what, bytes] of protocolViolations) {
    it.live(`${what}: refused with code protocol, connection closed`, () =>
      Effect.gen(function*() {
        const client = yield* promise(() => RawClient.connect(srv.node.address.port))
        client.write(bytes())
        const { event } = yield* expectRefusal(client, "protocol")
        assert.isString(event.message)
      }).pipe(Effect.andThen(serverWorks())))
  }

  it.live("two HELLOs: the server answers the first with CHALLENGE and refuses the second (protocol)", () =>
    Effect.gen(function*() {
      const client = yield* promise(() => RawClient.connect(srv.node.address.port))
      const node = { name: "twice", incarnation: 1 }
      client.write(Buffer.concat([jsonFrame(FrameType.Hello, hello(node, nonce())), jsonFrame(FrameType.Hello, hello(node, nonce()))]))
      const { refuse } = yield* expectRefusal(client, "protocol", srv, [FrameType.Challenge])
      assert.include(refuse.reason, "expected AUTH")
    }).pipe(Effect.andThen(serverWorks())))

  it.live("READY before AUTH is a protocol refusal", () =>
    Effect.gen(function*() {
      const client = yield* promise(() => RawClient.connect(srv.node.address.port))
      client.sendJson(FrameType.Hello, hello({ name: "eager", incarnation: 1 }, nonce()))
      client.sendJson(FrameType.Ready, { protocols: {}, previous: null })
      yield* expectRefusal(client, "protocol", srv, [FrameType.Challenge])
    }).pipe(Effect.andThen(serverWorks())))

  it.live("a client that fails the server's proof: the CHALLENGE proof verifies with the secret, a bad AUTH is refused (auth), and the secret never crosses the wire", () =>
    Effect.gen(function*() {
      const client = yield* promise(() => RawClient.connect(srv.node.address.port))
      const me = { name: "impostor", incarnation: 1234 }
      const myNonce = nonce()
      client.sendJson(FrameType.Hello, hello(me, myNonce))
      const challenge = yield* promise(() => client.nextJsonFrame())
      assert.strictEqual(challenge.type, FrameType.Challenge)
      const c = challenge.body
      assert.strictEqual(c.node.name, "srv")
      assert.strictEqual(c.codec, "json")
      assert.deepStrictEqual(c.listen, { host: "127.0.0.1", port: srv.node.address.port })
      assert.isString(c.nonce)
      assert.notStrictEqual(c.nonce, myNonce)
      // HMAC-SHA256(secret, "telex/server\n<clientNonce>\n<serverNonce>\n<serverKey>\n<clientKey>")
      const serverText = `telex/server\n${myNonce}\n${c.nonce}\n${key(c.node)}\n${key(me)}`
      assert.strictEqual(c.proof, hmac(SECRET, serverText), "a client knowing the secret can verify the server")
      assert.notStrictEqual(c.proof, hmac("bad", serverText))
      // the client does not know the secret: its proof is wrong
      client.sendJson(FrameType.Auth, { proof: hmac("bad", `telex/client\n${c.nonce}\n${myNonce}\n${key(c.node)}\n${key(me)}`) })
      const { event } = yield* expectRefusal(client, "auth")
      assert.include(event.message, "bad secret")
      assertNoSecret(client.allBytes())
    }).pipe(Effect.andThen(serverWorks())))

  it.live("a proof replayed from another connection is refused (the nonces differ)", () =>
    Effect.gen(function*() {
      // a complete, good handshake, captured
      const first = yield* promise(() => rawHandshake(srv.node.address.port, { name: "replay", incarnation: 1 }))
      assert.isTrue(first.ok)
      first.client.close()
      // the same AUTH bytes on a new connection
      const client = yield* promise(() => RawClient.connect(srv.node.address.port))
      client.write(first.helloBytes)
      const challenge = yield* promise(() => client.nextJsonFrame())
      assert.strictEqual(challenge.type, FrameType.Challenge)
      client.write(first.authBytes)
      yield* expectRefusal(client, "auth")
    }).pipe(Effect.andThen(serverWorks())))
})

const assertNoSecret = (bytes: Buffer) => {
  const secret = Buffer.from(SECRET, "utf8")
  for (const form of [secret, Buffer.from(secret.toString("hex")), Buffer.from(secret.toString("base64").replace(/=+$/, "")), Buffer.from(secret.toString("base64url"))]) {
    assert.strictEqual(bytes.indexOf(form), -1, `the secret (as ${form.toString()}) is on the wire`)
  }
}

// ---------------------------------------------------------------------------
// timeout
// ---------------------------------------------------------------------------

describe("handshake timeout", () => {
  it.live("a client that connects and sends nothing (or half a HELLO) is refused with code timeout and closed", () =>
    Effect.gen(function*() {
      const slow = yield* startNode({ name: "srv", handshakeTimeout: "300 millis" })
      yield* slow.system.spawn(CounterLive, { name: "counter" })
      const started = Date.now() // before the server accepts (and starts its timers)
      const silent = yield* promise(() => RawClient.connect(slow.node.address.port))
      const half = yield* promise(() => RawClient.connect(slow.node.address.port))
      half.write(jsonFrame(FrameType.Hello, hello({ name: "half", incarnation: 1 }, "n")).subarray(0, 20))
      for (const client of [silent, half]) {
        const { event } = yield* expectRefusal(client, "timeout", slow)
        assert.include(event.message, "300 ms")
      }
      // not before the timeout (a lower bound only)
      assert.isAtLeast(Date.now() - started, 290)
      assert.isTrue(slow.logs.some((l) => l.includes(`refused connection from ${silent.peerName}: timeout`)), JSON.stringify(slow.logs))
      yield* serverWorks(slow)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// a raw client's complete handshake, in random chunk splits
// ---------------------------------------------------------------------------

interface RawOutcome {
  readonly ok: boolean
  readonly client: RawClient
  readonly helloBytes: Buffer
  readonly authBytes: Buffer
  readonly count: number | undefined
}

/**
 * The client side of Handshake.ts, by hand: HELLO, check the server's proof, AUTH, READY; then,
 * with the json codec, look the counter up, tell it and ask it (the first envelopes may share
 * chunks with READY). Chunk splits and pauses come from `rng`.
 */
const rawHandshake = async (
  port: number,
  me: { name: string; incarnation: number },
  rng?: Rng,
  /** sent in the same write as the client's READY, instead of the envelopes */
  afterReady?: Uint8Array
): Promise<RawOutcome> => {
  const client = await RawClient.connect(port)
  const split = (bytes: Uint8Array) => (rng === undefined ? [bytes.length] : chunkLengths(rng, bytes.length, [0]))
  const myNonce = randomBytes(rng?.int(1, 64) ?? 32).toString("base64")
  const codecs = rng === undefined ? ["json"] : rng.pick([["json"], ["cbor", "json"], ["json", "msgpack"], ["zstd", "json", "msgpackr-records"]])
  const helloBytes = jsonFrame(FrameType.Hello, hello(me, myNonce, { codecs, listen: rng?.bool() ? { host: "127.0.0.1", port: 1 } : null }))
  await client.writeChunks(helloBytes, split(helloBytes), rng)

  const challenge = await client.nextJsonFrame()
  if (challenge.type !== FrameType.Challenge) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`)
  const c = challenge.body
  if (c.codec !== "json") throw new Error(`server chose ${c.codec}`)
  if (c.proof !== hmac(SECRET, `telex/server\n${myNonce}\n${c.nonce}\n${key(c.node)}\n${key(me)}`)) throw new Error("bad server proof")
  const authBytes = jsonFrame(FrameType.Auth, { proof: hmac(SECRET, `telex/client\n${c.nonce}\n${myNonce}\n${key(c.node)}\n${key(me)}`) })
  await client.writeChunks(authBytes, split(authBytes), rng)

  const ready = await client.nextJsonFrame()
  if (ready.type !== FrameType.Ready) throw new Error(`expected READY, got ${JSON.stringify(ready)}`)
  if (typeof ready.body.protocols !== "object" || ready.body.protocols.Counter === undefined) throw new Error("READY without protocols")

  if (afterReady !== undefined) {
    client.write(Buffer.concat([jsonFrame(FrameType.Ready, { protocols: {}, previous: null }), afterReady]))
    return { ok: true, client, helloBytes, authBytes, count: undefined }
  }
  // READY and the first envelope, possibly in the same chunk
  const lookup = Buffer.concat([
    jsonFrame(FrameType.Ready, { protocols: {}, previous: null }),
    ...(rng?.bool() ? [encodeFrame(FrameType.Heartbeat, new Uint8Array(0))] : []),
    jsonFrame(FrameType.Message, [22, 1, "counter"])
  ])
  await client.writeChunks(lookup, split(lookup), rng)
  let address: any
  let count: number | undefined
  for (;;) {
    const e = await client.nextJsonFrame()
    if (e.type !== FrameType.Message) throw new Error(`unexpected frame ${e.type}`)
    if (e.body[0] === 23 && e.body[1] === 1) {
      address = e.body[2]
      break
    }
  }
  if (address === null || address.protocol !== "Counter") throw new Error(`lookup failed: ${JSON.stringify(address)}`)
  if (rng !== undefined) {
    const messages = Buffer.concat([
      jsonFrame(FrameType.Message, [0, address.id, "Counter", { _tag: "Increment", by: 1 }]),
      jsonFrame(FrameType.Message, [1, address.id, "Counter", { _tag: "Get" }, 7, null])
    ])
    await client.writeChunks(messages, split(messages), rng)
    for (;;) {
      const e = await client.nextJsonFrame()
      if (e.type === FrameType.Message && e.body[0] === 2 && e.body[1] === 7) {
        if (e.body[2] !== 0 || typeof e.body[3] !== "number") throw new Error(`ask failed: ${JSON.stringify(e.body)}`)
        count = e.body[3]
        break
      }
    }
  }
  return { ok: true, client, helloBytes, authBytes, count }
}

describe("the end of the handshake", () => {
  it.live("a protocol error in the same chunk as the client's READY closes the new connection at once", () =>
    Effect.gen(function*() {
      const from = srv.events.length
      const outcome = yield* promise(() =>
        rawHandshake(srv.node.address.port, { name: "sloppy", incarnation: 1 }, undefined, Buffer.from([0xff, 0xff, 0xff, 0xff, FrameType.Message]))
      )
      const down = yield* awaitEvent(
        srv,
        from,
        (e): e is Extract<NodeEvent, { _tag: "NodeDown" }> => e._tag === "NodeDown" && e.node.name === "sloppy",
        "NodeDown sloppy"
      )
      // not "no sign of life" after the acceptable pause: the bad frame itself ends the connection
      assert.include(down.reason, "protocol error")
      yield* promise(() => outcome.client.waitClosed())
    }).pipe(Effect.andThen(serverWorks())))
})

describe("a client that resets its connection as it is refused", () => {
  it.live("the server survives writing its REFUSE to reset sockets (400 connections), and goes on serving", () =>
    Effect.gen(function*() {
      const attempt = (delayMillis: number) =>
        new Promise<void>((resolve) => {
          const socket = Net.connect({ host: "127.0.0.1", port: srv.node.address.port })
          socket.on("error", () => {})
          socket.on("close", () => resolve())
          socket.once("connect", () => {
            // refused (wrong cluster); the RST comes before, with or after the REFUSE
            socket.write(jsonFrame(FrameType.Hello, hello({ name: "resetter", incarnation: 1 }, randomBytes(32).toString("base64"), { cluster: "elsewhere" })))
            if (delayMillis === 0) socket.resetAndDestroy()
            else setTimeout(() => socket.resetAndDestroy(), delayMillis)
          })
        })
      // a write error nobody listens to is thrown from the socket's emit: in a node process that
      // is the process's end; here it reaches uncaughtException
      const uncaught: Array<string> = []
      const record = (e: Error) => void uncaught.push(e.message)
      process.on("uncaughtException", record)
      try {
        yield* promise(async () => {
          for (let i = 0; i < 50; i++) await Promise.all(Array.from({ length: 8 }, (_, k) => attempt((i + k) % 4)))
          await new Promise((r) => setTimeout(r, 100))
        })
      } finally {
        process.off("uncaughtException", record)
      }
      assert.deepStrictEqual(uncaught, [])
    }).pipe(Effect.andThen(serverWorks())), 60_000)
})

/**
 * A client's REFUSE ends its handshake at whatever step it comes (section 3.6): in place of its
 * AUTH or of its READY, with a code the server knows, one it does not, a code that is no string,
 * or a body that is no JSON object. The server answers nothing, closes, and never counts the
 * client as up; it goes on serving.
 */
describe("a client's REFUSE", () => {
  const refuseBodies: ReadonlyArray<readonly [string, Buffer]> = [
    ["code auth", Buffer.from(JSON.stringify({ code: "auth", reason: "bad server proof" }))],
    ["an unknown code", Buffer.from(JSON.stringify({ code: "overloaded", reason: "try later" }))],
    ["a code that is no string", Buffer.from(JSON.stringify({ code: 42, reason: { nested: true } }))],
    ["a JSON array", Buffer.from("[1,2]")],
    ["bytes that are no UTF-8", Buffer.from([0xff, 0xfe, 0x00])],
    ["an empty body", Buffer.alloc(0)]
  ]
  const refuseAt = async (step: "AUTH" | "READY", me: { name: string; incarnation: number }, body: Buffer): Promise<RawClient> => {
    const client = await RawClient.connect(srv.node.address.port)
    const myNonce = randomBytes(32).toString("base64")
    client.sendJson(FrameType.Hello, hello(me, myNonce))
    const challenge = await client.nextJsonFrame()
    if (challenge.type !== FrameType.Challenge) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`)
    if (step === "READY") {
      const c = challenge.body
      client.sendJson(FrameType.Auth, { proof: hmac(SECRET, `telex/client\n${c.nonce}\n${myNonce}\n${key(c.node)}\n${key(me)}`) })
      const ready = await client.nextJsonFrame()
      if (ready.type !== FrameType.Ready) throw new Error(`expected READY, got ${JSON.stringify(ready)}`)
    }
    client.write(encodeFrame(FrameType.Refuse, body))
    return client
  }
  for (const step of ["AUTH", "READY"] as const) {
    it.live(`in place of its ${step} ends the handshake, whatever the body: nothing answered, closed, never up`, () =>
      Effect.gen(function*() {
        const from = srv.events.length
        const names: Array<string> = []
        for (const [i, [what, body]] of refuseBodies.entries()) {
          const me = { name: `refuser-${step.toLowerCase()}-${i}`, incarnation: 1 }
          names.push(me.name)
          const client = yield* promise(() => refuseAt(step, me, body))
          yield* promise(() => client.waitClosed().catch((e) => Promise.reject(new Error(`${what}: ${e.message}`))))
          // heartbeats may precede the close once the server's READY is out; nothing else may
          assert.deepStrictEqual(client.frames.filter((f) => f.type !== FrameType.Heartbeat).map((f) => f.type), [], `${what}: nothing answered`)
          assert.isUndefined(client.decodeError)
        }
        // each refusal is one of the server's handshake events, saying the peer refused; none of
        // the refusers is up
        const refusals = () => srv.events.slice(from).filter((e) => e._tag === "HandshakeRefused")
        for (let t = 0; refusals().length < refuseBodies.length && t < 300; t++) yield* Effect.sleep("10 millis")
        assert.strictEqual(refusals().length, refuseBodies.length, JSON.stringify(refusals()))
        for (const e of refusals()) assert.include((e as Extract<NodeEvent, { _tag: "HandshakeRefused" }>).message, "refused by peer")
        assert.deepStrictEqual(srv.events.slice(from).filter((e) => e._tag === "NodeUp" && names.includes(e.node.name)), [])
      }).pipe(Effect.andThen(serverWorks())))
  }
})

describe("handshake property", () => {
  it.live(`a raw client's handshake in random chunk splits always yields a working session (${PROPERTY_RUNS} connections)`, () =>
    Effect.gen(function*() {
      const started = Date.now()
      const from = srv.events.length
      let last = -1
      const ran = yield* promise(() =>
        forAllAsync("raw handshake in random chunks", PROPERTY_RUNS, async (rng, i) => {
          // names repeat: a new incarnation of a node whose previous connection may still be open
          const me = { name: `raw${i % 37}`, incarnation: rng.int(1, 2 ** 40) }
          const outcome = await rawHandshake(srv.node.address.port, me, rng)
          try {
            if (outcome.count === undefined || outcome.count <= last) throw new Error(`counter went from ${last} to ${outcome.count}`)
            last = outcome.count
            assertNoSecret(outcome.client.allBytes())
            if (outcome.client.decodeError !== undefined) throw new Error(outcome.client.decodeError)
          } finally {
            outcome.client.close()
          }
        })
      )
      expectedCount += ran
      // every session was admitted: no refusals, one NodeUp per connection
      const events = srv.events.slice(from)
      assert.deepStrictEqual(events.filter((e) => e._tag === "HandshakeRefused"), [])
      assert.strictEqual(events.filter((e) => e._tag === "NodeUp" && e.node.name.startsWith("raw")).length, ran)
      console.info(`raw handshakes: ${ran} connections in ${Date.now() - started} ms`)
      yield* serverWorks()
    }), 60_000)
})
