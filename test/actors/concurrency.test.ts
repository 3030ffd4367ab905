import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorRef, ActorStopped, ActorSystem, ExitReason } from "../../src/index.ts"
import { assertError, isDone, settle, waitUntil, withSystem } from "./_helpers.ts"

const Log = Actor.make("Log", {
  Append: Actor.tell({ from: Schema.String, seq: Schema.Int }),
  Entries: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

const LogLive = Log.behavior(Effect.gen(function*() {
  const entries: Array<string> = []
  return {
    Append: ({ from, seq }) => Effect.sync(() => { entries.push(`${from}:${seq}`) }),
    Entries: () => Effect.sync(() => entries.slice())
  }
}))

const subsequence = (entries: ReadonlyArray<string>, from: string) =>
  entries.filter((e) => e.startsWith(`${from}:`)).map((e) => Number(e.slice(from.length + 1)))

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Sends `n` Appends to `log` from inside an actor. */
const Sender = Actor.make("Sender", {
  Send: Actor.tell({ to: ActorRef.schemaFor(Log), name: Schema.String, n: Schema.Int }),
  Done: Actor.ask({})
})
const SenderLive = Sender.behavior(Effect.succeed({
  Send: ({ to, name, n }) =>
    Effect.forEach(
      range(n),
      (seq) => to.tell(Log.Append({ from: name, seq })).pipe(Effect.orDie, Effect.andThen(Effect.yieldNow)),
      { discard: true }
    ),
  Done: () => Effect.void
}))

describe("ordering (per-sender FIFO)", () => {
  it.effect("many messages from one sender arrive in order", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(LogLive)
      for (const seq of range(1000)) yield* log.tell(Log.Append({ from: "a", seq }))
      const entries = yield* log.ask(Log.Entries())
      assert.deepStrictEqual(subsequence(entries, "a"), range(1000))
      assert.strictEqual(entries.length, 1000)
    }).pipe(withSystem()))

  it.effect("order holds across turns (small throughput forces many activations)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(LogLive, { throughput: 3 })
      for (const seq of range(500)) yield* log.tell(Log.Append({ from: "a", seq }))
      const entries = yield* log.ask(Log.Entries())
      assert.deepStrictEqual(subsequence(entries, "a"), range(500))
    }).pipe(withSystem()))

  it.effect("interleaved senders: each sender's order is kept", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(LogLive, { throughput: 2 })
      const send = (from: string) =>
        Effect.forEach(range(300), (seq) =>
          log.tell(Log.Append({ from, seq })).pipe(Effect.andThen(seq % 7 === 0 ? Effect.yieldNow : Effect.void)), {
          discard: true
        })
      const a = yield* Effect.forkChild(send("a"))
      const b = yield* Effect.forkChild(send("b"))
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      const entries = yield* log.ask(Log.Entries())
      assert.strictEqual(entries.length, 600)
      assert.deepStrictEqual(subsequence(entries, "a"), range(300))
      assert.deepStrictEqual(subsequence(entries, "b"), range(300))
      // they really were interleaved (otherwise the test proves little)
      const firstB = entries.findIndex((e) => e.startsWith("b:"))
      const lastA = entries.findLastIndex((e) => e.startsWith("a:"))
      assert.isBelow(firstB, lastA)
    }).pipe(withSystem()))

  it.effect("interleaved actor senders: each sender's order is kept", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log = yield* system.spawn(LogLive)
      const s1 = yield* system.spawn(SenderLive, { throughput: 1 })
      const s2 = yield* system.spawn(SenderLive, { throughput: 1 })
      yield* s1.tell(Sender.Send({ to: log, name: "s1", n: 200 }))
      yield* s2.tell(Sender.Send({ to: log, name: "s2", n: 200 }))
      // wait for both senders to be done: an ask to each is a barrier (their mailboxes are FIFO)
      yield* s1.ask(Sender.Done())
      yield* s2.ask(Sender.Done())
      const entries = yield* log.ask(Log.Entries())
      assert.strictEqual(entries.length, 400)
      assert.deepStrictEqual(subsequence(entries, "s1"), range(200))
      assert.deepStrictEqual(subsequence(entries, "s2"), range(200))
      const firstS2 = entries.findIndex((e) => e.startsWith("s2:"))
      const lastS1 = entries.findLastIndex((e) => e.startsWith("s1:"))
      assert.isBelow(firstS2, lastS1)
    }).pipe(withSystem()))
})

// ---------------------------------------------------------------------------
// one message at a time
// ---------------------------------------------------------------------------

const Worker = Actor.make("Worker", {
  Work: Actor.tell({ id: Schema.Int }),
  WorkAsk: Actor.ask({ id: Schema.Int }, { success: Schema.Int }),
  Stats: Actor.ask({}, { success: Schema.Struct({ max: Schema.Int, done: Schema.Array(Schema.Int) }) })
})

const WorkerLive = Worker.behavior(Effect.gen(function*() {
  let active = 0
  let max = 0
  const done: Array<number> = []
  const work = (id: number) =>
    Effect.gen(function*() {
      active++
      max = Math.max(max, active)
      yield* Effect.sleep("10 millis")
      yield* Effect.yieldNow
      done.push(id)
      active--
      return id
    })
  return {
    Work: ({ id }) => work(id),
    WorkAsk: ({ id }) => work(id),
    Stats: () => Effect.sync(() => ({ max, done: done.slice() }))
  }
}))

