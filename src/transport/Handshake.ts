/**
 * The connection handshake: version, cluster name, node identity, codec choice and mutual
 * authentication by HMAC-SHA256 challenge–response over the shared cluster secret (the secret
 * itself never crosses the wire). Handshake frames have JSON bodies so any client can speak them.
 *
 * ```
 * client → HELLO     { protocol:"telex", version, cluster, node, listen, codecs, nonce }
 * server → CHALLENGE { node, listen, codec, nonce, proof = HMAC(secret, "telex/server" | nonces | ids) }
 * client → AUTH      { proof = HMAC(secret, "telex/client" | nonces | ids) }
 * server → READY     { protocols, previous, hold? }   (or REFUSE { code, reason } at any step)
 * client → READY     { protocols, previous, hold? }
 * ```
 *
 * `hold` lists the sender's actors the peer must hold from the connection's start (flow control
 * carried over from the previous connection, see `internal/flow.ts`): in the READY, it reaches the
 * peer before the peer can send anything, whichever side dialled.
 *
 * The client verifies the server's proof before proving itself, so a client never authenticates
 * to an impostor; the server decides about duplicates (simultaneous connects) only after the
 * client has authenticated. Each side enforces the handshake timeout.
 *
 * @since 0.1.0
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type NodeId, nodeKey } from "../actors/ActorRef.ts"
import * as Codec from "./Codec.ts"
import { encodeFrame, type Frame, FrameDecoder, FrameType, maxUnauthenticatedFrameSize } from "./Frame.ts"
import { ignoreError, realTimers, type Socket, type Timers } from "./Network.ts"
import type { AuthGate } from "./AuthThrottle.ts"
import { HandshakeError, RefuseCode } from "./TransportError.ts"

export const PROTOCOL_VERSION = 1

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

export interface HandshakeOptions {
  readonly cluster: string
  readonly secret: Redacted.Redacted<string>
  readonly node: NodeId
  readonly listen: ListenAddress | undefined
  readonly codecs: ReadonlyArray<Codec.CodecName>
  readonly timeoutMillis: number
  readonly maxFrameSize: number
  /** name → fingerprint of the protocols this process knows */
  readonly protocols: () => Record<string, string>
  /** the clock for the handshake timeout (default: the wall clock) */
  readonly timers?: Timers | undefined
  /** what we received on our previous connection with this peer (for gap reports) */
  readonly previous?: ((peer: string) => PreviousSession | undefined) | undefined
  /** paces the verification of this connection's AUTH by its remote address (server side, see `AuthThrottle`) */
  readonly authThrottle?: AuthGate | undefined
  /** our actors the peer must hold from the start of the connection, as `[id, overflow, capacity]` */
  readonly holds?: ((peer: NodeId) => ReadonlyArray<HoldEntry>) | undefined
}

/** One actor to hold: the fields of a `Hold` envelope after its kind. */
export type HoldEntry = readonly [id: number, overflow: string, capacity: number]

/** The end of the previous connection between two nodes, as one side saw it. */
export interface PreviousSession {
  readonly session: string
  readonly received: number
}

export interface Established {
  readonly peer: NodeId
  readonly peerListen: ListenAddress | undefined
  readonly codec: Codec.CodecName
  readonly peerProtocols: Record<string, string>
  readonly decoder: FrameDecoder
  /** frames that arrived after the handshake in the same chunks */
  readonly leftover: Array<Frame>
  /** whether we dialled */
  readonly outbound: boolean
  /** identifies this connection on both sides (hash of both nonces) */
  readonly session: string
  /** what the peer received on its previous connection with us */
  readonly peerPrevious: PreviousSession | undefined
  /** the actors the peer asked us to hold in its READY (entries unchecked beyond being arrays) */
  readonly peerHolds: ReadonlyArray<ReadonlyArray<unknown>>
  /** the ids of our actors we asked the peer to hold in our READY */
  readonly holdsSent: ReadonlyArray<number>
  /** the protocol table of our READY (one registered since is advertised once the connection is up) */
  readonly protocolsSent: Readonly<Record<string, string>>
}

