/**
 * Peers and admission: what a node knows about each other node (by name), which handshake may
 * become the connection to it, and what happens when that connection is made or lost.
 *
 * A connection is to one incarnation of a node, and there is at most one per pair of nodes.
 * When it is lost every piece of state that lives with it ends at once: pending asks and
 * requests fail with `NodeDown`, links fire `NoConnection`, monitors deliver
 * `Down(NoConnection)`, holds are lifted (held senders retry and learn the link is down) — except
 * when the connection is replaced by a new one to the same incarnation (see `flow.ts`). Lookups
 * in flight on a connection closed for a new one (of any incarnation) are sent again on it
 * (see `requests.ts`).
 *
 * The per-peer state of each concern lives with the code of that concern: the outbox in
 * `writer.ts`, pending asks in `remoteTarget.ts`, links and monitors in `watch.ts`, spawn and
 * lookup requests in `requests.ts`, holds and credits in `flow.ts`.
 *
 * @internal
 */
import { NodeDown } from "../../actors/ActorError.ts"
import * as ProtocolRegistry from "../../actors/ProtocolRegistry.ts"
import { type NodeId, nodeKey } from "../../actors/ActorRef.ts"
import type { Connection } from "../Connection.ts"
import { Kind } from "../Envelope.ts"
import type { ListenAddress } from "../Handshake.ts"
import { realTimers, type Timers } from "../Network.ts"
import { HandshakeError } from "../TransportError.ts"
import { PeerFlow, resumeHeld, startHolds, wakeSliced } from "./flow.ts"
import { PendingAsks } from "./remoteTarget.ts"
import { PeerRequests } from "./requests.ts"
import type { Router } from "./router.ts"
import { PeerWatch } from "./watch.ts"
import { flushBuffer, Outbox } from "./writer.ts"
import { WaitQueue } from "../../internal/WaitQueue.ts"

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

/** Everything we know about one peer node (by name). */
export class Peer {
  readonly name: string
  listen: ListenAddress | undefined
  conn: Connection | undefined = undefined
  incarnation: number | undefined = undefined
  /** the peer's protocol table: name → fingerprint (a later `Protocols` envelope's values are unchecked) */
  protocols: Record<string, unknown> = {}
  /** which handshake in flight has been admitted ("inbound" / "outbound"), see `admit` */
  claim: "inbound" | "outbound" | undefined = undefined
  /** our dial of the peer has connected and is in its handshake (see `admit`) */
  dialHandshake = false
  /** how the last connection with this peer ended, from our side */
  lastSession: { readonly session: string; readonly sent: number; readonly received: number } | undefined = undefined
  /** lookups, spawns and connects waiting for the peer to come up (a WaitQueue: each gives up in constant time) */
  readonly upWaiters = new WaitQueue()
  /** the link actor waiting to dial this peer again: woken when a connection comes up */
  redialWaiter: (() => void) | undefined = undefined
  closeWaiters: Array<(reason: string) => void> = []
  /** the connection is being closed for a new one to the same incarnation (see `PeerFlow.connectionLost`) */
  replacing = false
  /** the connection is being closed for a new one, of any incarnation, admitted or attached (see `supersede`) */
  superseding = false
  /** dropped from the router's table (see `Router.idle`): the name's peer, if any, is another object */
  retired = false
  readonly outbox = new Outbox()
  readonly asks = new PendingAsks()
  readonly watch = new PeerWatch()
  readonly requests = new PeerRequests()
  readonly flow: PeerFlow

  constructor(name: string, listen: ListenAddress | undefined, timers: Timers = realTimers) {
    this.name = name
    this.listen = listen
    this.flow = new PeerFlow(timers)
  }

  get isUp(): boolean {
    return this.conn !== undefined && this.conn.closed === undefined
  }
}

