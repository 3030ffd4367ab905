/**
 * The router: every remote address resolves to a `RemoteTarget` that encodes and queues onto
 * the connection to its node, and every inbound envelope is validated and delivered here. It
 * also keeps, per peer node, what must happen when the connection is lost: pending asks fail
 * with `NodeDown` at once, links fire `NoConnection`, monitors deliver `Down(NoConnection)`.
 *
 * Flow control is per destination actor, never per connection: when one of our actors' mailbox
 * is full, the peer sending to it is told to hold that actor (`Hold`), and `Release`d once the
 * mailbox has drained to half its capacity, with a credit of what fits (the sender is held again
 * once it has sent that many). A held sender's `tell`/`ask` to that actor wait (or, under the
 * dropping policies, fail or drop at once, before encoding); its traffic to every other actor
 * flows on. What was in flight when `Hold` left is accepted up to `holdSlackBytes`.
 *
 * Incarnations: a connection is to one incarnation of a node. Messages addressed to another
 * incarnation (an older one, after a restart) are refused — dead letters, `NoProc` for asks —
 * never delivered to the successor.
 *
 * @internal
 */
import { Cause, Effect, Exit, PubSub } from "effect"
import type { AnyProtocol } from "../../actors/Actor.ts"
import {
  ActorStopped,
  AskErrorSchema,
  AskTimeout,
  InvalidMessage,
  MailboxFull,
  NodeDown,
  NoProc,
  ProtocolMismatch
} from "../../actors/ActorError.ts"
import { type ActorAddress, ActorRef, formatAddress, type NodeId, nodeKey } from "../../actors/ActorRef.ts"
import { fromTraceparent, type Kernel, type LocalActor, Offer, type Reply, type Target, toTraceparent, withResolver } from "../../actors/Kernel.ts"
import type { OverflowPolicy } from "../../actors/Mailbox.ts"
import * as ProtocolRegistry from "../../actors/ProtocolRegistry.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import { Down, type ExitSignal, MonitorRef } from "../../actors/Signals.ts"
import type { Connection } from "../Connection.ts"
import { Kind, ReplyKind } from "../Envelope.ts"
import type { ListenAddress } from "../Handshake.ts"
import { HandshakeError } from "../TransportError.ts"
import { decodeReason, decoderFor, encodeReason, encoderFor, isAddress, issueOf } from "./codecs.ts"

export type NodeEvent =
  | { readonly _tag: "NodeUp"; readonly node: NodeId; readonly outbound: boolean }
  | {
    readonly _tag: "NodeDown"
    readonly node: NodeId
    readonly reason: string
    /** envelopes sent and received on the connection that ended */
    readonly sent: number
    readonly received: number
  }
  | { readonly _tag: "HandshakeRefused"; readonly peer: string; readonly code: string; readonly message: string }
  /**
   * The previous connection to `node` ended with envelopes we sent that it never received:
   * `lost` envelopes after its sequence number `received` (TCP acknowledged nothing we can see).
   */
  | {
    readonly _tag: "LinkGap"
    readonly node: NodeId
    readonly session: string
    readonly sent: number
    readonly received: number
    readonly lost: number
  }

/** A destination on the peer that it asked us to hold (its mailbox is full). */
interface Held {
  overflow: OverflowPolicy
  capacity: number
  /** messages we may still send it (granted by its last Release); 0: held */
  credit: number
  /** local senders waiting for the Release */
  waiters: Array<() => void>
}

/** One of our actors we asked the peer to hold, or gave it a credit of messages. */
interface Holding {
  /** held: bytes the peer sent to it since (in flight when Hold left) */
  excess: number
  /** after a Release: how many messages the peer may send, and how many have arrived */
  granted: number | undefined
  received: number
}

const overflowPolicies: ReadonlySet<string> = new Set(["backpressure", "dropNewest", "dropOldest", "fail"])

interface PendingAsk {
  readonly reply: Reply
  readonly protocol: AnyProtocol
  readonly tag: string
}

/** Everything we know about one peer node (by name). */
export class Peer {
  readonly name: string
  listen: ListenAddress | undefined
  conn: Connection | undefined = undefined
  incarnation: number | undefined = undefined
  protocols: Record<string, string> = {}
  /** which handshake in flight has been admitted ("inbound" / "outbound"), see Router.admit */
  claim: "inbound" | "outbound" | undefined = undefined
  /** a link actor is dialling: buffer sends instead of dropping them */
  dialing = false
  buffer: Array<unknown> = []
  /** the buffer is being sent on a new connection: later sends queue behind it */
  flushing = false
  nextAskId = 1
  readonly pending = new Map<number, PendingAsk>()
  readonly askIds = new Map<Reply, number>()
  /** links between local actors and actors on this peer, key `local|remote` */
  readonly links = new Map<string, { readonly local: Target; readonly remote: ActorRef<any> }>()
  /** monitors of local watchers on actors of this peer, by monitor id */
  readonly watches = new Map<number, { readonly watcher: ActorRef<any>; readonly target: ActorRef<any> }>()
  /** monitors of this peer's watchers on local actors: remote monitor id ↔ local id */
  readonly remoteMonitors = new Map<number, { readonly localId: number; readonly cell: LocalActor }>()
  readonly localToRemote = new Map<number, number>()
  nextRequestId = 1
  readonly requests = new Map<number, (value: unknown) => void>()
  closeWaiters: Array<(reason: string) => void> = []
  /** how the last connection with this peer ended, from our side */
  lastSession: { readonly session: string; readonly sent: number; readonly received: number } | undefined = undefined
  upWaiters: Array<() => void> = []
  /** actors of the peer it asked us to hold (this connection), by id */
  readonly held = new Map<number, Held>()
  /** our actors we asked the peer to hold (this connection), by id */
  readonly holding = new Map<number, Holding>()

  constructor(name: string, listen: ListenAddress | undefined) {
    this.name = name
    this.listen = listen
  }

  get isUp(): boolean {
    return this.conn !== undefined && this.conn.closed === undefined
  }
}

export interface RouterOptions {
  readonly bufferLimit: number
  /** false for a transient client (`advertise: false`): it tells nobody about other members */
  readonly gossip?: boolean | undefined
  /** bytes a held peer may still send to one actor (in flight when Hold left) */
  readonly holdSlackBytes: number
  /** queued bytes past which remote `tellUnsafe`s become dead letters */
  readonly unsafeLimitBytes: number
}

