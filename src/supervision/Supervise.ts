/**
 * Supervision inside one actor, as Pekko typed's `Behaviors.supervise`: a directive per kind of
 * failure, applied where the failure happens, keeping the actor's ref and mailbox.
 *
 * ```ts
 * const Resilient = Supervise.behavior(WorkerLive, [
 *   { match: "ParseError", directive: "resume" },                  // drop the message, keep the state
 *   { match: "ConnectionLost", directive: "restart", backoff: "200 millis" }, // fresh state, same ref
 *   { match: (e) => e instanceof RangeError, directive: "stop" }
 * ])
 * ```
 *
 * A failure is what ends an actor: any failure of a `tell` handler, a defect of an `ask`
 * handler (an ask's typed failure is a reply, not a failure). The first rule whose `match` (an
 * error `_tag`, or a predicate on the error or defect) fits decides:
 *
 * - `resume`: the failing message is dropped and the actor goes on with its state. The asker of
 *   an ask whose handler died gets the error when the ask declares it (its `error` schema),
 *   else `ActorStopped` with the `Error` reason, as after a crash (a raw defect is not a value of
 *   the asker's error type, nor one another node could encode).
 * - `restart`: the behaviour's init runs again in the same actor — same ref, same mailbox, same
 *   links and monitors — after the old incarnation's finalizers, and after `backoff` if given.
 *   Messages that arrive meanwhile wait in the mailbox (Pekko's stash during a backoff) and go to
 *   the new incarnation. `limit`: past `maxRestarts` restarts by the rule within `within`, the
 *   failure ends the actor instead.
 * - `stop`: the actor stops with the failure's `Error` reason (as if unsupervised).
 * - no rule fits: the failure ends the actor as usual, and its supervisor decides.
 *
 * The asker of an ask whose handler crashed and was restarted or stopped gets `ActorStopped`, as
 * from an unsupervised actor's crash (or the defect itself when it is a registered runtime
 * error, see `registerRuntimeError`).
 *
 * A failing init is a failure like any other, as in Pekko (whose restart catches a failing
 * setup as it does a failing message). During an in-place restart, the rule that fits its
 * error or defect decides: `restart` runs the failed incarnation's finalizers and stops its
 * children, waits that rule's backoff and runs the init again, counted against that rule's
 * `limit`; past the limit, under `stop` or `resume` (no incarnation to go on with), or when no
 * rule fits, the actor ends with the init's failure. Messages wait in the mailbox meanwhile and
 * go to the first incarnation whose init succeeds. Under a `restart` rule with neither backoff
 * nor limit, an init that always fails is tried again until the actor is stopped (as Pekko's),
 * but once per turn of the scheduler, each attempt after a yield: the node's other fibers,
 * timers and I/O run between attempts, and a stop of the actor ends the loop. Give such a rule
 * a `backoff` or a `limit` when its init may fail for long.
 *
 * At spawn, the first init that fails is tried again only under a `restart` rule with a
 * `limit` (Pekko's `restart.withLimit`), at most `maxRestarts` times whatever the window: the
 * spawn waits (through the backoffs) and returns the started actor, or fails with `SpawnError`
 * and the last failure. Under any other rule the spawn fails at the first failure, as an
 * unsupervised one: Pekko's unlimited restart gives up at once too (an init that fails at
 * spawn likely always fails), and its unlimited backoff's retrying forever would be a spawn
 * that never returns. A runtime that handles a failing start itself (sharding activates an
 * entity again at its next message, and answers the waiting ones `ActivationFailed` at once)
 * turns that off (`retryStart: false`).
 *
 * Timers (`startTimer`, `startPeriodicTimer`) belong to an incarnation: an in-place restart
 * cancels them (Pekko), so the new incarnation gets no message from a timer it did not start.
 *
 * PreRestart vs PostStop: finalizers the behaviour adds in its init see the `Exit` their scope
 * closes with — a failure whose error `isPreRestart` before an in-place restart, success when the
 * actor stops. An in-place restart then stops the actor's children, as Pekko's restart does
 * (unless the rule says `stopChildren: false`): in reverse spawn order, each within its stop
 * budget, unlinked and no longer monitored first (their exit neither ends the actor nor reaches
 * the new incarnation as a `Down`). A new init that spawns them again, under the same names
 * too, finds them gone.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Actor from "../actors/Actor.ts"
import { ActorContext, type ActorContextShape } from "../actors/ActorContext.ts"
import { ActorStopped, isRegisteredRuntimeError } from "../actors/ActorError.ts"
import * as ExitReason from "../actors/ExitReason.ts"
import * as Kernel from "../actors/Kernel.ts"
import { handlerExitNow } from "../internal/effectShape.ts"

export type Directive = "resume" | "restart" | "stop"

export interface Rule {
  /** an error's `_tag`, or a predicate on the error (or defect) */
  readonly match: string | ((error: unknown) => boolean)
  readonly directive: Directive
  /** `restart` only: wait this long before the new incarnation starts (messages wait in the mailbox) */
  readonly backoff?: Duration.Input | undefined
  /**
   * `restart` only (Pekko's `withLimit`): more than `maxRestarts` in-place restarts by this rule
   * within `within` and the failure ends the actor instead (a failing re-init's restart counts).
   * With a limit, a failing first init is also tried again at spawn, at most `maxRestarts` times.
   */
  readonly limit?: { readonly maxRestarts: number; readonly within: Duration.Input } | undefined
  /**
   * `restart` only (Pekko's `withStopChildren`): whether the actor's children stop before the
   * new incarnation starts. Default true; false keeps them running across the restart.
   */
  readonly stopChildren?: boolean | undefined
}

