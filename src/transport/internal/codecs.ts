/**
 * The shape checks of envelope fields and the wire form of exit reasons; the cached message
 * coders are in ../SchemaCodec.ts.
 *
 * @internal
 */
import { Exit, Schema } from "effect"
import type { ActorAddress } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"

export { decoderFor, encoderFor, issueOf } from "../SchemaCodec.ts"

export const isAddress = (u: any): u is ActorAddress =>
  typeof u === "object" && u !== null &&
  typeof u.id === "number" && typeof u.protocol === "string" &&
  typeof u.node === "object" && u.node !== null &&
  typeof u.node.name === "string" && typeof u.node.incarnation === "number"

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
