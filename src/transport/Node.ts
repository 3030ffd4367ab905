/**
 * A node: one actor system reachable over TCP. It listens for peers, dials the peers it knows,
 * authenticates every connection (see `Handshake`), and routes messages for actors on other
 * nodes through one connection per pair of nodes.
 *
 * ```ts
 * const NodeLive = Node.layer({
 *   name: "a", port: 7001, cluster: "demo", secret: Redacted.make(process.env.TELEX_SECRET!),
 *   peers: [{ name: "b", host: "127.0.0.1", port: 7002 }],
 *   spawnable: [CounterLive]
 * })
 * const counter = yield* node.lookup("b", Counter, "counter")   // a ref to an actor on node b
 * yield* counter.tell(Counter.Increment({ by: 1 }))             // same API as a local ref
 * ```
 *
 * Supervision: each dialled peer gets a link actor under a `transport` supervisor, itself a child
 * of the system's services supervisor (`system.services`, apart from the application's
 * `system.root`, so that an application tree giving up leaves the links supervised). A link
 * actor dials until it connects (100 ms doubling to 5 s between dials, jitter 20%; an inbound
 * connection from the peer meanwhile ends the wait, and one admitted and finishing its handshake
 * is waited for rather than raced by a dial), then lives as long as that connection; when
 * it fails (error, reset, heartbeat deadline) the actor exits with an `Error` reason and the
 * supervisor restarts it at once; the new link waits before it dials (100 ms, doubling after
 * each connection that lasted less than 10 s), in the tree and woken by an inbound connection
 * from the peer, as while it redials. The transport
 * supervisor never gives up on a configured or `connect`ed peer; a member learned only from a
 * peer's `Members` is forgotten once a dial finds it gone (refused, or another node there).
 * A node that listens on loopback dials only loopback members.
 *
 * Defaults: heartbeat every 1 s, a connection silent for 3 s is declared lost (Akka's 1 s
 * interval / 3 s acceptable pause); handshake and connect timeouts 5 s; frames up to 256 KiB,
 * larger messages in 64 KiB fragments; 1 MiB of outbound buffer per connection before senders
 * wait (Erlang's distribution buffer busy limit); a peer that takes no write for 10 s, or lets
 * 64 MiB pile up, is disconnected. A full mailbox holds only the remote senders to that actor
 * (per-destination flow control, docs/protocol.md §4.4), never the connection.
 *
 * Binding a non-loopback address must be asked for explicitly (`allowNonLoopback`).
 *
 * @since 0.1.0
 */
import type { Socket as NetSocket } from "node:net"
import type * as Tls from "node:tls"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Actor from "../actors/Actor.ts"
import { ActorContext } from "../actors/ActorContext.ts"
import { ActorNotFound, NodeDown } from "../actors/ActorError.ts"
import { type ActorRef, type NodeId } from "../actors/ActorRef.ts"
import { ActorSystem, kernelOf, type Options as SystemOptions } from "../system/ActorSystem.ts"
import * as Deadlines from "../internal/deadlines.ts"
import * as ProtocolRegistry from "../actors/ProtocolRegistry.ts"
import * as ExitReason from "../actors/ExitReason.ts"
import * as Supervisor from "../supervision/Supervisor.ts"
import * as Codec from "./Codec.ts"
import { Connection } from "./Connection.ts"
import { Kind } from "./Envelope.ts"
import { defaultMaxFrameSize } from "./Frame.ts"
import { AuthThrottle } from "./AuthThrottle.ts"
import * as Handshake from "./Handshake.ts"
import { ignoreError, type Listener, type Network, type Socket, tcp } from "./Network.ts"
import type { Peer } from "./internal/peers.ts"
import { holdsFor } from "./internal/flow.ts"
import * as Requests from "./internal/requests.ts"
import { type Member, type NodeEvent, Router } from "./internal/router.ts"
import { HandshakeError, RemoteSpawnError } from "./TransportError.ts"

export type { NodeEvent } from "./internal/router.ts"

export interface PeerAddress {
  readonly name: string
  readonly host: string
  readonly port: number
}

export interface TlsOptions {
  readonly key: string | Buffer
  readonly cert: string | Buffer
  /** CA used to verify peers (mutual TLS): required */
  readonly ca: string | Buffer
}

export interface NodeOptions {
  /** unique within the cluster */
  readonly name: string
  /** default 127.0.0.1 */
  readonly host?: string | undefined
  /** default 0 (any free port) */
  readonly port?: number | undefined
  /** binding an address other than loopback must be explicit */
  readonly allowNonLoopback?: boolean | undefined
  readonly cluster: string
  readonly secret: Redacted.Redacted<string>
  /** peers to dial at start and keep connected */
  readonly peers?: ReadonlyArray<PeerAddress> | undefined
  /** actor modules other nodes may spawn here (nothing else can be spawned remotely) */
  readonly spawnable?: ReadonlyArray<Actor.Behavior<any, any, never>> | undefined
  readonly heartbeatInterval?: Duration.Input | undefined
  readonly acceptablePause?: Duration.Input | undefined
  readonly handshakeTimeout?: Duration.Input | undefined
  readonly connectTimeout?: Duration.Input | undefined
  readonly reconnect?: { readonly initial?: Duration.Input; readonly max?: Duration.Input } | undefined
  /** codecs offered when dialling, in preference order; default all (msgpackr-records first) */
  readonly codecs?: ReadonlyArray<Codec.CodecName> | undefined
  readonly maxFrameSize?: number | undefined
  /**
   * inbound connections in the handshake at once; past it, the oldest is closed (one that has
   * not sent a HELLO first). Default 64.
   */
  readonly maxPendingHandshakes?: number | undefined
  /** outbound bytes queued per connection before senders wait; default 1 MiB */
  readonly highWaterBytes?: number | undefined
  /**
   * outbound bytes queued per connection past which the peer is disconnected (it is not reading);
   * default 64 MiB. Remote `tellUnsafe`s become dead letters past an eighth of it. Each queued
   * envelope counts 128 bytes more than its encoding here (about its cost in memory).
   */
  readonly maxQueuedBytes?: number | undefined
  /** a peer that has not taken a write for this long is disconnected; default 10 s */
  readonly writeStallTimeout?: Duration.Input | undefined
  /**
   * bytes a peer may still send past the capacity of the actors we asked it to hold (what was in
   * flight), to each and to all of them together; past it, its messages to a full actor are
   * refused as `MailboxFull`. Default 8 MiB.
   */
  readonly holdSlackBytes?: number | undefined
  /** envelopes buffered per peer while its connection is being made; default 10 000 */
  readonly bufferLimit?: number | undefined
  readonly tls?: TlsOptions | undefined
  /** what to listen and dial on; default TCP (TLS with `tls`). The test kit's `SimNetwork` is another. */
  readonly network?: Network | undefined
  /**
   * Whether peers learn this node's address (and dial it, and tell others about it). Default
   * true; false for short-lived clients such as `telex status`: such a node also tells its peers
   * nothing about each other, so it never makes nodes dial each other.
   */
  readonly advertise?: boolean | undefined
}

