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
