/**
 * Supervisors: actors that start, watch and restart other actors, with OTP's semantics.
 *
 * A supervisor is an ordinary actor that traps exits and links to its children. Its children
 * are started in order when it starts (a child that fails to start makes the supervisor fail to
 * start, after stopping the ones already started), and stopped in reverse order when it stops,
 * each within its `shutdown` budget (then killed). When a child exits, the pure
 * `RestartPolicy.decide` says what to do; see that module for the rules and defaults.
 *
 * ```ts
 * const App = Supervisor.make({
 *   strategy: "one_for_one",
 *   children: [
 *     Supervisor.child("counter", CounterLive, { options: { name: "counter" } }),
 *     Supervisor.child("cache", CacheLive, { restart: "transient", shutdown: "2 seconds" })
 *   ]
 * })
 * const app = yield* system.spawn(App)
 * ```
 *
 * `Supervisor.dynamic` is OTP's `simple_one_for_one`: no children at start, `StartChild` with
 * arguments creates children from one template.
 *
 * Every decision is published on `ActorSystem.supervisionEvents`.
 *
 * Flags and child specs are checked as OTP's `check_childspecs` does, for JavaScript callers
 * too: `make` / `dynamic` throw a `SupervisorSpecError`; `startChild` fails with `InvalidSpec`.
 * A child's init may yield `Supervisor.ignore` (OTP's `ignore`): it is not started and its spec
 * is kept. `significant` children and `autoShutdown` are OTP 24's.
 *
 * Semantics, OTP's unless said otherwise:
 * - A supervisor that gives up (more than `intensity` restarts within `period`) stops its
 *   children and exits with `Shutdown` (detail: why), so a `transient` parent does not restart
 *   it. `period: "infinity"` counts every restart ever made (OTP requires a finite period).
 * - Static children stop one at a time in reverse start order; dynamic children have no order
 *   and stop in parallel, each within its own `shutdown` budget (OTP's `simple_one_for_one`).
 * - Stopping a child is OTP's `exit(Child, shutdown)`: a child that traps exits receives an
 *   `ExitSignal(Shutdown)` from its supervisor after its current (and already queued) messages,
 *   handles it in `onExit` and exits — with `Shutdown`, or its own reason if it calls
 *   `ctx.stop(reason)` (an exit signal from its parent ends a trapping actor, as a gen_server).
 *   A child that does not trap exits is interrupted at once; its finalizers run. Either way,
 *   past the `shutdown` budget it is killed. `shutdown: 0` is OTP's too, not `brutal_kill`:
 *   the signal comes first, so a child that does not trap exits ends with `Shutdown` (at once;
 *   its finalizers run, nobody waits for them), and only one still alive after it (trapping
 *   exits, or already stopping) is killed at once. A supervisor that is killed (by `system.kill`, an
 *   exit signal `Killed`, or past its own budget while it stops its children) kills its children
 *   (the one it waits for and those it has not stopped yet), child supervisors' children too.
 *   OTP's children see their supervisor's `killed`, and a child supervisor, which traps it,
 *   shuts its own children down in order (they see `shutdown`); Telex kills the subtree at once,
 *   so that the restart of the killed supervisor never finds a name still held by an old
 *   grandchild that is stopping (in OTP it may fail with `already_started` and use up the
 *   restart intensity).
 * - `whichChildren` lists children in start order (OTP lists the newest first): that is the
 *   order they are started and restarted in, and the reverse of the stop order.
 * - A restart whose start fails is retried through the supervisor's mailbox (OTP's
 *   `try_again_restart`), so calls are served between the attempts of a child that keeps
 *   failing to start: meanwhile only that child is `restarting` (the others of its group are as
 *   the failed attempt left them: under `one_for_all` those before it run, those after it wait
 *   `stopped`), and `terminateChild` of it ends the retries. The retry restarts its group as it
 *   is then: the members running (a `restartChild` or `startChild` meanwhile included) are
 *   stopped and all start again in order, those terminated meanwhile too, as in OTP.
 * - While a restart waits for its backoff (which OTP lacks), the child is `restarting`:
 *   `restartChild` and `deleteChild` fail with `Restarting` (OTP's `{error, restarting}`), and
 *   `terminateChild` cancels the pending restart.
 * - `terminateChild(sup, ref)` of a dynamic child removes its entry (OTP's
 *   `terminate_child(Sup, Pid)`); by id, a child's entry is kept for `restartChild`, dynamic or
 *   not (Telex's dynamic children have ids, unlike OTP's).
 * - A supervisor ignores the `Down` of monitors it does not hold and the exits of actors that
 *   are no longer its children.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Actor from "../actors/Actor.ts"
import { ActorContext } from "../actors/ActorContext.ts"
import type { AskError, SpawnError } from "../actors/ActorError.ts"
import * as ActorRefModule from "../actors/ActorRef.ts"
import type { ActorRef } from "../actors/ActorRef.ts"
import type { SpawnOptions } from "../actors/SpawnOptions.ts"
import { killedBrutally, targetOf } from "../actors/Kernel.ts"
import * as ExitReason from "../actors/ExitReason.ts"
import * as RestartPolicy from "./RestartPolicy.ts"
import type { ExitSignal } from "../actors/Signals.ts"
import type { SupervisionEvent } from "../actors/SupervisionEvent.ts"

export type Shutdown = Duration.Input | "brutal_kill" | "infinity"

export interface ChildSpec<R = never, D extends Actor.MessageDefs = any> {
  readonly id: string
  readonly behavior: Actor.Behavior<D, any, R>
  readonly options?: Omit<SpawnOptions, "link"> | undefined
  /** default `permanent` */
  readonly restart?: RestartPolicy.RestartType | undefined
  /**
   * default 5 s for workers, `infinity` for supervisors (as OTP). A duration T: the child is
   * sent `Shutdown` and killed if it has not exited after T; with 0 the signal still comes
   * first (a child that does not trap exits ends with `Shutdown`). `brutal_kill`: killed.
   */
  readonly shutdown?: Shutdown | undefined
  /** default: `supervisor` for behaviours made by this module, else `worker` */
  readonly type?: "worker" | "supervisor" | undefined
  /**
   * A significant child's own exit (one it is not restarted for) may stop the supervisor, per
   * its `autoShutdown` flag. Only `transient` and `temporary` children may be significant (OTP).
   */
  readonly significant?: boolean | undefined
}