export class Router {
  readonly system: Kernel
  readonly peers = new Map<string, Peer>()
  readonly events: PubSub.PubSub<NodeEvent>
  readonly options: RouterOptions
  /** called with the members a peer knows (the node dials the ones it does not) */
  onMembers: (members: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>) => void = () => {}

  /** simulated partitions: peer name → until (epoch ms) */
  readonly blocked = new Map<string, number>()

  /** Cuts the connection to a peer and refuses it (both directions) for `millis`. */
  partition(name: string, millis: number): void {
    this.blocked.set(name, Date.now() + millis)
    this.peers.get(name)?.conn?.close(`simulated partition for ${millis} ms`)
  }

  /** protocol allowlist for remote spawn, by protocol name */
  readonly spawnable = new Map<string, (name: string | undefined) => Effect.Effect<ActorRef<any>, unknown>>()

  constructor(system: Kernel, options: RouterOptions) {
    this.system = system
    this.options = options
    this.events = Effect.runSync(PubSub.sliding<NodeEvent>(4096))
  }

  peer(name: string, listen?: ListenAddress): Peer {
    let p = this.peers.get(name)
    if (p === undefined) {
      p = new Peer(name, listen)
      this.peers.set(name, p)
    } else if (listen !== undefined && p.listen === undefined) {
      p.listen = listen
    }
    return p
  }

  resolve(address: ActorAddress): Target {
    return new RemoteTarget(this, address)
  }

  refFor(address: ActorAddress): ActorRef<any> {
    return new ActorRef(address, undefined, this.system)
  }

  publish(event: NodeEvent): void {
    PubSub.publishUnsafe(this.events, event)
  }

  // -------------------------------------------------------------------------
  // connection life cycle
  // -------------------------------------------------------------------------

  /**
   * Decides whether a handshake that just authenticated `node` may become the connection to it.
   * At most one connection per pair of nodes: when two handshakes race (both nodes dialled),
   * the connection dialled by the node with the smaller name wins on both sides.
   */
  admit(node: NodeId, outbound: boolean): HandshakeError | undefined {
    const until = this.blocked.get(node.name)
    if (until !== undefined) {
      if (Date.now() < until) {
        return new HandshakeError({ code: "partitioned", message: `${node.name} is cut off by a simulated partition` })
      }
      this.blocked.delete(node.name)
    }
    const peer = this.peer(node.name)
    const me = this.system.nodeId.name
    const dialer = outbound ? me : node.name
    const winner = me < node.name ? me : node.name
    if (peer.isUp) {
      if (peer.incarnation !== node.incarnation) {
        peer.conn!.close(`${node.name} restarted (new incarnation ${node.incarnation})`)
      } else if (peer.conn!.outbound === outbound) {
        // the same dialler again: it found its old connection dead before we did
        peer.conn!.close(`${node.name} reconnected; the old connection is dead`)
      } else if (dialer === winner) {
        peer.conn!.close("replaced by the connection dialled by the node with the smaller name")
      } else {
        return new HandshakeError({ code: "duplicate", message: `already connected to ${node.name}` })
      }
    }
    if (peer.claim !== undefined && peer.claim !== (outbound ? "outbound" : "inbound")) {
      if (dialer !== winner) {
        return new HandshakeError({
          code: "duplicate",
          message: `simultaneous connect with ${node.name}: the connection dialled by ${winner} wins`
        })
      }
    }
    peer.claim = outbound ? "outbound" : "inbound"
    return undefined
  }

  /** A handshake that was admitted failed later: release its claim. */
  release(node: NodeId | undefined, outbound: boolean): void {
    if (node === undefined) return
    const peer = this.peers.get(node.name)
    if (peer !== undefined && peer.claim === (outbound ? "outbound" : "inbound")) peer.claim = undefined
  }

  /** Makes an established connection the one to its peer; false if it lost a race. */
  attach(
    conn: Connection,
    listen: ListenAddress | undefined,
    protocols: Record<string, string>,
    peerPrevious?: { readonly session: string; readonly received: number }
  ): boolean {
    const peer = this.peer(conn.peer.name, listen)
    if (peer.claim !== (conn.outbound ? "outbound" : "inbound")) {
      conn.close("duplicate connection")
      return false
    }
    peer.claim = undefined
    if (peer.isUp) peer.conn!.close("replaced")
    // messages buffered for another (e.g. the old) incarnation must not reach this one:
    // sendBuffered checks every envelope's target incarnation
    const last = peer.lastSession
    const gap = last !== undefined && peerPrevious !== undefined && last.session === peerPrevious.session &&
      last.sent > peerPrevious.received
    peer.conn = conn
    peer.incarnation = conn.peer.incarnation
    peer.protocols = { ...protocols }
    peer.held.clear()
    peer.holding.clear()
    conn.setHandlers({
      onEnvelope: (envelope, bytes) => this.onEnvelope(peer, conn, envelope, bytes),
      onClose: (reason) => this.onClose(peer, conn, reason)
    })
    // What was buffered while connecting goes first, before anything else can send on the new
    // connection: settling a buffered envelope (or reading the first frames, below) can resume a
    // sender synchronously, and its send must queue behind the buffer (per-pair FIFO).
    peer.flushing = true
    while (peer.buffer.length > 0) {
      const buffered = peer.buffer
      peer.buffer = []
      for (const envelope of buffered) this.sendBuffered(peer, conn, envelope)
    }
    peer.flushing = false
    conn.start()
    if (conn.closed !== undefined) return false
    const waiters = peer.upWaiters
    peer.upWaiters = []
    // tell the new peer about the other nodes we know, so that seeds grow into a full mesh
    const members: Array<{ name: string; host: string; port: number }> = []
    for (const other of this.peers.values()) {
      if (other !== peer && other.listen !== undefined) members.push({ name: other.name, ...other.listen })
    }
    if (members.length > 0 && this.options.gossip !== false) conn.send([Kind.Members, members])
    // events last: a subscriber may run synchronously inside publish and must see the new state
    if (gap) {
      this.publish({
        _tag: "LinkGap",
        node: conn.peer,
        session: last!.session,
        sent: last!.sent,
        received: peerPrevious!.received,
        lost: last!.sent - peerPrevious!.received
      })
    }
    this.publish({ _tag: "NodeUp", node: conn.peer, outbound: conn.outbound })
    for (const wake of waiters) wake()
    return true
  }