export interface PeerInfo {
  readonly name: string
  readonly node: NodeId | undefined
  readonly up: boolean
  readonly listen: Handshake.ListenAddress | undefined
}

/** One peer link's traffic, for metrics. */
export interface LinkStats {
  readonly name: string
  readonly up: boolean
  /** envelopes sent on the open connection (0 when none is open) */
  readonly sent: number
  /** envelopes received on the open connection (0 when none is open) */
  readonly received: number
  /** bytes written to the open connection's socket (0 when none is open) */
  readonly bytesOut: number
  /** bytes read from the open connection's socket (0 when none is open) */
  readonly bytesIn: number
}

export interface NodeShape {
  readonly nodeId: NodeId
  /** the address actually bound (port 0 resolved) */
  readonly address: Handshake.ListenAddress
  /**
   * Dials a peer (kept connected by a supervised link actor) and waits until both sides can
   * send: this node and the peer have both registered the connection.
   */
  connect(
    peer: PeerAddress,
    timeout?: Duration.Input,
    options?: {
      /** fail with `NodeDown` at the first failed dial (nothing listens, refused) instead of waiting for a reconnect */
      readonly failFast?: boolean | undefined
    }
  ): Effect.Effect<NodeId, NodeDown>
  /**
   * A ref to the actor registered as `name` on `node`. A peer this node dials that is still
   * being connected (at start, or while dialling) is waited for, up to `timeout` (default the
   * connect + handshake timeouts); a peer that is not connected otherwise fails with `NodeDown`.
   */
  lookup<D extends Actor.MessageDefs>(
    node: string,
    protocol: Actor.ActorProtocol<D>,
    name: string,
    options?: { readonly timeout?: Duration.Input | undefined }
  ): Effect.Effect<ActorRef<D>, ActorNotFound | NodeDown>
  /**
   * Spawns an actor of a module `node` allows (`spawnable`), optionally registered as `name`
   * there. Waits for a peer being connected as `lookup` does.
   */
  spawn<D extends Actor.MessageDefs>(
    node: string,
    protocol: Actor.ActorProtocol<D>,
    options?: { readonly name?: string; readonly timeout?: Duration.Input | undefined }
  ): Effect.Effect<ActorRef<D>, RemoteSpawnError | NodeDown>
  readonly events: Stream.Stream<NodeEvent>
  /**
   * A subscription to the node's events, taken now (events published from here on are kept for
   * it), closed with the scope. For code that must not miss an event between subscribing and
   * reading; `events` subscribes when it is run.
   */
  readonly subscribe: Effect.Effect<PubSub.Subscription<NodeEvent>, never, Scope.Scope>
  /**
   * The nodes this node knows, up or down: those it dials, those connected, and of the others
   * that went away (clients, nodes that dialled this one) the 1 024 most recent.
   */
  peers(): ReadonlyArray<PeerInfo>
  /** Traffic of each peer link. */
  linkStats(): ReadonlyArray<LinkStats>
  /** Closes the connection to a peer (its link actor reconnects with backoff). For tests and tools. */
  disconnect(node: string, reason?: string): Effect.Effect<void>
  /**
   * A simulated partition from this node's side: the connection to `node` is closed and refused
   * in both directions until `duration` has passed (then links reconnect with their backoff).
   * The fault kit (`src/testing`) has the network-level partitions; this one is for demos.
   */
  partition(node: string, duration: Duration.Input): Effect.Effect<void>
  /** @internal link actor (key) → the peer it keeps connected, for `telex status` */
  readonly linkActors: ReadonlyMap<string, string>
}

const routers = new WeakMap<NodeShape, Router>()

/** The router behind a node, for the transport's own tests; not exported from the package. */
export const routerOf = (node: NodeShape): Router => {
  const router = routers.get(node)
  if (router === undefined) throw new Error("not a node made by Node.layer")
  return router
}

export class Node extends Context.Service<Node, NodeShape>()("telex/Node") {
  /** A node on an existing `ActorSystem` whose node name must equal `options.name`. */
  static readonly layer = (options: NodeOptions): Layer.Layer<Node, NodeStartError, ActorSystem> =>
    Layer.effect(Node, Effect.suspend(() => {
      const invalid = validateOptions(options)
      return invalid === undefined ? make(options) : Effect.fail(invalid)
    }))

  /** The actor system and the node together. */
  static readonly layerWithSystem = (
    options: NodeOptions & { readonly system?: Omit<SystemOptions, "node"> }
  ): Layer.Layer<Node | ActorSystem, NodeStartError> =>
    Layer.unwrap(Effect.suspend(() => {
      // checked before the actor system is built on the node's name
      const invalid = validateOptions(options)
      return invalid === undefined
        ? Effect.succeed(Node.layer(options).pipe(Layer.provideMerge(ActorSystem.layer({ ...options.system, node: options.name }))))
        : Effect.fail(invalid)
    }))
}

export class NodeStartError extends Schema.TaggedError<NodeStartError>()("NodeStartError", {
  message: Schema.String
}) {}

const isPort = (u: unknown, allowZero: boolean): boolean =>
  typeof u === "number" && Number.isInteger(u) && u >= (allowZero ? 0 : 1) && u <= 65535

const isDuration = (u: unknown): boolean => {
  if (u === undefined) return true
  try {
    const ms = Duration.toMillis(Duration.fromInputUnsafe(u as Duration.Input))
    return Number.isFinite(ms) && ms >= 0
  } catch {
    return false
  }
}

/**
 * Checks the options a program passes (often from the environment, unchecked by the type
 * system: `Redacted.make(process.env.TELEX_SECRET!)`) when the layer is built, so that a
 * missing secret is a `NodeStartError` at start and never a crash when a peer connects.
 */
