/**
 * Tracing of asks: a client span around the ask (`telex.ask <Protocol>.<Tag>`), a server span
 * around the handler (`telex.handle <Protocol>.<Tag>`), and the trace context between them —
 * on the ask's reply function locally, in the Ask envelope across nodes (a W3C `traceparent`
 * string, see docs/protocol.md).
 *
 * Nothing here runs unless the asking fiber is traced: it has a current span, or a tracer other
 * than Effect's native one is installed. An untraced ask pays one read of the fiber's cached
 * context values, a handler one property read on its reply.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"

/** Whether an ask from this fiber gets a client span (and carries trace context). */
export const isTraced = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  const cache = fiber.cache
  return cache.tracerEnabled &&
    (cache.span !== undefined || (cache.tracer !== undefined && cache.tracer !== Tracer.nativeTracer))
}

/** Whether the fiber asks not to propagate its trace (Effect's `Tracer.DisablePropagation`). */
export const propagationDisabled = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  Context.get(fiber.context, Tracer.DisablePropagation)

/** W3C trace context: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` (flag 01: sampled). */
export const toTraceparent = (span: Tracer.AnySpan): string =>
  `00-${span.traceId.padStart(32, "0")}-${span.spanId.padStart(16, "0")}-${span.sampled ? "01" : "00"}`

const HEX32 = /^[0-9a-f]{32}$/
const HEX16 = /^[0-9a-f]{16}$/
const HEX2 = /^[0-9a-f]{2}$/

/** Parses a `traceparent`; anything else (a newer version, garbage) is ignored: undefined. */
export const fromTraceparent = (value: unknown): Tracer.ExternalSpan | undefined => {
  if (typeof value !== "string" || value.length !== 55) return undefined
  const parts = value.split("-")
  if (parts.length !== 4 || parts[0] !== "00") return undefined
  const [, traceId, spanId, flags] = parts as [string, string, string, string]
  if (!HEX32.test(traceId) || !HEX16.test(spanId) || !HEX2.test(flags)) return undefined
  if (traceId === "00000000000000000000000000000000" || spanId === "0000000000000000") return undefined
  return Tracer.externalSpan({ traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 })
}

/** The client span's attributes. */
export const askAttributes = (actor: string, protocol: string, tag: string, sender: string | undefined) =>
  sender === undefined
    ? { "telex.actor": actor, "telex.protocol": protocol, "telex.message": tag }
    : { "telex.actor": actor, "telex.protocol": protocol, "telex.message": tag, "telex.sender": sender }

/** Runs a handler inside `telex.handle <Protocol>.<Tag>`, child of the asker's span. */
export const withHandlerSpan = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  parent: Tracer.AnySpan,
  actor: { readonly key: string; readonly name: string | undefined; readonly node: string; readonly protocol: string },
  tag: string
): Effect.Effect<A, E, R> => {
  const attributes: Record<string, unknown> = {
    "telex.actor": actor.key,
    "telex.node": actor.node,
    "telex.protocol": actor.protocol,
    "telex.message": tag
  }
  if (actor.name !== undefined) attributes["telex.actor.name"] = actor.name
  return Effect.withSpan(effect, `telex.handle ${actor.protocol}.${tag}`, {
    parent,
    kind: "server",
    attributes,
    captureStackTrace: false
  }) as Effect.Effect<A, E, R>
}