/** The error an old incarnation's scope closes with before an in-place restart (Pekko's PreRestart). */
export class PreRestart extends Schema.TaggedError<PreRestart>()("PreRestart", {
  message: Schema.String
}) {}

/** Whether a finalizer's `Exit` says the actor is about to restart in place (not stop). */
export const isPreRestart = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) && Cause.findErrorOption(exit.cause)._tag === "Some" &&
  (Cause.findErrorOption(exit.cause) as { value: unknown }).value instanceof PreRestart

const directives: ReadonlyArray<unknown> = ["resume", "restart", "stop"]

const check = (rules: ReadonlyArray<Rule>): void => {
  if (!Array.isArray(rules)) throw new TypeError("Supervise.behavior: rules must be an array")
  for (const r of rules) {
    if (typeof r !== "object" || r === null) throw new TypeError("Supervise.behavior: a rule must be an object")
    if (typeof r.match !== "string" && typeof r.match !== "function") {
      throw new TypeError(`Supervise.behavior: match must be an error tag or a predicate`)
    }
    if (!directives.includes(r.directive)) {
      throw new TypeError(`Supervise.behavior: directive must be resume, restart or stop, got ${String(r.directive)}`)
    }
    if (r.backoff !== undefined && Duration.fromInput(r.backoff)._tag === "None") {
      throw new TypeError(`Supervise.behavior: backoff must be a duration`)
    }
    if (r.stopChildren !== undefined && typeof r.stopChildren !== "boolean") {
      throw new TypeError(`Supervise.behavior: stopChildren must be a boolean`)
    }
    if (r.limit !== undefined) {
      if (typeof r.limit !== "object" || r.limit === null || !Number.isInteger(r.limit.maxRestarts) || r.limit.maxRestarts < 0) {
        throw new TypeError(`Supervise.behavior: limit.maxRestarts must be a non-negative integer`)
      }
      if (Duration.fromInput(r.limit.within)._tag === "None") throw new TypeError(`Supervise.behavior: limit.within must be a duration`)
    }
  }
}

const fits = (rule: Rule, error: unknown): boolean =>
  typeof rule.match === "string"
    ? typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === rule.match
    : rule.match(error)

/** Marks a supervised actor's handlers, whose `onDown`/`onExit` follow its incarnation. */
const LiveSignals: unique symbol = Symbol.for("telex/Supervise/LiveSignals")

