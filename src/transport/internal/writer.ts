/**
 * The outbound writer: every envelope for a peer goes through `send`, onto its connection, or
 * into the peer's outbox while the first connection to it is being dialled (so that sends made
 * before the link is up are kept in order rather than dropped).
 *
 * Buffered envelopes were addressed before the peer's incarnation was known: their target is a
 * `PendingTarget`, resolved to an actor id when the connection is attached. One for another
 * incarnation, or left when the dial fails, is refused the way a send to a dead or unreachable
 * actor would be (dead letter, failed ask, `Down`, exit signal) — never dropped silently.
 *
 * @internal
 */
import { NodeDown, NoProc } from "../../actors/ActorError.ts"
import { type ActorAddress, formatAddress } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import type { Connection } from "../Connection.ts"
import { Kind } from "../Envelope.ts"
import type { Peer } from "./peers.ts"
import type { Router } from "./router.ts"

/** What is waiting to be written to a peer that is not connected yet. */
export class Outbox {
  /** a link actor is dialling: buffer sends instead of dropping them */
  dialing = false
  buffer: Array<unknown> = []
  /** the buffer is being sent on a new connection: later sends queue behind it */
  flushing = false
}

/** Sends an envelope to a peer now, or buffers it while the first connection is being made. */
export const send = (router: Router, peer: Peer, envelope: Array<unknown>): boolean => {
  const outbox = peer.outbox
  if (outbox.flushing) {
    outbox.buffer.push(envelope)
    return true
  }
  const conn = peer.conn
  if (conn !== undefined && conn.closed === undefined) {
    conn.send(envelope)
    return true
  }
  if (outbox.dialing && outbox.buffer.length < router.options.bufferLimit) {
    outbox.buffer.push(envelope)
    return true
  }
  return false
}

/** Sends what was buffered on the connection just attached, before anything else. */
export const flushBuffer = (router: Router, peer: Peer, conn: Connection): void => {
  const outbox = peer.outbox
  outbox.flushing = true
  while (outbox.buffer.length > 0) {
    const buffered = outbox.buffer
    outbox.buffer = []
    for (const envelope of buffered) sendBuffered(router, peer, conn, envelope)
  }
  outbox.flushing = false
}

const sendBuffered = (router: Router, peer: Peer, conn: Connection, envelope: unknown): void => {
  // buffered envelopes were addressed before we knew the incarnation: check it now
  const e = envelope as Array<any>
  const i = targetIndex(e[0])
  const to = i === undefined ? undefined : e[i]
  if (isPending(to)) {
    if (to.address.node.incarnation !== conn.peer.incarnation) return refuse(router, peer, e, to, undefined)
    e[i!] = to.address.id
  }
  conn.send(e)
}

/** The dialler gave up (connect failed): buffered sends become dead letters / failed asks. */
export const dialFailed = (router: Router, peer: Peer, reason: string): void => {
  peer.outbox.dialing = false
  const buffered = peer.outbox.buffer
  peer.outbox.buffer = []
  for (const e of buffered as Array<Array<any>>) {
    const i = targetIndex(e[0])
    const to = i === undefined ? undefined : e[i]
    if (isPending(to)) refuse(router, peer, e, to, reason)
  }
}

/**
 * A buffered envelope that will not be sent: to another incarnation (`unreachable` undefined:
 * dead letter, NoProc, Down/exit NoProc) or because the dial failed (NoRoute, NodeDown,
 * Down/exit NoConnection). Nothing is dropped silently; Unlink, Exit, Demonitor and Stop owe nothing.
 */
const refuse = (router: Router, peer: Peer, e: Array<any>, to: PendingTarget, unreachable: string | undefined): void => {
  const key = formatAddress(to.address)
  const reason = unreachable === undefined ? ExitReason.noproc : ExitReason.noconnection(peer.name)
  switch (e[0]) {
    case Kind.Tell:
      return router.system.deadLetter(
        key,
        e[3],
        unreachable === undefined ? { _tag: "NoSuchActor" } : { _tag: "NoRoute", node: peer.name }
      )
    case Kind.Ask:
      return peer.asks.fail(
        e[4],
        unreachable === undefined ? new NoProc({ actor: key }) : new NodeDown({ node: peer.name, reason: unreachable })
      )
    case Kind.Monitor:
      return peer.watch.monitorRefused(e[3], reason)
    case Kind.Link:
      return peer.watch.linkRefused(`${formatAddress(e[1])}|${key}`, reason)
  }
}

/** A buffered envelope's target, resolved to its id once the incarnation is known. */
export interface PendingTarget {
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
