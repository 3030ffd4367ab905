/**
 * Ask deadlines on the live clock (a queue per timeout, one timer each): expiry, cancellation,
 * order, and many answered asks not piling up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorSystem, type AskTimeout } from "../../src/index.ts"
import * as Deadlines from "../../src/actors/internal/deadlines.ts"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe("deadlines", () => {
  it("an entry expires once; a cancelled one never", async () => {
    const fired: Array<string> = []
    Deadlines.after(5, () => fired.push("a"))
    const b = Deadlines.after(5, () => fired.push("b"))
    Deadlines.after(5, () => fired.push("c"))
    Deadlines.cancel(b)
    Deadlines.cancel(b)
    await sleep(60)
    assert.deepStrictEqual(fired, ["a", "c"])
  })

  it("entries of different timeouts expire in deadline order", async () => {
    const fired: Array<number> = []
    Deadlines.after(40, () => fired.push(40))
    Deadlines.after(1, () => fired.push(1))
    Deadlines.after(15, () => fired.push(15))
    await sleep(120)
    assert.deepStrictEqual(fired, [1, 15, 40])
  })

  it("many cancelled entries are dropped (compaction) and the live ones still expire", async () => {
    const fired: Array<number> = []
    for (let i = 0; i < 20_000; i++) {
      const e = Deadlines.after(30, () => fired.push(i))
      if (i % 1000 !== 7) Deadlines.cancel(e)
    }
    const queue = Deadlines.after(30, () => {}).queue as unknown as { entries: Array<unknown>; head: number }
    assert.isBelow(queue.entries.length - queue.head, 2_000)
    await sleep(150)
    assert.deepStrictEqual(fired, Array.from({ length: 20 }, (_, k) => k * 1000 + 7))
  })
})

const Slow = Actor.make("DeadlineTest/Slow", {
  Hang: Actor.ask({}, { success: Schema.Number }),
  Echo: Actor.ask({ n: Schema.Number }, { success: Schema.Number })
})

describe("asks on the live clock", () => {
  it.live("an unanswered ask fails with AskTimeout; answered asks in between are not disturbed", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const never = yield* Deferred.make<number>()
      const ref = yield* system.spawn(Slow.behavior(Effect.succeed({
        Hang: () => Actor.fork(Deferred.await(never)),
        Echo: ({ n }) => Effect.succeed(n)
      })))
      const hung = yield* Effect.forkChild(Effect.flip(ref.ask(Slow.Hang(), { timeout: "40 millis" })))
      for (let i = 0; i < 1000; i++) assert.strictEqual(yield* ref.ask(Slow.Echo({ n: i }), { timeout: "40 millis" }), i)
      const error = (yield* Fiber.join(hung)) as AskTimeout
      assert.strictEqual(error._tag, "AskTimeout")
      assert.strictEqual(error.timeoutMillis, 40)
    }).pipe(Effect.provide(ActorSystem.layer())))
})