  private sendBuffered(peer: Peer, conn: Connection, envelope: unknown): void {
    // buffered envelopes were addressed before we knew the incarnation: check it now
    const e = envelope as Array<any>
    const i = targetIndex(e[0])
    const to = i === undefined ? undefined : e[i]
    if (isPending(to)) {
      if (to.address.node.incarnation !== conn.peer.incarnation) return this.refuse(peer, e, to, undefined)
      e[i!] = to.address.id
    }
    conn.send(e)
  }

  /**
   * A buffered envelope that will not be sent: to another incarnation (`unreachable` undefined:
   * dead letter, NoProc, Down/exit NoProc) or because the dial failed (NoRoute, NodeDown,
   * Down/exit NoConnection). Nothing is dropped silently; Unlink, Exit, Demonitor and Stop owe nothing.
   */
  private refuse(peer: Peer, e: Array<any>, to: PendingTarget, unreachable: string | undefined): void {
    const key = formatAddress(to.address)
    const reason = unreachable === undefined ? ExitReason.noproc : ExitReason.noconnection(peer.name)
    switch (e[0]) {
      case Kind.Tell:
        return this.system.deadLetter(
          key,
          e[3],
          unreachable === undefined ? { _tag: "NoSuchActor" } : { _tag: "NoRoute", node: peer.name }
        )
      case Kind.Ask:
        return this.failAsk(
          peer,
          e[4],
          unreachable === undefined ? new NoProc({ actor: key }) : new NodeDown({ node: peer.name, reason: unreachable })
        )
      case Kind.Monitor: {
        const watch = peer.watches.get(e[3])
        if (watch === undefined) return
        peer.watches.delete(e[3])
        return watch.watcher.target.signal(new Down(new MonitorRef(e[3], watch.target), watch.target, reason))
      }
      case Kind.Link: {
        const linkKey = `${formatAddress(e[1])}|${key}`
        const link = peer.links.get(linkKey)
        if (link === undefined) return
        peer.links.delete(linkKey)
        return link.local.exitSignal(link.remote, reason)
      }
    }
  }

  private onClose(peer: Peer, conn: Connection, reason: string): void {
    if (peer.conn !== conn) return
    peer.conn = undefined
    peer.lastSession = { session: conn.session, sent: conn.sent, received: conn.received }
    const node = conn.peer
    const down = new NodeDown({ node: nodeKey(node), reason })
    // pending asks fail now, not at their timeout
    const pending = Array.from(peer.pending.values())
    peer.pending.clear()
    peer.askIds.clear()
    for (const p of pending) p.reply(Exit.fail(down))
    // links across the lost connection fire NoConnection on the local side
    const noconnection = ExitReason.noconnection(node.name)
    const links = Array.from(peer.links.values())
    peer.links.clear()
    for (const { local, remote } of links) local.exitSignal(remote, noconnection)
    // local watchers of remote actors get Down(NoConnection)
    const watches = Array.from(peer.watches.entries())
    peer.watches.clear()
    for (const [id, { watcher, target }] of watches) {
      watcher.target.signal(new Down(new MonitorRef(id, target), target, noconnection))
    }
    // the peer's monitors on our actors are gone with it
    for (const { localId, cell } of peer.remoteMonitors.values()) cell.removeMonitor(localId)
    peer.remoteMonitors.clear()
    peer.localToRemote.clear()
    const requests = Array.from(peer.requests.values())
    peer.requests.clear()
    for (const f of requests) f(down)
    // holds end with the connection: held senders retry (and learn the link is down)
    peer.holding.clear()
    const held = Array.from(peer.held.values())
    peer.held.clear()
    for (const h of held) for (const wake of h.waiters) wake()
    const waiters = peer.closeWaiters
    peer.closeWaiters = []
    for (const f of waiters) f(reason)
    this.fireNodeWatchers(peer.name)
    this.publish({ _tag: "NodeDown", node, reason, sent: conn.sent, received: conn.received })
  }

  private dropBuffer(peer: Peer, reason: string): void {
    const buffered = peer.buffer
    peer.buffer = []
    for (const e of buffered as Array<Array<any>>) {
      const i = targetIndex(e[0])
      const to = i === undefined ? undefined : e[i]
      if (isPending(to)) this.refuse(peer, e, to, reason)
    }
  }

  /** The dialler gave up (connect failed): buffered sends become dead letters / failed asks. */
  dialFailed(peer: Peer, reason: string): void {
    peer.dialing = false
    this.dropBuffer(peer, reason)
  }

  private failAsk(peer: Peer, askId: number, error: unknown): void {
    const p = peer.pending.get(askId)
    if (p === undefined) return
    peer.pending.delete(askId)
    peer.askIds.delete(p.reply)
    p.reply(Exit.fail(error))
  }

  // -------------------------------------------------------------------------
  // outbound
  // -------------------------------------------------------------------------

  /** Sends an envelope to a peer now, or buffers it while the first connection is being made. */
  send(peer: Peer, envelope: Array<unknown>): boolean {
    if (peer.flushing) {
      peer.buffer.push(envelope)
      return true
    }
    const conn = peer.conn
    if (conn !== undefined && conn.closed === undefined) {
      conn.send(envelope)
      return true
    }
    if (peer.dialing && peer.buffer.length < this.options.bufferLimit) {
      peer.buffer.push(envelope)
      return true
    }
    return false
  }

  // node monitors (`ctx.monitorNode`): one-shot callbacks per node name, fired when its connection closes
  private readonly nodeWatchers = new Map<string, Set<() => void>>()

  watchNode(node: string, f: () => void): () => void {
    const peer = this.peers.get(node)
    if (peer === undefined || !peer.isUp) {
      f()
      return () => {}
    }
    let watchers = this.nodeWatchers.get(node)
    if (watchers === undefined) this.nodeWatchers.set(node, watchers = new Set())
    const once = () => f()
    watchers.add(once)
    return () => {
      watchers.delete(once)
    }
  }

  private fireNodeWatchers(node: string): void {
    const watchers = this.nodeWatchers.get(node)
    if (watchers === undefined) return
    this.nodeWatchers.delete(node)
    for (const f of watchers) f()
  }

  /** The address registered as `name` on `node` (undefined: none); fails if the node is not connected. */
  whereis(node: string, name: string): Effect.Effect<ActorAddress | undefined, NodeDown> {
    return Effect.suspend(() => {
      const peer = this.peers.get(node)
      if (peer === undefined || !peer.isUp) return Effect.fail(new NodeDown({ node, reason: "not connected" }))
      return this.request(peer, (id) => [Kind.Lookup, id, name]).pipe(
        Effect.map((found) => {
          const address = (found as Array<unknown>)[2]
          return isAddress(address) ? address as ActorAddress : undefined
        })
      )
    })
  }

