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
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Random, Schema } from "effect"
import * as Actor from "../actors/Actor.ts"
import { ActorContext } from "../actors/ActorContext.ts"
import type { AskError } from "../actors/ActorError.ts"
import type { ActorRef } from "../actors/ActorRef.ts"
import type { Cell } from "../actors/internal/cell.ts"
import { awaitStop } from "../actors/internal/cell.ts"
import type { SpawnOptions } from "../actors/SpawnOptions.ts"
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
  /** default 5 s for workers, `infinity` for supervisors (as OTP) */
  readonly shutdown?: Shutdown | undefined
  /** default: `supervisor` for behaviours made by this module, else `worker` */
  readonly type?: "worker" | "supervisor" | undefined
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

export interface Options {
  /** default `one_for_one` */
  readonly strategy?: RestartPolicy.Strategy | undefined
  /** max restarts within `period` before escalating; default 10 */
  readonly intensity?: number | undefined
  /** default 10 seconds */
  readonly period?: Duration.Input | undefined
  /** restart backoff; `false` restarts at once (plain OTP). Default: 10 ms × 2 up to 1 s, ±20%, reset after 5 s */
  readonly backoff?: BackoffOptions | false | undefined
}

export class SupervisorError extends Schema.TaggedError<SupervisorError>()("SupervisorError", {
  reason: Schema.Literals(["AlreadyPresent", "NotFound", "Running", "StartFailed", "NotDynamic"]),
  childId: Schema.String,
  message: Schema.String
}) {}

export const ChildStatus = Schema.Literals(["running", "restarting", "stopped"])
export const ChildInfo = Schema.Struct({
  id: Schema.String,
  actor: Schema.optional(Schema.String),
  type: Schema.Literals(["worker", "supervisor"]),
  restart: Schema.Literals(["permanent", "transient", "temporary"]),
  status: ChildStatus,
  restarts: Schema.Number
})
export type ChildInfo = typeof ChildInfo.Type

/** The protocol every supervisor speaks. Child specs hold behaviours, so these messages are local-only. */
export const Protocol = Actor.make("telex/Supervisor", {
  StartChild: Actor.ask({ spec: Schema.Any }, { success: Schema.Any, error: SupervisorError }),
  StartDynamic: Actor.ask({ args: Schema.Any }, { success: Schema.Any, error: SupervisorError }),
  TerminateChild: Actor.ask({ id: Schema.String }, { error: SupervisorError }),
  RestartChild: Actor.ask({ id: Schema.String }, { success: Schema.Any, error: SupervisorError }),
  DeleteChild: Actor.ask({ id: Schema.String }, { error: SupervisorError }),
  WhichChildren: Actor.ask({}, { success: Schema.Array(ChildInfo) }),
  RestartDue: Actor.tell({ ids: Schema.Array(Schema.String), generation: Schema.Number })
})
export type Protocol = typeof Protocol.defs
export type SupervisorRef = ActorRef<Protocol>

/** Starts a child under a running supervisor (OTP's `start_child`). */
export const startChild = <R, D extends Actor.MessageDefs = any>(
  supervisor: SupervisorRef,
  spec: ChildSpec<R, D>
): Effect.Effect<ActorRef<D>, SupervisorError | AskError> =>
  supervisor.ask(Protocol.StartChild({ spec }), { timeout: "1 minute" }) as any

/** Starts a child of a dynamic supervisor from its template. */
export const startDynamic = <A>(supervisor: SupervisorRef, args: A): Effect.Effect<ActorRef<any>, SupervisorError | AskError> =>
  supervisor.ask(Protocol.StartDynamic({ args }), { timeout: "1 minute" }) as any

export const terminateChild = (supervisor: SupervisorRef, id: string) =>
  supervisor.ask(Protocol.TerminateChild({ id }), { timeout: "1 minute" })

export const restartChild = (supervisor: SupervisorRef, id: string): Effect.Effect<ActorRef<any>, SupervisorError | AskError> =>
  supervisor.ask(Protocol.RestartChild({ id }), { timeout: "1 minute" }) as any

export const deleteChild = (supervisor: SupervisorRef, id: string) =>
  supervisor.ask(Protocol.DeleteChild({ id }), { timeout: "1 minute" })

export const whichChildren = (supervisor: SupervisorRef) => supervisor.ask(Protocol.WhichChildren({}))