const isRefuseCode = Schema.is(RefuseCode)

const encoder = new TextEncoder()
// invalid UTF-8 is no JSON text: refused like any body that is not a JSON object
const decoder = new TextDecoder("utf-8", { fatal: true })

const proof = (secret: Redacted.Redacted<string>, role: "server" | "client", a: string, b: string, server: NodeId, client: NodeId) =>
  createHmac("sha256", Redacted.value(secret))
    .update(`telex/${role}\n${a}\n${b}\n${nodeKey(server)}\n${nodeKey(client)}`)
    .digest()

const sameProof = (expected: Buffer, given: unknown): boolean => {
  if (typeof given !== "string") return false
  const buf = Buffer.from(given, "base64")
  return buf.length === expected.length && timingSafeEqual(buf, expected)
}

const send = (socket: Socket, type: FrameType, body: object) => {
  socket.write(encodeFrame(type, encoder.encode(JSON.stringify(body))))
}

const parse = (frame: Frame): any => {
  try {
    const value = JSON.parse(decoder.decode(frame.body))
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined
  } catch {
    return undefined
  }
}

const isNodeId = (u: any): u is NodeId =>
  typeof u === "object" && u !== null && typeof u.name === "string" && u.name.length > 0 &&
  typeof u.incarnation === "number" && Number.isFinite(u.incarnation)

const isListen = (u: any): u is ListenAddress | null =>
  u === null || u === undefined ||
  (typeof u === "object" && typeof u.host === "string" && Number.isInteger(u.port) && u.port > 0 && u.port < 65536)

const isPrevious = (u: any): u is PreviousSession | null | undefined =>
  u === null || u === undefined ||
  (typeof u === "object" && typeof u.session === "string" && Number.isInteger(u.received) && u.received >= 0)

const isHolds = (u: any): u is ReadonlyArray<ReadonlyArray<unknown>> | undefined =>
  u === undefined || (Array.isArray(u) && u.every(Array.isArray))

const isProtocols = (u: any): u is Record<string, string> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && Object.values(u).every((v) => typeof v === "string")

/** What is wrong with a HELLO's fields (after protocol, version and cluster), for its REFUSE; undefined: nothing. */
const helloProblem = (body: any): string | undefined =>
  !isNodeId(body.node)
    ? "node must be {name: non-empty string, incarnation: finite number}"
    : !isListen(body.listen)
    ? "listen must be null or {host: string, port: integer 1-65535}"
    : typeof body.nonce !== "string"
    ? "nonce must be a string"
    : !Array.isArray(body.codecs)
    ? "codecs must be an array of codec names"
    : undefined

/** What is wrong with a READY, for its REFUSE; undefined: nothing. */
const readyProblem = (body: any): string | undefined =>
  !isProtocols(body.protocols)
    ? "protocols must be an object of protocol name -> fingerprint string"
    : !isPrevious(body.previous)
    ? "previous must be absent, null or {session: string, received: integer >= 0}"
    : !isHolds(body.hold)
    ? "hold must be absent or an array of arrays"
    : undefined

const frameNames: Record<number, string> = {
  [FrameType.Hello]: "HELLO",
  [FrameType.Challenge]: "CHALLENGE",
  [FrameType.Auth]: "AUTH",
  [FrameType.Ready]: "READY",
  [FrameType.Refuse]: "REFUSE",
  [FrameType.Heartbeat]: "HEARTBEAT",
  [FrameType.Message]: "MESSAGE",
  [FrameType.Fragment]: "FRAGMENT"
}
const frameName = (type: number): string => `frame type ${type} (${frameNames[type] ?? "unknown"})`

/** The default of `maxPendingHandshakes`: inbound connections in the handshake at once. */
export const defaultMaxPendingHandshakes = 64

