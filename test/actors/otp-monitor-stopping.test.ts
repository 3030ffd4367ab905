/**
 * A monitor set on an actor that is stopping (its finalizers run) fires when it is gone, with
 * the reason it ends with — by ref or by registered name alike (the name stays registered until
 * the actor is gone, as a process's during its `terminate/2`). Only an actor that is gone gives
 * `Down(NoProc)` at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, ExitReason } from "../../src/index.ts"
import { settle, withSystem } from "./_helpers.ts"

const R = Actor.make("test/MonitorStopping", { Ping: Actor.ask({}, { success: Schema.Number }) })
const W = Actor.make("test/MonitorStoppingWatcher", {
  Watch: Actor.ask({ byName: Schema.Boolean }, { success: Schema.Number })
})

describe("monitoring an actor that is stopping", () => {
  it.effect("by ref and by name: Down with the reason it ends with (here Killed, past its budget)", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(R.behavior(Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.never)
        return { Ping: () => Effect.succeed(1) }
      })), { shutdown: "1 second", name: "stopping" })
      const downs: Array<[string | undefined, ExitReason.ExitReason]> = []
      const watcher = yield* system.spawn(W.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        return {
          Watch: ({ byName }) => Effect.as(byName ? ctx.monitor("stopping") : ctx.monitor(ref), 1),
          onDown: (d) => Effect.sync(() => downs.push([d.monitor.name, d.reason]))
        }
      })))
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* settle()
      yield* watcher.ask(W.Watch({ byName: false }))
      yield* watcher.ask(W.Watch({ byName: true }))
      yield* settle()
      const early = [...downs]
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stop)
      yield* settle()
      assert.deepStrictEqual(early, [], "a Down before the actor is gone")
      assert.deepStrictEqual(downs, [[undefined, ExitReason.killed], ["stopping", ExitReason.killed]])
      // gone: NoProc at once
      yield* watcher.ask(W.Watch({ byName: true }))
      yield* settle()
      assert.deepStrictEqual(downs[2], ["stopping", ExitReason.noproc])
    })))
})
