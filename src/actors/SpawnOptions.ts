/**
 * Options for `spawn`.
 *
 * @since 0.1.0
 */
import type { MailboxOptions } from "./Mailbox.ts"

export interface SpawnOptions {
  /** Registers the actor under this name on its node (unique per node; freed when it stops). */
  readonly name?: string | undefined
  readonly mailbox?: MailboxOptions | undefined
  /** Validate every local send with the protocol Schema (useful in tests). Default false. */
  readonly validateLocal?: boolean | undefined
  /** Messages handled per turn before the actor yields to others. Default 128. */
  readonly throughput?: number | undefined
  /** Link the new actor to the spawning actor (only from inside an actor). Default false. */
  readonly link?: boolean | undefined
}
