/**
 * Why an actor stopped. The vocabulary is Erlang's:
 *
 * - `Normal`: the actor stopped itself, or finished. Linked actors ignore it.
 * - `Shutdown`: its parent or supervisor stopped it in an orderly way.
 * - `Killed`: it was killed without a chance to clean up (brutal kill, or an untrappable kill signal).
 * - `Error`: a defect in its behaviour (or an exit signal carrying an error) ended it. A
 *   finalizer that dies while the actor stops makes the crash its exit reason, whatever the
 *   stop's reason was (as a crash in OTP's `terminate/2`), unless the actor was killed.
 * - `NoProc`: the actor did not exist (a monitor on a dead actor fires with it at once).
 * - `NoConnection`: the node hosting the actor became unreachable.
 *
 * Exit reasons cross process boundaries (in `Down` and `Exit` signals), so they are a Schema.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"

export const Normal = Schema.TaggedStruct("Normal", {})
export const Shutdown = Schema.TaggedStruct("Shutdown", { detail: Schema.optional(Schema.String) })
export const Killed = Schema.TaggedStruct("Killed", {})
export const Error = Schema.TaggedStruct("Error", { message: Schema.String })
export const NoProc = Schema.TaggedStruct("NoProc", {})
export const NoConnection = Schema.TaggedStruct("NoConnection", { node: Schema.optional(Schema.String) })

export const ExitReason = Schema.Union([Normal, Shutdown, Killed, Error, NoProc, NoConnection])
export type ExitReason = typeof ExitReason.Type

export const normal: ExitReason = { _tag: "Normal" }
export const shutdown: ExitReason = { _tag: "Shutdown" }
export const killed: ExitReason = { _tag: "Killed" }
export const noproc: ExitReason = { _tag: "NoProc" }
export const error = (message: string): ExitReason => ({ _tag: "Error", message })
export const noconnection = (node?: string): ExitReason =>
  node === undefined ? { _tag: "NoConnection" } : { _tag: "NoConnection", node }
export const shutdownWith = (detail: string): ExitReason => ({ _tag: "Shutdown", detail })

/**
 * An exit reason from a failed or interrupted behaviour. The `Error` message (the cause,
 * pretty-printed with its stack) is written only when something reads it: a crash that a
 * supervisor restarts and nobody logs costs no formatting. Once read it is a plain value.
 */
export const fromCause = (cause: Cause.Cause<unknown>): ExitReason =>
  Cause.hasInterruptsOnly(cause) ? killed : lazyError(cause)

const lazyError = (cause: Cause.Cause<unknown>): ExitReason => {
  const reason = { _tag: "Error" } as { _tag: "Error"; message: string }
  CauseSlot.put(reason, cause)
  Object.defineProperty(reason, "message", lazyMessage)
  return reason
}

/**
 * Keeps a lazy reason's cause in a private field of the plain object (a base class constructor
 * returning its argument lets a subclass add private fields to any object): invisible to keys,
 * equality and JSON, and, with one getter shared by all reasons, defining `message` costs a
 * third of a getter closing over the cause (each closure gave each reason a map of its own).
 */
class Stamp {
  constructor(o: object) {
    return o
  }
}
class CauseSlot extends Stamp {
  readonly #cause: Cause.Cause<unknown>
  private constructor(o: object, cause: Cause.Cause<unknown>) {
    super(o)
    this.#cause = cause
  }
  static put(o: object, cause: Cause.Cause<unknown>): void {
    new CauseSlot(o, cause)
  }
  static get(o: object): Cause.Cause<unknown> {
    return (o as CauseSlot).#cause
  }
}

const lazyMessage: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: object) {
    const message = Cause.pretty(CauseSlot.get(this))
    Object.defineProperty(this, "message", { value: message, enumerable: true, writable: false, configurable: false })
    return message
  }
}

/**
 * Marks a defect that ends an init without failing it: the init chose not to start
 * (`Supervisor.ignore`, OTP's `ignore`). Such an actor exits with `Normal`.
 *
 * @internal
 */
export const NotStartedTypeId: unique symbol = Symbol.for("telex/NotStarted")

/** Whether `cause` is an init's choice not to start (see `NotStartedTypeId`). */
export const isNotStarted = (cause: Cause.Cause<unknown>): boolean =>
  cause.reasons.some((r) => Cause.isDieReason(r) && (r.defect as any)?.[NotStartedTypeId] === true)

/** Normal and Shutdown are the "expected" exits: transient children are not restarted for them. */
export const isNormalOrShutdown = (reason: ExitReason): boolean =>
  reason._tag === "Normal" || reason._tag === "Shutdown"

/** Reasons that do not propagate over links (a linked actor that does not trap exits ignores them). */
export const isNormal = (reason: ExitReason): boolean => reason._tag === "Normal"

export const format = (reason: ExitReason): string => {
  switch (reason._tag) {
    case "Normal":
      return "normal"
    case "Shutdown":
      return reason.detail === undefined ? "shutdown" : `shutdown(${reason.detail})`
    case "Killed":
      return "killed"
    case "Error":
      return `error(${reason.message.split("\n")[0]})`
    case "NoProc":
      return "noproc"
    case "NoConnection":
      return reason.node === undefined ? "noconnection" : `noconnection(${reason.node})`
  }
}
