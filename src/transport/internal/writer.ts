/**
 * The outbound writer: every envelope for a peer goes through `send`, onto its connection, or
 * into the peer's outbox while the first connection to it is being dialled (so that sends made
 * before the link is up are kept in order rather than dropped). The outbox is bounded as a
 * connection's queue is, in envelopes (`bufferLimit`) and in bytes (see `outboxFull`).
 *
 * Buffered envelopes were addressed before the peer's incarnation was known: their target is a
 * `PendingTarget`, resolved to an actor id when the connection is attached. One for another
 * incarnation, or left when the dial fails, is refused the way a send to a dead or unreachable
 * actor would be (dead letter, failed ask, `Down`, exit signal) — never dropped silently.
 *
 * @internal
 */
import { InvalidMessage, NodeDown, NoProc } from "../../actors/ActorError.ts"
import { type ActorAddress, formatAddress } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import type { Connection } from "../Connection.ts"
import * as Envelope from "../Envelope.ts"
import { type ActorId, Kind } from "../Envelope.ts"
import type { Peer } from "./peers.ts"
import { linkKey } from "./watch.ts"
import type { Router } from "./router.ts"

/** What is waiting to be written to a peer that is not connected yet. */
export class Outbox {
  /** a link actor is dialling: buffer sends instead of dropping them */
  dialing = false
  buffer: Array<Outbound> = []
  /** about how many bytes the buffered messages take (see `sizeOf`) */
  bytes = 0
  /** the buffer is being sent on a new connection: later sends queue behind it */
  flushing = false

  add(e: Outbound): void {
    this.buffer.push(e)
    this.bytes += sizeOf(e)
  }

  /** Takes what is buffered. */
  take(): Array<Outbound> {
    const buffered = this.buffer
    this.buffer = []
    this.bytes = 0
    return buffered
  }
}

/**
 * About how many bytes an envelope's message takes once encoded: strings and byte arrays by
 * their length, every other value a few bytes. The buffer of a peer being dialled is bounded by
 * it (its messages are encoded only once the connection's codec is known), so that large
 * messages sent while a peer does not answer its handshake wait instead of piling up in memory.
 * A value of more than `MAX_WALK` parts (or a cyclic one) counts what was walked.
 */
export const sizeOf = (e: Outbound): number => {
  if (e[0] !== Kind.Tell && e[0] !== Kind.Ask) return 16
  let bytes = 16
  let walked = 0
  const stack: Array<unknown> = [e[3]]
  while (stack.length > 0 && walked++ < MAX_WALK) {
    const v = stack.pop()
    if (typeof v === "string") bytes += v.length + 1
    else if (typeof v !== "object" || v === null) bytes += 9
    else if (ArrayBuffer.isView(v)) bytes += v.byteLength + 5
    else if (v instanceof ArrayBuffer) bytes += v.byteLength + 5
    else if (Array.isArray(v)) {
      bytes += 5
      for (let i = 0; i < v.length; i++) stack.push(v[i])
    } else {
      bytes += 5
      for (const k in v) {
        bytes += k.length + 1
        stack.push((v as Record<string, unknown>)[k])
      }
    }
  }
  return bytes
}

const MAX_WALK = 100_000

/**
 * Whether the outbox of a peer being dialled takes no more messages, as a connection's queue:
 * past `highWaterBytes` a send that can wait (`tell`, `ask`) waits for the dial to end, past
 * `unsafeLimitBytes` one that cannot (`force`, a `tellUnsafe`) is refused; either, once it holds
 * `bufferLimit` envelopes.
 */
export const outboxFull = (router: Router, peer: Peer, force: boolean | undefined): boolean =>
  peer.outbox.buffer.length >= router.options.bufferLimit ||
  peer.outbox.bytes > (force ? router.options.unsafeLimitBytes : router.options.highWaterBytes)

/** Sends an envelope to a peer now, or buffers it while the first connection is being made. */
export const send = (router: Router, peer: Peer, envelope: Outbound): boolean | string => {
  const outbox = peer.outbox
  if (outbox.flushing) {
    outbox.add(detached(envelope))
    return true
  }
  const conn = peer.conn
  if (conn !== undefined && conn.closed === undefined) {
    // an envelope too large to send: the reason (the caller refuses that send)
    return conn.send(envelope) ?? true
  }
  if (outbox.dialing && outbox.buffer.length < router.options.bufferLimit) {
    outbox.add(detached(envelope))
    return true
  }
  return false
}

/**
 * A buffered tell or ask is encoded only once a connection exists (the handshake chooses the
 * codec): its message is copied now, so that what the sender does to its arrays after the send
 * does not change what is sent, as for a send on a connection (encoded at once). A message that
 * cannot be copied (it holds something structuredClone refuses) is kept as it is.
 */
