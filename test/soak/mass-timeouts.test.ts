/**
 * Asks that time out together (the asks to a peer that froze, all made within a few
 * milliseconds) fail a slice at a time: between slices the event loop runs what is pending (a
 * connection's reads, heartbeats), instead of waiting for every one of them to fail. Failing
 * 50 000 at once held the event loop for ~0.7 s (their `AskTimeout`s are built there), long
 * enough under load for peers to take the node for lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { after } from "../../src/internal/deadlines.ts"

describe("soak: mass ask timeouts", () => {
  it.live("asks due at once expire a slice per turn, in order, and all of them", () =>
    Effect.callback<{ readonly order: ReadonlyArray<number>; readonly beforeIo: number; readonly count: number }>((resume) => {
      const count = 5_000
      const order: Array<number> = []
      let beforeIo = -1
      for (let i = 0; i < count; i++) {
        after(20, () => {
          // the first expiry: what is pending (here a setImmediate) runs before how many more?
          if (order.length === 0) {
            setImmediate(() => {
              beforeIo = order.length
              if (order.length === count) resume(Effect.succeed({ order, beforeIo, count }))
            })
          }
          order.push(i)
          if (order.length === count && beforeIo >= 0) resume(Effect.succeed({ order, beforeIo, count }))
        })
      }
      // every one is due when the timer fires, as after a peer froze (or this process stalled)
      const due = performance.now() + 40
      while (performance.now() < due) {
        // busy
      }
    }).pipe(Effect.map(({ beforeIo, count, order }) => {
      assert.isBelow(beforeIo, count / 2, "pending I/O runs after a slice, not after every expiry")
      assert.isAbove(beforeIo, 0)
      assert.deepStrictEqual(order, Array.from({ length: order.length }, (_, i) => i), "in the order they were made")
    })), 10_000)

  it.live("expiries that ask again, past what the queue's ring holds, all expire once", () =>
    Effect.gen(function*() {
      let expired = 0
      // 12 asks whose expiry makes two more each (a retry and another ask): the ring, 16 slots
      // at first, grows while its queue's timer is expiring entries
      for (let i = 0; i < 12; i++) {
        after(13, () => {
          expired++
          after(13, () => void expired++)
          after(13, () => void expired++)
        })
      }
      yield* Effect.sleep("150 millis")
      assert.strictEqual(expired, 12 * 3)
    }))

  it.live("expiries that ask again (a flood's next asks) still expire a slice per turn", () =>
    Effect.callback<ReadonlyArray<number>>((resume) => {
      const count = 3_000
      // expiries per turn of the event loop: a setImmediate starts the next count
      const perTurn: Array<number> = [0]
      let counting = true
      const turn = () => {
        perTurn.push(0)
        if (counting) setImmediate(turn)
      }
      setImmediate(turn)
      let expired = 0
      const ask = (generation: number) =>
        after(21, () => {
          perTurn[perTurn.length - 1]!++
          if (generation < 3) ask(generation + 1)
          if (++expired === count * 3) {
            counting = false
            resume(Effect.succeed(perTurn))
          }
        })
      for (let i = 0; i < count; i++) ask(1)
    }).pipe(Effect.map((perTurn) => {
      assert.isAtMost(Math.max(...perTurn), 1024, `expiries per turn ${perTurn.filter((n) => n > 0).join(" ")}`)
    })), 10_000)
})
