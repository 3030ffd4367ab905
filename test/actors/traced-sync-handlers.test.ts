/**
 * Handlers answered in the drain loop's own step (Effect.succeed, Effect.sync, Effect.fail) still
 * get their server span on a traced ask: a child of the asker's client span, ended, and failed
 * when the handler failed; an untraced ask of the same handlers makes no span.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema, Tracer } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"

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

const parentId = (span: Tracer.Span): string | undefined => Option.getOrUndefined(span.parent)?.spanId

const Sync = Actor.make("TracedSync", {
  Succeed: Actor.ask({}, { success: Schema.Int }),
  Compute: Actor.ask({}, { success: Schema.Int }),
  Refuse: Actor.ask({}, { success: Schema.Int, error: Schema.String })
})

const SyncLive = Sync.behavior(Effect.succeed({
  Succeed: () => Effect.succeed(1),
  Compute: () => Effect.sync(() => 2),
  Refuse: () => Effect.fail("no")
}))

describe("traced asks of handlers the drain loop runs itself", () => {
  it.effect("each gets a server span, a child of the ask's client span, ended (failed for Effect.fail)", () => {
    const { spans, tracer } = memoryTracer()
    return Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(SyncLive)
      assert.strictEqual(yield* ref.ask(Sync.Succeed()).pipe(Effect.withSpan("caller")), 1)
      assert.strictEqual(yield* ref.ask(Sync.Compute()).pipe(Effect.withSpan("caller")), 2)
      assert.strictEqual(yield* Effect.flip(ref.ask(Sync.Refuse()).pipe(Effect.withSpan("caller"))), "no")
      for (const tag of ["Succeed", "Compute", "Refuse"]) {
        const ask = spans.find((s) => s.name === `telex.ask TracedSync.${tag}`)
        const handle = spans.find((s) => s.name === `telex.handle TracedSync.${tag}`)
        assert.isDefined(ask, `client span of ${tag}`)
        assert.isDefined(handle, `server span of ${tag}`)
        assert.strictEqual(parentId(handle!), ask!.spanId, tag)
        assert.strictEqual(handle!.status._tag, "Ended", tag)
      }
      const refused = spans.find((s) => s.name === "telex.handle TracedSync.Refuse")!
      assert.strictEqual(refused.status._tag === "Ended" && refused.status.exit._tag, "Failure")
      const before = spans.length
      // untraced: no span at all
      assert.strictEqual(yield* ref.ask(Sync.Succeed()).pipe(Effect.withTracerEnabled(false)), 1)
      assert.strictEqual(spans.length, before)
    }).pipe(Effect.provide(ActorSystem.layer()), Effect.provideService(Tracer.Tracer, tracer))
  })
})