// What one supervised actor holds is kept on its handlers object (what the cell calls), under
// symbol keys (its own keys are its protocol's tags, any strings): a message then reaches one
// object of the wrapper, not two — each a cache miss for an actor among many not used lately.
const Ctx: unique symbol = Symbol("telex/Supervise/ctx")
const Outer: unique symbol = Symbol("telex/Supervise/outer")
/** the current incarnation's scope */
const Incarnation: unique symbol = Symbol("telex/Supervise/incarnation")
/** the current incarnation's handlers */
const Current: unique symbol = Symbol("telex/Supervise/current")
/**
 * per rule: the times of its in-place restarts, for `limit` (made at the first restart: most
 * actors never fail, and what an actor holds for its failures is paid by each of them)
 */
const Restarts: unique symbol = Symbol("telex/Supervise/restarts")

/** One supervised actor: its handlers (`onDown`/`onExit` follow the current incarnation), and its state. */
interface Supervised {
  readonly [Ctx]: ActorContextShape
  readonly [Outer]: Scope.Scope
  [Incarnation]: Scope.Closeable
  [Current]: any
  [Restarts]: Map<Rule, Array<number>> | undefined
  [tag: string]: ((message: any) => Effect.Effect<unknown, unknown, any>) | undefined
}

export interface Options {
  /** whether a failing first init is tried again at spawn under a `restart` rule with a limit (see the module doc); default true */
  readonly retryStart?: boolean | undefined
}

/**
 * Wraps a behaviour with per-failure directives (see the module doc). What does not depend on
 * one actor (the rules, which tags are asks, the failure handling) is made here once, shared by
 * every actor of the behaviour: an actor holds its incarnation and three small closures.
 */
