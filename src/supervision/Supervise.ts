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
 * - `resume`: the failing message is dropped and the actor goes on with its state (the asker of
 *   a failed ask gets the error as its failure).
 * - `restart`: the behaviour's init runs again in the same actor — same ref, same mailbox, same
 *   links and monitors — after the old incarnation's finalizers, and after `backoff` if given.
 *   Messages that arrive meanwhile wait in the mailbox (Pekko's stash during a backoff) and go to
 *   the new incarnation. A failing re-init ends the actor.
 * - `stop`: the actor stops with the failure's `Error` reason (as if unsupervised).
 * - no rule fits: the failure ends the actor as usual, and its supervisor decides.
 *
 * PreRestart vs PostStop: finalizers the behaviour adds in its init see the `Exit` their scope
 * closes with — a failure whose error `isPreRestart` before an in-place restart, success when the
 * actor stops. Children spawned by the old incarnation keep running across an in-place restart
 * (they are the actor's, not the incarnation's).
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
import { ActorContext } from "../actors/ActorContext.ts"

export type Directive = "resume" | "restart" | "stop"

export interface Rule {
  /** an error's `_tag`, or a predicate on the error (or defect) */
  readonly match: string | ((error: unknown) => boolean)
  readonly directive: Directive
  /** `restart` only: wait this long before the new incarnation starts (messages wait in the mailbox) */
  readonly backoff?: Duration.Input | undefined
  /**
   * `restart` only (Pekko's `withLimit`): more than `maxRestarts` in-place restarts by this rule
   * within `within` and the failure ends the actor instead
   */
  readonly limit?: { readonly maxRestarts: number; readonly within: Duration.Input } | undefined
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

/** Wraps a behaviour with per-failure directives (see the module doc). */
export const behavior = <D extends Actor.MessageDefs, E, R>(
  inner: Actor.Behavior<D, E, R>,
  rules: ReadonlyArray<Rule>
): Actor.Behavior<D, E, R> => {
  check(rules)
  const protocol = inner.protocol
  const tags = Object.keys(protocol.defs)
  const init = Effect.gen(function*() {
    const ctx = yield* ActorContext
    const outer = yield* Effect.scope
    let scope = yield* Scope.fork(outer, "sequential")
    let current: any = yield* Scope.provide(inner.init, scope)

    // per rule: the times of its in-place restarts, for `limit` (made at the first restart: most
    // actors never fail, and what an actor holds for its failures is paid by each of them)
    let restarts: Map<Rule, Array<number>> | undefined
    const withinLimit = (rule: Rule) =>
      Effect.gen(function*() {
        if (rule.limit === undefined) return true
        const now = yield* Clock.currentTimeMillis
        const window = Duration.toMillis(Duration.fromInputUnsafe(rule.limit.within))
        restarts ??= new Map()
        const times = (restarts.get(rule) ?? []).filter((t) => t > now - window)
        times.push(now)
        restarts.set(rule, times)
        return times.length <= rule.limit.maxRestarts
      })

    const restart = (rule: Rule, error: unknown) =>
      Effect.gen(function*() {
        yield* Scope.close(scope, Exit.fail(new PreRestart({ message: describe(error) })))
        if (rule.backoff !== undefined) yield* Effect.sleep(rule.backoff)
        scope = yield* Scope.fork(outer, "sequential")
        current = yield* Scope.provide(inner.init, scope).pipe(Effect.orDie)
      })

    /** The failure of one handler: a directive, or the failure itself when no rule fits. */
    const guard = (effect: Effect.Effect<unknown, unknown, any>, isAsk: boolean) =>
      Effect.catchCause(effect, (cause) => {
        // an interruption is the actor stopping; an ask's typed failure is its reply
        if (Cause.hasInterrupts(cause) || (isAsk && !Cause.hasDies(cause))) return Effect.failCause(cause)
        const error = Cause.squash(cause)
        const rule = rules.find((r) => fits(r, error))
        if (rule === undefined) return Effect.failCause(cause)
        switch (rule.directive) {
          case "resume":
            return isAsk ? Effect.fail(error) : Effect.logWarning(`resumed after a failure: ${describe(error)}`)
          case "stop":
            return Effect.andThen(ctx.stop({ _tag: "Error", message: Cause.pretty(cause) }), isAsk ? Effect.fail(error) : Effect.void)
          case "restart":
            return Effect.flatMap(withinLimit(rule), (ok) =>
              ok ? Effect.andThen(restart(rule, error), isAsk ? Effect.fail(error) : Effect.void) : Effect.failCause(cause))
        }
      })

    const handlers: Record<string, (message: any) => Effect.Effect<unknown, unknown, any>> = {}
    for (const tag of tags) {
      const isAsk = Actor.isAsk(protocol, tag)
      handlers[tag] = (message) => {
        const effect = current[tag](message)
        // a handler that answered at once (Effect.succeed) has nothing to guard
        if (Exit.isExit(effect) && Exit.isSuccess(effect)) return effect
        const guarded = guard(effect, isAsk)
        // a handler marked with Actor.fork stays forked
        return effect[Actor.ForkTypeId] === true ? Actor.fork(guarded) : guarded
      }
    }
    handlers.onDown = (down) => guard(Effect.suspend(() => current.onDown?.(down) ?? Effect.void), false) as any
    handlers.onExit = (exit) => guard(Effect.suspend(() => current.onExit?.(exit) ?? Effect.void), false) as any
    return handlers as unknown as Actor.Handlers<D, any>
  })
  return { protocol, init } as Actor.Behavior<D, E, R>
}

const describe = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === "object" && e !== null && "_tag" in e ? String((e as any)._tag) : String(e)