const validateOptions = (options: NodeOptions): NodeStartError | undefined => {
  const problem = ((): string | undefined => {
    if (typeof options !== "object" || options === null) return "options must be an object"
    if (typeof options.name !== "string" || options.name.length === 0) return "name must be a non-empty string"
    if (typeof options.cluster !== "string" || options.cluster.length === 0) return "cluster must be a non-empty string"
    if (!Redacted.isRedacted(options.secret)) return "secret must be a Redacted string (Redacted.make(...))"
    const secret: unknown = Redacted.value(options.secret)
    if (typeof secret !== "string" || secret.length === 0) {
      return "secret is empty or missing (is TELEX_SECRET set?): nodes authenticate each other with it"
    }
    if (options.host !== undefined && (typeof options.host !== "string" || options.host.length === 0)) {
      return "host must be a non-empty string"
    }
    if (options.port !== undefined && !isPort(options.port, true)) return `port must be an integer from 0 to 65535, got ${String(options.port)}`
    for (const peer of options.peers ?? []) {
      if (typeof peer?.name !== "string" || peer.name.length === 0) return "every peer needs a non-empty name"
      if (peer.name === options.name) return `peer ${peer.name} has this node's own name`
      if (typeof peer.host !== "string" || peer.host.length === 0) return `peer ${peer.name} needs a host`
      if (!isPort(peer.port, false)) return `peer ${peer.name}: port must be an integer from 1 to 65535, got ${String(peer.port)}`
    }
    for (const key of ["heartbeatInterval", "acceptablePause", "handshakeTimeout", "connectTimeout"] as const) {
      if (!isDuration(options[key])) return `${key} is not a duration: ${String(options[key])}`
    }
    const pending = options.maxPendingHandshakes
    if (pending !== undefined && !(typeof pending === "number" && Number.isInteger(pending) && pending >= 1)) {
      return "maxPendingHandshakes must be a positive integer"
    }
    for (const key of ["maxFrameSize", "highWaterBytes", "bufferLimit"] as const) {
      const v = options[key]
      if (v !== undefined && !(typeof v === "number" && Number.isInteger(v) && v >= 0)) return `${key} must be a non-negative integer`
    }
    for (const codec of options.codecs ?? []) {
      if (!Codec.supportedCodecs.includes(codec)) return `unknown codec ${JSON.stringify(codec)} (known: ${Codec.supportedCodecs.join(", ")})`
    }
    if (options.codecs !== undefined && options.codecs.length === 0) return "codecs must not be empty"
    if (options.tls !== undefined && (options.tls.key === undefined || options.tls.cert === undefined || options.tls.ca === undefined)) {
      return "tls needs key, cert and ca"
    }
    return undefined
  })()
  return problem === undefined
    ? undefined
    : new NodeStartError({ message: `invalid node options${typeof options?.name === "string" ? ` for ${options.name}` : ""}: ${problem}` })
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/

/** Whether a node may listen on `host` without `allowNonLoopback` (a loopback address). */
export const isLoopbackHost = (host: string): boolean => LOOPBACK.test(host)

const millis = (d: Duration.Input | undefined, fallback: number) =>
  d === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(d))

/**
 * Connection losses that are no fault: a replacement (simultaneous connects, a reconnect, a
 * restarted peer), this node stopping, the peer closing it (its own log says why), a
 * simulated partition. Heartbeat deadlines, socket errors and protocol errors are faults.
 */
/** How long a stopping node waits for its peers to close their ends of its connections. */
const gracefulStopMillis = 1000

