/**
 * Logs from inside an actor carry `actor=<name or address>` and `node=<node name>`.
 *
 * Annotating each actor's context would cost every actor memory (a context entry and a record)
 * and annotating each activation would cost every message time. Instead the loggers an actor
 * runs with are wrapped once per set of loggers: at log time the wrapper finds the actor in the
 * logging fiber's context (its `ActorContext`, already there) and lends the fiber a context with
 * the two annotations for the duration of the call. Spawning checks whether the caller's
 * loggers are already wrapped (children of actors inherit them) and otherwise derives the
 * wrapped context once per caller context (cached), so an idle actor costs nothing more.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { ActorContext } from "../ActorContext.ts"

type AnyLogger = Logger.Logger<unknown, any>
type Loggers = ReadonlySet<AnyLogger>

/** wrapped logger sets (the ones installed by this module) */
const wrappedSets = new WeakSet<Loggers>()
/** loggers set → its wrapped counterpart */
const wrappedFor = new WeakMap<Loggers, Loggers>()
/** caller context → the same context with wrapped loggers */
const contextFor = new WeakMap<Context.Context<never>, Context.Context<never>>()
/** wrapper → the logger it wraps (wrapping a set that already holds wrappers unwraps them) */
const innerOf = new WeakMap<AnyLogger, AnyLogger>()

const wrap = (inner: AnyLogger): AnyLogger => {
  const wrapper = Logger.make<unknown, unknown>((options) => {
    const fiber = options.fiber
    const actor = Context.getOrUndefined(fiber.context, ActorContext)
    if (actor === undefined) return inner.log(options)
    const annotations = fiber.getRef(References.CurrentLogAnnotations)
    const hasActor = "actor" in annotations
    const hasNode = "node" in annotations
    if (hasActor && hasNode) return inner.log(options)
    const self = actor.self
    const next: Record<string, unknown> = { ...annotations }
    if (!hasNode) next.node = self.address.node.name
    if (!hasActor) next.actor = (actor as { readonly name?: string | undefined }).name ?? self.key
    const previous = fiber.context
    fiber.setContext(Context.add(previous, References.CurrentLogAnnotations, next))
    try {
      return inner.log(options)
    } finally {
      fiber.setContext(previous)
    }
  })
  innerOf.set(wrapper, inner)
  return wrapper
}

const wrapSet = (loggers: Loggers): Loggers => {
  let wrapped = wrappedFor.get(loggers)
  if (wrapped === undefined) {
    const set = new Set<AnyLogger>()
    for (const logger of loggers) set.add(wrap(innerOf.get(logger) ?? logger))
    wrapped = set
    wrappedSets.add(wrapped)
    wrappedFor.set(loggers, wrapped)
  }
  return wrapped
}

/**
 * The context an actor spawned from `callerContext` runs with, before its own `ActorContext`
 * and `Scope`: the caller's, with actor-annotating loggers. No allocation when the caller's
 * loggers are already wrapped (an actor spawning) or the caller's context was seen before.
 */
export const withActorLoggers = (callerContext: Context.Context<never>): Context.Context<never> => {
  const loggers = Context.get(callerContext, Logger.CurrentLoggers)
  if (wrappedSets.has(loggers)) return callerContext
  let context = contextFor.get(callerContext)
  if (context === undefined) {
    context = Context.add(callerContext, Logger.CurrentLoggers, wrapSet(loggers))
    contextFor.set(callerContext, context)
  }
  return context
}
