/**
 * The actor system: one per node (OS process). It spawns, stops and finds actors, publishes
 * dead letters and supervision events, and owns the node's root supervisor.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const system = yield* ActorSystem
 *   const counter = yield* system.spawn(CounterLive, { name: "counter" })
 *   yield* counter.tell(Counter.Increment({ by: 2 }))
 *   const n = yield* counter.ask(Counter.Get())
 * }).pipe(Effect.provide(ActorSystem.layer()))
 * ```
 *
 * Two supervisors head the node, as Erlang's kernel and application trees (Akka's `/system`
 * and `/user` guardians): `system.root` for the application's supervisors, and
 * `system.services` for the node's own services (the transport's link supervisor). Neither can
 * bring the other down: when the application tree gives up past the root's intensity, the
 * services keep running and `rootExit` completes, so that whoever runs the node can end it (the
 * cluster node process exits non-zero, to be restarted by its launcher).
 *
 * Closing the layer's scope stops every actor: top-level actors in reverse spawn order, then
 * the root supervisor (which stops its children in reverse start order), then the services.
 *
 * The system sits one layer above `src/actors` (the actor kernel: cells, refs, mailboxes,
 * signals) and `src/supervision` (supervisors), because it starts the root supervisor: the
 * kernel itself knows nothing of supervisors.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ExitReason from "../actors/ExitReason.ts"
import type { SupervisionEvent } from "../actors/SupervisionEvent.ts"
import * as Supervisor from "../supervision/Supervisor.ts"
import { ActorContext } from "../actors/ActorContext.ts"
import type { ActorProtocol, Behavior, MessageDefs } from "../actors/Actor.ts"
import { ActorNotFound, type SpawnError } from "../actors/ActorError.ts"
import { type ActorAddress, ActorRef, type NodeId } from "../actors/ActorRef.ts"
import { type DeadLetter, formatReason } from "../actors/DeadLetter.ts"
import * as Kernel from "../actors/Kernel.ts"
import type { OverflowPolicy } from "../actors/Mailbox.ts"
import type { SpawnOptions } from "../actors/SpawnOptions.ts"

export interface ActorSystemShape {
  readonly nodeId: NodeId
  /**
   * Spawns a top-level actor (stopped when the system stops; not supervised). Every actor of the
   * system (and its children) has the system in its context, so a behaviour may require it.
   */
  spawn<D extends MessageDefs, E, R>(
    behavior: Behavior<D, E, R>,
    options?: SpawnOptions
  ): Effect.Effect<ActorRef<D>, SpawnError, Exclude<R, ActorSystem>>
  /**
   * Stops an actor and waits until it is gone (default reason `Shutdown`). As OTP's
   * `exit(Pid, shutdown)` to a process that does not trap exits: the running handler is
   * interrupted and queued messages become dead letters; its finalizers run. It does not wait
   * for the current message (as `gen_server:stop` would), so that it also stops a stuck actor;
   * to let queued work finish first, send a message whose handler calls `ctx.stop()`.
   */
  stop(ref: ActorRef<any>, reason?: ExitReason.ExitReason): Effect.Effect<void>
  /**
   * Sends the untrappable kill signal: the actor exits with `Killed` at once — also one that is
   * already stopping (its finalizers still run; nobody waits for them any longer).
   */
  kill(ref: ActorRef<any>): Effect.Effect<void>
  /**
   * Sends an exit signal, as Erlang's `exit/2` (from the calling actor, if any): a trapping
   * actor receives it as an `ExitSignal`; any other exits with `reason` — unless it is `Normal`,
   * which it ignores (but an actor sending `Normal` to itself stops). `Killed` is untrappable.
   * Works across nodes. Does not wait for the exit.
   */
  exit(ref: ActorRef<any>, reason: ExitReason.ExitReason): Effect.Effect<void>
  /**
   * What Erlang's `process_info/2` tells of a local actor: its links, the monitors it holds and
   * the actors monitoring it, whether it traps exits, its mailbox size. `None` if it is not a
   * live actor of this node.
   */
  info(ref: ActorRef<any>): Option.Option<ActorInfo>
  /**
   * Finds the actor registered under `name` on this node, checking its protocol. An actor that
   * is stopping is found until it is gone (its name is taken until then, as a process's during
   * its `terminate/2`).
   */
  lookup<D extends MessageDefs>(protocol: ActorProtocol<D>, name: string): Effect.Effect<ActorRef<D>, ActorNotFound>
  /** The actor registered under `name` on this node, stopping or not (as `lookup`, unchecked). */
  whereis(name: string): Option.Option<ActorRef<any>>
  /** Waits until the actor has stopped and returns its exit reason (`NoProc` if it was never alive). */
  awaitExit(ref: ActorRef<any>): Effect.Effect<ExitReason.ExitReason>
  /** A ref for an address (e.g. one received out of band). */
  refFor(address: ActorAddress): ActorRef<any>
  /** Undeliverable messages, with their reason. */
  readonly deadLetters: Stream.Stream<DeadLetter>
  readonly supervisionEvents: Stream.Stream<SupervisionEvent>
  /** The root supervisor (one_for_one): the application's supervisors are its children. */
  readonly root: Supervisor.SupervisorRef
  /** Completes with the root supervisor's exit reason if it ever gives up. */
  readonly rootExit: Effect.Effect<ExitReason.ExitReason>
  /**
   * The node services' supervisor (one_for_one), apart from `root` so that the application's
   * tree giving up never takes the node's services (transport links) with it.
   */
  readonly services: Supervisor.SupervisorRef
  /** Number of dead letters so far. */
  readonly deadLetterCount: () => number
  /** Number of live actors. */
  readonly actorCount: () => number
}