  request(peer: Peer, build: (requestId: number) => Array<unknown>): Effect.Effect<unknown, NodeDown> {
    return Effect.callback<unknown, NodeDown>((resume) => {
      const id = peer.nextRequestId++
      peer.requests.set(id, (value) => resume(value instanceof NodeDown ? Effect.fail(value) : Effect.succeed(value)))
      if (!this.send(peer, build(id))) {
        peer.requests.delete(id)
        resume(Effect.fail(new NodeDown({ node: peer.name, reason: "not connected" })))
      }
      return Effect.sync(() => peer.requests.delete(id))
    })
  }

  // -------------------------------------------------------------------------
  // inbound
  // -------------------------------------------------------------------------

  private protocolError(conn: Connection, message: string): void {
    conn.close(`protocol error: ${message}`)
  }

  onEnvelope(peer: Peer, conn: Connection, envelope: unknown, bytes = 0): void {
    if (!Array.isArray(envelope) || typeof envelope[0] !== "number") {
      return this.protocolError(conn, "envelope is not an array with a kind")
    }
    const e = envelope as Array<any>
    switch (e[0]) {
      case Kind.Tell:
        return this.onTell(peer, conn, e, bytes)
      case Kind.Ask:
        return this.onAsk(peer, conn, e, bytes)
      case Kind.Reply:
        return this.onReply(peer, conn, e)
      case Kind.Link:
      case Kind.Unlink:
      case Kind.Exit: {
        if (!isAddress(e[1]) || typeof e[2] !== "number") return this.protocolError(conn, "malformed link signal")
        if (e[1].node.name !== peer.name) return this.protocolError(conn, "link signal from an actor of another node")
        const remote = this.refFor(e[1])
        const cell = this.system.local(e[2])
        const key = (local: string) => `${local}|${remote.key}`
        if (e[0] === Kind.Link) {
          if (cell === undefined || !cell.isAlive) {
            const self = this.refFor({ node: this.system.nodeId, id: e[2], protocol: e[1].protocol })
            return void this.send(peer, [Kind.Exit, self.address, e[1].id, encodeReason(ExitReason.noproc), false])
          }
          peer.links.set(key(cell.self.key), { local: cell, remote })
          return cell.addLink(remote)
        }
        if (cell === undefined) return
        // an exit signal sent by `system.exit` (e[5]) is no link's: the link, if any, stays
        const direct = e[0] === Kind.Exit && e[5] === true
        if (!direct) peer.links.delete(key(cell.self.key))
        if (e[0] === Kind.Unlink) return cell.removeLink(remote)
        const reason = decodeReason(e[3])
        if (reason === undefined) return this.protocolError(conn, "undecodable exit reason")
        return cell.exitSignal(remote, reason, e[4] === true, direct)
      }
      case Kind.Monitor: {
        if (!isAddress(e[1]) || typeof e[2] !== "number" || typeof e[3] !== "number") {
          return this.protocolError(conn, "malformed monitor")
        }
        const watcher = this.refFor(e[1])
        const cell = this.system.local(e[2])
        if (cell === undefined || !cell.isAlive) {
          const actor = { node: this.system.nodeId, id: e[2], protocol: "unknown" }
          return void this.send(peer, [Kind.Down, e[3], actor, encodeReason(ExitReason.noproc)])
        }
        const localId = this.system.newMonitorId()
        peer.remoteMonitors.set(e[3], { localId, cell })
        peer.localToRemote.set(localId, e[3])
        return cell.addMonitor(localId, watcher)
      }
      case Kind.Demonitor: {
        const entry = peer.remoteMonitors.get(e[2])
        if (entry === undefined) return
        peer.remoteMonitors.delete(e[2])
        peer.localToRemote.delete(entry.localId)
        return entry.cell.removeMonitor(entry.localId)
      }
      case Kind.Down: {
        const watch = peer.watches.get(e[1])
        if (watch === undefined) return
        const reason = decodeReason(e[3])
        if (reason === undefined) return this.protocolError(conn, "undecodable exit reason")
        peer.watches.delete(e[1])
        return watch.watcher.target.signal(new Down(new MonitorRef(e[1], watch.target), watch.target, reason))
      }
      case Kind.Stop: {
        const reason = decodeReason(e[2])
        if (typeof e[1] !== "number" || reason === undefined) return this.protocolError(conn, "malformed stop")
        return this.system.local(e[1])?.shutdown(reason)
      }
      case Kind.Spawn:
        return this.onSpawn(peer, e)
      case Kind.Lookup: {
        const cell = typeof e[2] === "string" ? this.system.named(e[2]) : undefined
        return void this.send(peer, [Kind.Found, e[1], cell !== undefined && cell.isAlive ? cell.self.address : null])
      }
      case Kind.Spawned:
      case Kind.Found: {
        const f = peer.requests.get(e[1])
        if (f === undefined) return
        peer.requests.delete(e[1])
        return f(e)
      }
      case Kind.Protocols: {
        if (typeof e[1] !== "object" || e[1] === null) return this.protocolError(conn, "malformed protocol table")
        peer.protocols = { ...peer.protocols, ...e[1] }
        return
      }
      case Kind.Hold: {
        if (typeof e[1] !== "number") return this.protocolError(conn, "malformed hold")
        const overflow = overflowPolicies.has(e[2]) ? e[2] as OverflowPolicy : "backpressure"
        const capacity = typeof e[3] === "number" ? e[3] : 0
        const h = peer.held.get(e[1])
        if (h === undefined) peer.held.set(e[1], { overflow, capacity, credit: 0, waiters: [] })
        else {
          h.overflow = overflow
          h.capacity = capacity
          h.credit = 0
        }
        return
      }
      case Kind.Release: {
        if (typeof e[1] !== "number") return this.protocolError(conn, "malformed release")
        const h = peer.held.get(e[1])
        if (h === undefined) return
        // with a credit: that many messages, then held again until the next Release
        if (typeof e[2] === "number" && e[2] > 0) h.credit = e[2]
        else peer.held.delete(e[1])
        const waiters = h.waiters
        h.waiters = []
        for (const wake of waiters) wake()
        return
      }
      case Kind.Members: {
        if (!Array.isArray(e[1])) return this.protocolError(conn, "malformed member list")
        const members = (e[1] as Array<any>).filter((m) =>
          typeof m?.name === "string" && typeof m?.host === "string" && Number.isInteger(m?.port) && m.port > 0 && m.port < 65536
        )
        return this.onMembers(members)
      }
      default:
        // a kind from a newer version of the protocol: skip it (forward compatibility, so nodes
        // of two versions can run side by side during a rolling upgrade)
        return
    }
  }

