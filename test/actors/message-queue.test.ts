/**
 * The mailbox's ring buffer: FIFO across wrap-arounds and growth, and a drained burst gives its
 * buffer back (the next burst starts from a shared empty one that only says what size to allocate).
 */
import { assert, describe, it } from "@effect/vitest"
import { type Entry, MessageQueue } from "../../src/actors/Mailbox.ts"

const slots = (q: MessageQueue): number => (q as unknown as { buf: Array<unknown> }).buf.length

const drain = (q: MessageQueue): Array<unknown> => {
  const out: Array<unknown> = []
  const e: Entry = { message: undefined, reply: undefined, sender: undefined }
  while (q.shift(e)) out.push(e.message, e.reply, e.sender)
  return out
}

describe("MessageQueue", () => {
  it("keeps FIFO order of triples across wrap-around and growth", () => {
    const q = new MessageQueue()
    const expected: Array<unknown> = []
    const e: Entry = { message: undefined, reply: undefined, sender: undefined }
    let next = 0
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < (round * 7) % 23 + 1; k++, next++) {
        q.push(next, `r${next}`, `s${next}`)
        expected.push(next, `r${next}`, `s${next}`)
      }
      for (let k = 0; k < (round * 5) % 11 && q.shift(e); k++) {
        assert.deepStrictEqual([e.message, e.reply, e.sender], expected.splice(0, 3))
      }
    }
    assert.deepStrictEqual(drain(q), expected)
    assert.strictEqual(q.size, 0)
  })

  it("gives a drained burst's buffer back, and shrinks to a small kept buffer as bursts end", () => {
    const q = new MessageQueue()
    assert.strictEqual(slots(q), 0)
    for (let i = 0; i < 1000; i++) q.push(i, undefined, undefined)
    assert.isAtLeast(slots(q), 3000)
    const out = drain(q)
    assert.strictEqual(out.length, 3000)
    assert.strictEqual(out[2997], 999)
    assert.strictEqual(slots(q), 0) // given back
    // single messages afterwards: at most a few large allocations, then a small buffer is kept
    for (let burst = 0; burst < 10; burst++) {
      q.push(burst, undefined, undefined)
      drain(q)
    }
    assert.isAtMost(slots(q), 3 * 64)
    q.push("x", undefined, undefined)
    assert.deepStrictEqual(drain(q), ["x", undefined, undefined])
  })
})

describe("MessageQueue.removeWhere", () => {
  it("removes the matching triples and keeps the others in order, across wrap-around, growth and later pushes", () => {
    for (let seed = 1; seed < 200; seed++) {
      const q = new MessageQueue()
      const model: Array<[number, string, string]> = []
      const e: Entry = { message: undefined, reply: undefined, sender: undefined }
      let next = 0
      let r = seed
      const rand = (n: number) => (r = (r * 1103515245 + 12345) % 2147483648) % n
      for (let step = 0; step < 60; step++) {
        const op = rand(10)
        if (op < 5) {
          q.push(next, `r${next}`, `s${next}`)
          model.push([next, `r${next}`, `s${next}`])
          next++
        } else if (op < 8) {
          if (q.shift(e)) assert.deepStrictEqual([e.message, e.reply, e.sender], model.shift())
          else assert.strictEqual(model.length, 0)
        } else {
          const m = 2 + rand(3)
          q.removeWhere((message) => (message as number) % m === 0)
          for (let i = model.length - 1; i >= 0; i--) if (model[i]![0] % m === 0) model.splice(i, 1)
          assert.strictEqual(q.size, model.length)
        }
      }
      const rest = drain(q)
      assert.deepStrictEqual(rest, model.flat(), `seed ${seed}`)
    }
  })
})
