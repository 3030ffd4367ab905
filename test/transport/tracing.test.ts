import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema, Tracer } from "effect"
import { fromTraceparent, toTraceparent } from "../../src/actors/internal/tracing.ts"
import { Actor, ActorRef, ActorSystem } from "../../src/index.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { Node, routerOf } from "../../src/transport/Node.ts"
import { startNode } from "../../src/testing/TestNode.ts"

/** A tracer that keeps every span it makes (Effect's native spans). */
const memoryTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

interface SpanInfo {
  readonly traceId: string
  readonly spanId: string
}
const SpanInfo = Schema.NullOr(Schema.Struct({ traceId: Schema.String, spanId: Schema.String }))

const Probe = Actor.make("TraceProbe", {
  /** the handler's current span, or null */
  Current: Actor.ask({}, { success: SpanInfo }),
  /** asks `to` for its current span from inside this handler */
  Forward: Actor.ask({ to: ActorRef.schema }, { success: SpanInfo }),
  /** like Current, from a handler marked with Actor.fork */
  CurrentForked: Actor.ask({}, { success: SpanInfo })
})

const currentSpanInfo = Effect.currentParentSpan.pipe(
  Effect.map((span): SpanInfo | null => ({ traceId: span.traceId, spanId: span.spanId })),
  Effect.orElseSucceed(() => null)
)

const ProbeLive = Probe.behavior(Effect.succeed({
  Current: () => currentSpanInfo,
  Forward: ({ to }) => (to as ActorRef.ActorRef<typeof Probe.defs>).ask(Probe.Current()).pipe(Effect.orDie),
  CurrentForked: () => Actor.fork(currentSpanInfo)
}))

/** Two connected nodes; `b` runs a probe named "probe". */
const twoNodes = Effect.gen(function*() {
  const b = yield* startNode("b")
  const a = yield* startNode("a")
  yield* b.system.spawn(ProbeLive, { name: "probe" })
  yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port })
  const probe = yield* a.node.lookup("b", Probe, "probe")
  return { a, b, probe }
})

/** Records the envelopes `node` receives (by wrapping its router's inbound dispatch). */
const recordInbound = (node: Node["Service"]) => {
  const router = routerOf(node)
  const seen: Array<Array<unknown>> = []
  const original = router.onEnvelope.bind(router)
  router.onEnvelope = (peer, conn, envelope) => {
    seen.push(envelope as Array<unknown>)
    return original(peer, conn, envelope)
  }
  return seen
}

const parentId = (span: Tracer.Span): string | undefined => Option.getOrUndefined(span.parent)?.spanId

