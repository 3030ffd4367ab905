/**
 * The router: a node's remote layer. Every remote address resolves to a `RemoteTarget` that
 * encodes and queues onto the connection to its node, and every inbound envelope is dispatched
 * from here. The router holds what the whole layer shares (the peers by name, the node's events,
 * its options); each concern is in a file of its own:
 *
 * - `peers.ts`: peer state, connection admission, what a new or lost connection changes;
 * - `writer.ts`: the outbound writer and the outbox of a peer being dialled;
 * - `inbound.ts`: inbound dispatch, message and reply decoding;
 * - `watch.ts`: links and monitors across nodes, node monitors;
 * - `requests.ts`: remote spawn and lookup;
 * - `flow.ts`: per-destination flow control (`Hold`/`Release`);
 * - `remoteTarget.ts`: the remote target and its pending asks.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import { type ActorAddress, ActorRef, type NodeId } from "../../actors/ActorRef.ts"
import type { Kernel, RemoteResolver, Target } from "../../actors/Kernel.ts"
import type { Connection } from "../Connection.ts"
import type { ListenAddress } from "../Handshake.ts"
import type { Timers } from "../Network.ts"
import type { HandshakeError } from "../TransportError.ts"
import { dispatch } from "./inbound.ts"
import * as Peers from "./peers.ts"
import { type NodeEvent, Peer } from "./peers.ts"
import { RemoteTarget } from "./remoteTarget.ts"
import * as Requests from "./requests.ts"
import type { NodeDown } from "../../actors/ActorError.ts"
import { NodeWatchers } from "./watch.ts"
import * as Writer from "./writer.ts"

export type { NodeEvent } from "./peers.ts"

export interface Member {
  readonly name: string
  readonly host: string
  readonly port: number
}

export interface RouterOptions {
  readonly bufferLimit: number
  /** false for a transient client (`advertise: false`): it tells nobody about other members */
  readonly gossip?: boolean | undefined
  /** bytes a held peer may still send to one actor (in flight when Hold left) */
  readonly holdSlackBytes: number
  /** the clock for the wait of held senders across a replaced connection */
  readonly timers: Timers
  /** how long senders held on a replaced connection wait for the new one (see `flow.ts`) */
  readonly replaceGraceMillis: number
  /** queued bytes past which remote `tellUnsafe`s become dead letters */
  readonly unsafeLimitBytes: number
  /** queued bytes past which remote `tell`s and `ask`s wait (a connection's, or the outbox of a dial) */
  readonly highWaterBytes: number
  /** protocol allowlist for remote spawn, by protocol name */
  readonly spawnable: ReadonlyMap<string, (name: string | undefined) => Effect.Effect<ActorRef<any>, unknown>>
  /** called with the members a peer knows (the node dials the ones it does not) */
  readonly onMembers: (members: ReadonlyArray<Member>) => void
  /** whether a link of this node dials the peer of that name (see `Router.idle`) */
  readonly dials?: ((name: string) => boolean) | undefined
}

/**
 * Whether nothing is waiting on or kept for a peer that is not connected: no handshake admitted,
 * no dial, nothing buffered, held, requested, linked or watched, no wait for it to come up.
 */
const dormant = (p: Peer): boolean =>
  !p.isUp && p.claim === undefined && !p.dialHandshake && !p.outbox.dialing &&
  p.outbox.buffer.length === 0 && p.redialWaiter === undefined && p.upWaiters.size === 0 && p.flow.held.size === 0 &&
  p.flow.dialWaiters.size === 0 && p.requests.pending.size === 0 && p.watch.links.size === 0 &&
  p.watch.watches.size === 0 && p.closeWaiters.length === 0

export class Router implements RemoteResolver {
  readonly system: Kernel
  readonly options: RouterOptions
  readonly peers = new Map<string, Peer>()
  readonly events: PubSub.PubSub<NodeEvent>
  readonly spawnable: RouterOptions["spawnable"]
  readonly nodeWatchers = new NodeWatchers()
  /** simulated partitions: peer name → until (`options.timers.now()` ms) */
  readonly blocked = new Map<string, number>()
  /** how many peers no link dials, and not connected, are remembered at most (see `idle`) */
  maxIdlePeers = 1024
  /** peers no link dials that are not connected (clients gone, nodes that dialled us), oldest first */
  private readonly idlePeers = new Set<Peer>()