describe("one message at a time", () => {
  it.effect("a sleeping handler does not overlap with the next message", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const worker = yield* system.spawn(WorkerLive)
      for (const id of range(5)) yield* worker.tell(Worker.Work({ id }))
      const asks = yield* Effect.forkChild(
        Effect.forEach([5, 6, 7], (id) => worker.ask(Worker.WorkAsk({ id })), { concurrency: "unbounded" })
      )
      // advance virtual time one handler at a time
      for (let i = 0; i < 100 && !isDone(asks); i++) {
        yield* settle()
        yield* TestClock.adjust("10 millis")
      }
      assert.isTrue(isDone(asks))
      assert.deepStrictEqual(yield* Fiber.join(asks), [5, 6, 7])
      const stats = yield* worker.ask(Worker.Stats())
      assert.strictEqual(stats.max, 1)
      assert.deepStrictEqual(stats.done, range(8))
    }).pipe(withSystem()))

  it.effect("the overlap detector works: forked handlers do overlap", () =>
    Effect.gen(function*() {
      const Par = Actor.make("Par", {
        Work: Actor.tell({}),
        Max: Actor.ask({}, { success: Schema.Int })
      })
      const gate = yield* Deferred.make<void>()
      const ParLive = Par.behavior(Effect.gen(function*() {
        let active = 0
        let max = 0
        return {
          Work: () =>
            Actor.fork(Effect.gen(function*() {
              active++
              max = Math.max(max, active)
              yield* Deferred.await(gate)
              active--
            })),
          Max: () => Effect.sync(() => max)
        }
      }))
      const system = yield* ActorSystem
      const par = yield* system.spawn(ParLive)
      yield* par.tell(Par.Work())
      yield* par.tell(Par.Work())
      yield* par.tell(Par.Work())
      yield* settle()
      assert.strictEqual(yield* par.ask(Par.Max()), 3)
      yield* Deferred.succeed(gate, undefined)
    }).pipe(withSystem()))
})

// ---------------------------------------------------------------------------
// Actor.fork
// ---------------------------------------------------------------------------

const Forky = Actor.make("Forky", {
  Slow: Actor.ask({}, { success: Schema.String }),
  Fast: Actor.ask({}, { success: Schema.String }),
  SlowFail: Actor.ask({}, { error: Schema.String })
})

const makeForky = (gate: Deferred.Deferred<void>, started: Deferred.Deferred<void>) =>
  Forky.behavior(Effect.succeed({
    Slow: () =>
      Actor.fork(Effect.gen(function*() {
        yield* Deferred.succeed(started, undefined)
        yield* Deferred.await(gate)
        return "slow"
      })),
    Fast: () => Effect.succeed("fast"),
    SlowFail: () => Actor.fork(Deferred.await(gate).pipe(Effect.andThen(Effect.fail("nope"))))
  }))

describe("Actor.fork", () => {
  it.effect("a forked ask handler lets the next message proceed; its reply still arrives", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const forky = yield* system.spawn(makeForky(gate, started))
      const slow = yield* Effect.forkChild(forky.ask(Forky.Slow()))
      yield* Deferred.await(started)
      // the slow handler is still running, yet the next message is handled
      assert.strictEqual(yield* forky.ask(Forky.Fast()), "fast")
      assert.isFalse(isDone(slow))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(slow), "slow")
    }).pipe(withSystem()))

  it.effect("a forked handler's typed failure goes back to the asker", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const forky = yield* system.spawn(makeForky(gate, started))
      const failing = yield* Effect.forkChild(Effect.flip(forky.ask(Forky.SlowFail())))
      assert.strictEqual(yield* forky.ask(Forky.Fast()), "fast")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(failing), "nope")
      assert.strictEqual(yield* forky.ask(Forky.Fast()), "fast")
    }).pipe(withSystem()))

  it.effect("a forked ask still running when the actor stops fails with ActorStopped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const forky = yield* system.spawn(makeForky(gate, started))
      const slow = yield* Effect.forkChild(Effect.flip(forky.ask(Forky.Slow())))
      yield* Deferred.await(started)
      yield* system.stop(forky)
      yield* waitUntil("the forked ask to complete", () => isDone(slow))
      const error = yield* Fiber.join(slow)
      assertError(error, new ActorStopped({ actor: forky.key, reason: ExitReason.shutdown }))
    }).pipe(withSystem()))

  it.effect("a defect in a forked handler kills the actor; its asker gets ActorStopped", () =>
    Effect.gen(function*() {
      const Crashy = Actor.make("Crashy", { Boom: Actor.ask({}) })
      const system = yield* ActorSystem
      const crashy = yield* system.spawn(Crashy.behavior(Effect.succeed({
        Boom: () => Actor.fork(Effect.die(new Error("forked boom")))
      })))
      const error = yield* Effect.flip(crashy.ask(Crashy.Boom()))
      assert.strictEqual(error._tag, "ActorStopped")
      const reason = yield* system.awaitExit(crashy)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "forked boom")
    }).pipe(withSystem()))
})
