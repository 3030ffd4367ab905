/**
 * What a running actor can do to itself and its surroundings. Available (as a service) to the
 * behaviour's initialisation and to every handler: `const ctx = yield* ActorContext`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ExitReason } from "./ExitReason.ts"
import type { MonitorRef } from "./Signals.ts"
import type { ActorProtocol, Behavior, Message, MessageDefs } from "./Actor.ts"
import type { SpawnError } from "./ActorError.ts"
import type { ActorRef } from "./ActorRef.ts"
import type { SpawnOptions } from "./SpawnOptions.ts"
import type { SupervisionEvent } from "./SupervisionEvent.ts"

/**
 * An actor's context, typed by its protocol `D` (`ActorContext.for(Protocol)`); the plain
 * `ActorContext` service gives it untyped.
 */
export interface ActorContextShape<D extends MessageDefs = any> {
  /** This actor's own ref. */
  readonly self: ActorRef<D>
  /** The ref of the actor that sent the message being handled (asks from inside an actor), if any. */
  readonly sender: ActorRef<any> | undefined
  /**
   * Spawns a child. Children stop (with `Shutdown`, in reverse spawn order, before the parent's
   * finalizers) when their parent stops, whatever the parent's reason (`Normal` too) and whether
   * or not they trap exits; they are killed with it when it is killed. With `{ link: true }` the
   * child is also linked to this actor. A name that is taken fails the spawn with a `SpawnError`
   * whose `alreadyStarted` is the actor registered under it.
   */
  spawn<D extends MessageDefs, E, R>(
    behavior: Behavior<D, E, R>,
    options?: SpawnOptions
  ): Effect.Effect<ActorRef<D>, SpawnError, R>
  /**
   * Stops this actor once the current message has been handled (default reason `Normal`); from
   * a handler marked with `Actor.fork`, once that handler has ended (its ask answered first, as
   * a gen_server's `{stop, Reason, Reply, State}`).
   */
  stop(reason?: ExitReason): Effect.Effect<void>
  /** Links this actor with another (bidirectional). Anything but an ActorRef is a defect, and leaves no link. */
  link(ref: ActorRef<any>): Effect.Effect<void>
  unlink(ref: ActorRef<any>): Effect.Effect<void>
  /**
   * Monitors another actor: exactly one `Down` message (handled by `onDown`) when it stops. By
   * registered name — `"name"` here, `{ name, node }` on another node — the name is resolved
   * now: `Down(NoProc)` at once if nothing is registered, `Down(NoConnection)` if the node is
   * unreachable. Anything else is a defect, and leaves no monitor.
   */
  monitor(target: MonitorTarget): Effect.Effect<MonitorRef>
  /**
   * Cancels a monitor this actor owns and flushes its `Down` if already queued: none is
   * delivered afterwards. Returns whether the monitor was still active (false: it had fired, or
   * it is not this actor's). OTP's `demonitor(Ref, [flush, info])`: `flush` is always on (a
   * demonitored `Down` left in the mailbox has no use), so there is no option for it.
   */
  demonitor(monitor: MonitorRef): Effect.Effect<boolean>
  /**
   * Monitors the connection to another node (Erlang's `monitor_node/2`): one `Down` with
   * `NoConnection` (and `monitor.node` set) when it is lost — at once if it is not connected.
   * Cancel with `demonitor`.
   */
  monitorNode(node: string): Effect.Effect<MonitorRef>
  /** Turns exit signals from links into `ExitSignal` messages (handled by `onExit`). */
  trapExit(enabled: boolean): Effect.Effect<void>
  /** Sends `message` to self after `delay`; a timer with the same key is replaced. Uses Effect's Clock. */
  startTimer(key: string, message: Message<D>, delay: Duration.Input): Effect.Effect<void>
  /** Sends `message` to self every `interval` until cancelled or the actor stops. */
  startPeriodicTimer(key: string, message: Message<D>, interval: Duration.Input): Effect.Effect<void>
  cancelTimer(key: string): Effect.Effect<void>
  /** What a supervisor needs beyond an ordinary actor's means (Telex's `Supervisor` uses it). */
  readonly supervision: SupervisorCapability
}

/**
 * The runtime capabilities of a supervising actor: publishing what it does, owning the order in
 * which its children stop, and knowing its parent.
 */
export interface SupervisorCapability {
  /** Publishes an event on `ActorSystem.supervisionEvents`. */
  publish(event: SupervisionEvent): void
  /**
   * Takes over the stopping of `child` (a child of this actor): it is no longer stopped with
   * the other children when this actor stops (in reverse spawn order, without a budget), so
   * this actor must stop it itself, e.g. with `stopChild`.
   */
  adopt(child: ActorRef<any>): void
  /** This actor's parent (`undefined` for a top-level actor). */
  readonly parent: ActorRef<any> | undefined
  /**
   * Stops a child and waits until it is gone (OTP's supervisor shutdown): `"brutal_kill"` kills
   * it; a budget in milliseconds sends it `Shutdown` and kills it if it has not exited within
   * the budget. With 0, a child that does not trap exits ends at once with `Shutdown` (its
   * cleanup runs, nobody waits for it); one that traps exits, or is already stopping, is killed
   * at once. If this actor is killed meanwhile, the child is killed at once.
   */
  stopChild(child: ActorRef<any>, budget: number | "brutal_kill"): Effect.Effect<void>
  /** Cancels every timer of this actor (`Supervise`'s in-place restart: timers are an incarnation's). */
  cancelTimers(): Effect.Effect<void>
}

/** What `monitor` accepts: a ref, a name registered on this node, or a name on a node. */
export type MonitorTarget = ActorRef<any> | string | { readonly name: string; readonly node: string }

export class ActorContext extends Context.Service<ActorContext, ActorContextShape>()("telex/ActorContext") {
  /** This actor's context typed by its protocol: `self` is an `ActorRef<D>`, timers take its messages. */
  static readonly for = <D extends MessageDefs>(
    _protocol: ActorProtocol<D>
  ): Effect.Effect<ActorContextShape<D>, never, ActorContext> => ActorContext.useSync((ctx) => ctx as ActorContextShape<D>)
}

/** This actor's ref, typed with its protocol. */
export const self = <D extends MessageDefs>(_protocol: ActorProtocol<D>): Effect.Effect<ActorRef<D>, never, ActorContext> =>
  ActorContext.useSync((ctx) => ctx.self as ActorRef<D>)
