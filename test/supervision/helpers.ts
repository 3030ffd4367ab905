/**
 * Shared fixtures for the supervision tests: a worker actor that records its life cycle,
 * crashes on demand, and barriers that make crash/restart sequences deterministic.
 */
import { assert } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { Actor, ActorContext, type ActorRef, ActorSystem, type ActorSystemShape, type SupervisionEvent, Supervisor } from "../../src/index.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"

export const Worker = Actor.make("test/Worker", {
  /** dies in the handler (a defect) */
  Crash: Actor.tell({}),
  /** stops itself normally (`ctx.stop()`) */
  Stop: Actor.tell({}),
  Ping: Actor.ask({}, { success: Schema.String }),
  /** an ask whose handler dies */
  CrashAsk: Actor.ask({}, { success: Schema.String })
})
export type Worker = typeof Worker.defs

/** What the workers of one test record: the life-cycle log and each worker's current ref. */
export class Probe {
  readonly log: Array<string> = []
  readonly refs = new Map<string, ActorRef.ActorRef<Worker>>()
  readonly starts = new Map<string, number>()

  ref(name: string): ActorRef.ActorRef<Worker> {
    const ref = this.refs.get(name)
    assert.isDefined(ref, `worker ${name} never started`)
    return ref!
  }

  /** the log without its entries so far */
  take(): Array<string> {
    return this.log.splice(0, this.log.length)
  }
}

export interface WorkerOptions {
  /** the finalizer never completes (for shutdown budgets) */
  readonly hangOnStop?: boolean
  /** init fails (a defect) on the given start numbers (1-based; default: never) */
  readonly failOnStart?: (start: number) => boolean
}

/** A worker that logs `start:name` from its init and `stop:name` from its finalizer. */
export const worker = (name: string, probe: Probe, options: WorkerOptions = {}) =>
  Worker.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const n = (probe.starts.get(name) ?? 0) + 1
    probe.starts.set(name, n)
    if (options.failOnStart?.(n) === true) {
      probe.log.push(`failed:${name}`)
      return yield* Effect.die(new Error(`${name} refuses to start`))
    }
    probe.log.push(`start:${name}`)
    probe.refs.set(name, ctx.self as ActorRef.ActorRef<Worker>)
    yield* Effect.addFinalizer(() =>
      options.hangOnStop === true
        ? Effect.sync(() => probe.log.push(`stopping:${name}`)).pipe(Effect.andThen(Effect.never))
        : Effect.sync(() => probe.log.push(`stop:${name}`))
    )
    return {
      Crash: () => Effect.die(new Error(`boom ${name}`)),
      Stop: () => ctx.stop(),
      Ping: () => Effect.succeed(name),
      CrashAsk: () => Effect.die(new Error(`boom ${name}`))
    }
  }))

export const workerSpec = (
  name: string,
  probe: Probe,
  spec: Omit<Supervisor.ChildSpec<never>, "id" | "behavior"> & WorkerOptions = {}
): Supervisor.ChildSpec<never> => {
  const { failOnStart, hangOnStop, ...rest } = spec
  return Supervisor.child(name, worker(name, probe, { ...(failOnStart ? { failOnStart } : {}), ...(hangOnStop ? { hangOnStop } : {}) }), rest)
}

/** A worker whose init yields `Supervisor.ignore` while `ignoringNow()` holds. */
export const ignoring = (name: string, probe: Probe, ignoringNow: () => boolean) =>
  Worker.behavior(Effect.gen(function*() {
    if (ignoringNow()) {
      probe.log.push(`ignored:${name}`)
      return yield* Supervisor.ignore
    }
    return yield* worker(name, probe).init
  }))

export const children = (sup: Supervisor.SupervisorRef) => Supervisor.whichChildren(sup)

export const childInfo = Effect.fnUntraced(function*(sup: Supervisor.SupervisorRef, id: string) {
  const info = (yield* Supervisor.whichChildren(sup)).find((c) => c.id === id)
  assert.isDefined(info, `no child ${id}`)
  return info!
})

