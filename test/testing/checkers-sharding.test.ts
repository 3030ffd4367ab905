/**
 * The checkers for sharded entities, on handcrafted histories: each passes a valid history and
 * fails the violating ones with the right rule and detail (a checker that cannot fail checks
 * nothing); and a property over generated lease histories: a simulated owner that stops its
 * entities before its lease can expire always passes `singleActivation`, one that keeps them
 * running past its lease is caught.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Checkers from "../../src/testing/Checkers.ts"
import * as History from "../../src/testing/History.ts"
import { Rng } from "../transport/_random.ts"

const recorder = () => {
  const clock = History.manualClock()
  const rec = History.make({ now: clock.now })
  return { rec, at: (t: number) => clock.set(t) }
}

const assertValid = (result: Checkers.Result) => assert.isTrue(result.valid, Checkers.format(result))

const assertViolation = (result: Checkers.Result, rule: Checkers.Rule, detail: RegExp, count?: number) => {
  assert.isFalse(result.valid, `expected a ${rule} violation, got a valid result`)
  const vs = result.valid ? [] : result.violations
  if (count !== undefined) assert.strictEqual(vs.length, count, Checkers.format(result))
  for (const v of vs) assert.strictEqual(v.rule, rule, Checkers.format(result))
  assert.isTrue(vs.some((v) => detail.test(v.detail)), `no violation matches ${detail}:\n${Checkers.format(result)}`)
}

describe("Checkers.singleActivation", () => {
  it("passes activations that follow each other: passivation, handoff, a crash", () => {
    const { rec, at } = recorder()
    rec.activated("n1", "Cart", "k1", { epoch: 1, shard: 3 })
    rec.activated("n2", "Cart", "k2", { epoch: 1 })
    at(100)
    rec.deactivated("n1", "Cart", "k1", { epoch: 1 }, "passivated")
    rec.activated("n1", "Cart", "k1", { epoch: 1 })
    at(150)
    rec.activated("n2", "Cart", "k1", { epoch: 2 }) // recorded before the stop of the same instant: no overlap
    rec.deactivated("n1", "Cart", "k1", { epoch: 1 }, "handoff")
    at(200)
    rec.activated("n3", "Cart", "k3", { epoch: 1 })
    rec.deactivated("n3", "Cart", "k3", { epoch: 1 }) // started and stopped at one instant
    rec.deactivated("n2", "Cart", "k1", { epoch: 2 }, "handoff")
    at(201)
    rec.activated("n3", "Cart", "k1", { epoch: 3 })
    at(300)
    rec.crashed("n3")
    rec.deactivated("n3", "Cart", "k1", { epoch: 3 }) // its finalizer ran after the crash
    at(400)
    rec.activated("n2", "Cart", "k1", { epoch: 4 })
    const h = rec.snapshot()
    assertValid(Checkers.singleActivation(h))
    const all = Checkers.checkAll(h)
    assert.deepStrictEqual(all.checked, ["singleActivation"])
    assert.match(History.describe(h.entries[0]!), /activated Cart\/k1 on n1 epoch 1 shard 3/)
    assert.match(History.describe(h.entries[2]!), /deactivated Cart\/k1 on n1 epoch 1 \(passivated\)/)
  })

  it("fails two activations of one key that overlap, with how long, and names both", () => {
    const { rec, at } = recorder()
    rec.activated("n1", "Cart", "k1", { epoch: 1 })
    at(50)
    rec.activated("n2", "Cart", "k1", { epoch: 2 }) // n1 still runs it
    at(80)
    rec.deactivated("n1", "Cart", "k1", { epoch: 1 }, "lease lost")
    const r = Checkers.singleActivation(rec.snapshot())
    assertViolation(r, "singleActivation", /^overlap: Cart\/k1 activated on n2 \(epoch 2\) at t=50 while its activation on n1 \(epoch 1, since t=0\) was still running until t=80: 30 ms of two activations/, 1)
    assert.strictEqual((r as { violations: ReadonlyArray<Checkers.Violation> }).violations[0]!.ops.length, 3)
    // within the tolerance for merged process logs: accepted
    assertValid(Checkers.singleActivation(rec.snapshot(), { toleranceMillis: 30 }))
  })

  it("fails an overlap that lasts to the end of the history, and a second activation on one node", () => {
    const { rec, at } = recorder()
    rec.activated("n1", "Cart", "k1", { epoch: 1 })
    at(10)
    rec.activated("n1", "Cart", "k1", { epoch: 1 })
    at(500)
    assertViolation(Checkers.singleActivation(rec.snapshot()), "singleActivation", /activated on n1 .* at t=10 .* on n1 .* \(until the end of the history, t=500\)/, 1)
  })

  it("a crash ends its node's activations only", () => {
    const { rec, at } = recorder()
    rec.activated("n1", "Cart", "k1", { epoch: 1 })
    rec.activated("n2", "Cart", "k2", { epoch: 1 })
    at(10)
    rec.crashed("n2")
    at(20)
    rec.activated("n3", "Cart", "k1", { epoch: 2 })
    rec.activated("n3", "Cart", "k2", { epoch: 2 })
    at(30)
    assertViolation(Checkers.singleActivation(rec.snapshot()), "singleActivation", /Cart\/k1 activated on n3/, 1)
  })

  it("fails epochs that go backwards or one epoch on two nodes, and unmatched stops", () => {
    const { rec, at } = recorder()
    rec.activated("n1", "Cart", "k1", { epoch: 5 })
    at(10)
    rec.deactivated("n1", "Cart", "k1", { epoch: 5 })
    at(20)
    rec.activated("n2", "Cart", "k1", { epoch: 4 })
    at(30)
    rec.deactivated("n2", "Cart", "k1", { epoch: 4 })
    const backwards = Checkers.singleActivation(rec.snapshot())
    assertViolation(backwards, "singleActivation", /^epoch: Cart\/k1 activated on n2 at t=20 with epoch 4, lower than epoch 5 of its activation on n1 at t=0/, 1)

    const same = recorder()
    same.rec.activated("n1", "Cart", "k1", { epoch: 5 })
    same.at(10)
    same.rec.deactivated("n1", "Cart", "k1", { epoch: 5 })
    same.rec.activated("n2", "Cart", "k1", { epoch: 5 })
    assertViolation(Checkers.singleActivation(same.rec.snapshot()), "singleActivation", /with epoch 5, the epoch it already ran under on n1 \(t=0\): one lease acquisition, two owners/, 1)

    const stray = recorder()
    stray.rec.deactivated("n1", "Cart", "k9", { epoch: 1 })
    assertViolation(Checkers.singleActivation(stray.rec.snapshot()), "singleActivation", /^unmatched: Cart\/k9 deactivated on n1 at t=0/, 1)
  })

  it("property: owners that stop before their lease can expire pass; owners that keep running are caught", () => {
    // a shard's lease: TTL 100; an owner partitioned from the store stops its entities by its
    // renew deadline (< TTL) — or, in the buggy variant, only 1..50 ms after its lease expired
    const run = (seed: number, buggy: boolean) => {
      const rng = new Rng(seed)
      const { rec, at } = recorder()
      const TTL = 100
      let epoch = 0
      let t = 0
      let owner: { node: string; until: number; keys: Set<string> } | undefined
      for (let step = 0; step < 40; step++) {
        t += 1 + rng.int(0, 29)
        at(t)
        if (owner === undefined) {
          owner = { node: `n${1 + rng.int(0, 2)}`, until: t + TTL, keys: new Set() }
          epoch++
        }
        owner.until = t + TTL // renewed
        const key = `k${rng.int(0, 3)}`
        if (!owner.keys.has(key)) {
          owner.keys.add(key)
          rec.activated(owner.node, "E", key, { epoch })
        }
        if (rng.float() < 0.2) {
          // cut off from the store: stop in time (or too late), the lease expires, another takes it
          const stopAt = buggy ? owner.until + 1 + rng.int(0, 49) : owner.until - 1 - rng.int(0, 19)
          at(stopAt)
          for (const k of owner.keys) rec.deactivated(owner.node, "E", k, { epoch }, "lease lost")
          t = owner.until // the next owner acquires the expired lease
          owner = undefined
        }
      }
      return Checkers.singleActivation(rec.snapshot())
    }
    let caught = 0
    for (let seed = 1; seed <= 200; seed++) {
      const ok = run(seed, false)
      assert.isTrue(ok.valid, `seed ${seed}: ${Checkers.format(ok)}`)
      if (!run(seed, true).valid) caught++
    }
    // the buggy owner overlaps whenever a new owner activated a key before the late stop
    assert.isAbove(caught, 100)
  })
})

describe("Checkers.noLostUpdates", () => {
  const inc = (rec: History.Recorder, key: string, by = 1) => rec.invoke("c", { f: "increment", value: { key, by } })
  const read = (rec: History.Recorder, key: string) => rec.invoke("c", { f: "read", value: { key } })

  it("passes reads that see every acknowledged increment, and maybe the unknown ones", () => {
    const { rec, at } = recorder()
    const a = inc(rec, "k1", 2)
    at(5)
    rec.ok(a, 2) // the count after it
    const b = inc(rec, "k1")
    const r1 = read(rec, "k1") // concurrent with b: 2 or 3
    at(10)
    rec.ok(r1, 3)
    rec.info(b, "AskTimeout") // it happened after all
    const c = inc(rec, "k1")
    at(11)
    rec.fail(c, "NoOwner") // certainly not applied
    const r2 = read(rec, "k1")
    const other = read(rec, "k2")
    at(12)
    rec.ok(r2, 3)
    rec.ok(other, 0)
    assertValid(Checkers.noLostUpdates(rec.snapshot(), { monotonic: true }))
  })

  it("fails a read below the acknowledged increments (a lost update), naming the last one", () => {
    const { rec, at } = recorder()
    for (let i = 0; i < 3; i++) {
      const op = inc(rec, "k1")
      at(i + 1)
      rec.ok(op)
    }
    at(100)
    const r = read(rec, "k1")
    at(101)
    rec.ok(r, 2)
    assertViolation(
      Checkers.noLostUpdates(rec.snapshot()),
      "noLostUpdates",
      /^lost: read of k1 \(op 3, invoked at t=100\) returned 2 at t=101, but increments acknowledged before it add up to 3: 1 lost \(the last acknowledged: op 2 at t=3\)/,
      1
    )
  })

  it("fails an increment's own count that forgets earlier ones, phantoms, and (monotonic) reads that go back", () => {
    const { rec, at } = recorder()
    const a = inc(rec, "k1")
    rec.ok(a, 1)
    const b = inc(rec, "k1")
    at(1)
    rec.ok(b, 1) // the state was reloaded from before a: a is lost
    assertViolation(Checkers.noLostUpdates(rec.snapshot()), "noLostUpdates", /^lost: increment of k1 \(op 1.*returned 1.* add up to 2/, 1)

    const p = recorder()
    const f = inc(p.rec, "k1")
    p.rec.fail(f, "StaleEpoch")
    const r = read(p.rec, "k1")
    p.rec.ok(r, 1)
    assertViolation(Checkers.noLostUpdates(p.rec.snapshot()), "noLostUpdates", /^phantom: read of k1 .* returned 1 .* only 0 can have been added/, 1)

    const m = recorder()
    const u = inc(m.rec, "k1")
    const r1 = read(m.rec, "k1")
    m.rec.ok(r1, 1) // saw the unconfirmed increment
    m.rec.info(u, "NodeDown")
    const r2 = read(m.rec, "k1")
    m.rec.ok(r2, 0) // ... which was never saved: allowed unless monotonic
    assertValid(Checkers.noLostUpdates(m.rec.snapshot()))
    assertViolation(Checkers.noLostUpdates(m.rec.snapshot(), { monotonic: true }), "noLostUpdates", /^backwards: read of k1 .* returned 0 .* below 1 read by op 1/, 1)
  })
})

describe("Checkers.asksEnd", () => {
  it("passes asks answered or failed with a typed error in time", () => {
    const { rec, at } = recorder()
    const a = rec.invoke("c", { f: "ask", value: { key: "k1" } })
    const b = rec.invoke("c", { f: "ask", value: { key: "k2" } })
    const t = rec.invoke("c", { f: "tell", value: { key: "k2" } }) // not an ask: not checked
    at(100)
    rec.ok(a, 1)
    rec.fail(b, { _tag: "AskTimeout" })
    at(200)
    assertValid(Checkers.asksEnd(rec.snapshot(), { fs: ["ask"], withinMillis: 100, typed: (c) => typeof c.value === "object" }))
    void t
  })

  it("fails an ask that hangs, ends late, or ends with a defect", () => {
    const { rec, at } = recorder()
    const a = rec.invoke("c", { f: "ask", value: { key: "k1" } })
    const b = rec.invoke("c", { f: "ask", value: { key: "k2" } })
    rec.invoke("c", { f: "ask", value: { key: "k3" } })
    at(150)
    rec.ok(a)
    rec.info(b, "interrupted")
    at(160)
    const r = Checkers.asksEnd(rec.snapshot(), { withinMillis: 100, typed: (c) => typeof c.value === "object" })
    assertViolation(r, "asksEnd", /^op 0 \(c ask, invoked at t=0\) ended \(ok\) only at t=150, 150 ms later \(bound 100 ms\)/, 4)
    assertViolation(r, "asksEnd", /^op 1 .* ended \(info\) at t=150 without a typed error: interrupted/)
    assertViolation(r, "asksEnd", /^op 2 \(c ask, invoked at t=0\) never ended \(history ends at t=160\)/)
    const early = recorder()
    early.rec.invoke("c", { f: "ask" })
    early.at(50)
    assertViolation(Checkers.asksEnd(early.rec.snapshot(), { withinMillis: 100 }), "asksEnd", /before its bound t=100: record longer/, 1)
  })
})

describe("Checkers.keysAnswerAfterHeal", () => {
  const ask = (rec: History.Recorder, key: string) => rec.invoke("c", { f: "ask", value: { key } })

  const build = (k2AnswersAt: number, lateFailure = false) => {
    const { rec, at } = recorder()
    at(100)
    rec.fault("kill n2")
    const before = ask(rec, "k2")
    at(1000)
    rec.heal()
    rec.fail(before, { _tag: "AskTimeout" }) // before the heal: not judged
    const a = ask(rec, "k1")
    const b = ask(rec, "k2")
    at(1010)
    rec.ok(a)
    at(k2AnswersAt)
    rec.ok(b)
    if (lateFailure) {
      const c = ask(rec, "k1")
      at(k2AnswersAt + 10)
      rec.fail(c, { _tag: "NoOwner" })
    }
    at(5000)
    rec.sample("x", 0)
    return rec.snapshot()
  }

  it("passes when every key answers within the bound and keeps answering", () => {
    assertValid(Checkers.keysAnswerAfterHeal(build(2500), { withinMillis: 2000 }))
    const all = Checkers.checkAll(build(2500), { keysAfterHeal: { withinMillis: 2000 }, asks: { fs: ["ask"] } })
    assert.deepStrictEqual(all.checked, ["boundedBuffers", "asksEnd", "keysAnswerAfterHeal"])
    assert.isTrue(all.valid, Checkers.format(all))
  })

  it("fails a key that answers late, one that never answers, and a failure after the bound", () => {
    assertViolation(
      Checkers.keysAnswerAfterHeal(build(3500), { withinMillis: 2000 }),
      "keysAnswerAfterHeal",
      /^key k2 answered again only at t=3500, 2500 ms after the heal \(heal at t=1000 \+ 2000 ms\)/,
      1
    )
    assertViolation(
      Checkers.keysAnswerAfterHeal(build(2500), { withinMillis: 2000, keys: ["k1", "k2", "k3"] }),
      "keysAnswerAfterHeal",
      /^key k3 never answered after the heal \(0 operation\(s\) on it since t=1000\)/,
      1
    )
    assertViolation(
      Checkers.keysAnswerAfterHeal(build(3100, true), { withinMillis: 2000 }),
      "keysAnswerAfterHeal",
      /^key k1: op 3 \(c ask, invoked at t=3100\) ended without an answer \(fail: NoOwner\) at t=3110, after the recovery bound t=3000/
    )
    assertViolation(Checkers.keysAnswerAfterHeal(History.fromEntries([]), { withinMillis: 1 }), "keysAnswerAfterHeal", /no heal/)
  })
})