interface ChildState {
  spec: ChildSpec<any>
  type: "worker" | "supervisor"
  restart: RestartPolicy.RestartType
  ref: ActorRef<any> | undefined
  status: "running" | "restarting" | "stopped"
  /** the restart timer this child waits for (a later decision supersedes an older timer) */
  due: number | undefined
  restarts: number
}

const isSupervisorBehavior = (behavior: Actor.Behavior<any, any, any>) => (behavior.protocol as unknown) === Protocol

const shutdownMillis = (child: ChildState): number => {
  const s = child.spec.shutdown ?? (child.type === "supervisor" ? "infinity" : "5 seconds")
  if (s === "infinity") return Infinity
  if (s === "brutal_kill") return 0
  return Duration.toMillis(Duration.fromInputUnsafe(s))
}

const toPolicy = (options: Options): RestartPolicy.Policy => {
  const d = RestartPolicy.defaults
  const b = options.backoff
  const millis = (i: Duration.Input | undefined, fallback: number) =>
    i === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(i))
  const policy: RestartPolicy.Policy = {
    strategy: options.strategy ?? d.strategy,
    intensity: options.intensity ?? d.intensity,
    periodMillis: millis(options.period, d.periodMillis),
    backoff: b === false ? undefined : {
      initialMillis: millis(b?.initial, RestartPolicy.defaultBackoff.initialMillis),
      maxMillis: millis(b?.max, RestartPolicy.defaultBackoff.maxMillis),
      factor: b?.factor ?? RestartPolicy.defaultBackoff.factor,
      jitter: b?.jitter ?? RestartPolicy.defaultBackoff.jitter,
      resetAfterMillis: millis(b?.resetAfter, RestartPolicy.defaultBackoff.resetAfterMillis)
    }
  }
  if (!Number.isInteger(policy.intensity) || policy.intensity < 0) {
    throw new Error(`Supervisor: intensity must be a non-negative integer, got ${policy.intensity}`)
  }
  if (!(policy.periodMillis > 0)) throw new Error(`Supervisor: period must be positive`)
  if (policy.backoff !== undefined && !(policy.backoff.jitter >= 0 && policy.backoff.jitter <= 1)) {
    throw new Error(`Supervisor: backoff jitter must be within [0, 1], got ${policy.backoff.jitter}`)
  }
  return policy
}

/** A supervisor with static children (plus any added by `startChild`). */
export const make = <R = never>(
  options: Options & { readonly children: ReadonlyArray<ChildSpec<R>> }
): Actor.Behavior<Protocol, never, R> => build(options, options.children, undefined)

/** OTP's `simple_one_for_one`: children are made from `template` by `startDynamic(sup, args)`. */
export const dynamic = <A, R = never>(
  options: Omit<Options, "strategy"> & { readonly template: (args: A, index: number) => ChildSpec<R> }
): Actor.Behavior<Protocol, never, R> =>
  build({ ...options, strategy: "one_for_one" }, [], options.template as (args: unknown, index: number) => ChildSpec<any>)

