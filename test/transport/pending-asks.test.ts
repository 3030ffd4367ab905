/**
 * The table of asks awaiting their reply from one peer: found by id whatever the order replies
 * come in, across growth and shrinking; an ask given up on gets no reply, and is dropped when
 * its reply comes or by a sweep; a lost connection fails the others in the order they were made.
 * A reply costs a few slot reads however many asks are in flight.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Exit from "effect/Exit"
import { NodeDown } from "../../src/actors/ActorError.ts"
import type { Reply } from "../../src/actors/internal/target.ts"
import { PendingAsks } from "../../src/transport/internal/remoteTarget.ts"
import { baseSeed, Rng } from "./_random.ts"

const protocol = {} as never

/** Adds an ask to `asks` whose reply pushes its own id onto `got`; returns the id. */
const adder = (asks: PendingAsks, got: Array<number>) => () => {
  const id: number = asks.add(((() => got.push(id)) as unknown) as Reply, protocol, "T")
  return id
}

describe("pending asks", () => {
  it("finds every ask by id, replies in random order, as the table grows and shrinks", () => {
    const rng = new Rng(baseSeed)
    const asks = new PendingAsks()
    const got: Array<number> = []
    const live: Array<number> = []
    for (let round = 0; round < 20; round++) {
      const adds = rng.pick([10, 100, 1000, 3000])
      for (let k = 0; k < adds; k++) {
        const id: number = asks.add(((() => got.push(id)) as unknown) as Reply, protocol, "T")
        live.push(id)
      }
      const takes = rng.pick([0.5, 0.9, 1]) * live.length
      for (let k = 0; k < takes; k++) {
        const at = Math.floor(rng.float() * live.length)
        const id = live[at]!
        live[at] = live[live.length - 1]!
        live.pop()
        const p = asks.take(id)
        assert.isDefined(p, `ask ${id} is found (seed ${baseSeed})`)
        p!.reply(Exit.void)
        assert.strictEqual(got.pop(), id)
        assert.isUndefined(asks.take(id), `ask ${id} is taken once`)
      }
      assert.strictEqual(asks.size, live.length)
    }
  })

  it("an ask given up on gets no reply; a lost connection fails the others in order", () => {
    const asks = new PendingAsks()
    const replied: Array<string> = []
    const replies: Array<Reply> = []
    const ids: Array<number> = []
    for (let k = 0; k < 300; k++) {
      const reply = ((exit: Exit.Exit<unknown, unknown>) => replied.push(`${k}:${exit._tag}`)) as unknown as Reply
      replies.push(reply)
      ids.push(asks.add(reply, protocol, "T"))
    }
    // given up on: one whose reply then comes, and enough for a sweep
    asks.cancel(replies[0]!)
    assert.isUndefined(asks.take(ids[0]!))
    for (let k = 1; k < 100; k++) asks.cancel(replies[k]!)
    assert.isTrue(asks.size < 299, "a sweep dropped what was given up on")
    asks.fail(ids[50]!, new Error("too large"))
    asks.failAll(new NodeDown({ node: "b", reason: "gone" }))
    assert.deepStrictEqual(replied, Array.from({ length: 200 }, (_, k) => `${k + 100}:Failure`))
    assert.strictEqual(asks.size, 0)
  })
  it("replies that come oldest first, with 20 000 asks in flight, read a few slots each", () => {
    const asks = new PendingAsks()
    const reply = (() => {}) as unknown as Reply
    const ids: Array<number> = []
    for (let k = 0; k < 20_000; k++) ids.push(asks.add(reply, protocol, "T"))
    // the table's slots, read through a counter (no rebuild happens below: the size stays the same)
    const table = asks as unknown as { ids: Float64Array }
    const slots = table.ids
    let reads = 0
    table.ids = new Proxy(slots, {
      get: (t, k) => {
        if (typeof k === "string" && ++reads > 1_000_000) throw new Error("more than 1 000 000 slot reads")
        return (t as any)[k]
      },
      set: (t, k, v) => (((t as any)[k] = v), true)
    })
    // as a steady flood does: the oldest ask's reply comes, and a new ask goes out
    for (let k = 0; k < 2_000; k++) {
      assert.isDefined(asks.take(ids[k]!))
      ids.push(asks.add(reply, protocol, "T"))
    }
    assert.strictEqual(asks.size, 20_000)
    assert.isBelow(reads, 20 * 2_000, `slot reads for 2 000 replies and asks`)
    table.ids = slots
    for (let k = 2_000; k < ids.length; k++) assert.isDefined(asks.take(ids[k]!), `ask ${ids[k]} is found`)
    assert.strictEqual(asks.size, 0)
  })

  it("a steady flood (replies oldest first, 32 in flight) reuses its table: no rebuild per few dozen asks", () => {
    const asks = new PendingAsks()
    const reply = (() => {}) as unknown as Reply
    const inFlight: Array<number> = []
    for (let k = 0; k < 32; k++) inFlight.push(asks.add(reply, protocol, "T"))
    const table = asks as unknown as { ids: Float64Array }
    const first = table.ids
    for (let k = 0; k < 100_000; k++) {
      assert.isDefined(asks.take(inFlight.shift()!))
      inFlight.push(asks.add(reply, protocol, "T"))
    }
    assert.strictEqual(table.ids, first, "the same table throughout")
    assert.strictEqual(asks.size, 32)
  })

  it("an ask pending while many later ones come and go is found, and so are the ones moved past it", () => {
    const asks = new PendingAsks()
    const got: Array<number> = []
    const add = adder(asks, got)
    const slow = [add(), add(), add()]
    const inFlight: Array<number> = []
    for (let k = 0; k < 20; k++) inFlight.push(add())
    // many laps of the table: later ids meet the slow ones' slots and are moved on
    for (let k = 0; k < 5_000; k++) {
      const id = inFlight.shift()!
      asks.take(id)!.reply(Exit.void)
      assert.strictEqual(got.pop(), id)
      inFlight.push(add())
      if (k % 997 === 0) assert.isUndefined(asks.take(id), `ask ${id} is taken once`)
    }
    for (const id of [...slow, ...inFlight]) {
      const p = asks.take(id)
      assert.isDefined(p, `ask ${id} is found`)
      p!.reply(Exit.void)
      assert.strictEqual(got.pop(), id)
    }
    assert.strictEqual(asks.size, 0)
  })

  it("a reply's ask id that no ask can have (0, negative, NaN, fractional, infinite) matches nothing and changes nothing", () => {
    const asks = new PendingAsks()
    const got: Array<number> = []
    const add = adder(asks, got)
    // a table of 64 slots in which the slot of id 127 (63, taken by id 63) moves it on to slot 0,
    // and id 128 (slot 0) on to slot 1; taking 127 leaves slot 0 a tombstone
    const pending: Array<number> = []
    for (let k = 1; k <= 128; k++) {
      const id = add()
      if (id === 63 || id === 127 || id === 128) pending.push(id)
      else asks.take(id)!.reply(Exit.void)
    }
    asks.take(127)!.reply(Exit.void)
    got.length = 0
    const bogus = [0, -0, -1, -2, 0.5, 127.5, NaN, Infinity, -Infinity, 2 ** 60, -(2 ** 60)]
    for (let round = 0; round < 100; round++) {
      for (const id of bogus) assert.isUndefined(asks.take(id), `ask id ${id} matches nothing`)
    }
    assert.strictEqual(asks.size, 2, "the count of pending asks is untouched")
    for (const id of [63, 128]) {
      const p = asks.take(id)
      assert.isDefined(p, `ask ${id} is still found`)
      p!.reply(Exit.void)
      assert.strictEqual(got.pop(), id)
    }
    assert.strictEqual(asks.size, 0)
    // the table grows as before: 100 asks in flight find their slots (a count driven below zero
    // never grew it, and the 65th ask looked for a free slot forever)
    const many = Array.from({ length: 100 }, add)
    for (const id of many) assert.isDefined(asks.take(id))
  })
})
