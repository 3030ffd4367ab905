/**
 * The kernel seam: what the runtime folders built on `src/actors` (system, supervision,
 * transport, cluster, reliable, testing) may use of an actor system beyond the public API, and
 * the only way they reach its internals. It is not part of the user's API (the package does not
 * export it): applications use `ActorSystem`, `ActorRef` and `ActorContext`.
 *
 * - local lookup by id and by name (`local`, `named`), and refs for addresses (`refFor`);
 * - monitor ids (`newMonitorId`), dead letters (`deadLetter`) and supervision events
 *   (`publishEvent`), and the streams they are published on;
 * - installing the resolver of other nodes' addresses (`setRemote`, the transport's router);
 * - counters and a snapshot for introspection (`counters`, `snapshot`: actors, parents,
 *   names, protocols, mailbox depths);
 * - delivery targets (`Target`, `Offer`, `Reply`, `targetOf(ref)`): the synchronous interface
 *   a ref delivers through, which the transport implements for remote actors;
 * - binding decoded refs to their system: `withResolver` (the transport, while it decodes an
 *   envelope) and `CurrentResolver` (the system a fiber runs under, provided by its layer).
 *
 * Everything here is synchronous and allocation-free on the message path: the seam is an
 * interface the hot path calls, not an Effect per message.
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as PubSub from "effect/PubSub"
import { type AnyProtocol, type Behavior, IncarnationTypeId, type MessageDefs } from "./Actor.ts"
import type { ActorContextShape } from "./ActorContext.ts"
import type { SpawnError } from "./ActorError.ts"
import type { ActorAddress, ActorRef, NodeId, Resolver } from "./ActorRef.ts"
import type { DeadLetter, DeadLetterReason } from "./DeadLetter.ts"
import type { ExitReason } from "./ExitReason.ts"
import type { MonitorRef } from "./Signals.ts"
import { awaitStop as awaitStopTarget, Cell, StoppingHook } from "./internal/cell.ts"
import * as Deadlines from "../internal/deadlines.ts"
import { defaultDefaults, SystemCore } from "./internal/system.ts"
import type { Reply, Target } from "./internal/target.ts"
import type { OverflowPolicy } from "./Mailbox.ts"
import type { SpawnOptions } from "./SpawnOptions.ts"
import type { SupervisionEvent } from "./SupervisionEvent.ts"

export { Offer, type Reply, type Target } from "./internal/target.ts"
export { CurrentResolver, withResolver } from "./internal/binding.ts"
export { currentSelf } from "./internal/currentActor.ts"
export { fromTraceparent, toTraceparent } from "./internal/tracing.ts"

/** A live or stopped actor of this node, as the transport delivers to it. */
export interface LocalActor extends Target {
  readonly self: ActorRef<any>
  readonly protocol: AnyProtocol
  readonly mailbox: { readonly size: number }
  readonly overflow: OverflowPolicy
  readonly capacity: number
  readonly name: string | undefined
  /** messages accepted into its mailbox since it was spawned */
  readonly delivered: number
  /** it is handling messages now (a handler forked with `Actor.fork` runs apart and does not count) */
  readonly busy: boolean
  /** handlers forked with `Actor.fork` still running (an actor with one is not idle) */
  readonly forked: number
  /** the actor that spawned it (`undefined` for a top-level actor) */
  readonly parent: LocalActor | undefined
  /** the behaviour it was spawned with (a runtime that spawns actors finds what it gave each) */
  readonly behavior: Behavior<any, any, any>
  /** Calls `f` once when the mailbox has drained to half its capacity, or the actor is stopping. */
  onLowWater(f: () => void): void
}

/** Where messages for other nodes' addresses go; the transport installs one. */
export interface RemoteResolver {
  resolve(address: ActorAddress): Target
  /** The address registered as `name` on `node` (undefined: none); fails when the node is unreachable. */
  whereis?(node: string, name: string): Effect.Effect<ActorAddress | undefined, unknown>
  /** Calls `f` once when the connection to `node` is lost (at once if it is not up); returns the cancel. */
  watchNode?(node: string, f: () => void): () => void
}