  /** Finds the local actor for an inbound message, or says why not. */
  private target(e: Array<any>): { cell: LocalActor; protocol: AnyProtocol } | { reason: string; noproc: boolean } {
    const cell = this.system.local(e[1])
    if (cell === undefined || !cell.isAlive) return { reason: "no such actor", noproc: true }
    const protocol = cell.protocol
    if (protocol.name !== e[2]) {
      return { reason: `actor ${e[1]} speaks ${protocol.name}, not ${String(e[2])}`, noproc: false }
    }
    return { cell, protocol }
  }

  /** Decodes an inbound message with the target protocol's Schema (refs bind to this system). */
  private decodeMessage(protocol: AnyProtocol, message: any): { value: unknown } | { issue: string } {
    const schema = typeof message?._tag === "string" ? protocol.messages[message._tag] : undefined
    if (schema === undefined) return { issue: `unknown message tag ${JSON.stringify(message?._tag)} for ${protocol.name}` }
    const exit = withResolver(this.system, () => decoderFor(schema)(message))
    return Exit.isSuccess(exit) ? { value: exit.value } : { issue: issueOf(exit) }
  }

  private onTell(peer: Peer, conn: Connection, e: Array<any>, bytes: number): void {
    if (typeof e[1] !== "number" || typeof e[2] !== "string") return this.protocolError(conn, "malformed tell")
    if (peer.holding.size !== 0) this.countCredit(peer, conn, e[1])
    const found = this.target(e)
    const recipient = `${e[2]}@${this.system.nodeKey}/${e[1]}`
    if ("reason" in found) {
      return this.system.deadLetter(recipient, e[3], found.noproc ? { _tag: "NoSuchActor" } : { _tag: "InvalidMessage", issue: found.reason })
    }
    const decoded = this.decodeMessage(found.protocol, e[3])
    if ("issue" in decoded) return this.system.deadLetter(recipient, e[3], { _tag: "InvalidMessage", issue: decoded.issue })
    // a full mailbox holds this destination at the sender (Hold); under `backpressure` what was
    // already in flight is accepted, within the slack
    const cell = found.cell
    const result = cell.offer(decoded.value, undefined, undefined)
    if (result === Offer.Full) {
      if (this.inSlack(peer, conn, cell, bytes)) cell.offer(decoded.value, undefined, undefined, true)
      else this.system.deadLetter(recipient, decoded.value, { _tag: "MailboxFull", capacity: cell.capacity })
    } else if (result === Offer.Rejected) {
      // the `fail` policy: a local sender gets MailboxFull; a remote tell has nobody to tell
      this.system.deadLetter(recipient, decoded.value, { _tag: "MailboxFull", capacity: cell.capacity })
    }
    if (cell.mailbox.size >= cell.capacity) this.hold(peer, conn, cell)
  }

  private onAsk(peer: Peer, conn: Connection, e: Array<any>, bytes: number): void {
    if (typeof e[1] !== "number" || typeof e[2] !== "string" || typeof e[4] !== "number") {
      return this.protocolError(conn, "malformed ask")
    }
    if (peer.holding.size !== 0) this.countCredit(peer, conn, e[1])
    const askId: number = e[4]
    const found = this.target(e)
    const actor = `${e[2]}@${this.system.nodeKey}/${e[1]}`
    const replyError = (error: unknown) => this.sendReply(peer, conn, askId, ReplyKind.RuntimeError, error)
    if ("reason" in found) {
      this.system.deadLetter(actor, e[3], found.noproc ? { _tag: "NoSuchActor" } : { _tag: "InvalidMessage", issue: found.reason })
      return replyError(
        found.noproc ? new NoProc({ actor }) : new InvalidMessage({ actor, protocol: String(e[2]), issue: found.reason })
      )
    }
    const decoded = this.decodeMessage(found.protocol, e[3])
    if ("issue" in decoded) {
      this.system.deadLetter(actor, e[3], { _tag: "InvalidMessage", issue: decoded.issue })
      return replyError(new InvalidMessage({ actor, protocol: found.protocol.name, issue: decoded.issue }))
    }
    const tag = (decoded.value as any)._tag as string
    const def = found.protocol.defs[tag]!
    const sender = isAddress(e[5]) ? this.refFor(e[5]) : undefined
    let replied = false
    const reply: Reply = (exit) => {
      if (replied) return
      replied = true
      if (Exit.isSuccess(exit)) {
        if (def._kind !== "ask") return this.sendReply(peer, conn, askId, ReplyKind.Success, null)
        const encoded = encoderFor(def.success)(exit.value)
        if (Exit.isSuccess(encoded)) return this.sendReply(peer, conn, askId, ReplyKind.Success, encoded.value)
        return replyError(new InvalidMessage({ actor, protocol: found.protocol.name, issue: `reply: ${issueOf(encoded)}` }))
      }
      const error = Cause.findErrorOption(exit.cause)
      const value = error._tag === "Some" ? error.value : new ActorStopped({ actor, reason: ExitReason.fromCause(exit.cause) })
      if (isRuntimeError(value)) return replyError(value)
      if (def._kind === "ask") {
        const encoded = encoderFor(def.error)(value)
        if (Exit.isSuccess(encoded)) return this.sendReply(peer, conn, askId, ReplyKind.ProtocolError, encoded.value)
      }
      return replyError(new InvalidMessage({ actor, protocol: found.protocol.name, issue: "the handler failed with an error outside the protocol's error schema" }))
    }
    // optional trailing trace context (older peers send none): the handler's span continues it
    if (e.length > 6) {
      const parent = fromTraceparent(e[6])
      if (parent !== undefined) reply.span = parent
    }
    const cell = found.cell
    const result = cell.offer(decoded.value, reply, sender)
    if (result === Offer.Full) {
      if (this.inSlack(peer, conn, cell, bytes)) cell.offer(decoded.value, reply, sender, true)
      else {
        this.system.deadLetter(actor, decoded.value, { _tag: "MailboxFull", capacity: cell.capacity })
        replyError(new MailboxFull({ actor, capacity: cell.capacity }))
      }
    } else if (result === Offer.Dead) replyError(new NoProc({ actor }))
    else if (result === Offer.Rejected) replyError(new MailboxFull({ actor, capacity: cell.capacity }))
    if (cell.mailbox.size >= cell.capacity) this.hold(peer, conn, cell)
  }

