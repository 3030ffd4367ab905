import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, Supervisor } from "../../src/index.ts"

const P = Actor.make("SupersededTimer/Child", { Crash: Actor.tell({}), Ping: Actor.ask({}, { success: Schema.String }) })

const child = (name: string, starts: Array<string>) =>
  P.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    void ctx
    starts.push(name)
    return { Crash: () => Effect.die(new Error(`${name} crashes`)), Ping: () => Effect.succeed(name) }
  }))

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("a later restart decision supersedes an older pending timer", () => {
  it.effect("rest_for_one keeps its start order when a child's scheduled restart is rescheduled", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const starts: Array<string> = []
      const sup = yield* system.spawn(Supervisor.make({
        strategy: "rest_for_one",
        intensity: 100,
        backoff: { initial: "100 millis", max: "1 second", factor: 2, jitter: 0, resetAfter: "10 seconds" },
        children: ["z", "x", "y"].map((n) => Supervisor.child(n, child(n, starts), { options: { name: n } }))
      }))
      const crash = (name: string) =>
        Effect.gen(function*() {
          const ref = yield* system.lookup(P, name)
          yield* ref.tell(P.Crash())
          yield* settle
        })
      yield* crash("z") // first failure of z: z, x, y restarted at once
      yield* crash("x") // first failure of x: x, y restarted at once
      yield* crash("x") // second failure of x: x, y wait 100 ms (timer 1)
      yield* TestClock.adjust("10 millis")
      yield* crash("z") // second failure of z: z, x, y wait 100 ms (timer 2) — x and y now wait for timer 2
      starts.length = 0
      yield* TestClock.adjust("95 millis") // timer 1 fires: x and y must NOT start before z
      yield* settle
      assert.deepStrictEqual(starts, [], "nothing restarts on the superseded timer")
      yield* TestClock.adjust("20 millis") // timer 2: z first, then x, y
      yield* settle
      assert.deepStrictEqual(starts, ["z", "x", "y"])
      const infos = yield* Supervisor.whichChildren(sup)
      assert.deepStrictEqual(infos.map((c) => c.status), ["running", "running", "running"])
    }).pipe(Effect.provide(ActorSystem.layer())))
})