/**
 * Decides whether a handshake that just authenticated `node` may become the connection to it.
 * At most one connection per pair of nodes: when two handshakes race (both nodes dialled),
 * the connection dialled by the node with the smaller name wins on both sides. The node with the
 * smaller name refuses the other's connection while its own is in the handshake, even before it
 * knows whom it reached (as Erlang's `net_kernel` refuses an inbound setup while its own is
 * pending): admitted, the losing connection could come up on both sides, be used and be listed
 * up by `peers()`, and then be closed by the winner a moment later.
 */
export const admit = (router: Router, node: NodeId, outbound: boolean): HandshakeError | undefined => {
  const until = router.blocked.get(node.name)
  if (until !== undefined) {
    if (router.options.timers.now() < until) {
      return new HandshakeError({ code: "partitioned", message: `${node.name} is cut off by a simulated partition` })
    }
    router.blocked.delete(node.name)
  }
  const peer = router.peer(node.name)
  const me = router.system.nodeId.name
  const dialer = outbound ? me : node.name
  const winner = me < node.name ? me : node.name
  if (peer.isUp) {
    if (peer.incarnation !== node.incarnation) {
      supersede(peer, `${node.name} restarted (new incarnation ${node.incarnation})`, false)
    } else if (peer.conn!.outbound === outbound) {
      // the same dialler again: it found its old connection dead before we did
      supersede(peer, `${node.name} reconnected; the old connection is dead`, true)
    } else if (dialer === winner) {
      supersede(peer, "replaced by the connection dialled by the node with the smaller name", true)
    } else {
      return new HandshakeError({ code: "duplicate", message: `already connected to ${node.name}` })
    }
  }
  if (!outbound && peer.dialHandshake && winner === me && !peer.isUp) {
    return new HandshakeError({
      code: "duplicate",
      message: `simultaneous connect with ${node.name}: the connection dialled by ${winner} wins`
    })
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

/**
 * Closes the connection to a peer for a new one that has been admitted (or attached); one to the
 * same incarnation (`replacing`): the peer is not down.
 */
const supersede = (peer: Peer, reason: string, replacing: boolean): void => {
  peer.replacing = replacing
  peer.superseding = true
  try {
    peer.conn!.close(reason)
  } finally {
    peer.replacing = false
    peer.superseding = false
  }
}

/** A handshake that was admitted failed later: release its claim (and what waited for it). */
export const release = (router: Router, node: NodeId | undefined, outbound: boolean): void => {
  if (node === undefined) return
  const peer = router.peers.get(node.name)
  if (peer !== undefined && peer.claim === (outbound ? "outbound" : "inbound")) {
    peer.claim = undefined
    if (!peer.isUp) {
      peer.flow.giveUp()
      peer.requests.giveUp(new NodeDown({ node: nodeKey(node), reason: "the new connection did not come up" }))
      router.idle(peer)
    }
  }
}

/** Makes an established connection the one to its peer; false if it lost a race. */
export const attach = (
  router: Router,
  conn: Connection,
  listen: ListenAddress | undefined,
  protocols: Record<string, string>,
  peerPrevious?: { readonly session: string; readonly received: number },
  holds?: { readonly sent: ReadonlyArray<number>; readonly received: ReadonlyArray<ReadonlyArray<unknown>> },
  protocolsSent?: Readonly<Record<string, string>>
): boolean => {
  const peer = router.peer(conn.peer.name, listen)
  if (peer.claim !== (conn.outbound ? "outbound" : "inbound")) {
    conn.close("duplicate connection")
    return false
  }
  peer.claim = undefined
  if (peer.isUp) supersede(peer, "replaced", peer.incarnation === conn.peer.incarnation)
  const last = peer.lastSession
  const gap = last !== undefined && peerPrevious !== undefined && last.session === peerPrevious.session &&
    last.sent > peerPrevious.received
  const sameIncarnation = peer.incarnation === conn.peer.incarnation
  peer.conn = conn
  router.active(peer)
  peer.incarnation = conn.peer.incarnation
  peer.protocols = { ...protocols }
  const kept = peer.flow.attached()
  startHolds(router, peer, conn, holds?.sent ?? [], holds?.received ?? [])
  if (protocolsSent !== undefined) advertiseSince(conn, protocolsSent)
  conn.setHandlers({
    // through the router, so that its transport tests can observe inbound traffic
    onEnvelope: (envelope, bytes) => router.onEnvelope(peer, conn, envelope, bytes),
    onClose: (reason) => closed(router, peer, conn, reason)
  })
  // What was buffered while connecting goes first, before anything else can send on the new
  // connection: settling a buffered envelope (or reading the first frames, below) can resume a
  // sender synchronously, and its send must queue behind the buffer (per-pair FIFO).
  flushBuffer(router, peer, conn)
  peer.requests.resend(router, peer)
  resumeHeld(peer, kept, sameIncarnation)
  peer.flow.dialEnded()
  conn.start()
  if (conn.closed !== undefined) return false
  // tell the new peer about the other nodes we are connected to, so that seeds grow into a full
  // mesh (a node that left, or is unreachable from here, is not passed on)
  const members: Array<{ name: string; host: string; port: number }> = []
  for (const other of router.peers.values()) {
    if (other !== peer && other.listen !== undefined && other.isUp) members.push({ name: other.name, ...other.listen })
  }
  if (members.length > 0 && router.options.gossip !== false) conn.send([Kind.Members, members])
  // events last: a subscriber may run synchronously inside publish and must see the new state
  if (gap) {
    router.publish({
      _tag: "LinkGap",
      node: conn.peer,
      session: last!.session,
      sent: last!.sent,
      received: peerPrevious!.received,
      lost: last!.sent - peerPrevious!.received
    })
  }
  router.publish({ _tag: "NodeUp", node: conn.peer, outbound: conn.outbound })
  // a slice per turn: each wait resumed sends its request at once (50 000 lookups waiting for a
  // peer that came up held the event loop for 0.4-0.5 s)
  wakeSliced(peer.upWaiters, router.options.timers)
  const redial = peer.redialWaiter
  peer.redialWaiter = undefined
  redial?.()
  return true
}

/**
 * Protocols registered in this process after our READY listed `sent`, and before the connection
 * was attached (the registry's listener reaches attached peers only): advertised now, before
 * anything is read from the connection or sent on it.
 */
const advertiseSince = (conn: Connection, sent: Readonly<Record<string, string>>): void => {
  const table = ProtocolRegistry.table()
  let since: Record<string, string> | undefined
  for (const name of Object.keys(table)) {
    if (sent[name] !== table[name]) (since ??= {})[name] = table[name]!
  }
  if (since !== undefined) conn.send([Kind.Protocols, since])
}

/** The connection to a peer ended: everything that lived with it ends now, not at a timeout. */
const closed = (router: Router, peer: Peer, conn: Connection, reason: string): void => {
  if (peer.conn !== conn) return
  peer.conn = undefined
  peer.lastSession = { session: conn.session, sent: conn.sent, received: conn.received }
  const node = conn.peer
  const down = new NodeDown({ node: nodeKey(node), reason })
  peer.asks.failAll(down)
  peer.watch.connectionLost(node.name)
  if (peer.superseding) peer.requests.superseded(down, router.options.timers, router.options.replaceGraceMillis)
  else peer.requests.failAll(down)
  peer.flow.connectionLost(node.incarnation, peer.replacing, router.options.timers, router.options.replaceGraceMillis)
  const waiters = peer.closeWaiters
  peer.closeWaiters = []
  for (const f of waiters) f(reason)
  router.nodeWatchers.fire(peer.name)
  router.publish({ _tag: "NodeDown", node, reason, sent: conn.sent, received: conn.received })
  router.idle(peer)
}

/** Cuts the connection to a peer and refuses it (both directions) for `millis`. */
export const partition = (router: Router, name: string, millis: number): void => {
  // on the transport's monotonic clock: a step of the wall clock neither ends nor prolongs it
  router.blocked.set(name, router.options.timers.now() + millis)
  router.peers.get(name)?.conn?.close(`simulated partition for ${millis} ms`)
}