  /**
   * One of our actors' mailbox is full: ask the peer to hold it (once per connection and actor)
   * and release it when the mailbox has drained to half its capacity, or the actor stopped.
   * Reading goes on: other actors' traffic and heartbeats are never held behind a slow actor.
   */
  private hold(peer: Peer, conn: Connection, cell: LocalActor): void {
    const id = cell.self.address.id
    let holding = peer.holding.get(id)
    if (holding !== undefined && holding.granted === undefined) return // held already
    if (holding === undefined) {
      holding = { excess: 0, granted: undefined, received: 0 }
      peer.holding.set(id, holding)
    } else {
      holding.granted = undefined
      holding.excess = 0
    }
    conn.send([Kind.Hold, id, cell.overflow, cell.capacity])
    const h = holding
    cell.onLowWater(() => {
      if (peer.holding.get(id) !== h || h.granted !== undefined) return // that connection is gone
      if (peer.conn !== conn || conn.closed !== undefined) return void peer.holding.delete(id)
      if (!cell.isAlive) {
        // nothing more to hold: sends to it now fail as to any stopped actor
        peer.holding.delete(id)
        return conn.send([Kind.Release, id])
      }
      // a credit of what fits now: the peer sends that many, then waits for the next Release,
      // so nothing more is in flight past the capacity (HTTP/2's window)
      h.granted = cell.capacity - cell.mailbox.size
      h.received = 0
      conn.send([Kind.Release, id, h.granted])
    })
  }

  /**
   * A tell or ask from a peer with a credit for `id`: counts it. When the credit is used up the
   * peer is held again (a Hold, for a peer that keeps no count) — or, if the actor has caught up
   * (half empty), released without a credit, back to plain sending.
   */
  private countCredit(peer: Peer, conn: Connection, id: number): void {
    const holding = peer.holding.get(id)
    if (holding === undefined || holding.granted === undefined || ++holding.received < holding.granted) return
    const cell = this.system.local(id)
    if (cell === undefined || !cell.isAlive || cell.mailbox.size <= cell.capacity >> 1) {
      peer.holding.delete(id)
      return conn.send([Kind.Release, id])
    }
    this.hold(peer, conn, cell)
  }

  /**
   * A message for a full `backpressure` mailbox: accepted (it was in flight when Hold left) while
   * the peer's bytes to this actor stay within the slack; past it the peer is not honouring Hold
   * (e.g. a client that ignores the envelope) and the message is refused.
   */
  private inSlack(peer: Peer, conn: Connection, cell: LocalActor, bytes: number): boolean {
    const id = cell.self.address.id
    let holding = peer.holding.get(id)
    if (holding === undefined || holding.granted !== undefined) {
      this.hold(peer, conn, cell)
      holding = peer.holding.get(id)!
    }
    holding.excess += bytes
    return holding.excess <= this.options.holdSlackBytes
  }

  private sendReply(peer: Peer, conn: Connection, askId: number, kind: number, value: unknown): void {
    if (peer.conn !== conn || conn.closed !== undefined) return // the asker learns NodeDown on its side
    if (kind === ReplyKind.RuntimeError) {
      const encoded = encoderFor(AskErrorSchema)(value)
      value = Exit.isSuccess(encoded) ? encoded.value : { _tag: "NoProc", actor: "unknown" }
    }
    conn.send([Kind.Reply, askId, kind, value])
  }

  private onReply(peer: Peer, conn: Connection, e: Array<any>): void {
    if (typeof e[1] !== "number" || typeof e[2] !== "number") return this.protocolError(conn, "malformed reply")
    const pending = peer.pending.get(e[1])
    if (pending === undefined) return // the ask timed out or was interrupted
    peer.pending.delete(e[1])
    peer.askIds.delete(pending.reply)
    const def = pending.protocol.defs[pending.tag]!
    const schema = e[2] === ReplyKind.Success
      ? (def._kind === "ask" ? def.success : undefined)
      : e[2] === ReplyKind.ProtocolError
      ? (def._kind === "ask" ? def.error : undefined)
      : AskErrorSchema
    if (schema === undefined) return pending.reply(Exit.void)
    const exit = withResolver(this.system, () => decoderFor(schema)(e[3]))
    if (Exit.isFailure(exit)) {
      return pending.reply(
        Exit.fail(new InvalidMessage({ actor: peer.name, protocol: pending.protocol.name, issue: `reply: ${issueOf(exit)}` }))
      )
    }
    pending.reply(e[2] === ReplyKind.Success ? Exit.succeed(exit.value) : Exit.fail(exit.value))
  }

  private onSpawn(peer: Peer, e: Array<any>): void {
    const [, requestId, module, name] = e
    const spawn = typeof module === "string" ? this.spawnable.get(module) : undefined
    if (spawn === undefined) {
      return void this.send(peer, [Kind.Spawned, requestId, null, `module ${JSON.stringify(module)} is not spawnable on ${this.system.nodeId.name}`])
    }
    Effect.runFork(
      spawn(typeof name === "string" ? name : undefined).pipe(
        Effect.match({
          onSuccess: (ref) => this.send(peer, [Kind.Spawned, requestId, ref.address, null]),
          onFailure: (error) => this.send(peer, [Kind.Spawned, requestId, null, String((error as any)?.message ?? error)])
        })
      )
    )
  }
}

const isRuntimeError = (u: unknown): boolean =>
  u instanceof NoProc || u instanceof ActorStopped || u instanceof MailboxFull || u instanceof InvalidMessage ||
  u instanceof NodeDown || u instanceof ProtocolMismatch || u instanceof AskTimeout

/** A buffered envelope's target, resolved to its id once the incarnation is known. */
interface PendingTarget {
  readonly address: ActorAddress
}

const isPending = (u: unknown): u is PendingTarget => typeof u === "object" && u !== null

/** Where an envelope names the actor it is for (see `Envelope.ts`), for the kinds that do. */
const targetIndex = (kind: number): 1 | 2 | undefined =>
  kind === Kind.Tell || kind === Kind.Ask || kind === Kind.Demonitor || kind === Kind.Stop
    ? 1
    : kind === Kind.Link || kind === Kind.Unlink || kind === Kind.Exit || kind === Kind.Monitor
    ? 2
    : undefined