/** One live local actor's process state (`system.info`, as Erlang's `process_info`). */
export type ActorInfo = Kernel.ProcessInfo

export interface Options {
  /** Node name (default "local"); the incarnation is new on every start. */
  readonly node?: string | undefined
  readonly incarnation?: number | undefined
  readonly mailboxCapacity?: number | undefined
  readonly overflow?: OverflowPolicy | undefined
  readonly throughput?: number | undefined
  /** Validate every local send with the protocol Schema (tests). */
  readonly validateLocal?: boolean | undefined
  /** Root supervisor settings (strategy is always one_for_one). */
  readonly root?: Omit<Supervisor.Options, "strategy"> | undefined
}

export class ActorSystem extends Context.Service<ActorSystem, ActorSystemShape>()("telex/ActorSystem") {
  static readonly make = (options?: Options) => make(options)
  /** The system, and its resolver for refs decoded by code running under it (outside actors). */
  static readonly layer = (options?: Options): Layer.Layer<ActorSystem> =>
    Layer.effectContext(
      Effect.map(make(options), (system) =>
        Context.make(ActorSystem, system).pipe(Context.add(Kernel.CurrentResolver, kernelOf(system))))
    )
}

const kernels = new WeakMap<ActorSystemShape, Kernel.Kernel>()

/**
 * The kernel behind a system, for the runtime folders (transport, cluster, reliable, testing);
 * not exported from the package.
 */
export const kernelOf = (system: ActorSystemShape): Kernel.Kernel => {
  const kernel = kernels.get(system)
  if (kernel === undefined) throw new Error("not an actor system made by ActorSystem.make")
  return kernel
}

let incarnationCounter = 0
/** A fresh incarnation number: start time in ms plus a per-process counter, so restarts differ. */
export const newIncarnation = (): number => Date.now() * 1000 + (incarnationCounter++ % 1000)