export const child = <R, D extends Actor.MessageDefs = any>(
  id: string,
  behavior: Actor.Behavior<D, any, R>,
  options?: Omit<ChildSpec<R, D>, "id" | "behavior">
): ChildSpec<R, D> => ({ id, behavior, ...options })

export interface BackoffOptions {
  readonly initial?: Duration.Input | undefined
  readonly max?: Duration.Input | undefined
  readonly factor?: number | undefined
  readonly jitter?: number | undefined
  readonly resetAfter?: Duration.Input | undefined
}

export type AutoShutdown = "never" | "any_significant" | "all_significant"

export interface Options {
  /** default `one_for_one` */
  readonly strategy?: RestartPolicy.Strategy | undefined
  /** max restarts within `period` before escalating; default 10 */
  readonly intensity?: number | undefined
  /** default 10 seconds; `"infinity"` counts every restart the supervisor ever made */
  readonly period?: Duration.Input | "infinity" | undefined
  /** restart backoff; `false` restarts at once (plain OTP). Default: 10 ms × 2 up to 1 s, ±20%, reset after 5 s */
  readonly backoff?: BackoffOptions | false | undefined
  /**
   * default `never`; `any_significant`: the supervisor stops (with `Shutdown`) when any significant
   * child exits by itself and is not restarted; `all_significant`: when all of them have
   */
  readonly autoShutdown?: AutoShutdown | undefined
}

/** A supervisor's flags or child specs are invalid (OTP's `check_childspecs`); thrown by `make` / `dynamic`. */
export class SupervisorSpecError extends Schema.TaggedError<SupervisorSpecError>()("SupervisorSpecError", {
  /** the child id, or `"(flags)"` for the supervisor's own options */
  childId: Schema.String,
  message: Schema.String
}) {}

export class SupervisorError extends Schema.TaggedError<SupervisorError>()("SupervisorError", {
  reason: Schema.Literals([
    "AlreadyPresent",
    /** `startChild` of an id that is running: `actor` is the running child */
    "AlreadyStarted",
    "NotFound",
    "Running",
    /** `restartChild` / `deleteChild` of a child waiting for its backoff restart (OTP's `restarting`) */
    "Restarting",
    /** the child did not start; when its name (`options.name`) is taken, `actor` is the actor registered under it */
    "StartFailed",
    /** the child's init returned `Supervisor.ignore`: not started, its spec is kept */
    "Ignored",
    "NotDynamic",
    /** an admin call got an argument of the wrong type (e.g. a number for a child id) */
    "InvalidArgument",
    /** a child spec (from `startChild` or a dynamic template) failed validation */
    "InvalidSpec"
  ]),
  childId: Schema.String,
  message: Schema.String,
  actor: Schema.optional(ActorRefModule.schema)
}) {}

const isRef = (u: unknown): u is ActorRef<any> => u instanceof ActorRefModule.ActorRef

const describe = (u: unknown): string => {
  if (typeof u === "string") return u
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return Object.prototype.toString.call(u)
  }
}

/** Builds a SupervisorError from arbitrary (possibly ill-typed) input: never throws. */
const supervisorError = (reason: SupervisorError["reason"], childId: unknown, message: string, actor?: ActorRef<any>) =>
  new SupervisorError({
    reason,
    childId: isRef(childId) ? childId.key : describe(childId),
    message,
    ...(actor !== undefined ? { actor } : {})
  })

// ---------------------------------------------------------------------------
// validation (OTP's check_childspecs / check_flags)
// ---------------------------------------------------------------------------

const strategies: ReadonlyArray<unknown> = ["one_for_one", "one_for_all", "rest_for_one"]
const restartTypes: ReadonlyArray<unknown> = ["permanent", "transient", "temporary"]
const childTypes: ReadonlyArray<unknown> = ["worker", "supervisor"]
const autoShutdowns: ReadonlyArray<unknown> = ["never", "any_significant", "all_significant"]

const durationMillis = (u: unknown): number | undefined => {
  if (u === undefined || u === null || typeof u === "boolean") return undefined
  try {
    const d = Duration.fromInput(u as Duration.Input)
    return d._tag === "Some" ? Duration.toMillis(d.value) : undefined
  } catch {
    return undefined
  }
}

const isBehavior = (u: unknown): boolean =>
  typeof u === "object" && u !== null && typeof (u as any).protocol?.name === "string" && Effect.isEffect((u as any).init)

/** What is wrong with a child spec, or undefined. Checks everything a JS caller could get wrong. */
export const checkChildSpec = (spec: unknown, autoShutdown: AutoShutdown = "never"): string | undefined => {
  if (typeof spec !== "object" || spec === null) return `a child spec must be an object, got ${describe(spec)}`
  const s = spec as Record<string, unknown>
  if (typeof s.id !== "string" || s.id.length === 0) return `the child id must be a non-empty string, got ${describe(s.id)}`
  if (!isBehavior(s.behavior)) return `child ${JSON.stringify(s.id)}: behavior must be an actor behaviour (Protocol.behavior(init))`
  if (s.restart !== undefined && !restartTypes.includes(s.restart)) {
    return `child ${JSON.stringify(s.id)}: restart must be permanent, transient or temporary, got ${describe(s.restart)}`
  }
  if (s.type !== undefined && !childTypes.includes(s.type)) {
    return `child ${JSON.stringify(s.id)}: type must be worker or supervisor, got ${describe(s.type)}`
  }
  if (s.shutdown !== undefined && s.shutdown !== "brutal_kill" && s.shutdown !== "infinity") {
    const ms = durationMillis(s.shutdown)
    if (ms === undefined || !(ms >= 0)) {
      return `child ${JSON.stringify(s.id)}: shutdown must be "brutal_kill", "infinity" or a duration, got ${describe(s.shutdown)}`
    }
  }
  if (s.options !== undefined && (typeof s.options !== "object" || s.options === null)) {
    return `child ${JSON.stringify(s.id)}: options must be an object`
  }
  if (s.significant !== undefined && typeof s.significant !== "boolean") {
    return `child ${JSON.stringify(s.id)}: significant must be a boolean, got ${describe(s.significant)}`
  }
  if (s.significant === true) {
    if ((s.restart ?? "permanent") === "permanent") {
      return `child ${JSON.stringify(s.id)}: a permanent child cannot be significant`
    }
    if (autoShutdown === "never") {
      return `child ${JSON.stringify(s.id)}: significant children need autoShutdown any_significant or all_significant`
    }
  }
  return undefined
}

