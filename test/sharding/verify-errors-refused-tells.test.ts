/**
 * Tells an entity's small `fail` mailbox refuses are never lost silently: those the sender was
 * already answered for (queued while the entity starts, then refused) are counted in a
 * warning, and a local sender whose tell is refused at once gets `MailboxFull`, as from a plain
 * actor's `fail` mailbox. Every tell is handled, failed, or counted in a warning.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { fast, soloLayer } from "./_runtime.ts"

let handled = 0
const Sink = Actor.make("test/VerifyErrorsSink", {
  Hit: Actor.tell({}),
  Get: Actor.ask({}, { success: Schema.Int })
})
const SinkEntity = Entity.make(
  Sink,
  Sink.behavior(Effect.succeed({ Hit: () => Effect.sync(() => void handled++), Get: () => Effect.succeed(handled) })),
  { mailbox: { capacity: 16, overflow: "fail" } }
)

const warnings: Array<string> = []
const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
  if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
})

/** The tells counted as refused in the warnings so far. */
const counted = () =>
  warnings.reduce((sum, w) => {
    const m = /sharding: (\d+) tells? to .* refused/.exec(w)
    return sum + (m === null ? 0 : Number(m[1]))
  }, 0)

describe("sharding: tells refused by an entity's fail mailbox", () => {
  it.live("queued while the entity starts: counted in a warning; refused at once: the local tell fails with MailboxFull", () =>
    Effect.gen(function*() {
      const sinks = yield* Sharding.entity(SinkEntity)
      // 5 000 tells to an entity that is not running yet: queued, then offered to its 16 places
      // (once it runs, a tell its full mailbox refuses fails at once)
      // (sent at once, from many fibers, as a burst of senders would)
      let refusedAtOnce = 0
      yield* Effect.forEach(Array.from({ length: 5000 }), () =>
        Effect.result(sinks.ref("starting").tell(Sink.Hit())).pipe(
          Effect.map((r) => {
            if (r._tag === "Failure") refusedAtOnce++
          })
        ), { concurrency: "unbounded", discard: true })
      yield* Effect.sleep("1200 millis") // the mailbox drains; the rate-limited warning's next round
      yield* sinks.ref("starting").ask(Sink.Get())
      assert.isAbove(counted(), 0, warnings.join(" | "))
      assert.strictEqual(handled + counted() + refusedAtOnce, 5000, `handled ${handled}, failed ${refusedAtOnce}, warnings: ${warnings.join(" | ")}`)
      // a running entity: a tell its full mailbox refuses fails at the local sender
      const before = handled
      let failed = 0
      for (let i = 0; i < 200; i++) {
        const r = yield* Effect.result(sinks.ref("starting").tell(Sink.Hit()))
        if (r._tag === "Failure") {
          assert.strictEqual((r.failure as any)._tag, "MailboxFull")
          failed++
        }
      }
      yield* Effect.sleep("200 millis")
      yield* sinks.ref("starting").ask(Sink.Get())
      assert.isAbove(failed, 0)
      assert.strictEqual(handled - before + failed, 200)
    }).pipe(
      Effect.provide(soloLayer({ ...fast, entities: [SinkEntity] })),
      Effect.provide(Logger.layer([logger])),
      Effect.provideService(References.MinimumLogLevel, "Warn")
    ), 60_000)
})
