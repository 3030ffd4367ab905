/**
 * Inbound dispatch: every envelope a peer sends is checked and handed to the concern it belongs
 * to. Messages (`Tell`, `Ask`) are decoded with the target actor's protocol Schema — refs in them
 * bind to this node's system — and offered to its mailbox; a reply is encoded with the ask's
 * success or error Schema. A malformed envelope is a protocol error that closes the connection;
 * a kind from a newer version of the protocol is skipped.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import type { AnyProtocol } from "../../actors/Actor.ts"
import { ActorStopped, InvalidMessage, isRuntimeError, runtimeErrorSchema } from "../../actors/ActorError.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import * as ProtocolRegistry from "../../actors/ProtocolRegistry.ts"
import { fromTraceparent, type LocalActor, Offer, type Reply, withResolver } from "../../actors/Kernel.ts"
import type { Connection } from "../Connection.ts"
import { type Ask, decode, Kind, type Reply as ReplyEnvelope, ReplyKind, type Tell } from "../Envelope.ts"
import { decodeReason, decoderFor, encoderFor, issueOf, quote, tagOf } from "./codecs.ts"
import { countCredit, hold, inSlack, onHold, onRelease } from "./flow.ts"
import type { Peer } from "./peers.ts"
import { onAnswer, onLookup, onSpawn } from "./requests.ts"
import type { Router } from "./router.ts"
import { onDemonitor, onDown, onLinkSignal, onMonitor } from "./watch.ts"

const protocolError = (conn: Connection, message: string): void => {
  conn.close(`protocol error: ${message}`)
}

/** Handles one envelope from `peer` (`bytes`: its size on the wire, for flow control). */
export const dispatch = (router: Router, peer: Peer, conn: Connection, envelope: unknown, bytes = 0): void => {
  const e = decode(envelope)
  // undefined: a kind from a newer version of the protocol, or an answer that matches nothing
  if (typeof e !== "object") return e === undefined ? undefined : protocolError(conn, e)
  let error: string | undefined
  switch (e[0]) {
    case Kind.Tell:
      return onTell(router, peer, conn, e, bytes)
    case Kind.Ask:
      return onAsk(router, peer, conn, e, bytes)
    case Kind.Reply:
      return onReply(router, peer, e)
    case Kind.Link:
    case Kind.Unlink:
    case Kind.Exit:
      error = onLinkSignal(router, peer, e)
      break
    case Kind.Monitor:
      error = onMonitor(router, peer, e)
      break
    case Kind.Demonitor:
      return onDemonitor(peer, e)
    case Kind.Down:
      error = onDown(peer, e)
      break
    case Kind.Stop: {
      const reason = decodeReason(e[2])
      if (reason === undefined) return protocolError(conn, "malformed stop")
      return router.system.local(e[1])?.shutdown(reason)
    }
    case Kind.Spawn:
      return onSpawn(router, peer, e)
    case Kind.Lookup:
      return onLookup(router, peer, e)
    case Kind.Spawned:
    case Kind.Found:
      return onAnswer(peer, e)
    case Kind.Protocols:
      return mergeProtocols(peer, e[1])
    case Kind.Hold:
      return onHold(peer, e)
    case Kind.Release:
      return onRelease(peer, e)
    case Kind.Members:
      return router.members(e[1])
  }
  if (error !== undefined) protocolError(conn, error)
}

/**
 * Adds a peer's newly advertised protocols to its table, in place (a copy per envelope would
 * cost the whole table each time); entries whose fingerprint is not a string are ignored, as READY
 * refuses them.
 */
const mergeProtocols = (peer: Peer, table: Readonly<Record<string, unknown>>): void => {
  const protocols = peer.protocols
  for (const name of Object.keys(table)) {
    const fingerprint = table[name]
    if (typeof fingerprint === "string" && name !== "__proto__") protocols[name] = fingerprint
  }
}

/** Finds the local actor for an inbound message, or says why not. */
const target = (router: Router, e: Tell | Ask): { cell: LocalActor; protocol: AnyProtocol } | { reason: string; noproc: boolean } => {
  const cell = router.system.local(e[1])
  if (cell === undefined || !cell.isAlive) return { reason: "no such actor", noproc: true }
  const protocol = cell.protocol
  if (protocol.name !== e[2]) {
    return { reason: `actor ${e[1]} speaks ${protocol.name}, not ${String(e[2])}`, noproc: false }
  }
  // a protocol local to its node (a supervisor's, a link actor's) is not advertised, nor spoken across nodes
  if (!ProtocolRegistry.isRegistered(protocol)) {
    return { reason: `actor ${e[1]} speaks ${protocol.name}, which is local to its node (not advertised)`, noproc: false }
  }
  return { cell, protocol }
}

