/**
 * A handler forked with `Actor.fork` is interrupted if its actor stops while it runs, and
 * nothing of it stays with the actor once it has ended: a long-lived actor that forks a handler
 * per message (a sharding region forks one per ask from another node) keeps neither a finalizer
 * nor the ended fiber (with its result) per message.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema, type Scope } from "effect"
import { Actor, ActorContext, ActorSystem } from "../../src/index.ts"
import * as Kernel from "../../src/actors/Kernel.ts"

const Worker = Actor.make("ForkedScope", {
  Work: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  Hang: Actor.ask({}, { success: Schema.Int }),
  Finalizers: Actor.ask({}, { success: Schema.Int })
})

/** what the actor's scope holds (white box: the cell's scope) */
const finalizersOf = (scope: Scope.Scope): number =>
  scope.state._tag === "Open" ? (scope.state.finalizers?.size ?? 1) : 0

describe("Actor.fork", () => {
  it.live("an ended forked handler leaves no finalizer in its actor's scope; one running is interrupted when the actor stops", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const interrupted = yield* Deferred.make<void>()
      const ref = yield* system.spawn(Worker.behavior(Effect.gen(function*() {
        const actx = yield* ActorContext
        const cell = Kernel.localOf(actx) as unknown as { readonly scope: Scope.Scope }
        return {
          Work: ({ n }) => Actor.fork(Effect.as(Effect.yieldNow, n)),
          Hang: () => Actor.fork(Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))),
          Finalizers: () => Effect.sync(() => finalizersOf(cell.scope))
        }
      })))
      const baseline = yield* ref.ask(Worker.Finalizers())
      for (let i = 0; i < 2_000; i++) assert.strictEqual(yield* ref.ask(Worker.Work({ n: i })), i)
      assert.isAtMost(yield* ref.ask(Worker.Finalizers()), baseline + 1, "finalizers left by ended forked handlers")
      yield* Effect.forkChild(Effect.ignore(ref.ask(Worker.Hang(), { timeout: "10 seconds" })))
      yield* Effect.sleep("20 millis")
      yield* system.stop(ref)
      yield* Deferred.await(interrupted).pipe(Effect.timeout("5 seconds"))
    }).pipe(Effect.provide(ActorSystem.layer({ node: "forked-scope" }))))
})