/** Delivery to an actor on another node. */
export class RemoteTarget implements Target {
  /** the remote mailbox's capacity, once its node has told us (a Hold): for `MailboxFull` errors */
  capacity = Infinity
  private readonly router: Router
  private readonly address: ActorAddress
  private readonly key: string
  /** the last message encoded by `validate`, reused by the following `offer` */
  private lastMessage: unknown = undefined
  private lastEncoded: unknown = undefined

  constructor(router: Router, address: ActorAddress) {
    this.router = router
    this.address = address
    this.key = formatAddress(address)
  }

  private get peer(): Peer {
    return this.router.peer(this.address.node.name)
  }

  get isAlive(): boolean {
    const peer = this.router.peers.get(this.address.node.name)
    return peer !== undefined && peer.isUp && peer.incarnation === this.address.node.incarnation
  }

  private get self(): ActorRef<any> {
    return new ActorRef(this.address, this, this.router.system)
  }

  /** The Hold the peer put on this actor, if any (only for this incarnation, while connected). */
  private held(peer: Peer): Held | undefined {
    if (peer.held.size === 0 || peer.incarnation !== this.address.node.incarnation || !peer.isUp) return undefined
    return peer.held.get(this.address.id)
  }

  /** Encodes with the protocol Schema (so a remote send is always validated) and checks fingerprints. */
  validate(message: unknown): InvalidMessage | ProtocolMismatch | undefined {
    // a held destination under a dropping policy: the send is refused by `offer`, never encoded
    const peer = this.router.peers.get(this.address.node.name)
    if (peer !== undefined && peer.held.size !== 0) {
      const held = this.held(peer)
      if (held !== undefined && held.credit === 0 && held.overflow !== "backpressure") return undefined
    }
    const protocol = ProtocolRegistry.get(this.address.protocol)
    if (protocol === undefined) {
      return new InvalidMessage({
        actor: this.key,
        protocol: this.address.protocol,
        issue: `protocol ${this.address.protocol} is not known in this process (import its module)`
      })
    }
    const target = this.peer
    if (target.isUp) {
      const remote = target.protocols[protocol.name]
      const local = ProtocolRegistry.fingerprint(protocol)
      if (remote !== local) {
        return new ProtocolMismatch({ protocol: protocol.name, node: target.name, local, ...(remote === undefined ? {} : { remote }) })
      }
    }
    const tag = (message as any)?._tag
    const schema = typeof tag === "string" ? protocol.messages[tag] : undefined
    if (schema === undefined) {
      return new InvalidMessage({ actor: this.key, protocol: protocol.name, issue: `unknown message tag ${JSON.stringify(tag)}` })
    }
    const exit = encoderFor(schema)(message)
    if (Exit.isFailure(exit)) {
      const issue = issueOf(exit)
      this.router.system.deadLetter(this.key, message, { _tag: "InvalidMessage", issue })
      return new InvalidMessage({ actor: this.key, protocol: protocol.name, issue })
    }
    this.lastMessage = message
    this.lastEncoded = exit.value
    return undefined
  }

  private encoded(message: unknown): unknown {
    if (this.lastMessage === message) {
      const encoded = this.lastEncoded
      this.lastMessage = this.lastEncoded = undefined
      return encoded
    }
    return this.validate(message) === undefined ? this.encoded(message) : undefined
  }

  /** The id to put in the envelope: now if the incarnation is known, at attach time otherwise. */
  private to(peer: Peer): number | PendingTarget | undefined {
    if (peer.isUp) return peer.incarnation === this.address.node.incarnation ? this.address.id : undefined
    return { address: this.address }
  }

  /**
   * A send to a destination the peer holds (its mailbox is full), before any encoding: as its
   * overflow policy would have it there. Under `backpressure` a `tell`/`ask` waits for the
   * Release, and a `tellUnsafe` (which cannot wait) becomes a dead letter (`Overloaded`).
   */
  private offerHeld(held: Held, message: unknown, reply: Reply | undefined, force: boolean | undefined): Offer {
    this.lastMessage = this.lastEncoded = undefined
    this.capacity = held.capacity
    const system = this.router.system
    switch (held.overflow) {
      case "backpressure":
        if (!force) return Offer.Full
        system.deadLetter(this.key, message, {
          _tag: "Overloaded",
          node: this.address.node.name,
          detail: "the actor's mailbox is full and the node asked to hold sends to it"
        })
        return Offer.Dropped
      case "fail":
        if (reply === undefined) return Offer.Rejected
        reply(Exit.fail(new MailboxFull({ actor: this.key, capacity: held.capacity })))
        return Offer.Dropped
      default:
        system.deadLetter(this.key, message, { _tag: "MailboxFull", capacity: held.capacity })
        reply?.(Exit.fail(new MailboxFull({ actor: this.key, capacity: held.capacity })))
        return Offer.Dropped
    }
  }

  offer(message: unknown, reply: Reply | undefined, sender: ActorRef<any> | undefined, force?: boolean): Offer {
    const peer = this.peer
    let held: Held | undefined
    if (peer.held.size !== 0) {
      held = this.held(peer)
      if (held !== undefined && held.credit === 0) return this.offerHeld(held, message, reply, force)
    }
    const encoded = this.encoded(message)
    if (encoded === undefined) {
      reply?.(Exit.fail(new InvalidMessage({ actor: this.key, protocol: this.address.protocol, issue: "message does not match its protocol" })))
      return Offer.Dead
    }
    const to = this.to(peer)
    if (to === undefined) {
      // addressed to another incarnation of the node: refused, never delivered to its successor
      this.router.system.deadLetter(this.key, message, { _tag: "NoSuchActor" })
      reply?.(Exit.fail(new NoProc({ actor: this.key })))
      return Offer.Dead
    }
    const conn = peer.conn
    if (conn !== undefined && conn.isFull) {
      if (!force) return Offer.Full
      if (reply === undefined && conn.queuedBytes > this.router.options.unsafeLimitBytes) {
        // a `tellUnsafe` cannot wait: past the limit it is refused rather than queued without bound
        this.router.system.deadLetter(this.key, message, {
          _tag: "Overloaded",
          node: peer.name,
          detail: `more than ${this.router.options.unsafeLimitBytes} bytes queued for the node`
        })
        return Offer.Dropped
      }
    }
    let envelope: Array<unknown>
    if (reply === undefined) {
      envelope = [Kind.Tell, to, this.address.protocol, encoded]
    } else {
      const askId = peer.nextAskId++
      const protocol = ProtocolRegistry.get(this.address.protocol)!
      peer.pending.set(askId, { reply, protocol, tag: (message as any)._tag })
      peer.askIds.set(reply, askId)
      const span = reply.span
      envelope = span === undefined
        ? [Kind.Ask, to, this.address.protocol, encoded, askId, sender?.address ?? null]
        : [Kind.Ask, to, this.address.protocol, encoded, askId, sender?.address ?? null, toTraceparent(span)]
    }
    if (this.router.send(peer, envelope)) {
      // counted only once sent: the receiver counts what arrives
      if (held !== undefined) held.credit--
      return Offer.Ok
    }
    this.router.system.deadLetter(this.key, message, { _tag: "NoRoute", node: peer.name })
    if (reply !== undefined) {
      const askId = peer.askIds.get(reply)!
      peer.pending.delete(askId)
      peer.askIds.delete(reply)
      reply(Exit.fail(new NodeDown({ node: peer.name, reason: "not connected" })))
    }
    return Offer.Dead
  }

