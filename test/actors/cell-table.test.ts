/**
 * The table of live actors by id (pages of consecutive ids): look-ups, id order across pages,
 * pages dropped and made again, changes while iterating; and top-level actors of many pages
 * stopping in reverse spawn order when the system stops.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import { CellTable } from "../../src/actors/internal/cellTable.ts"

describe("CellTable", () => {
  it("adds, finds and deletes by id; size counts live entries", () => {
    const t = new CellTable<string>()
    for (let id = 1; id <= 200; id++) t.add(id, `a${id}`)
    assert.strictEqual(t.size, 200)
    assert.strictEqual(t.get(1), "a1")
    assert.strictEqual(t.get(64), "a64")
    assert.strictEqual(t.get(200), "a200")
    assert.strictEqual(t.get(0), undefined)
    assert.strictEqual(t.get(201), undefined)
    for (const odd of [-1, 1.5, NaN, Infinity, 2 ** 60]) assert.strictEqual(t.get(odd), undefined)
    assert.isTrue(t.delete(64))
    assert.isFalse(t.delete(64))
    assert.isFalse(t.delete(5000))
    assert.strictEqual(t.get(64), undefined)
    assert.strictEqual(t.size, 199)
  })

  it("iterates in id order across pages, also after whole pages were emptied and refilled", () => {
    const t = new CellTable<number>()
    for (let id = 1; id <= 300; id++) t.add(id, id)
    // empty the first pages entirely, and the newest page too
    for (let id = 1; id <= 140; id++) t.delete(id)
    for (let id = 257; id <= 300; id++) t.delete(id)
    for (let id = 301; id <= 330; id++) t.add(id, id)
    const expected = [...Array.from({ length: 116 }, (_, i) => 141 + i), ...Array.from({ length: 30 }, (_, i) => 301 + i)]
    assert.deepStrictEqual(Array.from(t.values()), expected)
    assert.strictEqual(t.size, expected.length)
  })

  it("tolerates deletes and adds while iterating", () => {
    const t = new CellTable<number>()
    for (let id = 1; id <= 130; id++) t.add(id, id)
    const seen: Array<number> = []
    let next = 131
    for (const v of t.values()) {
      seen.push(v)
      if (v % 2 === 1) t.delete(v + 1)
      if (v === 11) t.add(next++, 131)
    }
    assert.deepStrictEqual(seen, [...Array.from({ length: 65 }, (_, i) => 2 * i + 1), 131])
  })
})

describe("top-level actors over many pages of ids", () => {
  const Idle = Actor.make("CellTableIdle", { Ping: Actor.tell({}) })

  it.effect("stop in reverse spawn order when the system stops; stopped ones are skipped", () =>
    Effect.gen(function*() {
      const order: Array<number> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const system = yield* ActorSystem
        const refs = []
        for (let i = 0; i < 150; i++) {
          refs.push(yield* system.spawn(Idle.behavior(Effect.gen(function*() {
            yield* Effect.addFinalizer(() => Effect.sync(() => { order.push(i) }))
            return { Ping: () => Effect.void }
          }))))
        }
        for (let i = 0; i < 100; i++) yield* system.stop(refs[i]!)
        order.length = 0
      }).pipe(Effect.provide(ActorSystem.layer())))
      assert.deepStrictEqual(order, Array.from({ length: 50 }, (_, i) => 149 - i))
    }))
})