const flagsError = (message: string) => new SupervisorSpecError({ childId: "(flags)", message: `Supervisor: ${message}` })

const toPolicy = (options: Options): RestartPolicy.Policy => {
  if (typeof options !== "object" || options === null) throw flagsError("options must be an object")
  if (options.strategy !== undefined && !strategies.includes(options.strategy)) {
    throw flagsError(`strategy must be one_for_one, one_for_all or rest_for_one, got ${describe(options.strategy)}`)
  }
  if (options.autoShutdown !== undefined && !autoShutdowns.includes(options.autoShutdown)) {
    throw flagsError(`autoShutdown must be never, any_significant or all_significant, got ${describe(options.autoShutdown)}`)
  }
  const d = RestartPolicy.defaults
  const b = options.backoff
  if (b !== undefined && b !== false && (typeof b !== "object" || b === null)) throw flagsError("backoff must be an object or false")
  const millis = (what: string, i: unknown, fallback: number) => {
    if (i === undefined) return fallback
    const ms = durationMillis(i)
    if (ms === undefined || !(ms >= 0)) throw flagsError(`${what} must be a duration, got ${describe(i)}`)
    return ms
  }
  const period = options.period === "infinity" ? Infinity : millis("period", options.period, d.periodMillis)
  const policy: RestartPolicy.Policy = {
    strategy: options.strategy ?? d.strategy,
    intensity: options.intensity ?? d.intensity,
    periodMillis: period,
    backoff: b === false ? undefined : {
      initialMillis: millis("backoff.initial", b?.initial, RestartPolicy.defaultBackoff.initialMillis),
      maxMillis: millis("backoff.max", b?.max, RestartPolicy.defaultBackoff.maxMillis),
      factor: b?.factor ?? RestartPolicy.defaultBackoff.factor,
      jitter: b?.jitter ?? RestartPolicy.defaultBackoff.jitter,
      resetAfterMillis: millis("backoff.resetAfter", b?.resetAfter, RestartPolicy.defaultBackoff.resetAfterMillis)
    }
  }
  if (typeof policy.intensity !== "number" || !Number.isInteger(policy.intensity) || policy.intensity < 0) {
    throw flagsError(`intensity must be a non-negative integer, got ${describe(policy.intensity)}`)
  }
  if (!(policy.periodMillis > 0)) throw flagsError(`period must be positive`)
  if (policy.backoff !== undefined) {
    if (!(typeof policy.backoff.factor === "number" && policy.backoff.factor >= 1)) {
      throw flagsError(`backoff factor must be a number >= 1, got ${describe(policy.backoff.factor)}`)
    }
    if (!(typeof policy.backoff.jitter === "number" && policy.backoff.jitter >= 0 && policy.backoff.jitter <= 1)) {
      throw flagsError(`backoff jitter must be within [0, 1], got ${describe(policy.backoff.jitter)}`)
    }
  }
  return policy
}

// ---------------------------------------------------------------------------
// ignore
// ---------------------------------------------------------------------------

class IgnoreStart {
  readonly _tag = "IgnoreStart"
  // (the actor exits with Normal, as a process whose init returns `ignore`)
  readonly [ExitReason.NotStartedTypeId] = true
}

/**
 * OTP's `ignore` start result: a behaviour's init that yields this is not started; under a
 * supervisor its spec is kept (status `stopped`) and `restartChild` may start it later. Outside a
 * supervisor the spawn fails with a `SpawnError`.
 */
export const ignore: Effect.Effect<never> = Effect.die(new IgnoreStart())

const isIgnore = (cause: Cause.Cause<unknown>): boolean =>
  cause.reasons.some((r) => Cause.isDieReason(r) && r.defect instanceof IgnoreStart)

// ---------------------------------------------------------------------------
// protocol and client functions
// ---------------------------------------------------------------------------

export const ChildStatus = Schema.Literals(["running", "restarting", "stopped"])
export const ChildInfo = Schema.Struct({
  id: Schema.String,
  /** the running child's address (formatted); see `ref` for the ref itself */
  actor: Schema.optional(Schema.String),
  ref: Schema.optional(ActorRefModule.schema),
  type: Schema.Literals(["worker", "supervisor"]),
  restart: Schema.Literals(["permanent", "transient", "temporary"]),
  status: ChildStatus,
  restarts: Schema.Number
})
export type ChildInfo = typeof ChildInfo.Type

/** What a supervisor is and how close it is to its intensity limit (for `telex observe`). */
export const SupervisorDescription = Schema.Struct({
  strategy: Schema.Literals(["one_for_one", "one_for_all", "rest_for_one"]),
  intensity: Schema.Number,
  /** the intensity's period; `Infinity` for `"infinity"` */
  periodMillis: Schema.Number,
  /** restarts within the period ending now */
  recentRestarts: Schema.Number,
  children: Schema.Array(Schema.Struct({
    ...ChildInfo.fields,
    /** for a child waiting for its backoff restart: when it is due (epoch millis, the supervisor's clock) */
    dueAt: Schema.optional(Schema.Number)
  }))
})
export type SupervisorDescription = typeof SupervisorDescription.Type

/** OTP's `count_children`. */
export const ChildCounts = Schema.Struct({
  /** child specs */
  specs: Schema.Number,
  /** running children */
  active: Schema.Number,
  supervisors: Schema.Number,
  workers: Schema.Number
})
export type ChildCounts = typeof ChildCounts.Type

/**
 * The protocol every supervisor speaks. Child specs hold behaviours, so these messages are
 * local-only. Arguments are checked by the supervisor (not by the Schema), so an ill-typed one is a
 * `SupervisorError` and not a crash.
 */
