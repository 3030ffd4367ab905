/**
 * Typed errors of the transport.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

export { NodeDown, ProtocolMismatch } from "../actors/ActorError.ts"

/** Why a handshake was refused (sent in a REFUSE frame and logged on both sides). */
export const RefuseCode = Schema.Literals(["version", "cluster", "auth", "duplicate", "timeout", "protocol", "codec", "name", "partitioned"])
export type RefuseCode = typeof RefuseCode.Type

export class HandshakeError extends Schema.TaggedError<HandshakeError>()("HandshakeError", {
  code: RefuseCode,
  message: Schema.String
}) {}

/** Remote spawn was refused or failed. */
export class RemoteSpawnError extends Schema.TaggedError<RemoteSpawnError>()("RemoteSpawnError", {
  node: Schema.String,
  module: Schema.String,
  message: Schema.String
}) {}
