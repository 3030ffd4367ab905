/**
 * Links, monitors and exit signals, with Erlang's semantics.
 *
 * - A **link** is bidirectional. When either side exits, the other receives an exit signal
 *   carrying the exit reason. A receiver that does not trap exits ignores `Normal` and exits
 *   itself with the same reason for anything else. A receiver that traps exits gets the signal
 *   as an `ExitSignal` message instead (handled by its `onExit` handler) and keeps running.
 *   `ActorSystem.kill` sends the one untrappable signal: the target exits with `Killed`, and
 *   its links then see `Killed` (which they may trap).
 * - A **monitor** is one-way and fires exactly once: the watcher receives one `Down` message
 *   (its `onDown` handler) with the monitored actor's exit reason. Monitoring an actor that is
 *   already dead (or never existed) delivers `Down(NoProc)` at once. `demonitor` cancels it; no
 *   `Down` is delivered after `demonitor` returns.
 * - Linking to a dead actor makes the linker receive an exit signal with `NoProc` (like
 *   Erlang's `link/1` with trapping exits).
 * - When the connection to another node is lost, links and monitors that cross it fire with
 *   `NoConnection` (the transport does this).
 *
 * Signals are delivered in the order they were sent relative to the sender's other messages,
 * and they are never dropped by a full mailbox (mailbox bounds apply to user messages only).
 *
 * @since 0.1.0
 */
import type { ActorRef } from "./ActorRef.ts"
import type { ExitReason } from "./ExitReason.ts"

/** Identifies one monitor; pass it to `demonitor`. */
export class MonitorRef {
  readonly id: number
  readonly target: ActorRef<any>
  constructor(id: number, target: ActorRef<any>) {
    this.id = id
    this.target = target
  }
}

/** Delivered once to the watcher when a monitored actor stops. */
export class Down {
  readonly _tag = "Down" as const
  readonly monitor: MonitorRef
  readonly actor: ActorRef<any>
  readonly reason: ExitReason
  constructor(monitor: MonitorRef, actor: ActorRef<any>, reason: ExitReason) {
    this.monitor = monitor
    this.actor = actor
    this.reason = reason
  }
}

/** Delivered to an actor that traps exits when a linked actor exits. */
export class ExitSignal {
  readonly _tag = "Exit" as const
  readonly from: ActorRef<any>
  readonly reason: ExitReason
  constructor(from: ActorRef<any>, reason: ExitReason) {
    this.from = from
    this.reason = reason
  }
}