const make = Effect.fnUntraced(function*(options?: Options) {
  const nodeId: NodeId = { name: options?.node ?? "local", incarnation: options?.incarnation ?? newIncarnation() }
  const core = Kernel.make(nodeId, { ...options, virtualTime: !Kernel.isLiveClock(yield* Clock.Clock) })

  // dead letters are logged at debug level by a background subscriber, when debug is on where the
  // system is made (the subscriber logs with that context): otherwise each one would be formatted
  // for nothing, most of a sender's cost under a flood of dead letters
  if (yield* LogLevel.isEnabled("Debug")) {
    yield* Stream.fromPubSub(core.deadLetters).pipe(
      Stream.runForEach((d) =>
        Effect.logDebug(`dead letter to ${d.recipient}: ${formatReason(d.reason)}`).pipe(
          Effect.annotateLogs({ node: nodeId.name, message: (d.message as any)?._tag ?? typeof d.message })
        )
      ),
      Effect.forkScoped
    )
  }

  const rootExit = yield* Deferred.make<ExitReason.ExitReason>()
  // set below, once the service they see in their context exists
  let root: Supervisor.SupervisorRef | undefined
  let services: Supervisor.SupervisorRef | undefined

  /** Runs a spawn with this system in the fiber's context (so the actor's context has it). */
  const withThisSystem = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, ActorSystem>> =>
    Effect.withFiber((fiber) =>
      Context.getOrUndefined(fiber.context, ActorSystem) === service
        ? effect as Effect.Effect<A, E, Exclude<R, ActorSystem>>
        : Effect.provideService(effect, ActorSystem, service)
    )

  // the sender of exit signals sent from outside any actor
  const external = new ActorRef({ node: nodeId, id: 0, protocol: "telex/system" }, undefined, core)

  const service: ActorSystemShape = {
    nodeId,
    get root() {
      return root!
    },
    rootExit: Deferred.await(rootExit),
    get services() {
      return services!
    },
    spawn: (behavior, spawnOptions) => withThisSystem(core.spawnTopLevel(behavior, spawnOptions)),
    stop: (ref, reason = ExitReason.shutdown) => Kernel.awaitStop(ref, reason),
    kill: (ref) =>
      Effect.withFiber((fiber) => {
        // sent as `exit` sends it, from the calling actor (or from outside any actor): an actor on
        // another node takes a signal only from an actor of the sending node
        const from = Context.getOrUndefined(fiber.context, ActorContext)?.self ?? external
        return Effect.callback<void>((resume) => {
          const target = Kernel.targetOf(ref)
          target.onExit(() => resume(Effect.void))
          target.exitSignal(from, ExitReason.killed, true, true)
        })
      }),
    exit: (ref, reason) =>
      Effect.withFiber((fiber) => {
        const from = Context.getOrUndefined(fiber.context, ActorContext)?.self ?? external
        Kernel.targetOf(ref).exitSignal(from, reason, reason._tag === "Killed", true)
        return Effect.void
      }),
    info: (ref) => Option.fromUndefinedOr(core.processInfo(ref)),
    lookup: (protocol, name) =>
      Effect.suspend(() => {
        // (a registered actor is found until it is gone, stopping too: its name is taken until then)
        const cell = core.named(name)
        if (cell === undefined || cell.protocol.name !== protocol.name) {
          return Effect.fail(new ActorNotFound({ name }))
        }
        return Effect.succeed(cell.self)
      }),
    whereis: (name) => {
      const cell = core.named(name)
      return cell !== undefined ? Option.some(cell.self) : Option.none()
    },
    awaitExit: (ref) =>
      Effect.callback<ExitReason.ExitReason>((resume) => {
        const cancel = Kernel.targetOf(ref).onExit((reason) => resume(Effect.succeed(reason)))
        return Effect.sync(cancel)
      }),
    refFor: (address) => new ActorRef(address, undefined, core),
    deadLetters: Stream.fromPubSub(core.deadLetters),
    supervisionEvents: Stream.fromPubSub(core.events),
    deadLetterCount: () => core.counters().deadLetters,
    actorCount: () => core.counters().actors
  }
  kernels.set(service, core)

  // detached: stopped after the other top-level actors (below), not among them
  const rootBehavior = Supervisor.make({ ...options?.root, children: [] })
  root = yield* withThisSystem(core.spawnTopLevel(rootBehavior, { name: "telex/root" }, true)).pipe(Effect.orDie)
  Kernel.targetOf(root).onExit((reason) => Deferred.doneUnsafe(rootExit, Effect.succeed(reason)))
  const servicesBehavior = Supervisor.make({ children: [] })
  services = yield* withThisSystem(core.spawnTopLevel(servicesBehavior, { name: "telex/services" }, true)).pipe(Effect.orDie)

  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* core.stopTopLevel()
      yield* Kernel.awaitStop(root!, ExitReason.shutdown)
      yield* Kernel.awaitStop(services!, ExitReason.shutdown)
    })
  )
  return service
})