  constructor(system: Kernel, options: RouterOptions) {
    this.system = system
    this.options = options
    this.spawnable = options.spawnable
    this.events = Effect.runSync(PubSub.sliding<NodeEvent>(4096))
  }

  peer(name: string, listen?: ListenAddress): Peer {
    let p = this.peers.get(name)
    if (p === undefined) {
      p = new Peer(name, listen, this.options.timers)
      this.peers.set(name, p)
    } else if (listen !== undefined && p.listen === undefined) {
      p.listen = listen
    }
    return p
  }

  /**
   * A peer for a node name this router has no peer for, kept out of its table (see
   * `RemoteTarget`): not connected, not dialled, so nothing sent to it is queued or kept.
   */
  outsider(name: string): Peer {
    return new Peer(name, undefined, this.options.timers)
  }

  /**
   * A peer's connection ended, its handshake failed once admitted, or its link stopped. A peer
   * that no link of this node dials (a client, a node that dialled us) is remembered among the
   * `maxIdlePeers` most recent ones only: past that, the oldest is dropped from the table, so that
   * clients connecting under ever new names (as each `telex status` does), or nodes restarted
   * under new names, do not grow it without bound. A dropped peer is `retired`: a `RemoteTarget`
   * that kept it looks the name up again. It takes with it what the table remembers of that
   * name's last connection (READY's `previous`, the `hold` list for the same incarnation, its
   * address), as for a name never seen.
   */
  idle(peer: Peer): void {
    if (peer.isUp || peer.outbox.dialing || peer.redialWaiter !== undefined || this.options.dials?.(peer.name) === true) return
    this.idlePeers.delete(peer)
    this.idlePeers.add(peer)
    for (const oldest of this.idlePeers) {
      // (the peer just added, the newest, stays)
      if (this.idlePeers.size <= Math.max(1, this.maxIdlePeers)) break
      this.idlePeers.delete(oldest)
      if (this.peers.get(oldest.name) === oldest && dormant(oldest) && this.options.dials?.(oldest.name) !== true) {
        this.peers.delete(oldest.name)
        oldest.retired = true
      }
    }
  }

  /** A peer's connection came up: it is no longer idle. */
  active(peer: Peer): void {
    this.idlePeers.delete(peer)
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

  members(members: ReadonlyArray<Member>): void {
    this.options.onMembers(members)
  }

  // connection life cycle (peers.ts)

  admit(node: NodeId, outbound: boolean): HandshakeError | undefined {
    return Peers.admit(this, node, outbound)
  }

  release(node: NodeId | undefined, outbound: boolean): void {
    Peers.release(this, node, outbound)
  }

  attach(
    conn: Connection,
    listen: ListenAddress | undefined,
    protocols: Record<string, string>,
    peerPrevious?: { readonly session: string; readonly received: number },
    holds?: { readonly sent: ReadonlyArray<number>; readonly received: ReadonlyArray<ReadonlyArray<unknown>> },
    protocolsSent?: Readonly<Record<string, string>>
  ): boolean {
    return Peers.attach(this, conn, listen, protocols, peerPrevious, holds, protocolsSent)
  }

  /** Cuts the connection to a peer and refuses it (both directions) for `millis`. */
  partition(name: string, millis: number): void {
    Peers.partition(this, name, millis)
  }

  // outbound (writer.ts)

  /** Sends an envelope to a peer now, or buffers it while the first connection is being made. */
  /** true: sent or buffered; false: no connection; a string: too large to send (why) */
  send(peer: Peer, envelope: Writer.Outbound): boolean | string {
    return Writer.send(this, peer, envelope)
  }

  /** The dialler gave up (connect failed): buffered sends become dead letters / failed asks. */
  dialFailed(peer: Peer, reason: string): void {
    Writer.dialFailed(this, peer, reason)
    peer.flow.dialEnded()
  }

  // inbound (inbound.ts)

  onEnvelope(peer: Peer, conn: Connection, envelope: unknown, bytes = 0): void {
    dispatch(this, peer, conn, envelope, bytes)
  }

  // remote watch, spawn and lookup (watch.ts, requests.ts)

  watchNode(node: string, f: () => void): () => void {
    return this.nodeWatchers.watch(this.peers.get(node), node, f)
  }

  whereis(node: string, name: string): Effect.Effect<ActorAddress | undefined, NodeDown> {
    return Requests.whereis(this, node, name)
  }
}