/** Decodes an inbound message with the target protocol's Schema (refs bind to this system). */
const decodeMessage = (router: Router, protocol: AnyProtocol, message: unknown): { value: unknown } | { issue: string } => {
  const tag = tagOf(message)
  // own tags only: a peer's "constructor" or "__proto__" is no message of the protocol
  const schema = typeof tag === "string" && Object.hasOwn(protocol.messages, tag) ? protocol.messages[tag] : undefined
  if (schema === undefined) return { issue: unknownTag(protocol, message, tag) }
  const exit = withResolver(router.system, () => decoderFor(schema)(message))
  return Exit.isSuccess(exit) ? { value: exit.value } : { issue: issueOf(exit) }
}

/** Why a message has no tag of `protocol`, naming the tags it has (for a foreign client's author). */
const unknownTag = (protocol: AnyProtocol, message: unknown, tag: unknown): string => {
  const tags = Object.keys(protocol.messages).sort().join(", ")
  return typeof message !== "object" || message === null || Array.isArray(message)
    ? `a message of ${protocol.name} is an object {"_tag": one of ${tags}, ...fields}, not ${Array.isArray(message) ? "an array" : message === null ? "null" : typeof message}`
    : `unknown message tag ${quote(tag) ?? "(none)"} for ${protocol.name} (its tags: ${tags})`
}

const onTell = (router: Router, peer: Peer, conn: Connection, e: Tell, bytes: number): void => {
  if (peer.flow.holding.size !== 0) countCredit(router, peer, conn, e[1])
  const system = router.system
  const found = target(router, e)
  const recipient = `${e[2]}@${system.nodeKey}/${e[1]}`
  if ("reason" in found) {
    return system.deadLetter(recipient, e[3], found.noproc ? { _tag: "NoSuchActor" } : { _tag: "InvalidMessage", issue: found.reason })
  }
  const decoded = decodeMessage(router, found.protocol, e[3])
  if ("issue" in decoded) return system.deadLetter(recipient, e[3], { _tag: "InvalidMessage", issue: decoded.issue })
  // a full mailbox holds this destination at the sender (Hold); under `backpressure` what was
  // already in flight is accepted, within the slack
  const cell = found.cell
  const result = cell.offer(decoded.value, undefined, undefined)
  if (result === Offer.Full) {
    if (inSlack(router, peer, conn, cell, bytes)) cell.offer(decoded.value, undefined, undefined, true)
    else system.deadLetter(recipient, decoded.value, { _tag: "MailboxFull", capacity: cell.capacity })
  } else if (result === Offer.Rejected) {
    // the `fail` policy: a local sender gets MailboxFull; a remote tell has nobody to tell
    system.deadLetter(recipient, decoded.value, { _tag: "MailboxFull", capacity: cell.capacity })
  }
  if (cell.mailbox.size >= cell.capacity) hold(peer, conn, cell)
}

