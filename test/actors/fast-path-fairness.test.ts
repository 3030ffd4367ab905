/**
 * Handlers answered in the drain loop's own step (Effect.sync/succeed/void) and `yield* ref.tell`
 * sent inline skip the fiber steps where Effect would otherwise yield. These tests check what a
 * scheduler owes everyone else, as Pekko's dispatcher specs do (throughput, fairness) and as a
 * gen_server's `{stop, Reason, Reply, State}` answers then stops: a flooded actor does not starve
 * timers or other actors, a stop reaches it promptly, a handler stopping its own actor answers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorContext, ActorStopped, ActorSystem } from "../../src/index.ts"
import { withSystem } from "./_helpers.ts"

const Loop = Actor.make("FairLoop", {
  Spin: Actor.tell({}),
  Count: Actor.ask({}, { success: Schema.Int })
})

/** Each Spin (an Effect.sync) tells itself another: it never runs out of messages. */
const spinner = Loop.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  const self = ctx.self
  let n = 0
  return {
    Spin: () => Effect.sync(() => { n++; self.tellUnsafe(Loop.Spin()) }),
    Count: () => Effect.succeed(n)
  }
}))

const Echo = Actor.make("FairEcho", {
  Ping: Actor.ask({ n: Schema.Int }, { success: Schema.Int }),
  StopAndAnswer: Actor.ask({}, { success: Schema.Int })
})

describe("the drain loop's own steps are fair to the rest of the node", () => {
  it.live("an actor telling itself forever with sync handlers starves neither a timer nor another actor", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const loop = yield* system.spawn(spinner)
      const echo = yield* system.spawn(Echo.behavior(Effect.succeed({
        Ping: ({ n }) => Effect.succeed(n + 1),
        StopAndAnswer: () => Effect.succeed(0)
      })))
      loop.tellUnsafe(Loop.Spin())
      // a real timer fires while the loop runs
      yield* Effect.sleep("20 millis")
      assert.strictEqual(yield* echo.ask(Echo.Ping({ n: 1 })), 2)
      // the loop itself still answers an ask in its mailbox (in order behind the Spins)
      const counted = yield* loop.ask(Loop.Count())
      assert.isAbove(counted, 0)
      // and a stop reaches it although it never runs out of messages
      yield* system.stop(loop)
      const reason = yield* system.awaitExit(loop)
      assert.strictEqual(reason._tag, "Shutdown")
    }).pipe(withSystem()), 20_000)

  it.live("a loop of yield* tell to a flooded actor lets a timer fire before it ends", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const loop = yield* system.spawn(spinner)
      let fired = false
      const timer = yield* Effect.forkChild(Effect.sleep("1 millis").pipe(Effect.andThen(Effect.sync(() => { fired = true }))))
      // sends until the timer has fired: inline sends must give the event loop a turn
      let sent = 0
      while (!fired && sent < 5_000_000) {
        yield* loop.tell(Loop.Spin())
        sent++
      }
      yield* Fiber.join(timer)
      assert.isTrue(fired, `the timer had not fired after ${sent} sends`)
    }).pipe(withSystem()), 20_000)

  it.effect("an ask handler returning ctx.stop() itself: the asker is answered, the actor exits Normal, asks behind get ActorStopped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const Stopper = Actor.make("FairStopper", {
        Hold: Actor.tell({}),
        Quit: Actor.ask({}, { success: Schema.Void }),
        After: Actor.ask({}, { success: Schema.Int })
      })
      const ref = yield* system.spawn(Stopper.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        return {
          Hold: () => Deferred.await(gate),
          // an Effect.sync run by the drain loop itself
          Quit: () => ctx.stop(),
          After: () => Effect.succeed(1)
        }
      })))
      ref.tellUnsafe(Stopper.Hold())
      const quit = yield* Effect.forkChild(Effect.exit(ref.ask(Stopper.Quit())), { startImmediately: true })
      const after = yield* Effect.forkChild(Effect.flip(ref.ask(Stopper.After())), { startImmediately: true })
      yield* Deferred.succeed(gate, undefined)
      const quitExit = yield* Fiber.join(quit)
      assert.strictEqual(quitExit._tag, "Success")
      const afterError = yield* Fiber.join(after)
      assert.instanceOf(afterError, ActorStopped)
      assert.strictEqual((yield* system.awaitExit(ref))._tag, "Normal")
    }).pipe(withSystem()))

  it.effect("an ask handler that kills its own actor synchronously: the asker gets ActorStopped (Killed), not a hang", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const Victim = Actor.make("FairVictim", {
        Die: Actor.ask({}, { success: Schema.Int })
      })
      const ref = yield* system.spawn(Victim.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        const self = ctx.self
        return {
          // the kill runs inside the handler's own Effect.sync: the cell is no longer running
          // when the handler's value comes back
          Die: () => Effect.sync(() => { Effect.runFork(system.kill(self)); return 7 })
        }
      })))
      const exit = yield* Effect.exit(ref.ask(Victim.Die(), { timeout: "5 seconds" }))
      const reason = yield* system.awaitExit(ref)
      assert.strictEqual(reason._tag, "Killed")
      if (exit._tag === "Failure") {
        const error = (exit.cause as any).reasons?.[0]?.error
        assert.instanceOf(error, ActorStopped)
      } else {
        // answered before the kill took effect: also acceptable (a gen_server reply races its exit)
        assert.strictEqual(exit.value, 7)
      }
    }).pipe(withSystem()))
})
