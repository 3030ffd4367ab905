/**
 * The shape checks of envelope fields and the wire form of exit reasons; the cached message
 * coders are in ../SchemaCodec.ts.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { ActorAddress } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"

export { decoderFor, encoderFor, issueOf } from "../SchemaCodec.ts"

const isRecord = (u: unknown): u is { readonly [key: string]: unknown } => typeof u === "object" && u !== null

export const isAddress = (u: unknown): u is ActorAddress =>
  isRecord(u) && typeof u.id === "number" && typeof u.protocol === "string" &&
  isRecord(u.node) && typeof u.node.name === "string" && typeof u.node.incarnation === "number"

/**
 * `JSON.stringify(u)` for a text that quotes a peer's value, without throwing: a BigInt (which a
 * MessagePack extension decodes to) is written as its digits, anything else JSON cannot write
 * (a BigInt inside) by its type, never by `String` (a peer's `{"toString": 1}` would throw).
 */
export const quote = (u: unknown): string | undefined => {
  try {
    return JSON.stringify(u)
  } catch {
    return typeof u === "bigint" ? u.toString() : Object.prototype.toString.call(u)
  }
}

/** A Schema-encoded (or decoded) message's `_tag`, if it has one. */
export const tagOf = (message: unknown): unknown => isRecord(message) ? message._tag : undefined

const decodeReasonExit = Schema.decodeUnknownExit(ExitReason.ExitReason)
const encodeReasonExit = Schema.encodeUnknownExit(ExitReason.ExitReason)

export const decodeReason = (u: unknown): ExitReason.ExitReason | undefined => {
  const exit = decodeReasonExit(u)
  return Exit.isSuccess(exit) ? exit.value : undefined
}

export const encodeReason = (reason: ExitReason.ExitReason): unknown => {
  const exit = encodeReasonExit(reason)
  return Exit.isSuccess(exit) ? exit.value : { _tag: "Error", message: "unencodable exit reason" }
}