const onAsk = (router: Router, peer: Peer, conn: Connection, e: Ask, bytes: number): void => {
  if (peer.flow.holding.size !== 0) countCredit(router, peer, conn, e[1])
  const system = router.system
  const askId = e[4]
  const found = target(router, e)
  const actor = `${e[2]}@${system.nodeKey}/${e[1]}`
  const replyError = (error: unknown) => sendReply(peer, conn, askId, ReplyKind.RuntimeError, error, actor, e[2])
  if ("reason" in found) {
    system.deadLetter(actor, e[3], found.noproc ? { _tag: "NoSuchActor" } : { _tag: "InvalidMessage", issue: found.reason })
    return refuse(peer, conn, e, actor,
      found.noproc ? { _tag: "NoProc", actor } : { _tag: "InvalidMessage", actor, protocol: String(e[2]), issue: found.reason }
    )
  }
  const decoded = decodeMessage(router, found.protocol, e[3])
  if ("issue" in decoded) {
    system.deadLetter(actor, e[3], { _tag: "InvalidMessage", issue: decoded.issue })
    return refuse(peer, conn, e, actor, { _tag: "InvalidMessage", actor, protocol: found.protocol.name, issue: decoded.issue })
  }
  const def = found.protocol.defs[tagOf(decoded.value) as string]!
  const sender = e[5] === null ? undefined : router.refFor(e[5])
  let replied = false
  const reply: Reply = (exit) => {
    if (replied) return
    replied = true
    if (Exit.isSuccess(exit)) {
      if (def._kind !== "ask") return sendReply(peer, conn, askId, ReplyKind.Success, null, actor, e[2])
      const encoded = encoderFor(def.success)(exit.value)
      if (Exit.isSuccess(encoded)) return sendReply(peer, conn, askId, ReplyKind.Success, encoded.value, actor, e[2])
      return replyError(new InvalidMessage({ actor, protocol: found.protocol.name, issue: `reply: ${issueOf(encoded)}` }))
    }
    const error = Cause.findErrorOption(exit.cause)
    const value = error._tag === "Some" ? error.value : new ActorStopped({ actor, reason: ExitReason.fromCause(exit.cause) })
    if (isRuntimeError(value)) return replyError(value)
    if (def._kind === "ask") {
      const encoded = encoderFor(def.error)(value)
      if (Exit.isSuccess(encoded)) return sendReply(peer, conn, askId, ReplyKind.ProtocolError, encoded.value, actor, e[2])
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
    if (inSlack(router, peer, conn, cell, bytes)) cell.offer(decoded.value, reply, sender, true)
    else {
      system.deadLetter(actor, decoded.value, { _tag: "MailboxFull", capacity: cell.capacity })
      refuse(peer, conn, e, actor, { _tag: "MailboxFull", actor, capacity: cell.capacity })
    }
  } else if (result === Offer.Dead) refuse(peer, conn, e, actor, { _tag: "NoProc", actor })
  else if (result === Offer.Rejected) refuse(peer, conn, e, actor, { _tag: "MailboxFull", actor, capacity: cell.capacity })
  if (cell.mailbox.size >= cell.capacity) hold(peer, conn, cell)
}

/**
 * Answers an ask with a refusal as it is encoded: an error object would only be encoded at once,
 * and capture its stack for nothing (6-7 µs, most of a refusal) for each ask of a flood refused.
 * (A function of its own, not a closure per ask: most asks are not refused.)
 */
const refuse = (peer: Peer, conn: Connection, e: Ask, actor: string, error: EncodedRefusal): void =>
  sendReply(peer, conn, e[4], ReplyKind.RuntimeError, error, actor, e[2], true)

/** A runtime error refusing an ask, as the runtime error schema encodes it (docs/protocol.md) */
type EncodedRefusal =
  | { readonly _tag: "NoProc"; readonly actor: string }
  | { readonly _tag: "InvalidMessage"; readonly actor: string; readonly protocol: string; readonly issue: string }
  | { readonly _tag: "MailboxFull"; readonly actor: string; readonly capacity: number }

const sendReply = (
  peer: Peer,
  conn: Connection,
  askId: number,
  kind: number,
  value: unknown,
  actor: string,
  protocol: string,
  /** a runtime error `value` is encoded already (a refusal) */
  preEncoded = false
): void => {
  if (peer.conn !== conn || conn.closed !== undefined) return // the asker learns NodeDown on its side
  if (kind === ReplyKind.RuntimeError && !preEncoded) {
    const encoded = encoderFor(runtimeErrorSchema())(value)
    value = Exit.isSuccess(encoded) ? encoded.value : { _tag: "NoProc", actor: "unknown" }
  }
  const tooLarge = conn.send([Kind.Reply, askId, kind, value])
  // a reply too large to send: the asker gets InvalidMessage instead (the connection is untouched)
  if (tooLarge !== undefined) {
    conn.send([Kind.Reply, askId, ReplyKind.RuntimeError, { _tag: "InvalidMessage", actor, protocol, issue: `reply: ${tooLarge}` }])
  }
}

const onReply = (router: Router, peer: Peer, e: ReplyEnvelope): void => {
  const pending = peer.asks.take(e[1])
  if (pending === undefined) return // the ask timed out or was interrupted
  const def = pending.protocol.defs[pending.tag]!
  const schema = e[2] === ReplyKind.Success
    ? (def._kind === "ask" ? def.success : undefined)
    : e[2] === ReplyKind.ProtocolError
    ? (def._kind === "ask" ? def.error : undefined)
    : runtimeErrorSchema()
  if (schema === undefined) return pending.reply(Exit.void)
  const exit = withResolver(router.system, () => decoderFor(schema)(e[3]))
  if (Exit.isFailure(exit)) {
    return pending.reply(
      Exit.fail(new InvalidMessage({ actor: peer.name, protocol: pending.protocol.name, issue: `reply: ${issueOf(exit)}` }))
    )
  }
  pending.reply(e[2] === ReplyKind.Success ? Exit.succeed(exit.value) : Exit.fail(exit.value))
}