export const Protocol = Actor.make("telex/Supervisor", {
  StartChild: Actor.ask({ spec: Schema.Any }, { success: ActorRefModule.schema, error: SupervisorError }),
  StartDynamic: Actor.ask({ args: Schema.Any }, { success: ActorRefModule.schema, error: SupervisorError }),
  TerminateChild: Actor.ask({ id: Schema.Any }, { error: SupervisorError }),
  RestartChild: Actor.ask({ id: Schema.Any }, { success: ActorRefModule.schema, error: SupervisorError }),
  DeleteChild: Actor.ask({ id: Schema.Any }, { error: SupervisorError }),
  WhichChildren: Actor.ask({}, { success: Schema.Array(ChildInfo) }),
  WhichChild: Actor.ask({ id: Schema.Any }, { success: ChildInfo, error: SupervisorError }),
  CountChildren: Actor.ask({}, { success: ChildCounts }),
  Describe: Actor.ask({}, { success: SupervisorDescription }),
  RestartDue: Actor.tell({ ids: Schema.Array(Schema.String), generation: Schema.Number })
}, { local: true }) // child specs hold behaviours: a supervisor is driven from its own process
export type Protocol = typeof Protocol.defs
export type SupervisorRef = ActorRef<Protocol>

const adminTimeout = { timeout: "1 minute" } as const

/**
 * Starts a child under a running supervisor (OTP's `start_child`). Fails with `AlreadyStarted`
 * (carrying the running ref) for an id that runs, `AlreadyPresent` for a stopped one,
 * `InvalidSpec`, `StartFailed`, or `Ignored` (the spec is kept, not started).
 */
export const startChild = <R, D extends Actor.MessageDefs = any>(
  supervisor: SupervisorRef,
  spec: ChildSpec<R, D>
): Effect.Effect<ActorRef<D>, SupervisorError | AskError> =>
  supervisor.ask(Protocol.StartChild({ spec }), adminTimeout)

/** Starts a child of a dynamic supervisor from its template. */
export const startDynamic = <A>(supervisor: SupervisorRef, args: A): Effect.Effect<ActorRef<any>, SupervisorError | AskError> =>
  supervisor.ask(Protocol.StartDynamic({ args }), adminTimeout)

/**
 * Stops a child (OTP's `terminate_child`). By id its spec is kept (`restartChild` starts it
 * again); by ref — the form for dynamic children, as OTP's `simple_one_for_one` — a dynamic
 * child's entry is removed as well (a static child's spec is kept, as by id). A temporary
 * child's entry is removed either way.
 */
export const terminateChild = (supervisor: SupervisorRef, id: string | ActorRef<any>): Effect.Effect<void, SupervisorError | AskError> =>
  supervisor.ask(Protocol.TerminateChild({ id }), adminTimeout)

export const restartChild = (supervisor: SupervisorRef, id: string): Effect.Effect<ActorRef<any>, SupervisorError | AskError> =>
  supervisor.ask(Protocol.RestartChild({ id }), adminTimeout)

export const deleteChild = (supervisor: SupervisorRef, id: string): Effect.Effect<void, SupervisorError | AskError> =>
  supervisor.ask(Protocol.DeleteChild({ id }), adminTimeout)

/**
 * All children, in start order. Like the other admin calls it waits for a supervisor busy
 * stopping or starting a child (OTP's calls to a supervisor have no timeout): here up to a minute.
 */
export const whichChildren = (supervisor: SupervisorRef): Effect.Effect<ReadonlyArray<ChildInfo>, AskError> =>
  supervisor.ask(Protocol.WhichChildren({}), adminTimeout)

/** Its strategy, intensity, restarts within the period and children (with when a backoff restart is due). */
export const describeSupervisor = (supervisor: SupervisorRef): Effect.Effect<SupervisorDescription, AskError> =>
  supervisor.ask(Protocol.Describe({}))

/** One child by id (OTP's `get_childspec` + the state `which_children` shows). */
export const whichChild = (supervisor: SupervisorRef, id: string): Effect.Effect<ChildInfo, SupervisorError | AskError> =>
  supervisor.ask(Protocol.WhichChild({ id }), adminTimeout)

export const countChildren = (supervisor: SupervisorRef): Effect.Effect<ChildCounts, AskError> =>
  supervisor.ask(Protocol.CountChildren({}), adminTimeout)

// ---------------------------------------------------------------------------
// the supervisor actor
// ---------------------------------------------------------------------------

interface ChildState {
  spec: ChildSpec<any>
  type: "worker" | "supervisor"
  restart: RestartPolicy.RestartType
  significant: boolean
  ref: ActorRef<any> | undefined
  /** the ref it had when it last exited (OTP keeps a restarting child's last pid) */
  lastRef: ActorRef<any> | undefined
  status: "running" | "restarting" | "stopped"
  /** the restart timer this child waits for (a later decision supersedes an older timer) */
  due: number | undefined
  restarts: number
  /** what `start` spawns, made on the first start and reused by every restart */
  startWith: { readonly behavior: Actor.Behavior<any, any, any>; readonly options: SpawnOptions } | undefined
  /** set by the last start's init when it chose `Supervisor.ignore` */
  ignored: boolean
}

const isSupervisorBehavior = (behavior: Actor.Behavior<any, any, any>) => (behavior.protocol as unknown) === Protocol

/** A child's stop budget in milliseconds, or `"brutal_kill"` (0 is not a kill: see `stop`). */
const shutdownBudget = (child: ChildState): number | "brutal_kill" => {
  const s = child.spec.shutdown ?? (child.type === "supervisor" ? "infinity" : "5 seconds")
  if (s === "infinity") return Infinity
  if (s === "brutal_kill") return s
  return Duration.toMillis(Duration.fromInputUnsafe(s))
}

/**
 * A supervisor with static children (plus any added by `startChild`). Throws a
 * `SupervisorSpecError` for invalid flags or child specs (OTP's `check_childspecs`).
 */
export const make = <R = never>(
  options: Options & { readonly children: ReadonlyArray<ChildSpec<R>> }
): Actor.Behavior<Protocol, never, R> => {
  if (typeof options !== "object" || options === null) throw flagsError("options must be an object")
  if (!Array.isArray(options.children)) throw flagsError("children must be an array of child specs")
  return build(options, options.children, undefined)
}

/**
 * OTP's `simple_one_for_one`: children are made from `template` by `startDynamic(sup, args)`.
 * As in OTP, `autoShutdown` must be `never` (a `SupervisorSpecError` otherwise).
 */
