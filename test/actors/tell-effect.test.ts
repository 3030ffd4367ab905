/**
 * The effect `ref.tell` returns: under `yield*` it sends at that point without a fiber step; as a
 * value it is an ordinary lazy effect. These tests pin down that both behave as an
 * `Effect.suspend` of the send would.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Schema } from "effect"
import { Actor, ActorRef, ActorSystem, MailboxFull } from "../../src/index.ts"
import { assertError, settle, withSystem } from "./_helpers.ts"

const Log = Actor.make("TellLog", {
  Block: Actor.tell({}),
  Add: Actor.tell({ n: Schema.Int }),
  Read: Actor.ask({}, { success: Schema.Array(Schema.Int) })
})

const makeLog = (gate?: Deferred.Deferred<void>) =>
  Log.behavior(Effect.sync(() => {
    const seen: Array<number> = []
    return {
      Block: () => (gate === undefined ? Effect.void : Deferred.await(gate)),
      Add: ({ n }) => Effect.sync(() => { seen.push(n) }),
      Read: () => Effect.sync(() => seen.slice())
    }
  }))

describe("ref.tell as an effect", () => {
  it.effect("is lazy: made and not run, it sends nothing; run twice, it sends twice", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(makeLog())
      const one = log.tell(Log.Add({ n: 1 }))
      yield* log.tell(Log.Add({ n: 0 }))
      yield* one
      yield* one
      yield* Effect.repeat(log.tell(Log.Add({ n: 2 })), { times: 2 })
      yield* Effect.andThen(Effect.void, log.tell(Log.Add({ n: 3 })))
      yield* Effect.forEach([4, 5], (n) => log.tell(Log.Add({ n })), { discard: true })
      assert.deepStrictEqual(yield* log.ask(Log.Read()), [0, 1, 1, 2, 2, 2, 3, 4, 5])
    }).pipe(withSystem()))

  it.effect("a long loop of yield* tell keeps its order and lets other fibers run", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(makeLog())
      let other = 0
      const ticker = yield* Effect.forkChild(Effect.forever(Effect.sync(() => { other++ }).pipe(Effect.andThen(Effect.yieldNow))))
      const n = 20_000
      for (let i = 0; i < n; i++) yield* log.tell(Log.Add({ n: i }))
      const seen = yield* log.ask(Log.Read())
      yield* Fiber.interrupt(ticker)
      assert.strictEqual(seen.length, n)
      for (let i = 0; i < n; i++) if (seen[i] !== i) assert.fail(`message ${i} out of order: ${seen[i]}`)
      assert.isAbove(other, 5, "the other fiber ran while the loop sent")
    }).pipe(withSystem()))

  it.effect("a loop of yield* tell to a stopped actor (dead letters, never suspends) still yields to other fibers", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(makeLog())
      yield* system.stop(log)
      let flag = false
      yield* Effect.forkChild(Effect.sync(() => { flag = true }).pipe(Effect.delay(0)))
      let sends = 0
      while (!flag && sends < 2_000_000) {
        yield* log.tell(Log.Add({ n: sends }))
        sends++
      }
      assert.isTrue(flag, `the other fiber never ran in ${sends} sends`)
    }).pipe(withSystem()))

  it.effect("yield* tell to a full backpressure mailbox suspends the generator until there is room", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const log = yield* system.spawn(makeLog(gate), { mailbox: { capacity: 2, overflow: "backpressure" } })
      yield* log.tell(Log.Block())
      yield* settle()
      let sent = 0
      const sender = yield* Effect.forkChild(Effect.gen(function*() {
        for (let i = 0; i < 5; i++) {
          yield* log.tell(Log.Add({ n: i }))
          sent++
        }
      }))
      yield* settle()
      assert.strictEqual(sent, 2)
      assert.isUndefined(sender.pollUnsafe())
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(sender)
      assert.deepStrictEqual(yield* log.ask(Log.Read()), [0, 1, 2, 3, 4])
    }).pipe(withSystem()))

  it.effect("yield* tell to a full `fail` mailbox fails with MailboxFull at that point", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const log = yield* system.spawn(makeLog(gate), { mailbox: { capacity: 1, overflow: "fail" } })
      yield* log.tell(Log.Block())
      yield* settle()
      yield* log.tell(Log.Add({ n: 1 }))
      let after = false
      const error = yield* Effect.flip(Effect.gen(function*() {
        yield* log.tell(Log.Add({ n: 2 }))
        after = true
      }))
      assert.isFalse(after)
      assertError(error, new MailboxFull({ actor: log.key, capacity: 1 }))
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* log.ask(Log.Read()), [1])
    }).pipe(withSystem()))

  it("a ref no system can resolve: yield* tell dies (a defect the generator cannot catch), as the fiber would", () => {
    const ref = new ActorRef.ActorRef<typeof Log.defs>(
      { node: { name: "nowhere", incarnation: 1 }, id: 1, protocol: "TellLog" },
      undefined,
      undefined
    )
    let caught = false
    const exit = Effect.runSyncExit(Effect.gen(function*() {
      try {
        yield* ref.tell(Log.Add({ n: 1 }))
      } catch {
        caught = true
      }
    }))
    assert.isFalse(caught)
    assert.isTrue(Exit.hasDies(exit))
    assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "no actor system can resolve")
  })
})