const detached = (e: Outbound): Outbound => {
  if (e[0] !== Kind.Tell && e[0] !== Kind.Ask) return e
  const message = e[3]
  if (typeof message !== "object" || message === null) return e
  try {
    const copy = e.slice() as Array<unknown>
    copy[3] = structuredClone(message)
    return copy as unknown as Outbound
  } catch {
    return e
  }
}

/** Sends what was buffered on the connection just attached, before anything else. */
export const flushBuffer = (router: Router, peer: Peer, conn: Connection): void => {
  const outbox = peer.outbox
  outbox.flushing = true
  while (outbox.buffer.length > 0) {
    for (const envelope of outbox.take()) sendBuffered(router, peer, conn, envelope)
  }
  outbox.flushing = false
}

const sendBuffered = (router: Router, peer: Peer, conn: Connection, e: Outbound): void => {
  // buffered envelopes were addressed before we knew the incarnation: check it now
  const to = targetOf(e)
  if (to === undefined || typeof to === "number") {
    // (addressed by id: sent while the buffer was being flushed) refused as a direct send is
    const tooLarge = conn.send(e)
    if (tooLarge !== undefined && to !== undefined) {
      refuseTooLarge(router, peer, e, formatAddress({ node: conn.peer, id: to, protocol: String(e[2]) }), tooLarge)
    }
    return
  }
  if (to.address.node.incarnation !== conn.peer.incarnation) return refuse(router, peer, e, to, undefined)
  const tooLarge = conn.send(retarget(e, to.address.id))
  if (tooLarge !== undefined) refuseTooLarge(router, peer, e, formatAddress(to.address), tooLarge)
}

/**
 * A tell or ask that was not sent because its encoding is larger than a node accepts: a dead
 * letter (`InvalidMessage`), and the ask fails with `InvalidMessage`. The connection is untouched.
 */
export const refuseTooLarge = (router: Router, peer: Peer, e: Outbound, actor: string, issue: string): void => {
  if (e[0] !== Kind.Tell && e[0] !== Kind.Ask) return
  router.system.deadLetter(actor, e[3], { _tag: "InvalidMessage", issue })
  if (e[0] === Kind.Ask) peer.asks.fail(e[4], new InvalidMessage({ actor, protocol: e[2], issue }))
}

/** The dialler gave up (connect failed): buffered sends become dead letters / failed asks. */
export const dialFailed = (router: Router, peer: Peer, reason: string): void => {
  peer.outbox.dialing = false
  for (const e of peer.outbox.take()) {
    const to = targetOf(e)
    if (to !== undefined && typeof to !== "number") refuse(router, peer, e, to, reason)
  }
}

/**
 * A buffered envelope that will not be sent: to another incarnation (`unreachable` undefined:
 * dead letter, NoProc, Down/exit NoProc) or because the dial failed (NoRoute, NodeDown,
 * Down/exit NoConnection). Nothing is dropped silently; Unlink, Exit, Demonitor and Stop owe nothing.
 */
const refuse = (router: Router, peer: Peer, e: Outbound, to: PendingTarget, unreachable: string | undefined): void => {
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
      return peer.watch.linkRefused(linkKey(formatAddress(e[1]), to.address), reason)
  }
}

/** A buffered envelope's target, resolved to its id once the incarnation is known. */
export interface PendingTarget {
  readonly address: ActorAddress
}

/** An envelope as sent: its target may be resolved only when the connection is attached. */
export type Outbound = Envelope.Envelope<ActorId | PendingTarget>

/** The actor an envelope is for (see `Envelope.ts`), for the kinds that name one. */
const targetOf = (e: Outbound): ActorId | PendingTarget | undefined => {
  switch (e[0]) {
    case Kind.Tell:
    case Kind.Ask:
    case Kind.Demonitor:
    case Kind.Stop:
      return e[1]
    case Kind.Link:
    case Kind.Unlink:
    case Kind.Exit:
    case Kind.Monitor:
      return e[2]
    default:
      return undefined
  }
}

/** The same envelope addressed to actor `id` (same length: no field added or dropped). */
const retarget = (e: Outbound, id: ActorId): Envelope.Envelope => {
  switch (e[0]) {
    case Kind.Tell:
      return [Kind.Tell, id, e[2], e[3]]
    case Kind.Ask:
      return e.length > 6 ? [Kind.Ask, id, e[2], e[3], e[4], e[5], e[6]] : [Kind.Ask, id, e[2], e[3], e[4], e[5]]
    case Kind.Demonitor:
      return [Kind.Demonitor, id, e[2]]
    case Kind.Stop:
      return [Kind.Stop, id, e[2]]
    case Kind.Link:
      return [Kind.Link, e[1], id]
    case Kind.Unlink:
      return [Kind.Unlink, e[1], id]
    case Kind.Exit:
      return e.length === 6 ? [Kind.Exit, e[1], id, e[3], e[4], true] : [Kind.Exit, e[1], id, e[3], e[4]]
    case Kind.Monitor:
      return [Kind.Monitor, e[1], id, e[3]]
    default:
      return e
  }
}
