/**
 * Supervision events as data: every supervisor publishes what it does on
 * `ActorSystem.supervisionEvents`. Logs, metrics, `telex status` and the test kit's checkers
 * all read this one stream.
 *
 * @since 0.1.0
 */
import type { ExitReason } from "./ExitReason.ts"

interface Base {
  /** formatted address of the supervisor */
  readonly supervisor: string
  /** epoch millis from Effect's Clock (TestClock in tests) */
  readonly at: number
}

export type SupervisionEvent =
  | Base & { readonly _tag: "ChildStarted"; readonly childId: string; readonly actor: string }
  | Base & { readonly _tag: "ChildExited"; readonly childId: string; readonly actor: string; readonly reason: ExitReason }
  | Base & { readonly _tag: "RestartScheduled"; readonly childIds: ReadonlyArray<string>; readonly delayMillis: number }
  | Base & { readonly _tag: "ChildRestarted"; readonly childId: string; readonly actor: string; readonly restarts: number }
  | Base & { readonly _tag: "ChildStartFailed"; readonly childId: string; readonly message: string }
  | Base & { readonly _tag: "IntensityExceeded"; readonly restarts: number; readonly periodMillis: number }
  | Base & { readonly _tag: "Escalated"; readonly reason: ExitReason }