describe("tracing", () => {
  it("traceparent round trip; malformed values are ignored", () => {
    const span = Tracer.externalSpan({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" })
    const text = toTraceparent(span)
    assert.strictEqual(text, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    const back = fromTraceparent(text)!
    assert.strictEqual(back.traceId, span.traceId)
    assert.strictEqual(back.spanId, span.spanId)
    assert.isTrue(back.sampled)
    assert.isFalse(fromTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")!.sampled)
    for (const bad of [42, null, "", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-xyz", {}]) {
      assert.isUndefined(fromTraceparent(bad))
    }
    assert.isUndefined(fromTraceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"))
  })

  it.effect("a local ask: the handler's span is a child of the asker's client span", () => {
    const { spans, tracer } = memoryTracer()
    return Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive, { name: "local-probe" })
      const seen = yield* probe.ask(Probe.Current()).pipe(Effect.withSpan("caller"))
      const caller = spans.find((s) => s.name === "caller")!
      const ask = spans.find((s) => s.name === "telex.ask TraceProbe.Current")!
      const handle = spans.find((s) => s.name === "telex.handle TraceProbe.Current")!
      assert.strictEqual(ask.kind, "client")
      assert.strictEqual(handle.kind, "server")
      assert.strictEqual(parentId(ask), caller.spanId)
      assert.strictEqual(parentId(handle), ask.spanId)
      assert.strictEqual(handle.traceId, caller.traceId)
      assert.deepStrictEqual(seen, { traceId: handle.traceId, spanId: handle.spanId })
      assert.strictEqual(handle.attributes.get("telex.actor"), probe.key)
      assert.strictEqual(handle.attributes.get("telex.actor.name"), "local-probe")
      assert.strictEqual(handle.attributes.get("telex.node"), "t1")
      assert.strictEqual(ask.attributes.get("telex.actor"), probe.key)
      assert.strictEqual(ask.status._tag, "Ended")
      assert.strictEqual(handle.status._tag, "Ended")
    }).pipe(Effect.provide(ActorSystem.layer({ node: "t1" })), Effect.provideService(Tracer.Tracer, tracer))
  })

  it.effect("a forked handler (Actor.fork) runs in the handler span too; an unsampled caller stays unsampled", () => {
    const { spans, tracer } = memoryTracer()
    return Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      const seen = yield* probe.ask(Probe.CurrentForked()).pipe(Effect.withSpan("caller"))
      const handle = spans.find((s) => s.name === "telex.handle TraceProbe.CurrentForked")!
      assert.deepStrictEqual(seen, { traceId: handle.traceId, spanId: handle.spanId })
      assert.strictEqual(parentId(handle), spans.find((s) => s.name === "telex.ask TraceProbe.CurrentForked")!.spanId)
      assert.isTrue(handle.sampled)
      yield* probe.ask(Probe.Current()).pipe(Effect.withSpan("unsampled", { sampled: false }))
      const unsampled = spans.filter((s) => s.name.endsWith("TraceProbe.Current"))
      assert.deepStrictEqual(unsampled.map((s) => [s.name, s.sampled]), [
        ["telex.ask TraceProbe.Current", false],
        ["telex.handle TraceProbe.Current", false]
      ])
    }).pipe(Effect.provide(ActorSystem.layer()), Effect.provideService(Tracer.Tracer, tracer))
  })

  it.effect("without a span or tracer, asks and handlers run without spans", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      assert.isNull(yield* probe.ask(Probe.Current()))
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("with tracing disabled (Effect.withTracerEnabled(false)) the handler gets no span", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const probe = yield* system.spawn(ProbeLive)
      const seen = yield* probe.ask(Probe.Current()).pipe(Effect.withSpan("caller"), Effect.withTracerEnabled(false))
      assert.isNull(seen)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.live("across nodes: the trace context travels in the Ask envelope, the handler span continues it", () => {
    const { spans, tracer } = memoryTracer()
    return Effect.gen(function*() {
      const { a, b, probe } = yield* twoNodes
      const inbound = recordInbound(b.node)
      const seen = yield* probe.ask(Probe.Current()).pipe(Effect.withSpan("caller"))
      const caller = spans.find((s) => s.name === "caller")!
      const ask = spans.find((s) => s.name === "telex.ask TraceProbe.Current")!
      const handle = spans.find((s) => s.name === "telex.handle TraceProbe.Current")!
      assert.strictEqual(parentId(ask), caller.spanId)
      // the handler's parent is the remote (external) span: the asker's client span
      const parent = Option.getOrUndefined(handle.parent)!
      assert.strictEqual(parent._tag, "ExternalSpan")
      assert.strictEqual(parent.spanId, ask.spanId)
      assert.strictEqual(handle.traceId, caller.traceId)
      assert.strictEqual(handle.attributes.get("telex.node"), "b")
      assert.strictEqual(handle.attributes.get("telex.actor"), probe.key)
      assert.deepStrictEqual(seen, { traceId: handle.traceId, spanId: handle.spanId })
      const envelope = inbound.find((e) => e[0] === Kind.Ask)!
      assert.strictEqual(envelope.length, 7)
      assert.strictEqual(envelope[6], toTraceparent(ask))

      // the handler's span propagates further: a nested ask from the handler (b → a)
      const local = yield* a.system.spawn(ProbeLive, { name: "back" })
      const nested = yield* probe.ask(Probe.Forward({ to: local })).pipe(Effect.withSpan("caller2"))
      const forward = spans.find((s) => s.name === "telex.handle TraceProbe.Forward")!
      const inner = spans.filter((s) => s.name === "telex.ask TraceProbe.Current").at(-1)!
      const innerHandle = spans.filter((s) => s.name === "telex.handle TraceProbe.Current").at(-1)!
      assert.strictEqual(parentId(inner), forward.spanId)
      assert.strictEqual(Option.getOrUndefined(innerHandle.parent)!.spanId, inner.spanId)
      assert.strictEqual(innerHandle.attributes.get("telex.node"), "a")
      assert.strictEqual(nested!.traceId, spans.find((s) => s.name === "caller2")!.traceId)
    }).pipe(Effect.scoped, Effect.provideService(Tracer.Tracer, tracer))
  })

  it.live("an untraced remote ask sends no trace field", () =>
    Effect.gen(function*() {
      const { b, probe } = yield* twoNodes
      const inbound = recordInbound(b.node)
      assert.isNull(yield* probe.ask(Probe.Current()))
      const envelope = inbound.find((e) => e[0] === Kind.Ask)!
      assert.strictEqual(envelope.length, 6)
    }).pipe(Effect.scoped))

  it.live("an unknown or malformed trailing field on an Ask is ignored (older/newer peers)", () =>
    Effect.gen(function*() {
      const { a, probe } = yield* twoNodes
      // rewrite a's outbound Asks to carry junk where the trace context goes
      const router = routerOf(a.node)
      const conn = router.peers.get("b")!.conn!
      const send = conn.send.bind(conn)
      conn.send = (envelope: any) => {
        if (Array.isArray(envelope) && envelope[0] === Kind.Ask) envelope = [...envelope.slice(0, 6), { junk: 1 }, "more"]
        return send(envelope)
      }
      assert.isNull(yield* probe.ask(Probe.Current()))
      assert.isTrue(router.peers.get("b")!.isUp)
    }).pipe(Effect.scoped))
})