/**
 * A server's inbound connections still in the handshake, at most `max` at once: each may hold a
 * frame buffer of up to 16 KiB until the handshake timeout, so connections that never
 * authenticate would otherwise cost memory and sockets without bound. When a connection comes in
 * and `max` are in progress, one is closed at once (no REFUSE): the oldest that has not sent a
 * valid HELLO yet (the new one counts, as the youngest), or if every other one has, the oldest.
 * A flood then only shortens how long each of its own connections may stay silent, and a peer
 * that sends its HELLO at once (a Telex node does) is not the one closed: evicting the oldest
 * rather than refusing the newest lets peers in while a flood holds every slot.
 */
export class PendingHandshakes {
  readonly max: number
  /** connections closed to make room, since the start */
  shed = 0
  /** oldest first (a Set iterates in insertion order) */
  private readonly silent = new Set<() => void>()
  private readonly greeted = new Set<() => void>()

  constructor(max: number) {
    this.max = Math.max(1, max)
  }

  get size(): number {
    return this.silent.size + this.greeted.size
  }

  /** A new connection; `close` ends its handshake. Closes an older one if `max` were in progress. */
  add(close: () => void): void {
    this.silent.add(close)
    if (this.size <= this.max) return
    const victim = this.silent.size > 1 ? this.silent.values().next().value! : this.greeted.values().next().value!
    this.remove(victim)
    this.shed++
    victim()
  }

  /** The connection sent a valid HELLO. */
  greet(close: () => void): void {
    if (this.silent.delete(close)) this.greeted.add(close)
  }

  /** The handshake ended (established or failed). */
  remove(close: () => void): void {
    if (!this.silent.delete(close)) this.greeted.delete(close)
  }
}

const shedMessage = "closed at once: too many handshakes in progress"

/** Whether a handshake failed because its connection was closed to make room (`PendingHandshakes`). */
export const isShed = (error: unknown): boolean => error instanceof HandshakeError && error.message.startsWith(shedMessage)

/**
 * Runs one side of the handshake on a connected socket. Resolves with the established session or
 * rejects with a `HandshakeError` (after sending REFUSE when we are the refusing side). The socket
 * is not closed here; the caller destroys it on failure.
 */
const lostDuringHandshake = /^(connection closed|socket error) during the handshake/

/**
 * Whether a handshake failed because its connection closed or failed before the peer said
 * anything decisive (no REFUSE): the peer went away or was never there (a proxy that could not
 * reach it, a process stopping), which is no refusal.
 */
export const isConnectionLoss = (error: unknown): boolean =>
  error instanceof HandshakeError && error.code === "protocol" && lostDuringHandshake.test(error.message)