/** One live local actor's process state (as Erlang's `process_info`). */
export interface ProcessInfo {
  readonly status: "starting" | "running"
  readonly name: string | undefined
  readonly links: ReadonlyArray<ActorRef<any>>
  /** the monitors this actor holds (on actors, names and nodes) */
  readonly monitors: ReadonlyArray<MonitorRef>
  /** the actors monitoring this one (local watchers and those on other nodes) */
  readonly monitoredBy: ReadonlyArray<ActorRef<any>>
  readonly trapExit: boolean
  readonly mailboxSize: number
}

export interface Counters {
  /** registered actors: running, or stopping and not yet gone */
  readonly actors: number
  /** messages accepted into local mailboxes */
  readonly delivered: number
  readonly deadLetters: number
}

export interface ActorInfo {
  readonly ref: ActorRef<any>
  /** the actor's address, formatted (`Protocol@node#incarnation/id`) */
  readonly key: string
  readonly protocol: string
  readonly name: string | undefined
  /** the parent's key (`undefined` for a top-level actor) */
  readonly parent: string | undefined
  /** messages waiting in its mailbox */
  readonly mailbox: number
  /** false once it is stopping */
  readonly alive: boolean
}

export interface Snapshot extends Counters {
  readonly node: NodeId
  /** registered actors (alive or stopping), parents before their children */
  readonly actorInfos: ReadonlyArray<ActorInfo>
}

export interface Kernel extends Resolver {
  readonly nodeId: NodeId
  /** `name#incarnation` */
  readonly nodeKey: string
  /** A ref for any address (local or not), bound to this kernel. */
  refFor(address: ActorAddress): ActorRef<any>
  /** The local actor with this id, if it has not been unregistered (check `isAlive`). */
  local(id: number): LocalActor | undefined
  /**
   * The local actor registered under `name`, if any: alive or stopping (a name is held until its
   * actor is gone, so whereis, lookups and monitors by name find a stopping one; check `isAlive`
   * before handing it work).
   */
  named(name: string): LocalActor | undefined
  newMonitorId(): number
  deadLetter(recipient: string, message: unknown, reason: DeadLetterReason): void
  publishEvent(event: SupervisionEvent): void
  readonly deadLetters: PubSub.PubSub<DeadLetter>
  readonly events: PubSub.PubSub<SupervisionEvent>
  /** Installs (or, with `undefined`, removes) the resolver for other nodes' addresses. */
  setRemote(remote: RemoteResolver | undefined): void
  counters(): Counters
  snapshot(): Snapshot
  /** The registered actors (alive or stopping), in spawn order, without copying: for tools that page through many. */
  localActors(): IterableIterator<LocalActor>
  /** The process state of a live actor of this node (`undefined` for any other ref). */
  processInfo(ref: ActorRef<any>): ProcessInfo | undefined
  /**
   * Spawns an actor with no parent. A `detached` one is not among the actors `stopTopLevel`
   * stops: its owner stops it (the root supervisor, stopped after everything else).
   */
  spawnTopLevel<D extends MessageDefs, E, R>(
    behavior: Behavior<D, E, R>,
    options?: SpawnOptions,
    detached?: boolean
  ): Effect.Effect<ActorRef<D>, SpawnError, R>
  /** Refuses new spawns and stops the top-level actors in reverse spawn order, each awaited. */
  stopTopLevel(): Effect.Effect<void>
}

export interface Options {
  readonly mailboxCapacity?: number | undefined
  readonly overflow?: OverflowPolicy | undefined
  readonly throughput?: number | undefined
  readonly validateLocal?: boolean | undefined
  /**
   * Time is virtual (a `TestClock`): work is sliced by counts, not by the wall clock, so that
   * a simulated run replays exactly (see `isLiveClock`).
   */
  readonly virtualTime?: boolean | undefined
}

/**
 * Whether `clock` is Effect's live clock. Under any other (`TestClock`) time is virtual: what
 * the runtime does must not depend on the wall clock, or a seeded simulation would not replay.
 */
export const isLiveClock: (clock: Clock.Clock) => boolean = Deadlines.isLiveClock

/** A new kernel for the node `nodeId`. */
export const make = (nodeId: NodeId, options?: Options): Kernel =>
  new SystemCore(nodeId, {
    capacity: options?.mailboxCapacity ?? defaultDefaults.capacity,
    overflow: options?.overflow ?? defaultDefaults.overflow,
    throughput: options?.throughput ?? defaultDefaults.throughput,
    validateLocal: options?.validateLocal ?? defaultDefaults.validateLocal,
    virtualTime: options?.virtualTime ?? defaultDefaults.virtualTime
  })

