/**
 * A raw peer for the wire tests: a loopback socket that speaks the handshake from
 * docs/protocol.md (as a client) and then sends whatever bytes a test wants, well-formed or not,
 * and reads the node's frames.
 */
import { createHmac, randomBytes } from "node:crypto"
import * as Net from "node:net"
import { Effect } from "effect"
import { Packr, Unpackr } from "msgpackr"
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "../../src/transport/Frame.ts"
import { type Node, routerOf } from "../../src/transport/Node.ts"

export const proof = (
  secret: string,
  role: "server" | "client",
  a: string,
  b: string,
  server: { name: string; incarnation: number },
  client: { name: string; incarnation: number }
) =>
  createHmac("sha256", secret)
    .update(`telex/${role}\n${a}\n${b}\n${server.name}#${server.incarnation}\n${client.name}#${client.incarnation}`)
    .digest("base64")

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" })

export class RawPeer {
  readonly frames: Array<Frame> = []
  closed = false
  readonly closedPromise: Promise<void>
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024)
  private waiters: Array<() => void> = []
  server: { name: string; incarnation: number } | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined

  readonly socket: Net.Socket
  readonly codec: "json" | "msgpack"

  constructor(socket: Net.Socket, codec: "json" | "msgpack") {
    this.socket = socket
    this.codec = codec
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => {
      const out: Array<Frame> = []
      this.decoder.push(chunk, out)
      // copies: frame bodies may be views of the socket's chunk
      for (const f of out) if (f.type !== FrameType.Heartbeat) this.frames.push({ type: f.type, body: Buffer.from(f.body) })
      this.wake()
    })
    socket.on("error", () => {})
    this.closedPromise = new Promise((resolve) =>
      socket.on("close", () => {
        this.closed = true
        if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
        this.wake()
        resolve()
      })
    )
  }

  static connect(port: number, codec: "json" | "msgpack" = "json"): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      socket.once("error", reject)
      socket.once("connect", () => {
        socket.off("error", reject)
        resolve(new RawPeer(socket, codec))
      })
    })
  }

  /**
   * Connects and completes the handshake as client `name` (incarnation 1 unless given), then
   * heartbeats every second; with `ready: false` it stops before its READY (the node has
   * admitted it, the connection is not up). `readyBody`: its READY (default `{protocols: {}}`).
   */
  static async authenticated(
    port: number,
    options: {
      cluster: string
      secret: string
      name: string
      codec?: "json" | "msgpack"
      incarnation?: number
      ready?: boolean
      readyBody?: unknown
    }
  ): Promise<RawPeer> {
    const peer = await RawPeer.connect(port, options.codec ?? "json")
    const me = { name: options.name, incarnation: options.incarnation ?? 1 }
    const nonce = randomBytes(32).toString("base64")
    peer.sendJson(FrameType.Hello, {
      protocol: "telex",
      version: 1,
      cluster: options.cluster,
      node: me,
      listen: null,
      codecs: [peer.codec],
      nonce
    })
    const challenge = JSON.parse((await peer.next(FrameType.Challenge)).body.toString())
    peer.server = challenge.node
    peer.sendJson(FrameType.Auth, { proof: proof(options.secret, "client", challenge.nonce, nonce, challenge.node, me) })
    await peer.next(FrameType.Ready)
    if (options.ready === false) return peer
    peer.sendJson(FrameType.Ready, options.readyBody ?? { protocols: {} })
    peer.heartbeat = setInterval(() => peer.send(FrameType.Heartbeat, new Uint8Array(0)), 1000)
    return peer
  }

  private wake() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  send(type: number, body: Uint8Array): void {
    this.socket.write(encodeFrame(type as FrameType, body))
  }

  sendJson(type: number, value: unknown): void {
    this.send(type, Buffer.from(JSON.stringify(value)))
  }

  encode(value: unknown): Uint8Array {
    return this.codec === "json" ? Buffer.from(JSON.stringify(value)) : packr.pack(value)
  }

  decode(body: Uint8Array): any {
    return this.codec === "json" ? JSON.parse(Buffer.from(body).toString()) : unpackr.unpack(body as Buffer)
  }

  sendEnvelope(value: unknown): void {
    this.send(FrameType.Message, this.encode(value))
  }

  /** The next frame (heartbeats skipped), of `type` if given; fails on close or after `millis`. */
  async next(type?: number, millis = 5000): Promise<Frame> {
    const deadline = Date.now() + millis
    for (;;) {
      const frame = this.frames.shift()
      if (frame !== undefined) {
        if (type !== undefined && frame.type !== type) throw new Error(`expected frame type ${type}, got ${frame.type}: ${Buffer.from(frame.body).toString()}`)
        return frame
      }
      if (this.closed) throw new Error("connection closed")
      const left = deadline - Date.now()
      if (left <= 0) throw new Error("timed out waiting for a frame")
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** The next envelope whose kind is `kind` (others skipped). */
  async envelope(kind: number, millis = 5000): Promise<Array<any>> {
    const deadline = Date.now() + millis
    for (;;) {
      const frame = await this.next(FrameType.Message, Math.max(1, deadline - Date.now()))
      const envelope = this.decode(frame.body)
      if (envelope[0] === kind) return envelope
    }
  }

  /** Whether the node closes the connection within `millis`. */
  async closesWithin(millis: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const closed = await Promise.race([
      this.closedPromise.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), millis)))
    ])
    clearTimeout(timer)
    return closed
  }

  destroy(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.socket.destroy()
  }
}

/** A FRAGMENT body: `id | total | offset | piece`. */
export const fragment = (id: number, total: number, offset: number, piece: Uint8Array): Buffer => {
  const body = Buffer.allocUnsafe(12 + piece.length)
  body.writeUInt32BE(id, 0)
  body.writeUInt32BE(total, 4)
  body.writeUInt32BE(offset, 8)
  body.set(piece, 12)
  return body
}

/**
 * A raw peer "host" (incarnation 1) that hosts actor 5, as its READY (`readyBody`) advertises:
 * authenticated to `node`, destroyed with the scope, returned once the node counts it up; with
 * the node's router and its ref to that actor (speaking `protocol`).
 */
export const hostingPeer = (
  node: Node["Service"],
  options: { cluster: string; secret: string; codec: "json" | "msgpack"; readyBody: unknown; protocol: string }
) =>
  Effect.gen(function*() {
    const { protocol, ...peerOptions } = options
    const peer = yield* Effect.promise(() => RawPeer.authenticated(node.address.port, { ...peerOptions, name: "host" }))
    yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
    const router = routerOf(node)
    yield* Effect.promise(async () => {
      while (router.peers.get("host")?.isUp !== true) await new Promise((resolve) => setTimeout(resolve, 5))
    })
    return { peer, router, target: router.refFor({ node: { name: "host", incarnation: 1 }, id: 5, protocol }) }
  })
