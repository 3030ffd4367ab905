/**
 * The seam between an `ActorRef` and whatever delivers to it: a local actor cell, a remote
 * node's link, or nothing (a dead or unknown actor). Every operation is synchronous and cheap;
 * the effectful parts (suspending a sender, timeouts) live in `ActorRef`.
 *
 * @internal
 */
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Tracer from "effect/Tracer"
import type { ExitReason } from "../ExitReason.ts"
import type { Down, ExitSignal } from "../Signals.ts"
import type { InvalidMessage, ProtocolMismatch } from "../ActorError.ts"
import type { ActorRef } from "../ActorRef.ts"

/**
 * Completes an ask. Called at most once per ask (callers make it idempotent). A traced ask
 * carries its span here (the asker's client span, or the remote one from the envelope), so the
 * mailbox needs no extra slot: untraced asks never set it.
 */
export type Reply = ((exit: Exit.Exit<unknown, unknown>) => void) & { span?: Tracer.AnySpan | undefined }

/** Results of `Target.offer`. */
export const Offer = {
  Ok: 0,
  /** mailbox full, overflow policy `backpressure`: wait with `waitForSpace` and retry */
  Full: 1,
  /** mailbox full, overflow policy `fail` */
  Rejected: 2,
  /** the actor is gone; the message went to dead letters */
  Dead: 3,
  /** mailbox full, overflow policy `dropNewest`: the message went to dead letters */
  Dropped: 4
} as const
export type Offer = (typeof Offer)[keyof typeof Offer]

export interface Target {
  readonly capacity: number
  /**
   * Checks a message before anything is sent, else undefined: a local actor when it asks for
   * it (`validateLocal`); a remote one checks in `offer`, where it encodes the message.
   */
  validate(message: unknown): InvalidMessage | ProtocolMismatch | undefined
  /**
   * Enqueues a message; `force` ignores the mailbox bound (signals, timers, `tellUnsafe`). A
   * target that checks the message while it sends it (a remote one, which encodes it) returns
   * why it could not: nothing was sent.
   */
  offer(
    message: unknown,
    reply: Reply | undefined,
    sender: ActorRef<any> | undefined,
    force?: boolean
  ): Offer | InvalidMessage | ProtocolMismatch
  /** Registers a one-shot wake-up for when the mailbox has room; returns the cancel function. */
  waitForSpace(wake: () => void): () => void
  /** Delivers a signal message (`Down`, `ExitSignal`) regardless of mailbox bounds. */
  signal(message: Down | ExitSignal): void
  /** An exit signal from a linked actor (or a kill); `direct`: sent by `system.exit` (Erlang's `exit/2`), not by a link. */
  exitSignal(from: ActorRef<any>, reason: ExitReason, untrappable?: boolean, direct?: boolean): void
  addLink(from: ActorRef<any>): void
  removeLink(from: ActorRef<any>): void
  addMonitor(id: number, watcher: ActorRef<any>): void
  removeMonitor(id: number): void
  /** Starts termination; `onExit` (if given) is called once the actor is fully stopped. */
  shutdown(reason: ExitReason, onExit?: (reason: ExitReason) => void, timeoutMillis?: number): void
  /** Calls `f` with the exit reason once the actor has stopped (at once if it already has). */
  onExit(f: (reason: ExitReason) => void): () => void
  readonly isAlive: boolean
  /** Whether `fiber` is the one running this actor's handlers now (a local actor's turn). */
  runsHandlerIn?(fiber: Fiber.Fiber<unknown, unknown>): boolean
  /** An ask gave up (timeout or interruption): forget its reply (remote targets keep a table). */
  cancelAsk?(reply: Reply): void
}
