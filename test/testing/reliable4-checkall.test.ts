/**
 * `Checkers.checkAll` runs `reliableDelivery` when asked to (`reliable`): a history of a reliable
 * channel that breaks only what that checker checks (a message confirmed before its consumer
 * processed it, one processed although rejected, one left without outcome) is found invalid by
 * checkAll, not passed by the generic message checkers alone.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Checkers from "../../src/testing/Checkers.ts"
import * as History from "../../src/testing/History.ts"

const recorder = () => {
  let t = 0
  const rec = History.make({ now: () => t })
  return { rec, at: (ms: number) => void (t = ms) }
}
const offer = (rec: History.Recorder, seq: number) =>
  rec.invoke("p", { f: "offer", value: seq, message: { id: `p#${seq}`, to: "c", from: "p", seq } })
const processed = (rec: History.Recorder, seq: number) => rec.deliver("c", `p#${seq}`, "p", seq)

/** every message once, in order; but 1 is confirmed early, 2 processed though rejected, 3 unreported */
const bad = () => {
  const { rec, at } = recorder()
  const ops = [1, 2, 3].map((seq) => offer(rec, seq))
  at(10)
  rec.ok(ops[0]!)
  at(20)
  processed(rec, 1)
  processed(rec, 2)
  processed(rec, 3)
  at(30)
  rec.fail(ops[1]!, "MessageRejected")
  return rec.snapshot()
}

const good = () => {
  const { rec, at } = recorder()
  const ops = [1, 2, 3].map((seq) => offer(rec, seq))
  at(10)
  for (const seq of [1, 2, 3]) processed(rec, seq)
  at(20)
  for (const op of ops) rec.ok(op)
  return rec.snapshot()
}

describe("Checkers.checkAll with reliable", () => {
  it("runs reliableDelivery and fails a history only it can fail", () => {
    const h = bad()
    const r = Checkers.checkAll(h, { reliable: {} })
    assert.include(r.checked, "reliableDelivery")
    assert.isFalse(r.valid, Checkers.format(r))
    const details = r.valid ? [] : r.violations.filter((v) => v.rule === "reliableDelivery").map((v) => v.detail.split(":")[0])
    assert.deepStrictEqual(details.sort(), ["confirmed early", "processed rejected", "unreported"])
    // the generic message checkers alone pass it
    const generic = Checkers.checkAll(h)
    assert.notInclude(generic.checked, "reliableDelivery")
    assert.isTrue(generic.valid, Checkers.format(generic))
  })

  it("passes a valid channel, and skip leaves it out", () => {
    const r = Checkers.checkAll(good(), { reliable: { unknownSettleMillis: 0 } })
    assert.isTrue(r.valid, Checkers.format(r))
    assert.include(r.checked, "reliableDelivery")
    const skipped = Checkers.checkAll(bad(), { reliable: {}, skip: ["reliableDelivery"] })
    assert.notInclude(skipped.checked, "reliableDelivery")
  })
})
