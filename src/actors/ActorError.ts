/**
 * Typed errors of the actor runtime. They are Schema classes because they cross process
 * boundaries: a remote ask that fails locally on the callee's node travels back as data.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { ExitReason } from "./ExitReason.ts"
import * as ActorRefModule from "./ActorRef.ts"
import type { ActorRef } from "./ActorRef.ts"

type ActorAddressEncoded = typeof ActorRefModule.ActorAddress.Encoded
const ActorRefSchema = () => ActorRefModule.schema

/** An ask got no reply within its timeout. */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  actor: Schema.String,
  message: Schema.String,
  timeoutMillis: Schema.Number
}) {}

/** The target actor does not exist (never did, or has already stopped). */
export class NoProc extends Schema.TaggedError<NoProc>()("NoProc", {
  actor: Schema.String
}) {}

/** No actor is registered under this name. */
export class ActorNotFound extends Schema.TaggedError<ActorNotFound>()("ActorNotFound", {
  name: Schema.String
}) {}

/** The mailbox was full and the actor's overflow policy is `fail`. */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  actor: Schema.String,
  capacity: Schema.Number
}) {}

/** The actor stopped (or crashed) before it replied to this ask. */
export class ActorStopped extends Schema.TaggedError<ActorStopped>()("ActorStopped", {
  actor: Schema.String,
  reason: ExitReason
}) {}

/**
 * An actor asked itself from its own handler (OTP's `calling_self`): the reply could only come
 * from the handler that is waiting for it, so the ask fails at once instead of at its timeout.
 * (An ask to itself from another fiber — a handler marked with `Actor.fork`, a forked fiber — is
 * delivered as usual.)
 */
export class CallingSelf extends Schema.TaggedError<CallingSelf>()("CallingSelf", {
  actor: Schema.String,
  message: Schema.String
}) {}

/** The message does not match the actor's protocol Schema. */
export class InvalidMessage extends Schema.TaggedError<InvalidMessage>()("InvalidMessage", {
  actor: Schema.String,
  protocol: Schema.String,
  issue: Schema.String
}) {}

/**
 * The actor was not started: its behaviour's init failed, its name is taken, its parent is
 * stopping or its system is shutting down. When the name is taken, `alreadyStarted` is the actor
 * registered under it (OTP's `{error, {already_started, Pid}}`), which may speak another protocol
 * (see its `address.protocol`).
 */
export class SpawnError extends Schema.TaggedError<SpawnError>()("SpawnError", {
  protocol: Schema.String,
  message: Schema.String,
  // suspended: ActorRef.ts imports this module
  alreadyStarted: Schema.optional(Schema.suspend((): Schema.Codec<ActorRef<any>, ActorAddressEncoded> => ActorRefSchema()))
}) {}

/** The connection to the node hosting the actor was lost (or could not be made) before the reply came. */
export class NodeDown extends Schema.TaggedError<NodeDown>()("NodeDown", {
  node: Schema.String,
  reason: Schema.String
}) {}

/** The receiving node's version of the protocol differs from ours (fingerprints differ), or it does not know it. */
export class ProtocolMismatch extends Schema.TaggedError<ProtocolMismatch>()("ProtocolMismatch", {
  protocol: Schema.String,
  node: Schema.String,
  local: Schema.String,
  remote: Schema.optional(Schema.String)
}) {}

/**
 * Errors a `tell` can fail with. Sending to a dead actor is not an error (the message becomes a
 * dead letter), nor is sending to an unreachable node (also a dead letter: tells are at most once).
 */
export type TellError = MailboxFull | InvalidMessage | ProtocolMismatch

/** Errors every ask can fail with, besides the protocol's own error type. */
export type AskError =
  | AskTimeout
  | NoProc
  | MailboxFull
  | ActorStopped
  | InvalidMessage
  | NodeDown
  | ProtocolMismatch
  | CallingSelf

const askErrors = [AskTimeout, NoProc, MailboxFull, ActorStopped, InvalidMessage, NodeDown, ProtocolMismatch, CallingSelf] as const

/** The runtime errors an ask can fail with, as one Schema (remote replies carry them). */
export const AskErrorSchema = Schema.Union(askErrors)

/** A Schema error class that a folder above the actors adds to the runtime errors. */
export type RuntimeErrorClass = Schema.Top & (abstract new(...args: ReadonlyArray<any>) => unknown)

const extraErrors: Array<RuntimeErrorClass> = []
let runtimeErrors: Schema.Top = AskErrorSchema

/**
 * Adds an error class to the runtime errors a remote ask's reply may carry (reply kind 2): a
 * layer whose actors fail asks with errors of its own (sharding's `ShardingError`) registers
 * them when it is built, on both the asker's and the callee's node. Idempotent.
 */
export const registerRuntimeError = (error: RuntimeErrorClass): void => {
  if (extraErrors.includes(error)) return
  extraErrors.push(error)
  runtimeErrors = Schema.Union([AskErrorSchema, ...extraErrors])
}

/** The runtime errors as one Schema: `AskErrorSchema` and the registered ones. */
export const runtimeErrorSchema = (): Schema.Top => runtimeErrors

/** Whether `u` is an instance of a registered runtime error class. */
export const isRegisteredRuntimeError = (u: unknown): boolean => {
  for (const c of extraErrors) if (u instanceof c) return true
  return false
}

/**
 * Whether `u` is a runtime error, which a reply carries as itself (reply kind 2): one of
 * `AskErrorSchema`'s or a registered one. What a handler fails with otherwise is its protocol's.
 * @internal
 */
export const isRuntimeError = (u: unknown): boolean => {
  for (const c of askErrors) if (u instanceof c) return true
  return isRegisteredRuntimeError(u)
}