export const behavior = <D extends Actor.MessageDefs, E, R>(
  inner: Actor.Behavior<D, E, R>,
  rules: ReadonlyArray<Rule>,
  options?: Options
): Actor.Behavior<D, E, R> => {
  const retryStart = options?.retryStart !== false
  check(rules)
  const protocol = inner.protocol
  const tags = Object.keys(protocol.defs)
  const asks = new Set(tags.filter((tag) => Actor.isAsk(protocol, tag)))
  /** per ask: whether a value is one of the errors it declares */
  const declares = new Map(
    [...asks].map((tag) => [tag, Schema.is((protocol.defs[tag] as unknown as { readonly error: Schema.Top }).error)] as const)
  )

  // on the monotonic clock: a step of the wall clock back would count old restarts as recent
  const withinLimit = (st: Supervised, rule: Rule) =>
    Effect.map(Clock.monotonicTimeNanos, (nanos) => {
      if (rule.limit === undefined) return true
      const now = Number(nanos / 1_000_000n)
      const window = Duration.toMillis(Duration.fromInputUnsafe(rule.limit.within))
      const restarts: Map<Rule, Array<number>> = (st[Restarts] ??= new Map())
      const times = (restarts.get(rule) ?? []).filter((t) => t > now - window)
      times.push(now)
      restarts.set(rule, times)
      return times.length <= rule.limit.maxRestarts
    })

  /**
   * Stops the actor's children, newest first, each within its own budget (as when the actor
   * stops), unlinked first (a linked child's exit would end the actor, which lives on) and no
   * longer monitored (the new incarnation gets no `Down` of them, as Pekko's restart).
   */
  const stopChildren = (ctx: ActorContextShape) =>
    Effect.suspend(() => {
      const children = Kernel.childrenOf(ctx)
      if (children.length === 0) return Effect.void
      const keys = new Set(children.map((child) => child.key))
      const monitors = Kernel.ofContext(ctx)?.processInfo(ctx.self)?.monitors.filter((m) =>
        m.node === undefined && keys.has(m.target.key)
      ) ?? []
      return Effect.andThen(
        Effect.forEach(monitors, (m) => ctx.demonitor(m), { discard: true }),
        Effect.forEach(
          children.reverse(),
          (child) => Effect.andThen(ctx.unlink(child), Kernel.awaitStop(child, ExitReason.shutdown)),
          { discard: true }
        )
      )
    })

  /** One init of the behaviour, in the current incarnation's scope. */
  const initIn = (st: Supervised) => Scope.provide(inner.init, st[Incarnation])

  /**
   * The `restart` rule a failed init is tried again under: the first rule that fits its failure,
   * when it says `restart` and its limit allows another (an interruption is the actor stopping,
   * and a `resume` has no incarnation to go on with). At spawn (`retries`, those made so far),
   * only a rule with a limit, and at most `maxRestarts` times whatever its window.
   */
  const retryRule = (st: Supervised, cause: Cause.Cause<unknown>, retries?: number) => {
    if (Cause.hasInterrupts(cause)) return Effect.succeed(undefined)
    const rule = rules.find((r) => fits(r, Cause.squash(cause)))
    if (rule === undefined || rule.directive !== "restart") return Effect.succeed(undefined)
    if (retries !== undefined && (rule.limit === undefined || retries >= rule.limit.maxRestarts)) return Effect.succeed(undefined)
    return Effect.map(withinLimit(st, rule), (ok) => ok ? rule : undefined)
  }

  /**
   * Ends the current incarnation and makes the scope of the next: timers, finalizers, children,
   * then the rule's backoff. `again` (the incarnation is an init that failed): with no backoff,
   * the next init waits for the next turn of the scheduler, so that an init that fails at once
   * under a rule with no limit is tried again forever (as Pekko's) without taking the thread.
   */
  const renew = (st: Supervised, rule: Rule, error: unknown, again: boolean) =>
    Effect.gen(function*() {
      // the old incarnation's timers would send its messages to the new one (Pekko cancels them)
      yield* st[Ctx].supervision.cancelTimers()
      yield* Scope.close(st[Incarnation], Exit.fail(new PreRestart({ message: describe(error) })))
      if (rule.stopChildren !== false) yield* stopChildren(st[Ctx])
      if (rule.backoff !== undefined) yield* Effect.sleep(rule.backoff)
      else if (again) yield* Effect.yieldNow
      st[Incarnation] = yield* Scope.fork(st[Outer], "sequential")
    })

  /**
   * An in-place restart under `rule`: a new incarnation in place of the one that failed. An init
   * that fails is a failure under the rules as any other (Pekko's restart catches a failing
   * setup as a failing message): restarted again under the rule that fits it, or the actor ends
   * with it (as a defect: a typed failure of an ask's handler would be taken for its reply).
   */
  const restart = (st: Supervised, rule: Rule, error: unknown) =>
    Effect.gen(function*() {
      let under = rule
      let failure = error
      for (let again = false;; again = true) {
        yield* renew(st, under, failure, again)
        const exit = yield* Effect.exit(initIn(st))
        if (Exit.isSuccess(exit)) return incarnate(st, exit.value)
        const next = yield* retryRule(st, exit.cause)
        if (next === undefined) return yield* Effect.orDie(Effect.failCause(exit.cause))
        under = next
        failure = Cause.squash(exit.cause)
      }
    })

  /**
   * The first init, at spawn. Tried again only under a `restart` rule with a `limit` (Pekko's
   * `restart.withLimit` retries a failing first setup; its unlimited restart gives up at once, a
   * first init that fails being likely to fail forever), and at most `maxRestarts` times: the
   * spawn waits, and returns a started actor or fails with the last failure, as unsupervised.
   */
  const start = (st: Supervised, retries = 0): ReturnType<typeof initIn> =>
    // (the init as before when it succeeds, as nearly all do: what a retry needs is made on a failure)
    Effect.catchCause(initIn(st), (cause) =>
      Effect.flatMap(retryRule(st, cause, retries), (rule) =>
        rule === undefined
          ? Effect.failCause(cause)
          : Effect.andThen(renew(st, rule, Cause.squash(cause), true), Effect.suspend(() => start(st, retries + 1)))))

  /**
   * What the asker of a handler that crashed (restarted or stopped) gets: `ActorStopped`, as from
   * an unsupervised actor's crash, or the defect itself when it is a registered runtime error
   * (a sharded entity's `StateNotSaved`), which the asker's error channel is typed with.
   */
  const crashed = (st: Supervised, error: unknown, cause: Cause.Cause<unknown>) =>
    isRegisteredRuntimeError(error) ? error : new ActorStopped({ actor: st[Ctx].self.key, reason: ExitReason.fromCause(cause) })

  /** The failure of one handler: a directive, or the failure itself when no rule fits. */
  /**
   * What the asker of a handler that died and was resumed gets: the error itself when it is one
   * the ask declares (its `error` schema) — a typed reply, here and across nodes — else what a
   * crash gives (`crashed`): a raw defect is not a value of the asker's error type, and another
   * node could not even encode it.
   */
  const resumed = (st: Supervised, tag: string, error: unknown, cause: Cause.Cause<unknown>) =>
    declares.get(tag)?.(error) === true ? error : crashed(st, error, cause)

  const guard = (st: Supervised, effect: Effect.Effect<unknown, unknown, any>, isAsk: boolean, tag: string) =>
    Effect.catchCause(effect, (cause) => {
      // an interruption is the actor stopping; an ask's typed failure is its reply
      if (Cause.hasInterrupts(cause) || (isAsk && !Cause.hasDies(cause))) return Effect.failCause(cause)
      const error = Cause.squash(cause)
      const rule = rules.find((r) => fits(r, error))
      if (rule === undefined) return Effect.failCause(cause)
      switch (rule.directive) {
        case "resume":
          return isAsk ? Effect.fail(resumed(st, tag, error, cause)) : Effect.logWarning(`resumed after a failure: ${describe(error)}`)
        case "stop":
          return Effect.andThen(st[Ctx].stop({ _tag: "Error", message: Cause.pretty(cause) }), isAsk ? Effect.fail(crashed(st, error, cause)) : Effect.void)
        case "restart":
          return Effect.flatMap(withinLimit(st, rule), (ok) =>
            ok ? Effect.andThen(restart(st, rule, error), isAsk ? Effect.fail(crashed(st, error, cause)) : Effect.void) : Effect.failCause(cause))
      }
    })

  /**
   * Per tag, the key under which an actor's handlers object holds its current incarnation's
   * handler: a message then reaches that handler from the object the cell already holds,
   * without reaching the incarnation's own handlers object (a cache miss per message for an
   * actor among many not used lately).
   */
  const slots: Record<string, symbol> = Object.create(null)
  for (const tag of tags) slots[tag] = Symbol(tag)

  /**
   * A message to the current incarnation. `untraced` (from the cell, see `Actor.DispatchTypeId`):
   * the effect returned runs at once, with no span around it.
   */
  const handle = (st: Supervised, message: { readonly _tag: string }, untraced?: boolean) => {
    // (called as its incarnation's handlers object's method, as before); a handler that throws
    // instead of returning an effect fails as a defect would, under the same rules
    let effect: any
    try {
      effect = (st as any)[slots[message._tag]!].call(st[Current], message)
    } catch (defect) {
      effect = Effect.die(defect)
    }
    // a handler that answered at once (Effect.succeed) has nothing to guard (a prototype
    // comparison: Exit.isExit looks a symbol up along the effect's prototype chain); an
    // Effect.sync the cell runs at once anyway (`untraced`) runs here, and its value is the Exit,
    // which the cell handles without a fiber (a guarded effect takes one per message); only a
    // failure goes to the rules (a throw of its body as the defect it is)
    const exit = handlerExitNow(effect, untraced === true)
    return exit?._tag === "Success" ? exit : settle(st, exit ?? effect, message)
  }

  /** The effect of a handler that may fail, under the rules (also what the cell calls, `Actor.GuardTypeId`). */
  const settle = (st: Supervised, effect: any, message: { readonly _tag: string }) => {
    const guarded = guard(st, effect, asks.has(message._tag), message._tag)
    // a handler marked with Actor.fork stays forked
    return effect[Actor.ForkTypeId] === true ? Actor.fork(guarded) : guarded
  }

  /** Makes `current` the actor's incarnation: its handlers, and its signals. */
  const incarnate = (st: Supervised, current: any) => {
    st[Current] = current
    for (const tag of tags) (st as any)[slots[tag]!] = current[tag]
    signals(st)
    Kernel.reincarnated(st[Ctx], st)
  }

  /**
   * `onDown`/`onExit` of the actor, guarded, when its current incarnation has them (the cell
   * skips a signal with no handler, as the incarnation would): most have neither, and two
   * closures per actor for them are then not made.
   */
  const signals = (st: Supervised) => {
    const current = st[Current]
    // a nested Supervise.behavior's handlers gain or lose onDown/onExit at its own restarts
    const live = current[LiveSignals] === true
    if (!live && current.onDown === undefined) st.onDown = undefined
    else st.onDown ??= (down) => guard(st, Effect.suspend(() => st[Current].onDown?.(down) ?? Effect.void), false, "onDown")
    if (!live && current.onExit === undefined) st.onExit = undefined
    else st.onExit ??= (exit) => guard(st, Effect.suspend(() => st[Current].onExit?.(exit) ?? Effect.void), false, "onExit")
  }

  /**
   * The actors' handlers objects: the state in fields made by the constructor, then the tags
   * and signals (one class per behaviour, so all of them fit in the object itself); what the
   * cell calls (`dispatch`, shared) and the mark of live signals are on its prototype.
   */
  class Handlers implements Supervised {
    // (semicolons: a line starting with a computed key would continue the one before)
    readonly [Ctx]: ActorContextShape;
    readonly [Outer]: Scope.Scope;
    [Incarnation]: Scope.Closeable;
    [Current]: any = undefined;
    [Restarts]: Map<Rule, Array<number>> | undefined = undefined;
    [tag: string]: ((message: any) => Effect.Effect<unknown, unknown, any>) | undefined
    constructor(ctx: ActorContextShape, outer: Scope.Scope, scope: Scope.Closeable) {
      this[Ctx] = ctx
      this[Outer] = outer
      this[Incarnation] = scope
      // the incarnation's handlers' slots, made here so that every actor of the behaviour has one shape
      for (const tag of tags) (this as any)[slots[tag]!] = undefined
    }
  }
  Object.defineProperty(Handlers.prototype, LiveSignals, { value: true })
  Object.defineProperty(Handlers.prototype, Actor.DispatchTypeId, { value: handle })
  // the cell calls the current incarnation's handlers itself, and `settle` for what may fail
  Object.defineProperty(Handlers.prototype, Actor.IncarnationTypeId, {
    get(this: Supervised) {
      return this[Current]
    }
  })
  Object.defineProperty(Handlers.prototype, Actor.GuardTypeId, { value: settle })
  Object.defineProperty(Handlers.prototype, Actor.HandlerTypeId, {
    value: (st: Supervised, tag: string) => {
      const slot = slots[tag]
      return slot === undefined ? undefined : (st as any)[slot]
    }
  })

  const init = Effect.gen(function*() {
    const ctx = yield* ActorContext
    const outer = yield* Effect.scope
    const st = new Handlers(ctx, outer, yield* Scope.fork(outer, "sequential"))
    const current = yield* (retryStart ? start(st) : initIn(st))
    // one closure for every tag (the message carries its tag), for whoever calls a tag's handler
    // itself (an outer Supervise.behavior, a wrapper); the cell calls `dispatch`
    const onMessage = (message: { readonly _tag: string }) => handle(st, message)
    for (const tag of tags) st[tag] = onMessage
    incarnate(st, current)
    return st as unknown as Actor.Handlers<D, any>
  })
  return { protocol, init } as Actor.Behavior<D, E, R>
}

const describe = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === "object" && e !== null && "_tag" in e ? String((e as any)._tag) : String(e)