  cancelAsk(reply: Reply): void {
    const peer = this.router.peers.get(this.address.node.name)
    const id = peer?.askIds.get(reply)
    if (peer === undefined || id === undefined) return
    peer.askIds.delete(reply)
    peer.pending.delete(id)
  }

  waitForSpace(wake: () => void): () => void {
    const peer = this.peer
    const held = this.held(peer)
    if (held !== undefined && held.credit === 0) {
      const waiters = held.waiters
      waiters.push(wake)
      return () => {
        const i = waiters.indexOf(wake)
        if (i >= 0) waiters.splice(i, 1)
      }
    }
    const conn = peer.conn
    if (conn === undefined) {
      queueMicrotask(wake)
      return () => {}
    }
    return conn.waitForDrain(wake)
  }

  /** A Down for a remote watcher (from a local actor it monitors). */
  signal(message: Down | ExitSignal): void {
    if (message._tag !== "Down") return
    const peer = this.peer
    const remoteId = peer.localToRemote.get(message.monitor.id)
    if (remoteId === undefined) return
    peer.localToRemote.delete(message.monitor.id)
    peer.remoteMonitors.delete(remoteId)
    this.router.send(peer, [Kind.Down, remoteId, message.actor.address, encodeReason(message.reason)])
  }

  // Signals are addressed like messages (`to`): one for another incarnation of the node (an
  // actor of its predecessor) is never sent, lest it reach the successor's actor with that id.

  exitSignal(from: ActorRef<any>, reason: ExitReason.ExitReason, untrappable?: boolean, direct?: boolean): void {
    const peer = this.peer
    if (direct !== true) peer.links.delete(`${from.key}|${this.key}`)
    const to = this.to(peer)
    if (to === undefined) return // that incarnation is gone
    const envelope = [Kind.Exit, from.address, to, encodeReason(reason), untrappable === true]
    if (direct === true) envelope.push(true)
    if (!this.router.send(peer, envelope)) {
      // nothing to tell: the connection is gone, and the remote side saw NoConnection
    }
  }

  addLink(from: ActorRef<any>): void {
    const peer = this.peer
    const local = from.target
    const to = this.to(peer)
    if (to === undefined) return local.exitSignal(this.self, ExitReason.noproc)
    peer.links.set(`${from.key}|${this.key}`, { local, remote: this.self })
    if (!this.router.send(peer, [Kind.Link, from.address, to])) {
      peer.links.delete(`${from.key}|${this.key}`)
      local.exitSignal(this.self, ExitReason.noconnection(peer.name))
    }
  }

  removeLink(from: ActorRef<any>): void {
    const peer = this.peer
    peer.links.delete(`${from.key}|${this.key}`)
    const to = this.to(peer)
    if (to !== undefined) this.router.send(peer, [Kind.Unlink, from.address, to])
  }

  addMonitor(id: number, watcher: ActorRef<any>): void {
    const peer = this.peer
    const self = this.self
    const to = this.to(peer)
    if (to === undefined) {
      return watcher.target.signal(new Down(new MonitorRef(id, self), self, ExitReason.noproc))
    }
    peer.watches.set(id, { watcher, target: self })
    if (!this.router.send(peer, [Kind.Monitor, watcher.address, to, id])) {
      peer.watches.delete(id)
      watcher.target.signal(new Down(new MonitorRef(id, self), self, ExitReason.noconnection(peer.name)))
    }
  }

  removeMonitor(id: number): void {
    const peer = this.peer
    if (!peer.watches.delete(id)) return
    const to = this.to(peer)
    if (to !== undefined) this.router.send(peer, [Kind.Demonitor, to, id])
  }

  shutdown(reason: ExitReason.ExitReason, onExit?: (reason: ExitReason.ExitReason) => void): void {
    if (onExit !== undefined) this.onExit(onExit)
    const to = this.to(this.peer)
    if (to !== undefined) this.router.send(this.peer, [Kind.Stop, to, encodeReason(reason)])
  }

  /** Exit notification for a remote actor: a monitor whose watcher is a callback. */
  onExit(f: (reason: ExitReason.ExitReason) => void): () => void {
    const id = this.router.system.newMonitorId()
    let done = false
    const watcher = new ActorRef(
      { node: this.router.system.nodeId, id: -id, protocol: "telex/ExitObserver" },
      new CallbackTarget((down) => {
        if (!done) {
          done = true
          f(down.reason)
        }
      }),
      undefined
    )
    this.addMonitor(id, watcher)
    return () => {
      done = true
      this.removeMonitor(id)
    }
  }
}

/** A pseudo-target that turns a `Down` into a callback (exit observers of remote actors). */
class CallbackTarget implements Target {
  readonly capacity = 0
  readonly isAlive = true
  private readonly f: (down: Down) => void
  constructor(f: (down: Down) => void) {
    this.f = f
  }
  validate() {
    return undefined
  }
  offer(): Offer {
    return Offer.Dead
  }
  waitForSpace(wake: () => void) {
    queueMicrotask(wake)
    return () => {}
  }
  signal(message: Down | ExitSignal) {
    if (message._tag === "Down") this.f(message)
  }
  exitSignal() {}
  addLink() {}
  removeLink() {}
  addMonitor() {}
  removeMonitor() {}
  shutdown() {}
  onExit() {
    return () => {}
  }
}
