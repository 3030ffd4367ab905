/**
 * Erlang orders the signals between two processes: a process receives what another sent it (its
 * messages, its exit signals, the `'DOWN'` of a monitor on it) in the order it was sent
 * (erl_link_SUITE, monitor_SUITE, the Erlang reference manual's signal ordering). A bounded
 * `dropOldest` mailbox may drop messages, never signals, and what it keeps stays in that order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import { Actor, ActorContext, ActorSystem, ExitReason } from "../../src/index.ts"
import { waitUntil, withSystem } from "./_helpers.ts"

const X = Actor.make("test/SignalOrder", {
  Block: Actor.tell({}),
  Note: Actor.tell({ n: Schema.Int }),
  Run: Actor.ask({ f: Schema.Any }, { success: Schema.Any })
})

const recorder = (log: Array<string>, gate: Deferred.Deferred<void>) =>
  X.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    yield* ctx.trapExit(true)
    return {
      Block: () => Deferred.await(gate),
      Note: ({ n }) => Effect.sync(() => log.push(`note ${n}`)),
      Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<unknown>)(ctx),
      onExit: (exit) => Effect.sync(() => log.push(`exit ${exit.reason._tag}`)),
      onDown: (down) => Effect.sync(() => log.push(`down ${down.reason._tag}`))
    }
  }))

describe("signal order under a full dropOldest mailbox", () => {
  it.effect("an exit signal stays ahead of the messages its sender sent after it; the oldest message is dropped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const x = yield* system.spawn(recorder(log, gate), { mailbox: { capacity: 3, overflow: "dropOldest" } })
      const y = yield* system.spawn(recorder([], gate))
      yield* x.tell(X.Block())
      yield* waitUntil("x busy", () => system.info(x).pipe((o) => o._tag === "Some" && o.value.mailboxSize === 0))
      // from y: exit(x, first), then two messages; then a third message overflows the mailbox
      yield* y.ask(X.Run({
        f: () =>
          Effect.andThen(
            system.exit(x, ExitReason.error("first")),
            Effect.andThen(x.tell(X.Note({ n: 1 })), x.tell(X.Note({ n: 2 })))
          )
      }))
      yield* x.tell(X.Note({ n: 3 }))
      yield* Deferred.succeed(gate, undefined)
      yield* waitUntil("x drained", () => log.length === 3)
      assert.deepStrictEqual(log, ["exit Error", "note 2", "note 3"])
    }).pipe(withSystem()))

  it.effect("a Down and an exit signal keep their order when messages between them are dropped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const x = yield* system.spawn(recorder(log, gate), { mailbox: { capacity: 2, overflow: "dropOldest" } })
      const y = yield* system.spawn(recorder([], gate))
      yield* x.ask(X.Run({ f: (ctx: ActorContext["Service"]) => ctx.monitor(y) }))
      yield* x.tell(X.Block())
      yield* waitUntil("x busy", () => system.info(x).pipe((o) => o._tag === "Some" && o.value.mailboxSize === 0))
      // from y: exit(x, first), a message, then y ends (its Down); then two more messages
      yield* y.ask(X.Run({
        f: () => Effect.andThen(system.exit(x, ExitReason.error("first")), x.tell(X.Note({ n: 1 })))
      }))
      yield* system.stop(y)
      yield* x.tell(X.Note({ n: 2 }))
      yield* x.tell(X.Note({ n: 3 }))
      yield* Deferred.succeed(gate, undefined)
      yield* waitUntil("x drained", () => log.length === 3)
      assert.deepStrictEqual(log, ["exit Error", "down Shutdown", "note 3"])
    }).pipe(withSystem()))
})