const build = (
  options: Options,
  initialChildren: ReadonlyArray<ChildSpec<any>>,
  template: ((args: unknown, index: number) => ChildSpec<any>) | undefined
): Actor.Behavior<Protocol, never, any> => {
  const policy = toPolicy(options)
  const ids = new Set<string>()
  for (const spec of initialChildren) {
    if (ids.has(spec.id)) throw new Error(`Supervisor: duplicate child id ${JSON.stringify(spec.id)}`)
    ids.add(spec.id)
  }
  return Protocol.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const self = ctx.self as SupervisorRef
    const cell = ctx as unknown as Cell
    yield* ctx.trapExit(true)
    const children: Array<ChildState> = []
    let history = RestartPolicy.emptyHistory
    let generation = 0
    const pendingRestarts = new Set<number>()
    let dynamicIndex = 0

    const publish = (event: SupervisionEvent) => cell.system.publishEvent(event)
    const now = Clock.currentTimeMillis
    const find = (id: string) => children.find((c) => c.spec.id === id)

    const newChild = (spec: ChildSpec<any>): ChildState => ({
      spec,
      type: spec.type ?? (isSupervisorBehavior(spec.behavior) ? "supervisor" : "worker"),
      restart: spec.restart ?? "permanent",
      ref: undefined,
      status: "stopped",
      restarts: 0,
      due: undefined
    })

    const start = Effect.fnUntraced(function*(child: ChildState) {
      const ref = yield* ctx.spawn(child.spec.behavior, { ...child.spec.options, link: true }).pipe(
        Effect.mapError((e) => new SupervisorError({ reason: "StartFailed", childId: child.spec.id, message: e.message }))
      )
      // The supervisor stops its children itself (finalizer below: reverse start order, each within
      // its shutdown budget). Left in the cell's generic child set, they would be stopped before
      // that finalizer runs, in spawn order (wrong after a restart) and with no budget.
      cell.children?.delete(ref.target as unknown as Cell)
      child.ref = ref
      child.status = "running"
      publish({ _tag: "ChildStarted", supervisor: self.key, at: yield* now, childId: child.spec.id, actor: ref.key })
      return ref
    })

    const stop = Effect.fnUntraced(function*(child: ChildState) {
      const ref = child.ref
      child.ref = undefined
      child.status = "stopped"
      if (ref === undefined) return
      yield* ctx.unlink(ref)
      const millis = shutdownMillis(child)
      yield* awaitStop(ref.target, millis === 0 ? ExitReason.killed : ExitReason.shutdown, millis)
    })

    const stopAll = Effect.fnUntraced(function*() {
      for (const child of [...children].reverse()) yield* stop(child)
    })

    // shut children down in reverse start order, each within its budget, before the
    // supervisor itself is gone
    yield* Effect.addFinalizer(() => stopAll())

    // start the static children in order; if one fails, stop the started ones and fail
    for (const spec of initialChildren) {
      const child = newChild(spec)
      children.push(child)
      const started = yield* Effect.result(start(child))
      if (started._tag === "Failure") {
        publish({ _tag: "ChildStartFailed", supervisor: self.key, at: yield* now, childId: spec.id, message: started.failure.message })
        yield* stopAll()
        return yield* Effect.die(new Error(`child ${JSON.stringify(spec.id)} failed to start: ${started.failure.message}`))
      }
    }

    const infos = (): Array<RestartPolicy.ChildInfo> =>
      children.map((c) => ({ id: c.spec.id, restart: c.restart, running: c.status === "running" }))

    /** Applies the policy to one child's exit (or failed restart). */
    const onChildExit: (child: ChildState, reason: ExitReason.ExitReason) => Effect.Effect<void, never, any> = Effect.fnUntraced(
      function*(child: ChildState, reason: ExitReason.ExitReason) {
        const at = yield* now
        const random = yield* Random.next
        const [decision, next] = RestartPolicy.decide(policy, infos(), child.spec.id, reason, at, history, random)
        history = next
        switch (decision._tag) {
          case "NoRestart": {
            removeSpecs(decision.remove)
            return
          }
          case "Escalate": {
            publish({ _tag: "IntensityExceeded", supervisor: self.key, at, restarts: decision.restarts, periodMillis: policy.periodMillis })
            const escalation = ExitReason.error(
              `supervisor gave up: more than ${policy.intensity} restarts within ${policy.periodMillis} ms`
            )
            publish({ _tag: "Escalated", supervisor: self.key, at, reason: escalation })
            yield* ctx.stop(escalation)
            return
          }
          case "Restart": {
            for (const id of decision.stop) {
              const other = find(id)
              if (other !== undefined) yield* stop(other)
            }
            removeSpecs(decision.remove)
            const gen = decision.delayMillis > 0 ? ++generation : undefined
            for (const id of decision.start) {
              const c = find(id)
              if (c !== undefined) {
                c.status = "restarting"
                c.due = gen
              }
            }
            if (gen !== undefined) {
              pendingRestarts.add(gen)
              publish({ _tag: "RestartScheduled", supervisor: self.key, at, childIds: decision.start, delayMillis: decision.delayMillis })
              yield* ctx.startTimer(`restart-${gen}`, Protocol.RestartDue({ ids: decision.start, generation: gen }), decision.delayMillis)
              return
            }
            yield* restartGroup(decision.start)
          }
        }
      }
    )

    const removeSpecs = (ids: ReadonlyArray<string>) => {
      for (const id of ids) {
        const i = children.findIndex((c) => c.spec.id === id)
        if (i >= 0) children.splice(i, 1)
      }
    }

    const restartGroup = Effect.fnUntraced(function*(ids: ReadonlyArray<string>, gen?: number) {
      for (const id of ids) {
        const child = find(id)
        // skip children a later decision has rescheduled (e.g. after a failed restart)
        if (child === undefined || child.status !== "restarting" || child.due !== gen) continue
        child.due = undefined
        const started = yield* Effect.result(start(child))
        if (started._tag === "Failure") {
          child.status = "stopped"
          publish({ _tag: "ChildStartFailed", supervisor: self.key, at: yield* now, childId: id, message: started.failure.message })
          // a failed restart counts as another failure of that child (OTP)
          yield* onChildExit(child, ExitReason.error(started.failure.message))
          return
        }
        child.restarts++
        publish({ _tag: "ChildRestarted", supervisor: self.key, at: yield* now, childId: id, actor: started.success.key, restarts: child.restarts })
      }
    })

    const addChild = Effect.fnUntraced(function*(spec: ChildSpec<any>) {
      if (find(spec.id) !== undefined) {
        return yield* new SupervisorError({ reason: "AlreadyPresent", childId: spec.id, message: `child ${JSON.stringify(spec.id)} already exists` })
      }
      const child = newChild(spec)
      children.push(child)
      const started = yield* Effect.result(start(child))
      if (started._tag === "Failure") {
        removeSpecs([spec.id])
        return yield* started.failure
      }
      return started.success
    })

    const notFound = (id: string) =>
      new SupervisorError({ reason: "NotFound", childId: id, message: `no child ${JSON.stringify(id)}` })

    return {
      StartChild: ({ spec }) => addChild(spec as ChildSpec<any>),
      StartDynamic: ({ args }) =>
        Effect.suspend(() => {
          if (template === undefined) {
            return Effect.fail(new SupervisorError({ reason: "NotDynamic", childId: "", message: "not a dynamic supervisor" }))
          }
          const index = dynamicIndex++
          const spec = template(args, index)
          return addChild({ ...spec, id: `${spec.id}-${index}` })
        }),
      TerminateChild: ({ id }) =>
        Effect.gen(function*() {
          const child = find(id)
          if (child === undefined) return yield* notFound(id)
          yield* stop(child)
          if (child.restart === "temporary") removeSpecs([id])
        }),
      RestartChild: ({ id }) =>
        Effect.gen(function*() {
          const child = find(id)
          if (child === undefined) return yield* notFound(id)
          if (child.status === "running") {
            return yield* new SupervisorError({ reason: "Running", childId: id, message: `child ${JSON.stringify(id)} is running` })
          }
          child.status = "restarting"
          return yield* start(child)
        }),
      DeleteChild: ({ id }) =>
        Effect.gen(function*() {
          const child = find(id)
          if (child === undefined) return yield* notFound(id)
          if (child.status === "running") {
            return yield* new SupervisorError({ reason: "Running", childId: id, message: `child ${JSON.stringify(id)} is running` })
          }
          removeSpecs([id])
        }),
      WhichChildren: () =>
        Effect.sync(() =>
          children.map((c): ChildInfo => ({
            id: c.spec.id,
            ...(c.ref !== undefined ? { actor: c.ref.key } : {}),
            type: c.type,
            restart: c.restart,
            status: c.status,
            restarts: c.restarts
          }))
        ),
      RestartDue: ({ ids, generation: gen }) => (pendingRestarts.delete(gen) ? restartGroup(ids, gen) : Effect.void),
      onExit: (signal: ExitSignal) =>
        Effect.gen(function*() {
          const child = children.find((c) => c.ref !== undefined && c.ref.key === signal.from.key)
          if (child === undefined) {
            // our parent exited: follow it (OTP). Exits of former children (stopped by us) and of
            // other linked actors are ignored, as OTP's supervisor does.
            if (cell.parent !== undefined && signal.from.key === cell.parent.self.key) yield* ctx.stop(signal.reason)
            return
          }
          child.ref = undefined
          child.status = "stopped"
          publish({ _tag: "ChildExited", supervisor: self.key, at: yield* now, childId: child.spec.id, actor: signal.from.key, reason: signal.reason })
          yield* onChildExit(child, signal.reason)
        })
    }
  }))
}
