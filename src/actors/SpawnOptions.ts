/**
 * Options for `spawn`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type { MailboxOptions } from "./Mailbox.ts"

export interface SpawnOptions {
  /**
   * Registers the actor under this name on its node (unique per node; freed when it is gone). A
   * spawn under a name that is taken fails with a `SpawnError` carrying the registered actor
   * (`alreadyStarted`), as OTP's `{error, {already_started, Pid}}`.
   */
  readonly name?: string | undefined
  readonly mailbox?: MailboxOptions | undefined
  /** Validate every local send with the protocol Schema (useful in tests). Default false. */
  readonly validateLocal?: boolean | undefined
  /** Messages handled per turn before the actor yields to others. Default 128. */
  readonly throughput?: number | undefined
  /** Link the new actor to the spawning actor (only from inside an actor). Default false. */
  readonly link?: boolean | undefined
  /**
   * The budget for the actor's orderly stop (its running handler, children and finalizers) when
   * it is stopped by `system.stop`, by its parent, or by its system or node stopping; past it the
   * actor is killed (OTP's child-spec `shutdown`). `"brutal_kill"` kills it at once (its
   * finalizers still run, nobody waits for them). A budget of 0 ends it at once with the stop's
   * reason (`Shutdown`, or an exit signal's), not `Killed`; its cleanup runs unwaited too. A killed actor's children still running or
   * stopping are killed with it, so its own finalizers run even when a child hangs. Default 5 seconds, `"infinity"` for a
   * supervisor (its children have budgets of their own). A supervisor stops its children with
   * the `shutdown` of their child specs instead.
   */
  readonly shutdown?: Duration.Input | "brutal_kill" | "infinity" | undefined
}