const run = (
  socket: Socket,
  options: HandshakeOptions,
  role: "client" | "server",
  admit: (peer: NodeId, outbound: boolean) => HandshakeError | undefined,
  pending?: PendingHandshakes
): Promise<Established> =>
  new Promise((resolve, reject) => {
    // until the peer has proved it knows the secret, only small frames (see maxUnauthenticatedFrameSize)
    const frames = new FrameDecoder(Math.min(options.maxFrameSize, maxUnauthenticatedFrameSize))
    const myNonce = randomBytes(32).toString("base64")
    let peerNonce = ""
    let peer: NodeId | undefined
    let peerListen: ListenAddress | undefined
    let codec: Codec.CodecName | undefined
    let step = role === "client" ? "challenge" : "hello"
    let settled = false

    const cleanup = () => {
      settled = true
      pending?.remove(shed)
      // hold further bytes until the connection has its handlers (Connection.start resumes)
      socket.pause()
      cancelTimer()
      socket.off("data", onData)
      socket.off("close", onClose)
      socket.off("error", onError)
      // an error from now on (a REFUSE written to a socket its peer has reset, or one before the
      // connection's own handlers are set) must be heard
      socket.on("error", ignoreError)
    }
    const fail = (code: RefuseCode, message: string, refuse: boolean) => {
      if (settled) return
      cleanup()
      if (refuse && !socket.destroyed) send(socket, FrameType.Refuse, { code, reason: message })
      reject(new HandshakeError({ code, message }))
    }
    const timers = options.timers ?? realTimers
    const started = timers.now()
    const cancelTimer = timers.setTimeout(
      () => fail("timeout", `handshake did not complete within ${options.timeoutMillis} ms`, true),
      options.timeoutMillis
    )
    const onClose = () => fail("protocol", `connection closed during the handshake`, false)
    const shed = () => {
      fail("protocol", `${shedMessage} (at most ${pending?.max})`, false)
      socket.destroy()
    }
    const onError = (e: Error) => fail("protocol", `socket error during the handshake: ${e.message}`, false)

    let holdsSent: ReadonlyArray<number> = []
    let protocolsSent: Record<string, string> = {}
    const sendReady = () => {
      const holds = options.holds?.(peer!) ?? []
      holdsSent = holds.map((h) => h[0])
      protocolsSent = options.protocols()
      send(socket, FrameType.Ready, {
        protocols: protocolsSent,
        previous: options.previous?.(peer!.name) ?? null,
        ...(holds.length > 0 ? { hold: holds } : {})
      })
    }

    /** the server's side of a received AUTH */
    const verify = (body: any): void => {
      const expected = proof(options.secret, "client", myNonce, peerNonce, options.node, peer!)
      if (!sameProof(expected, body.proof)) {
        options.authThrottle?.failed()
        return fail("auth", "bad secret: the client failed authentication", true)
      }
      options.authThrottle?.succeeded()
      frames.maxFrameSize = options.maxFrameSize
      const refusal = admit(peer!, false)
      if (refusal !== undefined) return fail(refusal.code, refusal.message, true)
      sendReady()
      step = "ready"
    }

    const onFrame = (frame: Frame, rest: Array<Frame>): void => {
      if (frame.type === FrameType.Refuse) {
        const body = parse(frame)
        const reason = typeof body?.reason === "string" ? body.reason : "no reason given"
        // a code we do not know (a newer peer's, or anything a peer sends) is a refusal all the
        // same: kept in the message, as `protocol` (a HandshakeError holds only our codes)
        return isRefuseCode(body?.code)
          ? fail(body.code, `refused by peer: ${reason}`, false)
          : fail("protocol", `refused by peer (code ${JSON.stringify(body?.code) ?? "none"}): ${reason}`, false)
      }
      const body = parse(frame)
      if (body === undefined) {
        const expected = { hello: "HELLO", challenge: "CHALLENGE", auth: "AUTH", verifying: "nothing before our READY", ready: "READY" }[step]
        return fail("protocol", `handshake frame is not a JSON object: ${frameName(frame.type)}, expected ${expected}`, true)
      }
      switch (step) {
        case "hello": {
          if (frame.type !== FrameType.Hello) return fail("protocol", `expected HELLO, got ${frameName(frame.type)}`, true)
          if (body.protocol !== "telex") return fail("protocol", `not a telex HELLO: protocol must be "telex", not ${JSON.stringify(body.protocol)}`, true)
          if (body.version !== PROTOCOL_VERSION) {
            return fail("version", `protocol version mismatch: ours ${PROTOCOL_VERSION}, theirs ${JSON.stringify(body.version) ?? "none"}`, true)
          }
          if (body.cluster !== options.cluster) {
            return fail("cluster", `wrong cluster: ours ${JSON.stringify(options.cluster)}, theirs ${JSON.stringify(body.cluster)}`, true)
          }
          const problem = helloProblem(body)
          if (problem !== undefined) return fail("protocol", `malformed HELLO: ${problem}`, true)
          codec = Codec.choose(body.codecs.filter((c: unknown) => options.codecs.includes(c as any)))
          if (codec === undefined) return fail("codec", `no common codec (offered ${JSON.stringify(body.codecs)})`, true)
          if (body.node.name === options.node.name) return fail("name", `a node cannot connect to itself or share its name (${body.node.name})`, true)
          peer = body.node
          peerListen = body.listen ?? undefined
          peerNonce = body.nonce
          pending?.greet(shed)
          send(socket, FrameType.Challenge, {
            node: options.node,
            listen: options.listen ?? null,
            codec,
            nonce: myNonce,
            proof: proof(options.secret, "server", peerNonce, myNonce, options.node, peer!).toString("base64")
          })
          step = "auth"
          return
        }
        case "challenge": {
          if (frame.type !== FrameType.Challenge) return fail("protocol", `expected CHALLENGE, got ${frameName(frame.type)}`, true)
          if (!isNodeId(body.node) || !isListen(body.listen) || typeof body.nonce !== "string" || typeof body.codec !== "string") {
            return fail("protocol", "malformed CHALLENGE", true)
          }
          if (!options.codecs.includes(body.codec)) return fail("codec", `server chose a codec we did not offer: ${body.codec}`, true)
          const expected = proof(options.secret, "server", myNonce, body.nonce, body.node, options.node)
          if (!sameProof(expected, body.proof)) {
            return fail("auth", "the server failed to prove it knows the cluster secret (bad secret?)", true)
          }
          peer = body.node
          peerListen = body.listen ?? undefined
          peerNonce = body.nonce
          codec = body.codec
          frames.maxFrameSize = options.maxFrameSize
          send(socket, FrameType.Auth, {
            proof: proof(options.secret, "client", peerNonce, myNonce, peer!, options.node).toString("base64")
          })
          step = "ready"
          return
        }
        case "auth": {
          if (frame.type !== FrameType.Auth) return fail("protocol", `expected AUTH, got ${frameName(frame.type)}`, true)
          const wait = options.authThrottle?.delay() ?? 0
          if (wait === 0) return verify(body)
          if (timers.now() + wait >= started + options.timeoutMillis) {
            return fail("auth", "too many failed authentications from this address: try again later", true)
          }
          // nothing is due from the client until our READY
          step = "verifying"
          timers.setTimeout(() => {
            if (!settled) verify(body)
          }, wait)
          return
        }
        case "verifying":
          return fail("protocol", `unexpected ${frameName(frame.type)} after AUTH: nothing may be sent before our READY`, true)
        case "ready": {
          if (frame.type !== FrameType.Ready) return fail("protocol", `expected READY, got ${frameName(frame.type)}`, true)
          const problem = readyProblem(body)
          if (problem !== undefined) return fail("protocol", `malformed READY: ${problem}`, true)
          if (role === "client") {
            const refusal = admit(peer!, true)
            if (refusal !== undefined) return fail(refusal.code, refusal.message, true)
            sendReady()
          }
          const [clientNonce, serverNonce] = role === "client" ? [myNonce, peerNonce] : [peerNonce, myNonce]
          cleanup()
          resolve({
            peer: peer!,
            peerListen,
            codec: codec!,
            peerProtocols: body.protocols,
            decoder: frames,
            leftover: rest,
            outbound: role === "client",
            session: createHash("sha256").update(`${clientNonce}\n${serverNonce}`).digest("hex").slice(0, 16),
            peerPrevious: body.previous ?? undefined,
            peerHolds: body.hold ?? [],
            holdsSent,
            protocolsSent
          })
          return
        }
      }
    }

    const onData = (chunk: Buffer) => {
      const out: Array<Frame> = []
      const error = frames.push(chunk, out)
      for (let i = 0; i < out.length && !settled; i++) onFrame(out[i]!, out.slice(i + 1))
      if (error !== undefined && !settled) fail("protocol", error.message, true)
    }

    socket.on("data", onData)
    socket.on("close", onClose)
    socket.on("error", onError)
    pending?.add(shed)
    if (role === "client") {
      send(socket, FrameType.Hello, {
        protocol: "telex",
        version: PROTOCOL_VERSION,
        cluster: options.cluster,
        node: options.node,
        listen: options.listen ?? null,
        codecs: options.codecs,
        nonce: myNonce
      })
    }
  })

export const client = (
  socket: Socket,
  options: HandshakeOptions,
  admit: (peer: NodeId, outbound: boolean) => HandshakeError | undefined
) => run(socket, options, "client", admit)

/** The server's side; with `pending`, the connection counts among the handshakes in progress (and may be closed to make room). */
export const server = (
  socket: Socket,
  options: HandshakeOptions,
  admit: (peer: NodeId, outbound: boolean) => HandshakeError | undefined,
  pending?: PendingHandshakes
) => run(socket, options, "server", admit, pending)
