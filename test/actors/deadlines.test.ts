/**
 * Ask deadlines on the live clock (a queue per timeout, one timer each): expiry, cancellation,
 * order, and many answered asks not piling up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorSystem, type AskTimeout } from "../../src/index.ts"
import * as Deadlines from "../../src/internal/deadlines.ts"

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
    const queue = Deadlines.after(30, () => {}).queue as unknown as { size: number }
    assert.isBelow(queue.size, 2_000)
    await sleep(150)
    assert.deepStrictEqual(fired, Array.from({ length: 20 }, (_, k) => k * 1000 + 7))
  })

  it("entries that left hold nothing: their slots are cleared, and an answered entry lets go of its expiry", async () => {
    type Ring = { ring: Array<unknown>; size: number }
    const live: Array<Deadlines.Deadline> = []
    const answered: Array<Deadlines.Deadline> = []
    const expire = () => {}
    // growth (more than the first 1 024 slots pending), compaction and answers at the head
    for (let i = 0; i < 5_000; i++) {
      const e = Deadlines.after(25, expire)
      if (i % 3 === 0) live.push(e)
      else answered.push(e)
      if (i % 3 === 2) Deadlines.cancel(answered[answered.length - 2]!)
    }
    for (const e of answered) Deadlines.cancel(e)
    const queue = live[0]!.queue as unknown as Ring
    // answered entries may wait in the ring (up to four per live one), but no slot outside it holds one
    assert.strictEqual(queue.ring.filter((slot) => slot !== undefined).length, queue.size)
    assert.isTrue(live.every((e) => queue.ring.includes(e)))
    assert.isTrue(answered.every((e) => e.expire !== expire))
    // a compaction behind a live head: what it moved leaves no copy behind
    const head = Deadlines.after(26, expire)
    const rest = Array.from({ length: 3_000 }, () => Deadlines.after(26, expire))
    for (const e of rest.slice(0, 2_990)) Deadlines.cancel(e)
    const other = head.queue as unknown as Ring
    assert.isBelow(other.size, 1_000)
    assert.strictEqual(other.ring.filter((slot) => slot !== undefined).length, other.size)
    assert.isTrue([head, ...rest.slice(2_990)].every((e) => other.ring.includes(e)))
    await sleep(100)
    // all expired: nothing is left in the rings
    assert.strictEqual(queue.ring.filter((slot) => slot !== undefined).length, 0)
    assert.strictEqual(other.ring.filter((slot) => slot !== undefined).length, 0)
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