/** The kernel an actor runs on (`undefined` for a context that is not a running actor's). */
export const ofContext = (ctx: ActorContextShape): Kernel | undefined => ctx instanceof Cell ? ctx.system : undefined

/**
 * The running actor behind a context, as a delivery target: `offer(message, undefined,
 * undefined, true)` queues past the mailbox bound, as a timer's message is.
 */
export const localOf = (ctx: ActorContextShape): LocalActor | undefined => ctx instanceof Cell ? ctx : undefined

/**
 * Adds services to what a running actor's handlers see from now on (its later turns, forked
 * handlers and timers; not the init running now): for runtimes that wrap a user's behaviour
 * (sharded entities), so that its handlers' effects need no provide per message. Call it from
 * the actor's own init.
 */
export const provideToHandlers = (ctx: ActorContextShape, f: (context: Context.Context<never>) => Context.Context<never>): void => {
  if (ctx instanceof Cell && ctx.context !== undefined) ctx.context = f(ctx.context)
}

/**
 * A wrapper's handlers object (`handlers`, with `IncarnationTypeId`) calls another inner object
 * from now on: the actor's cell, if `handlers` is what it runs, calls that one's handlers.
 */
export const reincarnated = (ctx: ActorContextShape, handlers: object): void => {
  if (ctx instanceof Cell && ctx.handlers === handlers) {
    ctx.direct = (handlers as any)[IncarnationTypeId]
    ctx.directTag = ctx.directHandler = undefined
  }
}

/**
 * The reason a local actor is stopping with, from the time it starts stopping (its finalizers
 * see it); `undefined` while it runs.
 */
export const stoppingReason = (ctx: ActorContextShape): ExitReason | undefined =>
  ctx instanceof Cell ? ctx.exitReason : undefined

/**
 * Whether a local actor is stopping (or gone) because it was killed — brutally, or past its
 * stop budget — and not by an orderly stop whose reason is `Killed` (its own
 * `ctx.stop(ExitReason.killed)`): a killed supervisor kills its children.
 */
export const killedBrutally = (ctx: ActorContextShape): boolean => ctx instanceof Cell && ctx.killedBrutally

/**
 * The children of a running actor that it stops itself when it stops (not those a supervisor
 * adopted), oldest first: for runtimes that restart an actor in place (`Supervise`).
 */
export const childrenOf = (ctx: ActorContextShape): Array<ActorRef<any>> =>
  ctx instanceof Cell && ctx.children !== undefined ? Array.from(ctx.children, (child) => child.self) : []

export {
  /**
   * A behaviour's optional method `(actor: LocalActor) => void`, called synchronously when an
   * actor spawned with it begins to stop (for any reason), before its queued messages become
   * dead letters: it may take them (`takeQueued`) to deliver them to the actor's successor.
   */
  StoppingHook
}

/** A message taken from a mailbox, with its ask's reply (undefined for a tell) and its sender. */
export interface Queued {
  readonly message: unknown
  readonly reply: Reply | undefined
  readonly sender: ActorRef<any> | undefined
}

/**
 * Takes the messages queued in a local actor's mailbox, oldest first (signals, and the messages
 * it sent itself — its timers' — stay). For a `StoppingHook`: they are the caller's to deliver.
 */
export const takeQueued = (actor: LocalActor): Array<Queued> => actor instanceof Cell ? actor.takeQueued() : []

/**
 * The delivery target a ref resolves to (a local actor, another node's actor through the
 * transport, or a dead one): how the runtime's other folders signal, link, watch or stop an
 * actor synchronously, without an Effect per call. Applications use the ref's own API.
 */
export const targetOf = (ref: ActorRef<any>): Target => ref.target

/**
 * Stops an actor and waits until it is gone. `timeoutMillis` bounds its orderly shutdown
 * (children and finalizers); past it the actor counts as killed (OTP's shutdown timeout). With
 * 0 it is gone at once with `reason` (its cleanup runs, nobody waits for it); an actor already
 * stopping is killed at once.
 */
export const awaitStop = (ref: ActorRef<any>, reason: ExitReason, timeoutMillis?: number): Effect.Effect<void> =>
  awaitStopTarget(ref.target, reason, timeoutMillis)
