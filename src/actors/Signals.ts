/**
 * Links, monitors and exit signals, with Erlang's semantics.
 *
 * - A **link** is bidirectional. When either side exits, the other receives an exit signal
 *   carrying the exit reason. A receiver that does not trap exits ignores `Normal` and exits
 *   itself with the same reason for anything else. A receiver that traps exits gets the signal
 *   as an `ExitSignal` message instead (handled by its `onExit` handler) and keeps running.
 *   `ActorSystem.kill` sends the one untrappable signal: the target exits with `Killed` (even
 *   one already stopping, whose cleanup is then no longer waited for), and its links then see
 *   `Killed` (which they may trap).
 * - An actor that is **stopping** (its cleanup runs) is alive until it is gone, as a process in
 *   its `terminate/2`: an abnormal exit signal (by link or `system.exit`) ends it at once with
 *   that reason if it does not trap exits, its cleanup no longer waited for (`Normal` is
 *   ignored, and so are the signals of its own children, which its stop is stopping, and any
 *   signal to an actor stopping because an earlier signal ended it: the first reason stands);
 *   its name stays registered, and links and monitors made meanwhile fire when it is gone.
 * - An exit signal from an actor's **parent** (its supervisor stopping it with `Shutdown`, or
 *   any other reason, `Normal` too) ends a trapping actor once its `onExit` has handled it, with
 *   that reason unless the handler stopped the actor with its own (a gen_server's behaviour in
 *   OTP, for the `'EXIT'` of its parent). From anyone else, a trapped signal is only a message.
 *   A parent's own stop stops its children whatever its reason and their trapping.
 * - **Exit signals without a link** (Erlang's `exit/2`): `system.exit(ref, reason)` sends one.
 *   A trapping receiver gets an `ExitSignal`; a non-trapping one exits with `reason` unless it
 *   is `Normal`; `Killed` is untrappable. An exit to oneself with `Normal` (not trapping) stops
 *   the actor normally. Such a signal does not remove a link between the two actors.
 * - A **monitor** is one-way and fires exactly once: the watcher receives one `Down` message
 *   (its `onDown` handler) with the monitored actor's exit reason. A monitor on oneself is not
 *   made (it could never fire): `monitor` returns a `MonitorRef` that `demonitor` does not find. Monitoring an actor that is
 *   already dead (or never existed, or belongs to an earlier incarnation of this node) delivers
 *   `Down(NoProc)` at once. A monitor may name its target: `ctx.monitor("name")` or
 *   `ctx.monitor({ name, node })` resolves the name once (an unregistered name: `Down(NoProc)`;
 *   an unreachable node: `Down(NoConnection)`; an actor of this node that is stopping still
 *   holds its name, and its `Down` carries the reason it ends with, as a monitor by ref does). `demonitor` cancels a monitor — only the actor
 *   that owns it can — and always flushes: no `Down` is delivered after it returns. It returns
 *   whether the monitor was still active (OTP's `demonitor(Ref, [flush, info])`).
 * - A **node monitor** (`ctx.monitorNode(node)`, Erlang's `monitor_node/2`) delivers one `Down`
 *   with `NoConnection` (its `monitor.node` set) when the connection to that node is lost, at
 *   once if it is not connected.
 * - The `Down` given to `onDown` carries the watcher's own `MonitorRef` (the object `monitor`
 *   returned), so it can be compared by identity.
 * - A `Down` the watcher has no `onDown` for is dropped, as an unmatched message in OTP; Telex
 *   does not kill the watcher as Akka's DeathPact does: to share a fate, link.
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
  /** set for a monitor by registered name (`ctx.monitor("name")` or `{ name, node }`) */
  readonly name: string | undefined
  /** set for a node monitor (`ctx.monitorNode(node)`): `target` is then a placeholder for the node */
  readonly node: string | undefined
  constructor(id: number, target: ActorRef<any>, name?: string, node?: string) {
    this.id = id
    this.target = target
    this.name = name
    this.node = node
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