const routineLoss = /^(replaced|duplicate connection|node stopping|connection closed by peer$|simulated partition|disconnected on request|\S+ restarted \(new incarnation)/

/** The link actor's protocol: one per dialled peer. */
export const LinkProtocol = Actor.make("telex/Link", {
  Status: Actor.ask({}, { success: Schema.String })
}, { local: true }) // asked only by its own node: not advertised to peers

const make = Effect.fnUntraced(function*(options: NodeOptions) {
  const system = yield* ActorSystem
  const core = kernelOf(system)
  if (core.nodeId.name !== options.name) {
    return yield* new NodeStartError({
      message: `the ActorSystem's node name is ${JSON.stringify(core.nodeId.name)}, the node's is ${JSON.stringify(options.name)}`
    })
  }
  const host = options.host ?? "127.0.0.1"
  if (!isLoopbackHost(host) && options.allowNonLoopback !== true) {
    return yield* new NodeStartError({
      message: `refusing to listen on ${host}: only loopback addresses unless allowNonLoopback is set`
    })
  }
  const heartbeatMillis = millis(options.heartbeatInterval, 1000)
  const acceptablePauseMillis = millis(options.acceptablePause, 3000)
  const handshakeTimeoutMillis = millis(options.handshakeTimeout, 5000)
  const connectTimeoutMillis = millis(options.connectTimeout, 5000)
  const codecs = options.codecs ?? Codec.supportedCodecs
  const maxFrameSize = options.maxFrameSize ?? defaultMaxFrameSize
  // refused connections are logged one by one up to 10 a second; past that (a flood of bad
  // connections) they are counted, and the count goes with the next one logged
  let refusalWindow = -Infinity
  let refusalsInWindow = 0
  let refusalsUnlogged = 0
  const logRefusal = (message: string) => {
    const now = network.timers.now()
    if (now - refusalWindow >= 1000) {
      refusalWindow = now
      refusalsInWindow = 0
    }
    if (++refusalsInWindow > 10) return void refusalsUnlogged++
    const unlogged = refusalsUnlogged === 0 ? "" : ` (and ${refusalsUnlogged} refused connections not logged before it)`
    refusalsUnlogged = 0
    runLog(Effect.logWarning(message + unlogged))
  }
  const maxPendingHandshakes = options.maxPendingHandshakes ?? Handshake.defaultMaxPendingHandshakes
  // connections closed to make room are a flood's: logged at debug, once a second at most
  let shedLogged = -Infinity
  let shedCount = 0
  const onShed = () => {
    shedCount++
    const now = network.timers.now()
    if (now - shedLogged < 1000) return
    shedLogged = now
    runLog(Effect.logDebug(
      `closing inbound connections still in the handshake to make room: ${maxPendingHandshakes} in progress (maxPendingHandshakes), ${shedCount} closed so far`
    ))
  }
  const network: Network = options.network ?? (options.tls !== undefined
    ? tlsNetwork(options.tls, { warn: logRefusal, shed: onShed, handshakeTimeoutMillis, maxPending: maxPendingHandshakes })
    : tcp)
  const connectionOptions = {
    heartbeatMillis,
    acceptablePauseMillis,
    timers: network.timers,
    writeStallMillis: millis(options.writeStallTimeout, 10_000),
    log: (message: string) => runLog(Effect.logWarning(message)),
    ...(options.highWaterBytes !== undefined ? { highWaterBytes: options.highWaterBytes } : {}),
    ...(options.maxQueuedBytes !== undefined ? { maxQueuedBytes: options.maxQueuedBytes } : {})
  }
  const context = yield* Effect.context<never>()
  const runLog = (effect: Effect.Effect<void>) => Effect.runForkWith(context)(effect.pipe(Effect.annotateLogs({ node: options.name })))

  // actors spawned at a peer's request run with the node's context (its loggers, tracer,
  // node= annotation), as if spawned here; the router starts them from a socket callback
  const spawnContext = Context.add(context, References.CurrentLogAnnotations, {
    ...Context.get(context, References.CurrentLogAnnotations),
    node: options.name
  })
  const spawnable = new Map<string, (name: string | undefined) => Effect.Effect<ActorRef<any>, unknown>>()
  for (const behavior of options.spawnable ?? []) {
    spawnable.set(
      behavior.protocol.name,
      (name) => Effect.updateContext(core.spawnTopLevel(behavior, { name }), () => spawnContext)
    )
  }
  // the members peers tell of are dialled once the links below are set up (nothing before:
  // no peer is connected yet)
  let dialMembers: (members: ReadonlyArray<Member>) => void = () => {}
  const router = new Router(core, {
    bufferLimit: options.bufferLimit ?? 10_000,
    gossip: options.advertise !== false,
    holdSlackBytes: options.holdSlackBytes ?? 8 * 1024 * 1024,
    timers: network.timers,
    replaceGraceMillis: handshakeTimeoutMillis,
    unsafeLimitBytes: (options.maxQueuedBytes ?? 64 * 1024 * 1024) / 8,
    highWaterBytes: options.highWaterBytes ?? 1024 * 1024,
    spawnable,
    onMembers: (members) => dialMembers(members),
    dials: (name) => dials(name)
  })
  core.setRemote(router)

  // new protocols (modules imported later) are advertised to connected peers
  const unregister = ProtocolRegistry.onRegister((protocol) => {
    for (const peer of router.peers.values()) {
      peer.conn?.send([Kind.Protocols, { [protocol.name]: ProtocolRegistry.fingerprint(protocol) }])
    }
  })
  yield* Effect.addFinalizer(() => Effect.sync(unregister))

  let epoch = 0
  let address: Handshake.ListenAddress = { host, port: options.port ?? 0 }
  const handshakeOptions = (): Handshake.HandshakeOptions => ({
    cluster: options.cluster,
    secret: options.secret,
    node: core.nodeId,
    // transient clients (status, tests) do not advertise an address: nobody dials them back
    listen: options.advertise === false ? undefined : address,
    codecs,
    timeoutMillis: handshakeTimeoutMillis,
    maxFrameSize,
    protocols: ProtocolRegistry.table,
    timers: network.timers,
    previous: (name) => {
      const last = router.peers.get(name)?.lastSession
      return last === undefined ? undefined : { session: last.session, received: last.received }
    },
    holds: (peer) => {
      const p = router.peers.get(peer.name)
      return p === undefined ? [] : holdsFor(router, p, peer.incarnation)
    }
  })

  // set when the node stops: its link actors, still running while the connections close, dial
  // no more (a dial cut short by the process's exit would reach the peer as a reset), and a dial
  // or handshake that ends after the stop is closed, not attached: a stopped node must not stay
  // reachable to the peer it was dialling
  let stopping = false
  const established = (socket: Socket, est: Handshake.Established): Connection | undefined => {
    if (stopping) {
      socket.destroy()
      return undefined
    }
    const conn = new Connection(socket, { ...est, codec: Codec.make(est.codec) }, ++epoch, connectionOptions, {
      onEnvelope: () => {},
      onClose: () => {}
    })
    if (conn.closed !== undefined) return undefined
    return router.attach(conn, est.peerListen, est.peerProtocols, est.peerPrevious, { sent: est.holdsSent, received: est.peerHolds }, est.protocolsSent)
      ? conn
      : undefined
  }

  // ---- listener -------------------------------------------------------------
  /** whether this node has a link actor for the peer (it dials it, and the link logs how its connections end) */
  let dials = (_name: string): boolean => false
  /**
   * How the connection of a peer this node does not dial (a client, a node that dialled us)
   * ended, with the reason: the peer learns nothing (no goodbye frame after the handshake), so
   * the log is where a client's author finds why the node closed it (a protocol error, ...).
   */
  const logInboundClose = (name: string, remote: string, session: string) => (reason: string) => {
    if (dials(name) || router.peers.get(name)?.lastSession?.session !== session) return // not this connection's end
    if (routineLoss.test(reason)) runLog(Effect.logInfo(`connection from ${name} (${remote}) closed: ${reason}`))
    else runLog(Effect.logWarning(`connection from ${name} (${remote}) lost: ${reason}`))
  }
  const pendingHandshakes = new Handshake.PendingHandshakes(maxPendingHandshakes)
  const authThrottle = new AuthThrottle(network.timers)
  const onInbound = (socket: Socket) => {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`
    let admitted: NodeId | undefined
    Handshake.server(socket, { ...handshakeOptions(), authThrottle: authThrottle.gate(socket.remoteAddress ?? "") }, (peer) => {
      const refusal = router.admit(peer, false)
      if (refusal === undefined) admitted = peer
      return refusal
    }, pendingHandshakes).then(
      (est) => {
        // before the connection starts: the first frames, read at once, may close it
        router.peers.get(est.peer.name)?.closeWaiters.push(logInboundClose(est.peer.name, remote, est.session))
        const conn = established(socket, est)
        if (conn !== undefined) runLog(Effect.logInfo(`connected to ${est.peer.name} (inbound from ${remote}, codec ${est.codec})`))
      },
      (error: HandshakeError) => {
        router.release(admitted, false)
        socket.destroy()
        if (Handshake.isShed(error)) return onShed()
        router.publish({ _tag: "HandshakeRefused", peer: remote, code: error.code, message: error.message })
        if (error.code !== "duplicate") logRefusal(`refused connection from ${remote}: ${error.code}: ${error.message}`)
      }
    )
  }
  const listener: Listener = yield* Effect.tryPromise({
      try: () => network.listen(host, address.port, onInbound),
      catch: (e) => {
        const code = (e as NodeJS.ErrnoException).code
        return new NodeStartError({
          message: code === "EADDRINUSE"
            ? `port ${address.port} on ${host} is already in use`
            : `cannot listen on ${host}:${address.port}: ${(e as Error).message}`
        })
      }
    })
  address = { host, port: listener.port }
  // Connections end with a FIN, and the node waits (bounded) for its peers to close their ends:
  // a process that exits with unread bytes in a socket makes the kernel reset it, which the peer
  // could only log as a fault.
  yield* Effect.addFinalizer(() =>
    Effect.promise(() => {
      stopping = true
      listener.close()
      const closing: Array<Promise<void>> = []
      for (const peer of router.peers.values()) {
        const conn = peer.conn
        if (conn === undefined) continue
        conn.close("node stopping", true)
        closing.push(conn.socketClosed())
      }
      // no next connection: holds kept for one end now (and their timers with them)
      for (const peer of router.peers.values()) {
        peer.flow.giveUp()
        peer.flow.dialEnded()
      }
      if (closing.length === 0) return Promise.resolve()
      let cancel = () => {}
      const grace = new Promise<void>((resolve) => {
        cancel = network.timers.setTimeout(resolve, gracefulStopMillis)
      })
      return Promise.race([Promise.all(closing).then(() => undefined), grace]).finally(() => cancel())
    })
  )

  // ---- dialling, under supervision --------------------------------------------
  const dial = (peerAddress: PeerAddress): Promise<Connection> =>
    stopping ? Promise.reject(new Error("this node is stopping")) : network.connect(peerAddress.host, peerAddress.port, connectTimeoutMillis).then((socket) =>
      new Promise<Connection>((resolve, reject) => {
        if (stopping) {
          socket.destroy()
          return reject(new Error("this node is stopping"))
        }
        let admitted: NodeId | undefined
        // connected: a connection from the peer meanwhile loses to this one if our name is smaller (see `admit`)
        const dialled = router.peer(peerAddress.name)
        dialled.dialHandshake = true
        Handshake.client(socket, handshakeOptions(), (peer) => {
          if (peer.name !== peerAddress.name) {
            return new HandshakeError({ code: "name", message: `expected node ${peerAddress.name} at ${peerAddress.host}:${peerAddress.port}, found ${peer.name}` })
          }
          const refusal = router.admit(peer, true)
          if (refusal === undefined) admitted = peer
          return refusal
        }).finally(() => {
          dialled.dialHandshake = false
        }).then(
          (est) => {
            const conn = established(socket, est)
            if (conn === undefined) {
              reject(stopping ? new Error("this node is stopping") : new HandshakeError({ code: "duplicate", message: "lost a simultaneous connect" }))
            }
            else resolve(conn)
          },
          (error) => {
            router.release(admitted, true)
            socket.destroy()
            reject(error)
          }
        )
      })
    )

  const linkActors = new Map<string, string>()
  /** a redial delay ±20 %, from the context's Random: a seeded simulation replays its redials */
  const jittered = (millis: number) => Effect.map(Random.next, (r) => millis * (1 + 0.2 * (2 * r - 1)))
  /** per peer: how long the link waits before it dials again after its connection was lost */
  const redialAfterLoss = new Map<string, number>()
  const reconnectInitialMillis = millis(options.reconnect?.initial, 100)
  const reconnectMaxMillis = Math.max(reconnectInitialMillis, millis(options.reconnect?.max, 5000))
  /** a dial failure that says the node is not there any more (nothing listens, another node does) */
  const gone = (error: unknown) =>
    (error as NodeJS.ErrnoException | undefined)?.code === "ECONNREFUSED" ||
    (error instanceof HandshakeError && error.code === "name")
  /** peers whose connection `disconnect` closed: their loss is not a fault */
  const requestedCloses = new Set<string>()
  const linkBehavior = (peerAddress: PeerAddress) =>
    LinkProtocol.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext
      const peer = router.peer(peerAddress.name, { host: peerAddress.host, port: peerAddress.port })
      const key = ctx.self.key
      linkActors.set(key, peerAddress.name)
      let state = "connecting"
      /** whether the peer is up, or comes up within a handshake timeout */
      const waitUp = (p: Peer) =>
        Effect.callback<boolean>((resume) => {
          if (p.isUp) return resume(Effect.succeed(true))
          return Effect.sync(p.upWaiters.add(() => resume(Effect.succeed(true))))
        }).pipe(Effect.timeoutOrElse({ duration: handshakeTimeoutMillis, orElse: () => Effect.succeed(false) }))
      const waitClose = (p: Peer) =>
        Effect.callback<string>((resume) => {
          if (!p.isUp) return resume(Effect.succeed("not connected"))
          p.closeWaiters.push((reason) => resume(Effect.succeed(reason)))
        })
      /** Waits `delay` ms, or less if the peer comes up meanwhile (it dialled us). */
      const pause = (p: Peer, delay: number) =>
        Effect.callback<void>((resume) => {
          if (p.isUp) return resume(Effect.void)
          const w = () => resume(Effect.void)
          p.redialWaiter = w
          return Effect.sync(() => {
            if (p.redialWaiter === w) p.redialWaiter = undefined
          })
        }).pipe(Effect.timeoutOrElse({ duration: delay, orElse: () => Effect.void }))
      // A failed dial does not end the link: it waits and dials again (100 ms doubling to 5 s,
      // jitter 20%) while staying in the supervision tree, and an inbound connection from the
      // peer meanwhile ends the wait at once. The actor ends (and is restarted) when a
      // connection it watched is lost, or when a member it only learned from gossip is gone.
      let delay = reconnectInitialMillis
      let upSince = 0
      const run = Effect.gen(function*() {
        // restarted after a lost connection: wait (in the tree, woken by an inbound connection)
        // before dialling again, longer after each loss that follows a short-lived connection
        const afterLoss = redialAfterLoss.get(peerAddress.name)
        if (afterLoss !== undefined && !peer.isUp) {
          state = "backoff"
          yield* pause(peer, yield* jittered(afterLoss))
          delay = Math.min(reconnectMaxMillis, afterLoss * 2)
        }
        while (!peer.isUp) {
          if (stopping) return yield* Effect.never
          // a connection from the peer has been admitted and is finishing its handshake: it is
          // waited for (a dial now would race it, and replace it a moment after it came up)
          if (peer.claim === "inbound" && (yield* waitUp(peer))) continue
          state = "connecting"
          peer.outbox.dialing = true
          const result = yield* Effect.tryPromise(() => dial(peerAddress)).pipe(Effect.result)
          peer.outbox.dialing = false
          // senders that waited for this dial's connection (flow.ts) retry: sent, or refused
          peer.flow.dialEnded()
          if (result._tag === "Failure") {
            const error = result.failure.cause as any
            const duplicate = error instanceof HandshakeError && error.code === "duplicate"
            if (!duplicate) {
              router.dialFailed(peer, String(error?.message ?? error))
              const failWaiters = dialFailWaiters.get(peerAddress.name)
              dialFailWaiters.delete(peerAddress.name)
              for (const f of failWaiters ?? []) f(String(error?.message ?? error))
              // refusals matter (bad secret, wrong cluster...); a peer not listening yet is routine
              if (error instanceof HandshakeError && error.code !== "partitioned" && !Handshake.isConnectionLoss(error)) {
                yield* Effect.logWarning(`connection to ${peerAddress.name} refused: ${error.code}: ${error.message}`)
              } else {
                yield* Effect.logDebug(`cannot reach ${peerAddress.name}: ${error?.message ?? error}`)
              }
              if (learned.has(peerAddress.name) && gone(error)) {
                return { forget: true, reason: `${peerAddress.name} left: ${error?.message ?? error}` }
              }
              // the node is stopping: nothing more to dial, and no reason to be restarted
              if (stopping) return yield* Effect.never
              state = "backoff"
              yield* pause(peer, yield* jittered(delay))
              delay = Math.min(reconnectMaxMillis, delay * 2)
              continue
            }
            // the peer's own connection to us won the race: watch that one instead, once its
            // handshake has ended here too (it may still be finishing)
            if (!peer.isUp) {
              if (!(yield* waitUp(peer))) {
                yield* Effect.logDebug(`lost a simultaneous connect with ${peerAddress.name}, and its connection did not come up`)
                return { forget: false, reason: `the connection from ${peerAddress.name} that won a simultaneous connect did not come up` }
              }
            }
            yield* Effect.logDebug(`connected to ${peerAddress.name} by its own connection (it won a simultaneous connect)`)
          } else {
            yield* Effect.logInfo(`connected to ${peerAddress.name} (${peerAddress.host}:${peerAddress.port}, codec ${result.success.codec.name})`)
          }
        }
        state = "up"
        upSince = network.timers.now()
        let reason = yield* waitClose(peer)
        // replaced by the other side's connection (a simultaneous connect): watch the new one
        while (reason.startsWith("replaced") && (yield* waitUp(peer))) {
          yield* Effect.logDebug(`connection to ${peerAddress.name} ${reason}`)
          reason = yield* waitClose(peer)
        }
        // a loss this node or its peer chose (or a replacement) is routine; the rest is a fault
        if (requestedCloses.delete(peerAddress.name) || routineLoss.test(reason)) {
          yield* Effect.logInfo(`connection to ${peerAddress.name} closed: ${reason}`)
        } else {
          yield* Effect.logWarning(`connection to ${peerAddress.name} lost: ${reason}`)
        }
        if (stopping) return yield* Effect.never
        // the next incarnation of this link waits before it dials: the initial delay after a
        // connection that lasted, twice the previous one after a short-lived one
        const previous = redialAfterLoss.get(peerAddress.name)
        redialAfterLoss.set(
          peerAddress.name,
          network.timers.now() - upSince >= 10_000 || previous === undefined
            ? reconnectInitialMillis
            : Math.min(reconnectMaxMillis, previous * 2)
        )
        return { forget: false, reason: `connection to ${peerAddress.name} lost: ${reason}` }
      })
      yield* run.pipe(
        Effect.flatMap(({ forget, reason }) => {
          if (!forget) return ctx.stop(ExitReason.error(reason))
          // a member learned from gossip that is gone: its link and address are forgotten (it is
          // learned again if it comes back and a peer tells of it)
          return Effect.logInfo(`no longer dialling ${reason}`).pipe(
            Effect.andThen(Effect.sync(() => forgetMember(peerAddress.name)))
          )
        }),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        peer.outbox.dialing = false
        peer.flow.dialEnded()
        linkActors.delete(key)
      }))
      return { Status: () => Effect.sync(() => state) }
    }))

  const transport = (yield* Supervisor.startChild(
    system.services,
    Supervisor.child(
      "transport",
      Supervisor.make({
        strategy: "one_for_one",
        intensity: Number.MAX_SAFE_INTEGER,
        // links pace their own dials (see linkBehavior), in the tree the whole time
        backoff: false,
        children: []
      })
    )
  ).pipe(Effect.orDie)) as Supervisor.SupervisorRef

  const linked = new Set<string>()
  dials = (name) => linked.has(name)
  /** `connect(..., { failFast })` callers, woken by the first failed dial */
  const dialFailWaiters = new Map<string, Set<(reason: string) => void>>()
  /** Runs `effect` (which starts dialling `name`) and fails with the first failed dial meanwhile. */
  const failOnDialFailure = <A>(name: string, effect: Effect.Effect<A, NodeDown>) =>
    Effect.suspend(() => {
      // registered before the dial starts: a refused connect can fail within the same tick
      let failed: string | undefined
      let wake: ((reason: string) => void) | undefined
      const f = (reason: string) => {
        failed = reason
        wake?.(reason)
      }
      let set = dialFailWaiters.get(name)
      if (set === undefined) dialFailWaiters.set(name, set = new Set())
      set.add(f)
      const failure = Effect.callback<never, NodeDown>((resume) => {
        const fail = (reason: string) => resume(Effect.fail(new NodeDown({ node: name, reason })))
        if (failed !== undefined) fail(failed)
        else wake = fail
      })
      return Effect.raceFirst(effect, failure).pipe(Effect.ensuring(Effect.sync(() => dialFailWaiters.get(name)?.delete(f))))
    })
  /** links started only because a peer's `Members` told of the node (not configured, not `connect`ed) */
  const learned = new Set<string>()
  const ensureLink = (peerAddress: PeerAddress, fromGossip = false) =>
    Effect.suspend(() => {
      if (!fromGossip) learned.delete(peerAddress.name)
      else if (!linked.has(peerAddress.name)) learned.add(peerAddress.name)
      linked.add(peerAddress.name)
      return Supervisor.startChild(transport, Supervisor.child(`link:${peerAddress.name}`, linkBehavior(peerAddress)))
    }).pipe(
      // the link exists already (running, or waiting for its restart)
      Effect.catchTag("SupervisorError", (e) =>
        e.reason === "AlreadyStarted" || e.reason === "AlreadyPresent" ? Effect.void : Effect.fail(e)),
      Effect.orDie,
      Effect.asVoid
    )

  for (const peer of options.peers ?? []) yield* ensureLink(peer)
  // members learned from peers: dial the ones we have no link to (a full mesh from seeds)
  const runInNode = Effect.runForkWith(context)
  // (a transient client stays a client: it talks to the nodes it was given). A node that listens
  // on loopback only dials loopback members: a peer cannot make it connect anywhere else.
  const loopbackOnly = options.allowNonLoopback !== true
  /** a bound on the links a peer's gossip can make this node keep (a full mesh of this many nodes) */
  const maxLearnedMembers = 1024
  // one warning per list for the members skipped (a peer's list may hold thousands)
  const skipped = (what: Array<string>, why: string) => {
    if (what.length === 0) return
    const shown = what.slice(0, 5).join(", ") + (what.length > 5 ? `, and ${what.length - 5} more` : "")
    runLog(Effect.logWarning(`not dialling ${what.length === 1 ? "member" : `${what.length} members`} ${shown}: ${why}`))
  }
  if (options.advertise !== false) dialMembers = (members) => {
    const remote: Array<string> = []
    const overLimit: Array<string> = []
    for (const m of members) {
      if (m.name === options.name || m.name.length === 0) continue
      if (loopbackOnly && !isLoopbackHost(m.host)) {
        remote.push(`${m.name} at ${m.host}:${m.port}`)
        continue
      }
      const known = router.peers.get(m.name)
      if (linked.has(m.name) || (known !== undefined && known.isUp)) continue
      if (learned.size >= maxLearnedMembers) {
        overLimit.push(m.name)
        continue
      }
      if (learned.has(m.name)) continue
      learned.add(m.name)
      runInNode(ensureLink(m, true))
    }
    skipped(remote, "this node dials loopback addresses only (allowNonLoopback)")
    skipped(overLimit, `this node already dials ${learned.size} members learned from peers`)
  }
  /** Stops dialling a member learned from gossip that is gone, and forgets its address. */
  const forgetMember = (name: string) =>
    runInNode(
      Supervisor.terminateChild(transport, `link:${name}`).pipe(
        Effect.andThen(Supervisor.deleteChild(transport, `link:${name}`)),
        Effect.ignore,
        Effect.andThen(Effect.sync(() => {
          linked.delete(name)
          learned.delete(name)
          redialAfterLoss.delete(name)
          const peer = router.peers.get(name)
          if (peer !== undefined && !peer.isUp) {
            peer.listen = undefined
            router.idle(peer)
          }
        }))
      )
    )

  /**
   * A wait woken because the peer came up: woken a slice per turn, it may find the connection
   * lost again by its turn (then it fails as a request to a peer not connected does).
   */
  const upNow = (peer: Peer, name: string): Effect.Effect<NodeId, NodeDown> =>
    peer.conn !== undefined && peer.conn.closed === undefined
      ? Effect.succeed(peer.conn.peer)
      : Effect.fail(new NodeDown({ node: name, reason: "not connected" }))
  const notUpWithin = (name: string, timeoutMillis: number) =>
    new NodeDown({ node: name, reason: `not connected within ${timeoutMillis} ms` })
  /**
   * Waits for the connection to `name` (a lookup, a spawn, a connect). A wait that gives up
   * leaves nothing behind, in constant time (a WaitQueue); on the live clock its deadline is an
   * entry of the asks' deadline queues, which expire at most 1 024 per turn, rather than a timer
   * and two fibers of `timeoutOrElse`: 50 000 lookups of a node stuck in its handshake, timing out
   * together, each taken out of an array (indexOf + splice), held the event loop for 0.9-1.9 s.
   */
  const awaitUp = (name: string, timeoutMillis: number): Effect.Effect<NodeId, NodeDown> =>
    Effect.withFiber((fiber) => {
      const peer = router.peer(name)
      if (peer.isUp) return Effect.succeed(peer.conn!.peer)
      if (!Deadlines.isLiveClock(fiber.getRef(Clock.Clock)) || !Deadlines.fits(timeoutMillis)) {
        // another clock (TestClock): the wait sleeps on it
        return Effect.callback<NodeId, NodeDown>((resume) => {
          if (peer.isUp) return resume(Effect.succeed(peer.conn!.peer))
          return Effect.sync(peer.upWaiters.add(() => resume(upNow(peer, name))))
        }).pipe(Effect.timeoutOrElse({ duration: timeoutMillis, orElse: () => Effect.fail(notUpWithin(name, timeoutMillis)) }))
      }
      return Effect.callback<NodeId, NodeDown>((resume) => {
        if (peer.isUp) return resume(Effect.succeed(peer.conn!.peer))
        let deadline: Deadlines.Deadline | undefined = undefined
        const cancelWait = peer.upWaiters.add(() => {
          if (deadline !== undefined) Deadlines.cancel(deadline)
          resume(upNow(peer, name))
        })
        deadline = Deadlines.after(timeoutMillis, () => {
          cancelWait()
          resume(Effect.fail(notUpWithin(name, timeoutMillis)))
        })
        const d = deadline
        return Effect.sync(() => {
          cancelWait()
          Deadlines.cancel(d)
        })
      })
    })

  /**
   * Both sides can send once the peer answers on the connection: the dialler's handshake ends
   * (and `awaitUp` wakes) one frame before the acceptor's, so a round trip proves the acceptor
   * has registered the connection too. A request for the empty name is answered by any node.
   */
  const awaitBothUp = (name: string, timeoutMillis: number) => {
    const attempt: Effect.Effect<NodeId, NodeDown> = Effect.gen(function*() {
      const id = yield* awaitUp(name, timeoutMillis)
      const peer = router.peer(name)
      const answered = yield* Effect.result(Requests.lookup(router, peer, ""))
      // the connection was replaced meanwhile (a simultaneous connect): wait for the new one
      return answered._tag === "Success" ? id : yield* attempt
    })
    return attempt.pipe(
      Effect.timeoutOrElse({
        duration: timeoutMillis,
        orElse: () => Effect.fail(new NodeDown({ node: name, reason: `not connected within ${timeoutMillis} ms` }))
      })
    )
  }

  /**
   * The connection to a peer for a request. A peer this node dials (configured, or `connect`ed)
   * that has not been connected yet, or is being dialled right now, is waited for, up to
   * `timeout`; any other peer that is not connected fails at once.
   */
  const peerFor = (name: string, timeout: Duration.Input | undefined) =>
    Effect.suspend(() => {
      const peer = router.peers.get(name)
      if (peer !== undefined && peer.isUp) return Effect.succeed(peer)
      const pending = linked.has(name) && (peer === undefined || peer.outbox.dialing || peer.lastSession === undefined)
      if (!pending) return Effect.fail(new NodeDown({ node: name, reason: "not connected" }))
      return awaitUp(name, millis(timeout, connectTimeoutMillis + handshakeTimeoutMillis)).pipe(
        Effect.map(() => router.peer(name))
      )
    })

  const service: NodeShape = {
    nodeId: core.nodeId,
    address,
    linkActors,
    connect: (peer, timeout, connectOptions) => {
      const up = awaitBothUp(peer.name, millis(timeout, connectTimeoutMillis + handshakeTimeoutMillis))
      const connect = ensureLink(peer).pipe(Effect.andThen(up))
      return connectOptions?.failFast === true ? failOnDialFailure(peer.name, connect) : connect
    },
    lookup: (node, protocol, name, lookupOptions) =>
      Effect.gen(function*() {
        const peer = yield* peerFor(node, lookupOptions?.timeout)
        const address = yield* Requests.lookup(router, peer, name)
        if (address === undefined || address.protocol !== protocol.name) return yield* new ActorNotFound({ name: `${name}@${node}` })
        return router.refFor(address)
      }),
    spawn: (node, protocol, spawnOptions) =>
      Effect.gen(function*() {
        const peer = yield* peerFor(node, spawnOptions?.timeout)
        const spawned = yield* Requests.spawn(router, peer, protocol.name, spawnOptions?.name)
        if ("error" in spawned) return yield* new RemoteSpawnError({ node, module: protocol.name, message: spawned.error })
        return router.refFor(spawned.address)
      }),
    events: Stream.fromPubSub(router.events as PubSub.PubSub<NodeEvent>),
    subscribe: PubSub.subscribe(router.events as PubSub.PubSub<NodeEvent>),
    linkStats: () =>
      Array.from(router.peers.values()).map((p) => {
        const open = p.conn !== undefined && p.conn.closed === undefined
        const conn = open ? p.conn! : undefined
        return {
          name: p.name,
          up: p.isUp,
          sent: conn?.sent ?? 0,
          received: conn?.received ?? 0,
          bytesOut: conn?.bytesOut ?? 0,
          bytesIn: conn?.bytesIn ?? 0
        }
      }),
    peers: () =>
      Array.from(router.peers.values()).map((p) => ({
        name: p.name,
        node: p.conn?.peer,
        up: p.isUp,
        listen: p.listen
      })),
    disconnect: (node, reason = "disconnected on request") =>
      Effect.sync(() => {
        const conn = router.peers.get(node)?.conn
        if (conn === undefined || conn.closed !== undefined) return
        if (linked.has(node)) requestedCloses.add(node)
        conn.close(reason)
      }),
    partition: (node, duration) => Effect.sync(() => router.partition(node, millis(duration, 0)))
  }
  routers.set(service, router)
  return service
})

/** Reads the cluster secret from an environment variable, as a `Redacted`. */
export const secretFromEnv = (variable = "TELEX_SECRET"): Option.Option<Redacted.Redacted<string>> => {
  const value = process.env[variable]
  return value === undefined || value.length === 0 ? Option.none() : Option.some(Redacted.make(value))
}

// loaded when a node uses TLS: `node:tls` costs a plain-TCP node ~4 MiB of resident memory
const tlsModule = (): typeof Tls => process.getBuiltinModule("node:tls")

/** Mutual TLS over `node:tls`: both sides present certificates signed by `ca`. */
const tlsNetwork = (
  tls: TlsOptions,
  options: {
    readonly warn: (message: string) => void
    readonly shed: () => void
    readonly handshakeTimeoutMillis: number
    readonly maxPending: number
  }
): Network => ({
  timers: tcp.timers,
  listen: (host, port, onConnection) =>
    new Promise((resolve, reject) => {
      // connections in the TLS handshake are bounded as those in the node's handshake are (its
      // timeout, at most maxPendingHandshakes at once, the oldest closed past it), by TCP socket
      const pending = new Handshake.PendingHandshakes(options.maxPending)
      const inTls = new Map<string, () => void>()
      const settled = (socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }) => {
        const key = `${socket.remoteAddress}:${socket.remotePort}`
        const close = inTls.get(key)
        if (close === undefined) return
        inTls.delete(key)
        pending.remove(close)
      }
      const server = tlsModule().createServer(
        {
          key: tls.key,
          cert: tls.cert,
          ca: tls.ca,
          requestCert: true,
          rejectUnauthorized: true,
          handshakeTimeout: options.handshakeTimeoutMillis
        },
        (socket) => {
          settled(socket)
          onConnection(socket)
        }
      )
      server.on("connection", (raw: NetSocket) => {
        const key = `${raw.remoteAddress}:${raw.remotePort}`
        const close = () => {
          inTls.delete(key)
          raw.destroy()
          options.shed()
        }
        inTls.set(key, close)
        raw.once("close", () => {
          if (inTls.get(key) !== close) return
          inTls.delete(key)
          pending.remove(close)
        })
        pending.add(close)
      })
      server.on("tlsClientError", (e: Error, socket: Tls.TLSSocket) => {
        // with a listener for this event, the server leaves the socket open
        socket.destroy()
        // one closed to make room is no refusal (it was counted)
        if (!inTls.has(`${socket.remoteAddress}:${socket.remotePort}`)) return
        settled(socket)
        options.warn(`refused TLS connection: ${e.message}`)
      })
      server.once("error", reject)
      server.listen(port, host, () => resolve({ port: (server.address() as { port: number }).port, close: () => server.close() }))
    }),
  connect: (host, port, timeoutMillis) =>
    new Promise((resolve, reject) => {
      // peers are authenticated by the CA here and by the cluster secret in the handshake
      const socket = tlsModule().connect({ host, port, key: tls.key, cert: tls.cert, ca: tls.ca, checkServerIdentity: () => undefined })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`connect timeout after ${timeoutMillis} ms`))
      }, timeoutMillis)
      socket.once("error", (e) => {
        clearTimeout(timer)
        socket.destroy()
        reject(e)
      })
      socket.once("secureConnect", () => {
        clearTimeout(timer)
        socket.removeAllListeners("error")
        // until the handshake sets its own (it then sees the socket closed, or times out)
        socket.on("error", ignoreError)
        resolve(socket)
      })
    })
})
