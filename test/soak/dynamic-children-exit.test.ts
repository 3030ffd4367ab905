/**
 * A dynamic supervisor of many temporary children (sessions, connections) whose children all
 * exit at once: the supervisor removes every one of them and still answers. What an exit costs
 * (constant time, against a start) is the `teardown` benchmark's `childExitRatio`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Actor, ActorContext, ActorSystem, Supervisor } from "../../src/index.ts"

const Session = Actor.make("soak/DynamicChildrenExit", {
  Quit: Actor.tell({})
})

const session = Session.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  return { Quit: () => ctx.stop() }
}))

const CHILDREN = 5_000

describe("soak: many dynamic children exit at once", () => {
  it.live(`${CHILDREN} temporary children exit: their supervisor has removed them all`, () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const sup = yield* system.spawn(Supervisor.dynamic({
        backoff: false,
        template: (_: unknown, i: number) => Supervisor.child(`s${i}`, session, { restart: "temporary" })
      }))
      const refs = yield* Effect.forEach(
        Array.from({ length: CHILDREN }, (_, i) => i),
        (i) => Supervisor.startChild(sup, Supervisor.child(`s${i}`, session, { restart: "temporary" }))
      )
      assert.strictEqual((yield* Supervisor.countChildren(sup)).workers, CHILDREN)
      const started = performance.now()
      for (const ref of refs) ref.tellUnsafe(Session.Quit())
      let left = CHILDREN
      while (left > 0 && performance.now() - started < 10_000) {
        yield* Effect.sleep("50 millis")
        left = (yield* Supervisor.countChildren(sup).pipe(Effect.timeout("10 seconds"))).workers
      }
      assert.strictEqual(left, 0)
    }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer())), 60_000)
})