export const dynamic = <A, R = never>(
  options: Omit<Options, "strategy"> & { readonly template: (args: A, index: number) => ChildSpec<R> }
): Actor.Behavior<Protocol, never, R> => {
  if (typeof options !== "object" || options === null) throw flagsError("options must be an object")
  if (typeof options.template !== "function") throw flagsError("template must be a function (args, index) => ChildSpec")
  // OTP's bad_combination of simple_one_for_one and auto_shutdown
  if (options.autoShutdown !== undefined && options.autoShutdown !== "never") {
    throw flagsError(`autoShutdown must be never for a dynamic supervisor, got ${describe(options.autoShutdown)}`)
  }
  return build({ ...options, strategy: "one_for_one" }, [], options.template as (args: unknown, index: number) => ChildSpec<any>)
}

const build = (
  options: Options,
  initialChildren: ReadonlyArray<ChildSpec<any>>,
  template: ((args: unknown, index: number) => ChildSpec<any>) | undefined
): Actor.Behavior<Protocol, never, any> => {
  const policy = toPolicy(options)
  const autoShutdown: AutoShutdown = options.autoShutdown ?? "never"
  const ids = new Set<string>()
  for (const spec of initialChildren) {
    const problem = checkChildSpec(spec, autoShutdown)
    if (problem !== undefined) {
      throw new SupervisorSpecError({ childId: describe((spec as any)?.id), message: `Supervisor: ${problem}` })
    }
    if (ids.has(spec.id)) {
      throw new SupervisorSpecError({ childId: spec.id, message: `Supervisor: duplicate child id ${JSON.stringify(spec.id)}` })
    }
    ids.add(spec.id)
  }
  const behavior = Protocol.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(Protocol)
    const self = ctx.self
    const selfKey = self.key
    const supervision = ctx.supervision
    yield* ctx.trapExit(true)
    // in start order; a Set, so that removing one of many (dynamic) children is O(1), not a
    // scan and a splice (50 000 temporary children exiting took 6.5 s of the event loop)
    const children = new Set<ChildState>()
    let history = RestartPolicy.emptyHistory
    let generation = 0
    const pendingRestarts = new Set<number>()
    /** restart timer generation → the child whose failed start it retries */
    const retryLeads = new Map<number, string>()
    /** restart timer generation → when it fires */
    const dueAt = new Map<number, number>()
    let dynamicIndex = 0

    const publish = (event: SupervisionEvent) => supervision.publish(event)
    // the actor's context is fixed: its clock and random source, read once, are those every
    // handler would read (a TestClock included)
    const clock = yield* Clock.Clock
    const rng = yield* Random.Random
    const now = Clock.currentTimeMillis
    const nowMillis = () => clock.currentTimeMillisUnsafe()
    // restart intensity and backoff reset count on the monotonic clock (events carry the wall
    // clock's time): a step of the wall clock back would count old restarts as recent, and the
    // supervisor would give up on a child that failed once in a while
    const monoMillis = () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
    // indexes over `children`, so that a supervisor of many (dynamic) children finds one in O(1)
    const byId = new Map<string, ChildState>()
    // by the actor's id on this node (children are local): an exit looks its child up with no key
    // to format
    const byRef = new Map<number, ChildState>()
    const find = (id: string) => byId.get(id)
    const findRef = (ref: ActorRef<any>) => {
      const child = byRef.get(ref.address.id)
      // (the same id on another node, or of an earlier incarnation of this one, is another actor)
      return child !== undefined && (child.ref === ref || child.ref!.key === ref.key) ? child : undefined
    }
    const addEntry = (child: ChildState) => {
      children.add(child)
      byId.set(child.spec.id, child)
    }
    const setRef = (child: ChildState, ref: ActorRef<any> | undefined) => {
      if (child.ref !== undefined) byRef.delete(child.ref.address.id)
      child.ref = ref
      if (ref !== undefined) byRef.set(ref.address.id, child)
    }

    const newChild = (spec: ChildSpec<any>): ChildState => ({
      spec,
      type: spec.type ?? (isSupervisorBehavior(spec.behavior) ? "supervisor" : "worker"),
      restart: spec.restart ?? "permanent",
      significant: spec.significant === true,
      ref: undefined,
      lastRef: undefined,
      status: "stopped",
      restarts: 0,
      due: undefined,
      startWith: undefined,
      ignored: false
    })

    /** What starting `child` spawns (made on its first start, reused by every restart). */
    const spawnOf = (child: ChildState): Effect.Effect<ActorRef<any>, SpawnError, any> => {
      child.ignored = false
      // (started now, by a call too: no pending restart applies to it any longer)
      child.due = undefined
      const { behavior, options } = child.startWith ??= {
        behavior: {
          protocol: child.spec.behavior.protocol,
          init: Effect.tapCause(child.spec.behavior.init, (cause) =>
            Effect.sync(() => {
              child.ignored = isIgnore(cause)
            }))
        },
        // the spec's shutdown is also the child's own stop budget (system.stop of the child)
        options: child.spec.shutdown === undefined
          ? { ...child.spec.options, link: true }
          : { ...child.spec.options, link: true, shutdown: child.spec.shutdown }
      }
      return ctx.spawn(behavior, options)
    }

    /** A start that failed: the error, or undefined when the child's init chose `Supervisor.ignore`. */
    const startFailed = (child: ChildState, error: SpawnError): SupervisorError | undefined => {
      setRef(child, undefined)
      child.status = "stopped"
      if (child.ignored) return undefined
      // a name taken: the actor registered under it (OTP's `{already_started, Pid}`)
      return supervisorError("StartFailed", child.spec.id, error.message, error.alreadyStarted)
    }

    const started = (child: ChildState, ref: ActorRef<any>): void => {
      // The supervisor stops its children itself (finalizer below: reverse start order, each
      // within its shutdown budget). Left in the cell's generic child set, they would be
      // stopped before that finalizer runs, in spawn order (wrong after a restart) and with
      // no budget.
      supervision.adopt(ref)
      setRef(child, ref)
      child.status = "running"
      publish({ _tag: "ChildStarted", supervisor: selfKey, at: nowMillis(), childId: child.spec.id, actor: ref.key })
    }

    /** Starts a child; `undefined` when its init chose `Supervisor.ignore` (it stays stopped). */
    const start = (child: ChildState): Effect.Effect<ActorRef<any> | undefined, SupervisorError, any> =>
      Effect.matchEffect(spawnOf(child), {
        onFailure: (error) => {
          const failure = startFailed(child, error)
          return failure === undefined ? Effect.undefined : Effect.fail(failure)
        },
        onSuccess: (ref) => {
          started(child, ref)
          return Effect.succeed(ref)
        }
      })

    const stop = Effect.fnUntraced(function*(child: ChildState) {
      const ref = child.ref
      setRef(child, undefined)
      child.status = "stopped"
      child.due = undefined
      if (ref === undefined) return
      yield* ctx.unlink(ref)
      // a supervisor killed kills its children, child supervisors' children too (nobody waits
      // for its cleanup, nor for theirs): the whole subtree is gone at once, its names free
      // for the restart of the killed supervisor, which never finds one still held
      const budget = killedBrutally(ctx) ? "brutal_kill" : shutdownBudget(child)
      // uninterruptible: a supervisor stopped meanwhile still sees the child gone (killed past
      // its budget) before its own finalizer runs, which no longer knows this child
      yield* Effect.uninterruptible(supervision.stopChild(ref, budget))
    })

    // Static children stop one after another in reverse start order (OTP); dynamic children
    // have no order among them and stop in parallel, each within its own budget (OTP's
    // simple_one_for_one).
    const stopAll = () =>
      template === undefined
        ? Effect.forEach([...children].reverse(), stop, { discard: true })
        : Effect.forEach([...children], stop, { discard: true, concurrency: "unbounded" })

    // shut children down before the supervisor itself is gone
    yield* Effect.addFinalizer(() => stopAll())

    // start the static children in order; if one fails, stop the started ones and fail
    for (const spec of initialChildren) {
      const child = newChild(spec)
      addEntry(child)
      const started = yield* Effect.result(start(child))
      if (started._tag === "Failure") {
        publish({ _tag: "ChildStartFailed", supervisor: selfKey, at: yield* now, childId: spec.id, message: started.failure.message })
        yield* stopAll()
        return yield* Effect.die(new Error(`child ${JSON.stringify(spec.id)} failed to start: ${started.failure.message}`))
      }
      // an ignored temporary child's spec is not kept (OTP)
      if (started.success === undefined && child.restart === "temporary") {
        byId.delete(spec.id)
        children.delete(child)
      }
    }

    /** `countChildren`'s counts, in one pass */
    const countOf = (all: Iterable<ChildState>) => {
      let active = 0
      let supervisors = 0
      let workers = 0
      for (const c of all) {
        if (c.status === "running") active++
        if (c.type === "supervisor") supervisors++
        else if (c.type === "worker") workers++
      }
      return { active, supervisors, workers }
    }

    const infos = (): Array<RestartPolicy.ChildInfo> =>
      Array.from(children, (c) => ({ id: c.spec.id, restart: c.restart, running: c.status === "running" }))

    /** Stops the children and exits with `Shutdown` (as OTP's supervisor does when it gives up or auto-shuts down). */
    const shutdownSelf = (detail: string) => ctx.stop(ExitReason.shutdownWith(detail))

    /** OTP's auto_shutdown: after a significant child's own exit that is not followed by a restart. */
    const checkAutoShutdown = (child: ChildState) => {
      if (!child.significant || autoShutdown === "never") return Effect.void
      if (autoShutdown === "any_significant") return shutdownSelf(`significant child ${JSON.stringify(child.spec.id)} exited`)
      for (const c of children) if (c.significant && c.status !== "stopped") return Effect.void
      return shutdownSelf("all significant children exited")
    }

    /**
     * Applies the policy to one child's exit (or failed restart) at `at`. Plain code returning the
     * effect that is left to run (stops, the restart): this is every restart's path. `retry`: the
     * exit is a restart's failed start, whose own restart goes through the mailbox (below).
     */
    const onChildExit = (
      child: ChildState,
      reason: ExitReason.ExitReason,
      at: number = nowMillis(),
      retry = false
    ): Effect.Effect<void, never, any> => {
      // one_for_one touches the failed child alone: no need to list the others (O(1) per exit)
      const listed = policy.strategy === "one_for_one"
        ? [{ id: child.spec.id, restart: child.restart, running: child.status === "running" }]
        : infos()
      // the random number is for the backoff's jitter only
      const random = policy.backoff === undefined ? 0 : rng.nextDoubleUnsafe()
      const [decision, next] = RestartPolicy.decide(policy, listed, child.spec.id, reason, monoMillis(), history, random)
      history = next
      switch (decision._tag) {
        case "NoRestart": {
          removeSpecs(decision.remove)
          return checkAutoShutdown(child)
        }
        case "Escalate": {
          publish({ _tag: "IntensityExceeded", supervisor: selfKey, at, restarts: decision.restarts, periodMillis: policy.periodMillis })
          // OTP exits with `shutdown`: a transient parent does not restart a supervisor that gave up
          const escalation = ExitReason.shutdownWith(
            `supervisor gave up: more than ${policy.intensity} restarts within ${policy.periodMillis} ms`
          )
          publish({ _tag: "Escalated", supervisor: selfKey, at, reason: escalation })
          return ctx.stop(escalation)
        }
        case "Restart": {
          // a failed start's group is stopped and restarted by the retry, as it is then
          if (retry) return scheduleRetry(child, decision, at)
          if (decision.stop.length === 0) return afterStops(decision, at)
          return Effect.andThen(
            Effect.forEach(decision.stop, (id) => {
              const other = find(id)
              return other === undefined ? Effect.void : stop(other)
            }, { discard: true }),
            Effect.suspend(() => afterStops(decision, at))
          )
        }
      }
    }

    /** A restart decision, once the children it stops have stopped. */
    const afterStops = (
      decision: Extract<RestartPolicy.Decision, { _tag: "Restart" }>,
      at: number
    ): Effect.Effect<void, never, any> => {
      removeSpecs(decision.remove)
      const gen = decision.delayMillis > 0 ? ++generation : undefined
      for (const id of decision.start) {
        const c = find(id)
        if (c !== undefined) {
          c.status = "restarting"
          c.due = gen
        }
      }
      if (gen === undefined) return restartGroup(decision.start)
      return dueAfter(gen, decision.start, at, decision.delayMillis)
    }

    /**
     * The restart `gen` of `ids` is due `delayMillis` after `at`: a `RestartDue` to self, at
     * once (behind the calls queued) or by a timer.
     */
    const dueAfter = (gen: number, ids: ReadonlyArray<string>, at: number, delayMillis: number): Effect.Effect<void, never, any> => {
      pendingRestarts.add(gen)
      dueAt.set(gen, at + delayMillis)
      if (delayMillis === 0) {
        targetOf(self).offer(Protocol.RestartDue({ ids, generation: gen }), undefined, undefined, true)
        return Effect.void
      }
      publish({ _tag: "RestartScheduled", supervisor: selfKey, at, childIds: ids, delayMillis })
      return ctx.startTimer(`restart-${gen}`, Protocol.RestartDue({ ids, generation: gen }), delayMillis)
    }

    /**
     * After a restart's failed start of `failed`: its retry is a message to self even without a
     * delay, as OTP's `try_again_restart`, so the calls queued meanwhile (`whichChildren`,
     * `terminateChild`, a stop) are served between the attempts of a child that keeps failing to
     * start, rather than after the loop ends. Meanwhile only that child is `restarting`; the
     * others of its group are left as the failed attempt left them (under `one_for_all`, those
     * started before it still run; those after it wait `stopped`) until the retry restarts the
     * group (`retryGroup`), unless the failed child is terminated first (then none starts).
     */
    const scheduleRetry = (
      failed: ChildState,
      decision: Extract<RestartPolicy.Decision, { _tag: "Restart" }>,
      at: number
    ): Effect.Effect<void, never, any> => {
      const gen = ++generation
      for (const id of decision.start) {
        const c = find(id)
        if (c !== undefined && c.status !== "running") {
          c.status = "stopped"
          c.due = gen
        }
      }
      failed.status = "restarting"
      failed.due = gen
      retryLeads.set(gen, failed.spec.id)
      return dueAfter(gen, decision.start, at, decision.delayMillis)
    }

    /**
     * The retry of `failed`'s start restarts its group as it is now, as OTP's
     * `try_again_restart` runs the whole restart again: itself (one_for_one), every child
     * (one_for_all), or itself and the children after it (rest_for_one). The members running
     * now (started before it by the failed attempt, or by a call meanwhile: `restartChild`,
     * `startChild`) are stopped, newest first, temporary ones forgotten, and all start again in
     * start order, so that none runs before a child it comes after; those terminated meanwhile
     * start too.
     */
    const retryGroup = (failed: ChildState, gen: number): Effect.Effect<void, never, any> => {
      const all = Array.from(children)
      const group = policy.strategy === "one_for_one"
        ? [failed]
        : policy.strategy === "one_for_all"
        ? all
        : all.slice(all.indexOf(failed))
      const running = group.filter((c) => c !== failed && c.status === "running").reverse()
      const start = () => {
        const ids: Array<string> = []
        for (const c of group) {
          if (c.restart === "temporary" || byId.get(c.spec.id) !== c) continue
          c.due = gen
          ids.push(c.spec.id)
        }
        return restartGroup(ids, gen)
      }
      if (running.length === 0) return start()
      return Effect.andThen(
        Effect.forEach(running, (c) =>
          Effect.map(stop(c), () => {
            if (c.restart === "temporary") removeSpecs([c.spec.id])
          }), { discard: true }),
        Effect.suspend(start)
      )
    }

    const removeSpecs = (ids: ReadonlyArray<string>) => {
      for (const id of ids) {
        const child = byId.get(id)
        if (child === undefined) continue
        byId.delete(id)
        if (child.ref !== undefined) byRef.delete(child.ref.address.id)
        children.delete(child)
      }
    }

    /** Starts `ids` (from index `from`) one after another, those still waiting for this restart. */
    const restartGroup = (ids: ReadonlyArray<string>, gen?: number, from = 0): Effect.Effect<void, never, any> => {
      for (let i = from; i < ids.length; i++) {
        const id = ids[i]!
        const child = find(id)
        // skip children a later decision has rescheduled (e.g. after a failed restart), and those
        // started or stopped by a call meanwhile
        if (child === undefined || child.due !== gen || child.status === "running") continue
        child.due = undefined
        // (the spawn's outcome handled here: every restart's path, with no second match around `start`)
        return Effect.matchEffect(spawnOf(child), {
          onFailure: (error) => {
            const failure = startFailed(child, error)
            if (failure !== undefined) {
              publish({ _tag: "ChildStartFailed", supervisor: selfKey, at: nowMillis(), childId: id, message: failure.message })
              // a failed restart counts as another failure of that child (OTP)
              return onChildExit(child, ExitReason.error(failure.message), undefined, true)
            }
            // ignored: a dynamic child is forgotten (OTP's simple_one_for_one); a static one stays stopped, its spec kept
            if (template !== undefined) removeSpecs([id])
            return i + 1 < ids.length ? restartGroup(ids, gen, i + 1) : Effect.void
          },
          onSuccess: (ref) => {
            started(child, ref)
            child.restarts++
            publish({ _tag: "ChildRestarted", supervisor: selfKey, at: nowMillis(), childId: id, actor: ref.key, restarts: child.restarts })
            return i + 1 < ids.length ? restartGroup(ids, gen, i + 1) : Effect.void
          }
        })
      }
      return Effect.void
    }

    const ignoredError = (id: string) =>
      supervisorError("Ignored", id, `child ${JSON.stringify(id)} chose not to start (Supervisor.ignore)`)

    const addChild = Effect.fnUntraced(function*(spec: unknown, dynamicChild: boolean) {
      const problem = checkChildSpec(spec, autoShutdown)
      if (problem !== undefined) return yield* supervisorError("InvalidSpec", (spec as any)?.id, problem)
      const valid = spec as ChildSpec<any>
      const existing = find(valid.id)
      if (existing !== undefined) {
        if (existing.ref !== undefined) {
          return yield* supervisorError("AlreadyStarted", valid.id, `child ${JSON.stringify(valid.id)} is already started`, existing.ref)
        }
        return yield* supervisorError("AlreadyPresent", valid.id, `child ${JSON.stringify(valid.id)} already exists`)
      }
      const child = newChild(valid)
      addEntry(child)
      const started = yield* Effect.result(start(child))
      if (started._tag === "Failure") {
        removeSpecs([valid.id])
        return yield* started.failure
      }
      if (started.success === undefined) {
        // OTP keeps an ignored static child's spec; a dynamic or temporary one is forgotten
        if (dynamicChild || child.restart === "temporary") removeSpecs([valid.id])
        return yield* ignoredError(valid.id)
      }
      return started.success
    })

    const notFound = (id: unknown) => supervisorError("NotFound", id, `no child ${describe(id)}`)
    const badId = (id: unknown) =>
      supervisorError("InvalidArgument", id, `a child id must be a string, got ${describe(id)}`)

    const info = (c: ChildState): ChildInfo => ({
      id: c.spec.id,
      ...(c.ref !== undefined ? { actor: c.ref.key, ref: c.ref } : {}),
      type: c.type,
      restart: c.restart,
      status: c.status,
      restarts: c.restarts
    })

    return {
      StartChild: ({ spec }) => addChild(spec, false),
      StartDynamic: ({ args }) =>
        Effect.gen(function*() {
          if (template === undefined) return yield* supervisorError("NotDynamic", "", "not a dynamic supervisor")
          const index = dynamicIndex++
          const spec = yield* Effect.try({
            try: () => template(args, index),
            catch: (e) => supervisorError("InvalidSpec", "", `the template threw: ${e instanceof Error ? e.message : describe(e)}`)
          })
          if (typeof spec !== "object" || spec === null || typeof spec.id !== "string") {
            return yield* supervisorError("InvalidSpec", (spec as any)?.id, `the template returned ${describe(spec)}, not a child spec`)
          }
          return yield* addChild({ ...spec, id: `${spec.id}-${index}` }, true)
        }),
      TerminateChild: ({ id }) =>
        Effect.gen(function*() {
          if (isRef(id)) {
            // or the child this ref was, now waiting for its restart
            const child = findRef(id) ??
              Array.from(children).find((c) => c.status === "restarting" && c.lastRef?.key === id.key)
            // a former child that is gone: done already (OTP); a live actor that is no child: NotFound
            if (child === undefined) return targetOf(id).isAlive ? yield* notFound(id) : undefined
            yield* stop(child)
            if (template !== undefined || child.restart === "temporary") removeSpecs([child.spec.id])
            return
          }
          if (typeof id !== "string") return yield* badId(id)
          const child = find(id)
          if (child === undefined) return yield* notFound(id)
          // waiting, stopped, for the retry of its group's restart: no actor to stop, and it
          // starts with its group (OTP's terminate_child of a child without a pid is a no-op)
          if (child.status === "stopped" && child.due !== undefined) return
          yield* stop(child)
          if (child.restart === "temporary") removeSpecs([id])
        }),
      RestartChild: ({ id }) =>
        Effect.gen(function*() {
          if (typeof id !== "string") return yield* badId(id)
          const child = find(id)
          if (child === undefined) return yield* notFound(id)
          if (child.status === "running") {
            return yield* supervisorError("Running", id, `child ${JSON.stringify(id)} is running`, child.ref)
          }
          if (child.status === "restarting") {
            return yield* supervisorError("Restarting", id, `child ${JSON.stringify(id)} is waiting for its restart`)
          }
          const ref = yield* start(child)
          if (ref === undefined) return yield* ignoredError(id)
          return ref
        }),
      DeleteChild: ({ id }) =>
        Effect.gen(function*() {
          if (typeof id !== "string") return yield* badId(id)
          const child = find(id)
          if (child === undefined) return yield* notFound(id)
          if (child.status === "running") {
            return yield* supervisorError("Running", id, `child ${JSON.stringify(id)} is running`, child.ref)
          }
          if (child.status === "restarting") {
            return yield* supervisorError("Restarting", id, `child ${JSON.stringify(id)} is waiting for its restart`)
          }
          removeSpecs([id])
        }),
      WhichChildren: () => Effect.sync(() => Array.from(children, (c) => info(c))),
      WhichChild: ({ id }) =>
        Effect.suspend(() => {
          if (typeof id !== "string") return Effect.fail(badId(id))
          const child = find(id)
          return child === undefined ? Effect.fail(notFound(id)) : Effect.succeed(info(child))
        }),
      CountChildren: () =>
        Effect.sync(() => ({
          // a dynamic supervisor has one spec, its template (OTP's simple_one_for_one)
          specs: template === undefined ? children.size : 1,
          ...countOf(children)
        })),
      Describe: () =>
        Effect.sync(() => {
          const since = monoMillis() - policy.periodMillis
          return {
            strategy: policy.strategy,
            intensity: policy.intensity,
            periodMillis: policy.periodMillis,
            recentRestarts: history.restarts.filter((t) => t >= since).length,
            children: Array.from(children, (c) => {
              const due = c.status === "restarting" && c.due !== undefined ? dueAt.get(c.due) : undefined
              return due !== undefined ? { ...info(c), dueAt: due } : info(c)
            })
          }
        }),
      RestartDue: ({ ids, generation: gen }) => {
        dueAt.delete(gen)
        if (!pendingRestarts.delete(gen)) return Effect.void
        const lead = retryLeads.get(gen)
        retryLeads.delete(gen)
        if (lead === undefined) return restartGroup(ids, gen)
        // the retry of a failed start: nothing of its group starts if that child no longer waits
        const failed = find(lead)
        if (failed === undefined || failed.due !== gen || failed.status !== "restarting") {
          for (const id of ids) {
            const c = find(id)
            if (c !== undefined && c.due === gen) c.due = undefined
          }
          return Effect.void
        }
        return retryGroup(failed, gen)
      },
      // (called as the signal is handled: no suspend needed)
      onExit: (signal: ExitSignal) => {
        const from = signal.from
        const child = findRef(from)
        if (child === undefined) {
          // our parent exited: follow it (OTP). Exits of former children (stopped by us) and of
          // other linked actors are ignored, as OTP's supervisor does.
          const parent = supervision.parent
          return parent !== undefined && from.key === parent.key ? ctx.stop(signal.reason) : Effect.void
        }
        const key = child.ref!.key
        setRef(child, undefined)
        child.lastRef = from
        child.status = "stopped"
        const at = nowMillis()
        publish({ _tag: "ChildExited", supervisor: selfKey, at, childId: child.spec.id, actor: key, reason: signal.reason })
        return onChildExit(child, signal.reason, at)
      }
    }
  }))
  // its children have budgets of their own (OTP: a supervisor child's default shutdown is infinity)
  return { ...behavior, shutdown: "infinity" }
}