/**
 * Crashes a worker and waits until its supervisor has handled the exit: the worker is dead
 * (its exit signal is then already in the supervisor's mailbox), and a `WhichChildren` ask is
 * answered after that signal. Returns the supervisor's view afterwards.
 */
export const crash = Effect.fnUntraced(function*(
  system: ActorSystemShape,
  sup: Supervisor.SupervisorRef,
  ref: ActorRef.ActorRef<Worker>
) {
  yield* ref.tell(Worker.Crash())
  const reason = yield* system.awaitExit(ref)
  assert.strictEqual(reason._tag, "Error")
  return yield* Supervisor.whichChildren(sup)
})

/**
 * The children once no restart is waiting (without backoff): a failed start is retried through
 * the supervisor's mailbox (OTP's try_again_restart), so a call may come between the attempts.
 */
export const settledChildren = Effect.fnUntraced(function*(sup: Supervisor.SupervisorRef) {
  for (let i = 0; i < 100; i++) {
    const infos = yield* Supervisor.whichChildren(sup)
    if (infos.every((c) => c.status !== "restarting")) return infos
  }
  return yield* Effect.die(new Error("children still restarting after 100 calls"))
})

/** Same as `crash`, with a normal self-stop. */
export const selfStop = Effect.fnUntraced(function*(
  system: ActorSystemShape,
  sup: Supervisor.SupervisorRef,
  ref: ActorRef.ActorRef<Worker>
) {
  yield* ref.tell(Worker.Stop())
  const reason = yield* system.awaitExit(ref)
  assert.strictEqual(reason._tag, "Normal")
  return yield* Supervisor.whichChildren(sup)
})

/** Lets forked fibers and the dispatcher run; bounded, never waits on time. */
export const settle = (n = 20) => Effect.repeat(Effect.yieldNow, { times: n })

const marker = (k: number): SupervisionEvent => ({
  _tag: "ChildStartFailed",
  supervisor: "test/subscription-marker",
  at: -1,
  childId: `marker-${k}`,
  message: "marker"
})
let markers = 0

/**
 * Subscribes to the supervision events and collects the first `n` that satisfy `filter`.
 * Returns once the subscription is live (checked with a marker event, so no event published
 * afterwards can be missed); join the fiber to get the events.
 */
export const collectEvents = Effect.fnUntraced(function*(
  system: ActorSystemShape,
  n: number,
  filter: (e: SupervisionEvent) => boolean = () => true
) {
  const live = yield* Deferred.make<void>()
  const mark = marker(markers++)
  const fiber = yield* system.supervisionEvents.pipe(
    Stream.tap((e) => (e === mark ? Deferred.succeed(live, undefined) : Effect.void)),
    Stream.filter((e) => e.supervisor !== mark.supervisor && filter(e)),
    Stream.take(n),
    Stream.runCollect,
    Effect.forkChild
  )
  for (let i = 0; i < 100 && !(yield* Deferred.isDone(live)); i++) {
    kernelOf(system).publishEvent(mark)
    yield* Effect.yieldNow
  }
  assert.isTrue(yield* Deferred.isDone(live), "the event subscription never became live")
  return fiber
})

/** Joins an event collector, failing (instead of hanging) if it has not got all its events yet. */
export const joinEvents = Effect.fnUntraced(function*(fiber: Fiber.Fiber<ReadonlyArray<SupervisionEvent>, never>) {
  yield* settle()
  const exit = fiber.pollUnsafe()
  assert.isDefined(exit, "the expected supervision events were not all published")
  return yield* Fiber.join(fiber)
})

export const bySupervisor = (sup: { readonly key: string }) => (e: SupervisionEvent) => e.supervisor === sup.key

/** Runs `f` with a fresh actor system, stopped at the end. */
export const withSystem = <A, E, R>(f: (system: ActorSystemShape) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    return yield* f(system)
  }).pipe(Effect.provide(ActorSystem.layer()))

/** The effect's failure, which must be a `SupervisorError`. */
export const supervisorError = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.flip(effect).pipe(Effect.map((e) => {
    assert.strictEqual((e as { _tag?: string })._tag, "SupervisorError", String(e))
    return e as unknown as Supervisor.SupervisorError
  }))
