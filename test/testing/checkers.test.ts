/**
 * The history checkers: for each, a valid history passes and handcrafted violating histories
 * fail with the right rule and detail; the recorder (plain and Effect); the restart checker
 * against a real Supervisor's events; and property tests over generated histories (a seeded
 * PRNG: fast-check is not installed). Every property runs 1000 cases (CHECKERS_RUNS=<n> for
 * more); a failure prints its seed — rerun with CHECKERS_SEED=<seed> (and CHECKERS_CASE=<n> for
 * that case alone).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { TestClock } from "effect/testing"
import { ActorSystem, type ActorSystemShape, type SupervisionEvent, Supervisor } from "../../src/index.ts"
import * as RP from "../../src/supervision/RestartPolicy.ts"
import * as Checkers from "../../src/testing/Checkers.ts"
import * as History from "../../src/testing/History.ts"
import * as Testing from "../../src/testing/index.ts"
import { Probe, settle, Worker, workerSpec } from "../supervision/helpers.ts"
import { Rng } from "../transport/_random.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** A recorder on a manual clock: `at(t)` moves the clock. */
const recorder = () => {
  const clock = History.manualClock()
  const rec = History.make({ now: clock.now })
  return { rec, at: (t: number) => clock.set(t), clock }
}

const violationsOf = (result: Checkers.Result): ReadonlyArray<Checkers.Violation> => (result.valid ? [] : result.violations)

const assertValid = (result: Checkers.Result, context = "") => {
  assert.isTrue(result.valid, `${context}\n${Checkers.format(result)}`)
}

/** Asserts the result has exactly `count` violations (default: at least one), all of `rule`, one of them matching `detail`. */
const assertViolation = (result: Checkers.Result, rule: Checkers.Rule, detail: RegExp, count?: number) => {
  assert.isFalse(result.valid, `expected a ${rule} violation, got a valid result`)
  const vs = violationsOf(result)
  if (count !== undefined) assert.strictEqual(vs.length, count, Checkers.format(result))
  for (const v of vs) assert.strictEqual(v.rule, rule, Checkers.format(result))
  assert.isTrue(vs.some((v) => detail.test(v.detail)), `no violation matches ${detail}:\n${Checkers.format(result)}`)
}

const send = (rec: History.Recorder, from: string, to: string, id: string, seq?: number) =>
  rec.invoke(from, { f: "send", value: id, message: { id, to, ...(seq === undefined ? {} : { seq }) } })

const noConnection = { _tag: "NoConnection" } as const

// ---------------------------------------------------------------------------------------------
// the recorder
// ---------------------------------------------------------------------------------------------

describe("History: the recorder", () => {
  it("records operations with ids and times, pairs completions, and snapshots immutably", () => {
    const { rec, at } = recorder()
    at(10)
    const a = send(rec, "p1", "b", "m1", 1)
    const b = rec.invoke("p2", { f: "ask", value: { n: 1 } })
    const c = rec.invoke("p3", { f: "ask" })
    at(15)
    rec.deliver("b", "m1", "p1", 1)
    rec.ok(a, "confirmed")
    rec.fail(b, "refused")
    const before = rec.snapshot()
    at(20)
    rec.info(c, "timeout")
    assert.deepStrictEqual([a, b, c], [0, 1, 2])
    assert.strictEqual(before.entries.length, 6)
    assert.strictEqual(before.end, 15)
    assert.isTrue(Object.isFrozen(before.entries) && Object.isFrozen(before.entries[0]))
    assert.throws(() => (before.entries as Array<History.Entry>).push(before.entries[0]!))
    assert.isUndefined(before.operations[2]!.completion, "the later info is not in the earlier snapshot")
    const after = rec.snapshot()
    assert.deepStrictEqual(after.operations.map((o) => [o.id, o.invoke.at, o.completion?.type, o.completion?.at]), [
      [0, 10, "ok", 15],
      [1, 10, "fail", 15],
      [2, 10, "info", 20]
    ])
    assert.deepStrictEqual(after.entries.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6])
    const completion = after.operations[0]!.completion!
    assert.strictEqual(completion.f, "send")
    assert.strictEqual(completion.message?.id, "m1")
    assert.deepStrictEqual(rec.pendingOperations(), [])
  })

  it("refuses to complete an unknown or already completed operation", () => {
    const { rec } = recorder()
    const a = rec.invoke("p", { f: "x" })
    rec.ok(a)
    assert.throws(() => rec.ok(a), /already complete/)
    assert.throws(() => rec.fail(42), /no operation 42/)
  })

  it("keeps NodeUp/NodeDown of Node.events and supervision events with their own time", () => {
    const { rec, at } = recorder()
    at(5)
    rec.nodeEvent("a", { _tag: "NodeUp", node: "b" })
    rec.nodeEvent("a", { _tag: "HandshakeRefused" })
    rec.nodeEvent("a", { _tag: "NodeDown", node: "b", reason: "heartbeat timeout" })
    rec.supervision({ _tag: "ChildStarted", supervisor: "s", at: 3, childId: "c", actor: "x" })
    const h = rec.snapshot()
    assert.deepStrictEqual(h.entries.map((e) => [e._tag, e.at]), [["Node", 5], ["Node", 5], ["Supervision", 3]])
    assert.match(History.describe(h.entries[1]!), /NodeDown b \(seen by a\): heartbeat timeout/)
  })

  it("fromEntries rebuilds a history (from JSON too) and rejects inconsistent operations", () => {
    const { rec, at } = recorder()
    const a = send(rec, "p", "q", "m", 1)
    at(3)
    rec.deliver("q", "m", "p", 1)
    rec.ok(a)
    const h = rec.snapshot()
    const again = History.fromEntries(JSON.parse(JSON.stringify(h.entries)))
    assert.strictEqual(JSON.stringify(again.entries), JSON.stringify(h.entries))
    assert.deepStrictEqual(again.operations.map((o) => o.completion?.type), ["ok"])
    assert.throws(() => History.fromEntries([h.entries[2]!]), /never invoked/)
    assert.throws(() => History.fromEntries([h.entries[0]!, h.entries[0]!]), /invoked twice/)
  })

  it.effect("makeEffect stamps entries with Effect's Clock (TestClock), also from callbacks", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1500 millis")
      const rec = yield* History.makeEffect
      const id = rec.invoke("p", { f: "x" })
      yield* TestClock.adjust("250 millis")
      rec.ok(id)
      const h = rec.snapshot()
      assert.deepStrictEqual(h.entries.map((e) => e.at), [1500, 1750])
    }))

  it.effect("track: ok with the value, fail with the typed error, info for unknown outcomes, defects and interrupts", () =>
    Effect.gen(function*() {
      const rec = yield* History.makeEffect
      const value = yield* rec.track("p", { f: "ask" }, Effect.succeed(7))
      yield* Effect.flip(rec.track("p", { f: "ask" }, Effect.fail("nope")))
      yield* Effect.flip(rec.track("p", { f: "ask" }, Effect.fail("timeout"), { unknown: (e) => e === "timeout" }))
      yield* Effect.exit(rec.track("p", { f: "ask" }, Effect.die(new Error("boom"))))
      yield* Effect.exit(rec.track("p", { f: "ask" }, Effect.interrupt))
      yield* rec.track("p", { f: "ask" }, Effect.succeed({ big: "object" }), { value: () => "small" })
      assert.strictEqual(value, 7)
      const h = rec.snapshot()
      assert.deepStrictEqual(h.operations.map((o) => [o.completion?.type, typeof o.completion?.value === "string" ? o.completion.value.split("\n")[0] : o.completion?.value]), [
        ["ok", 7],
        ["fail", "nope"],
        ["info", "timeout"],
        ["info", "Error: boom"],
        ["info", "interrupted"],
        ["ok", "small"]
      ])
    }))

  it("the testing barrel exports the kit as namespaces", () => {
    assert.strictEqual(Testing.History.make, History.make)
    assert.strictEqual(Testing.Checkers.checkAll, Checkers.checkAll)
    assert.isFunction(Testing.FaultProxy.FaultProxy.start)
    assert.isFunction(Testing.TestCluster.start)
  })
})

// ---------------------------------------------------------------------------------------------
// 1-4: message checkers
// ---------------------------------------------------------------------------------------------

describe("Checkers.noLostAcknowledged", () => {
  it("passes when every acknowledged send was delivered; failed, info and pending ones may be lost", () => {
    const { rec, at } = recorder()
    const a = send(rec, "p", "b", "m1")
    const f = send(rec, "p", "b", "m2")
    const i = send(rec, "p", "b", "m3")
    send(rec, "p", "b", "m4") // pending
    at(5)
    rec.deliver("b", "m1", "p")
    rec.ok(a)
    rec.fail(f)
    rec.info(i, "timeout")
    assertValid(Checkers.noLostAcknowledged(rec.snapshot()))
  })

  it("fails for an acknowledged message that was never delivered", () => {
    const { rec, at } = recorder()
    const a = send(rec, "p", "b", "m1")
    const lost = send(rec, "p", "b", "m2")
    at(5)
    rec.deliver("b", "m1", "p")
    rec.ok(a)
    at(9)
    rec.ok(lost)
    const r = Checkers.noLostAcknowledged(rec.snapshot())
    assertViolation(r, "noLostAcknowledged", /message m2 from p to b was acknowledged \(op 1 ok at t=9\) but never delivered/, 1)
    assert.deepStrictEqual(violationsOf(r)[0]!.ops.map((e) => e._tag === "Op" && e.type), ["invoke", "ok"])
  })

  it("a broadcast must reach every receiver; delivery to another receiver does not count", () => {
    const { rec } = recorder()
    const a = rec.invoke("p", { f: "broadcast", message: { id: "m", to: ["b", "c", "d"] } })
    rec.deliver("b", "m", "p")
    rec.deliver("x", "m", "p")
    rec.deliver("d", "m", "p")
    rec.ok(a)
    assertViolation(Checkers.noLostAcknowledged(rec.snapshot()), "noLostAcknowledged", /message m from p to c/, 1)
  })
})

describe("Checkers.noDuplicates", () => {
  it("passes when each receiver gets each message once (the same id to two receivers is fine)", () => {
    const { rec } = recorder()
    rec.invoke("p", { f: "broadcast", message: { id: "m", to: ["b", "c"] } })
    rec.deliver("b", "m", "p")
    rec.deliver("c", "m", "p")
    assertValid(Checkers.noDuplicates(rec.snapshot()))
  })

  it("fails for a message delivered twice to the same receiver, with both deliveries", () => {
    const { rec, at } = recorder()
    send(rec, "p", "b", "m1", 1)
    send(rec, "p", "b", "m2", 2)
    at(3)
    rec.deliver("b", "m1", "p", 1)
    at(4)
    rec.deliver("b", "m2", "p", 2)
    at(8)
    rec.deliver("b", "m1", "p", 1)
    const r = Checkers.noDuplicates(rec.snapshot())
    assertViolation(r, "noDuplicates", /message m1 from p delivered 2 times to b \(at t=3, t=8\)/, 1)
    assert.deepStrictEqual(violationsOf(r)[0]!.ops.map((e) => e.at), [3, 8])
  })
})

describe("Checkers.perPairFifo", () => {
  it("passes for increasing seqs per pair, interleaved pairs and (by default) gaps", () => {
    const { rec } = recorder()
    rec.deliver("b", "m1", "a", 1)
    rec.deliver("b", "n1", "c", 7)
    rec.deliver("b", "m3", "a", 3) // seq 2 lost: at most once
    rec.deliver("b", "n2", "c", 8)
    rec.deliver("a", "k1", "b", 1)
    rec.deliver("b", "x", "a") // no seq: ignored
    rec.deliver("b", "m4", "a", 4)
    assertValid(Checkers.perPairFifo(rec.snapshot()))
  })

  it("fails for a reordering", () => {
    const { rec, at } = recorder()
    rec.deliver("b", "m1", "a", 1)
    at(2)
    rec.deliver("b", "m3", "a", 3)
    at(3)
    rec.deliver("b", "m2", "a", 2)
    rec.deliver("b", "m4", "a", 4)
    assertViolation(Checkers.perPairFifo(rec.snapshot()), "perPairFifo", /a → b: reordered: seq 2 \(message m2\) delivered at t=3 after seq 3 \(message m3, t=2\)/, 1)
  })

  it("fails for a seq delivered again", () => {
    const { rec } = recorder()
    rec.deliver("b", "m1", "a", 1)
    rec.deliver("b", "m1", "a", 1)
    assertViolation(Checkers.perPairFifo(rec.snapshot()), "perPairFifo", /seq 1 delivered again/, 1)
  })

  it("with allowGaps: false fails for skipped seqs, also before the first delivery", () => {
    const { rec } = recorder()
    for (let s = 1; s <= 5; s++) send(rec, "a", "b", `m${s}`, s)
    rec.deliver("b", "m2", "a", 2)
    rec.deliver("b", "m3", "a", 3)
    rec.deliver("b", "m5", "a", 5)
    const h = rec.snapshot()
    assertValid(Checkers.perPairFifo(h))
    const r = Checkers.perPairFifo(h, { allowGaps: false })
    assertViolation(r, "perPairFifo", /a → b: gap: seq 5 \(message m5\) delivered right after seq 3 \(missing seq 4\)/, 2)
    assertViolation(r, "perPairFifo", /first delivery is seq 2 .* seq 1 was sent first/)
  })
})

describe("Checkers.noPhantoms", () => {
  it("passes when every delivery matches its send", () => {
    const { rec, at } = recorder()
    send(rec, "a", "b", "m1", 1)
    rec.invoke("client", { f: "send", message: { id: "m2", to: "b", from: "actor-a", seq: 1 } })
    at(4)
    rec.deliver("b", "m1", "a", 1)
    rec.deliver("b", "m2", "actor-a", 1)
    assertValid(Checkers.noPhantoms(rec.snapshot()))
  })

  it("fails for a message nobody sent", () => {
    const { rec } = recorder()
    send(rec, "a", "b", "m1", 1)
    rec.deliver("b", "m1", "a", 1)
    rec.deliver("b", "ghost", "a", 2)
    assertViolation(Checkers.noPhantoms(rec.snapshot()), "noPhantoms", /delivery of ghost from a to b \(seq 2\) at t=0: no operation sent a message ghost/, 1)
  })

  it("fails for a delivery to the wrong receiver, from the wrong sender, with another seq, or before its send", () => {
    const { rec, at } = recorder()
    at(10)
    send(rec, "a", "b", "m1", 1)
    at(12)
    rec.deliver("c", "m1", "a", 1)
    rec.deliver("b", "m1", "z", 1)
    rec.deliver("b", "m1", "a", 9)
    at(5)
    rec.deliver("b", "m1", "a", 1)
    const r = Checkers.noPhantoms(rec.snapshot())
    assert.strictEqual(violationsOf(r).length, 4, Checkers.format(r))
    assertViolation(r, "noPhantoms", /to c .*: it was sent to b/)
    assertViolation(r, "noPhantoms", /from z .*: it was sent by a/)
    assertViolation(r, "noPhantoms", /\(seq 9\).*: it was sent with seq 1/)
    assertViolation(r, "noPhantoms", /at t=5 .*: it was sent only at t=10, after this delivery/)
  })
})

// ---------------------------------------------------------------------------------------------
// 5: watchers
// ---------------------------------------------------------------------------------------------

describe("Checkers.watchersNotified", () => {
  const opts = { deadlineMillis: 1250 }

  it("passes when every watcher of a lost node's actors gets Down/Exit(NoConnection) in time", () => {
    const { rec, at } = recorder()
    rec.watch("w1", "x", "n2", { watcherNode: "n1" })
    rec.watch("w2", "y", "n2")
    rec.watch("w3", "z", "n3") // another node: not concerned
    rec.watch("w4", "x", "n2")
    at(100)
    rec.notified("w4", "x", "Down", { _tag: "Error", message: "died before" }) // ended before the loss
    at(1000)
    rec.nodeDown("n2", "n1")
    at(2000)
    rec.notified("w1", "x", "Down", noConnection)
    at(2250)
    rec.notified("w2", "y", "Exit", { _tag: "NoConnection", node: "n2" })
    assertValid(Checkers.watchersNotified(rec.snapshot(), opts))
  })

  it("fails for a late Down, with the delay and the deadline", () => {
    const { rec, at } = recorder()
    rec.watch("w1", "x", "n2")
    at(1000)
    rec.nodeDown("n2")
    at(2400)
    rec.notified("w1", "x", "Down", noConnection)
    const r = Checkers.watchersNotified(rec.snapshot(), opts)
    assertViolation(r, "watchersNotified", /w1 watching x on n2 \(node lost at t=1000\): late Down: it arrived at t=2400, 1400 ms after the loss, later than the deadline of 1250 ms \(t=2250\)/, 1)
    assert.deepStrictEqual(violationsOf(r)[0]!.ops.map((e) => e._tag), ["Watch", "Node", "Notify"])
  })

  it("fails for a missing Down, and says when the history is too short to tell", () => {
    const { rec, at } = recorder()
    rec.watch("w1", "x", "n2")
    rec.nodeDown("n2")
    at(5000)
    assertViolation(Checkers.watchersNotified(rec.snapshot(), opts), "watchersNotified", /no Down\/Exit by the end of the history \(t=5000; deadline t=1250\)$/, 1)
    const short = recorder()
    short.rec.watch("w1", "x", "n2")
    short.rec.nodeDown("n2")
    assertViolation(Checkers.watchersNotified(short.rec.snapshot(), opts), "watchersNotified", /not reached yet: record longer/)
  })

  it("fails for a Down with another reason after the loss", () => {
    const { rec, at } = recorder()
    rec.watch("w1", "x", "n2")
    rec.nodeDown("n2")
    at(10)
    rec.notified("w1", "x", "Down", { _tag: "Killed" })
    assertViolation(Checkers.watchersNotified(rec.snapshot(), opts), "watchersNotified", /Down carried reason Killed, expected NoConnection/, 1)
  })

  it("ignores unwatched pairs, NodeDowns seen by another watcher's node, and watches after the loss", () => {
    const { rec, at } = recorder()
    rec.watch("w1", "x", "n2", { watcherNode: "n1" })
    rec.watch("w2", "y", "n2")
    rec.unwatch("w2", "y")
    at(10)
    rec.nodeDown("n2", "n3") // n3's view: w1 lives on n1
    at(5000)
    assertValid(Checkers.watchersNotified(rec.snapshot(), opts))
  })

  it("a pair watched twice needs two notifications", () => {
    const { rec, at } = recorder()
    rec.watch("w", "x", "n2")
    rec.watch("w", "x", "n2")
    at(10)
    rec.nodeDown("n2")
    at(20)
    rec.notified("w", "x", "Down", noConnection)
    at(3000)
    assertViolation(Checkers.watchersNotified(rec.snapshot(), opts), "watchersNotified", /no Down\/Exit/, 1)
  })
})

// ---------------------------------------------------------------------------------------------
// 6: restarts
// ---------------------------------------------------------------------------------------------

const policy = (p: Partial<Omit<RP.Policy, "backoff">> & { backoff?: Partial<RP.Backoff> | undefined } = {}): RP.Policy => ({
  strategy: p.strategy ?? "one_for_one",
  intensity: p.intensity ?? 3,
  periodMillis: p.periodMillis ?? 1000,
  backoff: "backoff" in p && p.backoff === undefined
    ? undefined
    : { initialMillis: 100, maxMillis: 1000, factor: 2, jitter: 0, resetAfterMillis: 5000, ...p.backoff }
})

/** Supervision events of supervisor "sup" from a compact script. */
const sup = (events: ReadonlyArray<readonly [number, string, ...Array<unknown>]>) => {
  const rec = History.make()
  let n = 0
  for (const [at, tag, ...args] of events) {
    const base = { supervisor: "sup", at }
    const e: SupervisionEvent = tag === "start"
      ? { ...base, _tag: "ChildStarted", childId: args[0] as string, actor: `${args[0]}#${n++}` }
      : tag === "exit"
      ? { ...base, _tag: "ChildExited", childId: args[0] as string, actor: `${args[0]}`, reason: (args[1] as any) ?? { _tag: "Error", message: "boom" } }
      : tag === "schedule"
      ? { ...base, _tag: "RestartScheduled", childIds: args[0] as Array<string>, delayMillis: args[1] as number }
      : tag === "restarted"
      ? { ...base, _tag: "ChildRestarted", childId: args[0] as string, actor: `${args[0]}#${n}`, restarts: 1 }
      : tag === "startFailed"
      ? { ...base, _tag: "ChildStartFailed", childId: args[0] as string, message: "refused" }
      : tag === "intensity"
      ? { ...base, _tag: "IntensityExceeded", restarts: args[0] as number, periodMillis: 1000 }
      : { ...base, _tag: "Escalated", reason: { _tag: "Error", message: "gave up" } }
    rec.supervision(e)
  }
  return rec.snapshot()
}

/** A restart: ChildStarted + ChildRestarted at `at`. */
const restart = (at: number, id: string) => [[at, "start", id], [at, "restarted", id]] as const

describe("Checkers.restartsWithinPolicy", () => {
  it("passes for immediate first restarts, doubling backoff honoured, and escalation after `intensity` restarts", () => {
    const h = sup([
      [0, "start", "a"],
      [0, "start", "b"],
      [10, "exit", "a"],
      ...restart(10, "a"), // first failure: at once
      [20, "exit", "a"],
      [20, "schedule", ["a"], 100],
      ...restart(120, "a"),
      [130, "exit", "a"],
      [130, "schedule", ["a"], 200],
      ...restart(330, "a"),
      [340, "exit", "a"], // 4th restart within 1000 ms, intensity 3
      [340, "intensity", 4],
      [340, "escalated"]
    ])
    assertValid(Checkers.restartsWithinPolicy(h, { policy: policy(), toleranceMillis: 0 }))
  })

  it("the backoff resets after a quiet period, and restarts spread over more than the period do not escalate", () => {
    const h = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [10, "exit", "a"],
      [10, "schedule", ["a"], 100],
      ...restart(110, "a"),
      [6000, "exit", "a"], // quiet for > 5000 ms: at once again
      ...restart(6000, "a"),
      [7100, "exit", "a"], // 1100 ms later: not quiet, the streak continues (delay 100·2^2)
      [7100, "schedule", ["a"], 200],
      ...restart(7300, "a")
    ])
    // after the reset the streak starts again: the exit at 7100 is its 2nd failure → 100 ms, not 200
    const r = Checkers.restartsWithinPolicy(h, { policy: policy({ intensity: 2 }), toleranceMillis: 0 })
    assertViolation(r, "restartsWithinPolicy", /scheduled its restart in 200 ms, longer than the policy's 100 ms/, 1)
    const fixed = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [10, "exit", "a"],
      [10, "schedule", ["a"], 100],
      ...restart(110, "a"),
      [6000, "exit", "a"],
      ...restart(6000, "a"),
      [7100, "exit", "a"],
      [7100, "schedule", ["a"], 100],
      ...restart(7200, "a")
    ])
    assertValid(Checkers.restartsWithinPolicy(fixed, { policy: policy({ intensity: 2 }), toleranceMillis: 0 }))
  })

  it("fails for a restart before its backoff: the timer not honoured", () => {
    const h = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [20, "exit", "a"],
      [20, "schedule", ["a"], 100],
      ...restart(70, "a")
    ])
    assertViolation(
      Checkers.restartsWithinPolicy(h, { policy: policy() }),
      "restartsWithinPolicy",
      /sup: child a restarted at t=70, 50 ms after the exit at t=20, before its backoff of 100 ms was over \(due at t=120\)/,
      1
    )
  })

  it("fails for a restart before its backoff: a delay shorter than the policy's, or none", () => {
    const shorter = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [20, "exit", "a"],
      [20, "schedule", ["a"], 40],
      ...restart(60, "a")
    ])
    assertViolation(
      Checkers.restartsWithinPolicy(shorter, { policy: policy({ backoff: { jitter: 0.2 } }) }),
      "restartsWithinPolicy",
      /restart before its backoff: after child a's exit \(Error\) at t=20 the supervisor scheduled its restart in 40 ms, but the policy requires a delay of 80\.\.120 ms/,
      1
    )
    const none = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [20, "exit", "a"],
      ...restart(20, "a")
    ])
    assertViolation(Checkers.restartsWithinPolicy(none, { policy: policy() }), "restartsWithinPolicy", /restarted it at once, but the policy requires a delay of 100 ms/, 1)
  })

  it("accepts any delay within the jitter range", () => {
    for (const delay of [80, 100, 120]) {
      const h = sup([[0, "start", "a"], [0, "exit", "a"], ...restart(0, "a"), [5, "exit", "a"], [5, "schedule", ["a"], delay], ...restart(5 + delay, "a")])
      assertValid(Checkers.restartsWithinPolicy(h, { policy: policy({ backoff: { jitter: 0.2 } }), toleranceMillis: 0 }), `delay ${delay}`)
    }
  })

  it("fails for a missing IntensityExceeded", () => {
    const h = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [10, "exit", "a"],
      ...restart(10, "a"),
      [20, "exit", "a"],
      ...restart(20, "a")
    ])
    const r = Checkers.restartsWithinPolicy(h, { policy: policy({ intensity: 2, backoff: undefined }) })
    assertViolation(
      r,
      "restartsWithinPolicy",
      /sup: missing IntensityExceeded: child a's exit \(Error\) at t=20 makes 3 restarts within 1000 ms, more than the intensity 2, so the supervisor should have given up — but its next event is #\d+ t=20 sup: ChildStarted a/,
      1
    )
  })

  it("fails for an unexpected IntensityExceeded", () => {
    const h = sup([
      [0, "start", "a"],
      [0, "exit", "a"],
      ...restart(0, "a"),
      [2000, "exit", "a"],
      [2000, "intensity", 2],
      [2000, "escalated"]
    ])
    assertViolation(
      Checkers.restartsWithinPolicy(h, { policy: policy({ intensity: 1, backoff: undefined }) }),
      "restartsWithinPolicy",
      /sup gave up \(IntensityExceeded, 2 restarts\) after child a's exit \(Error\) at t=2000, but the policy allows it: the replay counts 1 restart\(s\) within 1000 ms, intensity is 1/,
      1
    )
  })

  it("restart types: temporary and normally-exiting transient children are not restarted; restarting them is a violation", () => {
    const ok = sup([
      [0, "start", "t"],
      [0, "start", "tr"],
      [5, "exit", "t"],
      [6, "exit", "tr", { _tag: "Normal" }],
      [7, "exit", "tr", { _tag: "Error", message: "x" }],
      ...restart(7, "tr")
    ])
    const restartTypes = { t: "temporary", tr: "transient" } as const
    assertValid(Checkers.restartsWithinPolicy(ok, { policy: policy({ intensity: 1 }), restartTypes, toleranceMillis: 0 }))
    const bad = sup([[0, "start", "t"], [5, "exit", "t"], ...restart(5, "t")])
    assertViolation(
      Checkers.restartsWithinPolicy(bad, { policy: policy(), restartTypes }),
      "restartsWithinPolicy",
      /unexpected restart of child t at t=5: no exit that the policy restarts preceded it \(restart type temporary\)/,
      1
    )
  })

  it("group restarts (one_for_all) and a failed restart counting as a failure", () => {
    const h = sup([
      [0, "start", "a"],
      [0, "start", "b"],
      [0, "exit", "b"],
      ...restart(0, "a"),
      ...restart(0, "b"),
      [10, "exit", "b"],
      [10, "schedule", ["a", "b"], 100],
      ...restart(110, "a"),
      [110, "startFailed", "b"], // the restart fails: b's 3rd failure in its streak → 200 ms
      [110, "schedule", ["a", "b"], 200],
      ...restart(310, "a"),
      ...restart(310, "b")
    ])
    assertValid(Checkers.restartsWithinPolicy(h, { policy: policy({ strategy: "one_for_all", intensity: 5 }), toleranceMillis: 0 }))
    // the failed attempt is a's first failure: the group may restart at once
    const early = sup([
      [0, "start", "a"],
      [0, "start", "b"],
      [0, "exit", "b"],
      ...restart(0, "a"),
      ...restart(0, "b"),
      [10, "exit", "b"],
      [10, "schedule", ["a", "b"], 100],
      [110, "startFailed", "a"], // a's first failure: restart at once is allowed, b is still due
      ...restart(110, "a"),
      ...restart(110, "b")
    ])
    assertValid(Checkers.restartsWithinPolicy(early, { policy: policy({ strategy: "one_for_all", intensity: 5 }), toleranceMillis: 0 }))
  })

  it("supervisors without a policy are not checked", () => {
    const h = sup([[0, "start", "a"], [0, "exit", "a"], [0, "intensity", 9]])
    assertValid(Checkers.restartsWithinPolicy(h, { policy: () => undefined }))
  })
})

describe("Checkers.restartsWithinPolicy against a real Supervisor (TestClock)", () => {
  /** Records every supervision event of `system` (subscription live when this returns). */
  const recordSupervision = Effect.fnUntraced(function*(system: ActorSystemShape, rec: History.Recorder) {
    let live = false
    const mark: SupervisionEvent = { _tag: "ChildStartFailed", supervisor: "test/marker", at: -1, childId: "m", message: "marker" }
    yield* system.supervisionEvents.pipe(
      Stream.runForEach((e) => Effect.sync(() => (e === mark ? (live = true) : rec.supervision(e)))),
      Effect.forkChild
    )
    for (let i = 0; i < 100 && !live; i++) {
      kernelOf(system).publishEvent(mark)
      yield* Effect.yieldNow
    }
    assert.isTrue(live, "subscription never became live")
  })

  it.effect("a crash-looping child: backoff, then escalation — valid under its policy, invalid under others", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const rec = yield* History.makeEffect
      yield* recordSupervision(system, rec)
      const probe = new Probe()
      const options = { intensity: 4, period: "10 seconds", backoff: { initial: "100 millis", factor: 2, max: "1 second", jitter: 0.2 } } as const
      const sup = yield* system.spawn(Supervisor.make({ ...options, children: [workerSpec("a", probe), workerSpec("b", probe)] }))
      const escalated = () => rec.snapshot().entries.some((e) => e._tag === "Supervision" && e.event._tag === "IntensityExceeded")
      for (let i = 0; i < 10; i++) {
        const ref = probe.ref("a")
        yield* ref.tell(Worker.Crash())
        yield* system.awaitExit(ref)
        yield* settle()
        if (escalated()) break
        yield* Supervisor.whichChildren(sup)
        yield* TestClock.adjust("1500 millis")
        yield* settle()
      }
      yield* system.awaitExit(sup)
      const h = rec.snapshot()
      const tags = h.entries.map((e) => (e._tag === "Supervision" ? e.event._tag : e._tag))
      assert.includeMembers(tags, ["RestartScheduled", "IntensityExceeded", "Escalated"])
      const own: RP.Policy = {
        strategy: "one_for_one",
        intensity: 4,
        periodMillis: 10_000,
        backoff: { initialMillis: 100, maxMillis: 1000, factor: 2, jitter: 0.2, resetAfterMillis: 5000 }
      }
      const only = (p: RP.Policy) => (s: string) => (s === sup.key ? p : undefined)
      assertValid(Checkers.restartsWithinPolicy(h, { policy: only(own), toleranceMillis: 0 }), History.describe(h.entries[0]!))
      assertViolation(
        Checkers.restartsWithinPolicy(h, { policy: only({ ...own, intensity: 10 }) }),
        "restartsWithinPolicy",
        /gave up \(IntensityExceeded, 5 restarts\) .* but the policy allows it/
      )
      assertViolation(
        Checkers.restartsWithinPolicy(h, { policy: only({ ...own, intensity: 2 }) }),
        "restartsWithinPolicy",
        /missing IntensityExceeded/
      )
      assertViolation(
        Checkers.restartsWithinPolicy(h, { policy: only({ ...own, backoff: { ...own.backoff!, initialMillis: 500 } }) }),
        "restartsWithinPolicy",
        /restart before its backoff/
      )
    }).pipe(Effect.provide(ActorSystem.layer())))
})

// ---------------------------------------------------------------------------------------------
// 7-8: buffers, liveness
// ---------------------------------------------------------------------------------------------

describe("Checkers.boundedBuffers", () => {
  it("passes when every sample is within its bound (recorded or declared); unbounded buffers are not checked", () => {
    const { rec } = recorder()
    rec.sample("mailbox:a", 4096, 4096)
    rec.sample("outbound:n2", 10)
    rec.sample("unbounded", 1e9)
    assertValid(Checkers.boundedBuffers(rec.snapshot(), { bounds: { "outbound:n2": 100 } }))
  })

  it("fails for an oversized buffer: one violation per buffer with its count and largest sample", () => {
    const { rec, at } = recorder()
    for (let i = 0; i < 10; i++) {
      at(i * 10)
      rec.sample("outbound:n2", [5, 50, 120, 80, 150, 101, 20, 0, 130, 3][i]!)
      rec.sample("mailbox:a", 1, 16)
    }
    const r = Checkers.boundedBuffers(rec.snapshot(), { bounds: { "outbound:n2": 100 } })
    assertViolation(r, "boundedBuffers", /buffer outbound:n2 exceeded its bound of 100: 4 of 10 samples over it, first at t=20 \(size 120\), largest 150 at t=40/, 1)
  })
})

describe("Checkers.livenessAfterHeal", () => {
  const build = (upAt: number, completeAt: number | undefined) => {
    const { rec, at } = recorder()
    rec.nodeUp("n2", "n1")
    rec.nodeUp("n1", "n2")
    at(100)
    rec.fault("partition n1 | n2")
    rec.nodeDown("n2", "n1")
    rec.nodeDown("n1", "n2")
    const done = rec.invoke("c", { f: "ask" }) // completes before the heal: not pending
    const op = rec.invoke("c", { f: "submit", value: "job-1" })
    at(500)
    rec.ok(done)
    at(1000)
    rec.heal()
    at(upAt)
    rec.nodeUp("n2", "n1")
    rec.nodeUp("n1", "n2")
    if (completeAt !== undefined) {
      at(completeAt)
      rec.ok(op)
    }
    at(5000)
    rec.sample("x", 0) // the history goes on
    return rec.snapshot()
  }

  it("passes when links come back and pending operations complete within the bound", () => {
    assertValid(Checkers.livenessAfterHeal(build(1400, 1900), { withinMillis: 1000 }))
  })

  it("fails for a link that is not up again in time", () => {
    const r = Checkers.livenessAfterHeal(build(2500, 1900), { withinMillis: 1000 })
    assertViolation(r, "livenessAfterHeal", /link n1 → n2 still down at t=2000 \(heal at t=1000 \+ 1000 ms\): NodeDown at t=100, up again only at t=2500, 1500 ms after the heal/, 2)
  })

  it("fails for a pending operation that completes late or never", () => {
    assertViolation(
      Checkers.livenessAfterHeal(build(1400, 2100), { withinMillis: 1000 }),
      "livenessAfterHeal",
      /op 1 \(c submit, invoked at t=100\) was pending at the heal \(t=1000\) and completed \(ok\) only at t=2100, 1100 ms after the heal, later than 1000 ms/,
      1
    )
    assertViolation(Checkers.livenessAfterHeal(build(1400, undefined), { withinMillis: 1000 }), "livenessAfterHeal", /op 1 .* never completed$/, 1)
  })

  it("ignored nodes, explicit links, and a history without a heal", () => {
    assertValid(Checkers.livenessAfterHeal(build(2500, 1900), { withinMillis: 1000, ignoreNodes: ["n2"] }))
    assertViolation(
      Checkers.livenessAfterHeal(build(1400, 1900), { withinMillis: 1000, links: [{ observer: "n1", node: "n3" }] }),
      "livenessAfterHeal",
      /link n1 → n3 never seen up by t=2000/,
      1
    )
    assertViolation(Checkers.livenessAfterHeal(recorder().rec.snapshot(), { withinMillis: 1 }), "livenessAfterHeal", /no heal/)
  })
})

// ---------------------------------------------------------------------------------------------
// checkAll, format
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 9. reliableDelivery
// ---------------------------------------------------------------------------------------------

describe("Checkers.reliableDelivery", () => {
  /** a message accepted by producer channel `channel` for `consumer` */
  const offer = (rec: History.Recorder, channel: string, seq: number, consumer = "c") =>
    rec.invoke(channel, { f: "offer", value: seq, message: { id: `${channel}#${seq}`, to: consumer, from: channel, seq } })
  /** the consumer's handler completed the message */
  const processed = (rec: History.Recorder, channel: string, seq: number, consumer = "c") =>
    rec.deliver(consumer, `${channel}#${seq}`, channel, seq)

  /** two interleaved channels into one consumer, with every kind of outcome */
  const valid = () => {
    const { rec, at } = recorder()
    const ops = [1, 2, 3, 4, 5, 6].map((seq) => offer(rec, "p", seq))
    const q1 = offer(rec, "q", 1)
    at(10)
    processed(rec, "p", 1)
    processed(rec, "q", 1)
    processed(rec, "p", 2)
    at(20)
    rec.ok(ops[0]!)
    rec.ok(q1)
    rec.ok(ops[1]!)
    at(30)
    processed(rec, "p", 4) // in flight when 3 and 4 time out: 3 is skipped, 4 was processed
    rec.info(ops[2]!, "DeliveryTimeout")
    rec.info(ops[3]!, "DeliveryTimeout")
    rec.fail(ops[4]!, "MessageRejected") // the handler never ran
    at(40)
    processed(rec, "p", 6)
    at(50)
    rec.ok(ops[5]!)
    return { rec, at, ops }
  }

  it("passes for a channel where every message is processed at most once, in order, each with one outcome", () => {
    const { rec } = valid()
    assertValid(Checkers.reliableDelivery(rec.snapshot(), { unknownSettleMillis: 0 }))
  })

  it("catches a duplicate: a message processed twice (a resend not de-duplicated)", () => {
    const { rec, at } = valid()
    at(60)
    processed(rec, "p", 2)
    assertViolation(Checkers.reliableDelivery(rec.snapshot()), "reliableDelivery", /^duplicate: p#2 from p processed 2 times by c \(at t=10, t=60\)/, 1)
  })

  it("catches a reorder: a message processed after a later one of its channel", () => {
    const { rec, at } = recorder()
    const ops = [1, 2, 3].map((seq) => offer(rec, "p", seq))
    at(5)
    processed(rec, "p", 1)
    processed(rec, "p", 3)
    processed(rec, "p", 2)
    at(9)
    ops.forEach((op) => rec.ok(op))
    assertViolation(Checkers.reliableDelivery(rec.snapshot()), "reliableDelivery", /^reorder: p → c: seq 2 \(p#2\) processed at t=5 after seq 3/, 1)
  })

  it("catches a phantom: a message never offered, or processed under another seq, channel or consumer", () => {
    const { rec, at } = valid()
    at(60)
    processed(rec, "p", 7) // never offered
    rec.deliver("c", "q#1", "q", 2) // q#1 under seq 2 (and a duplicate of q#1)
    rec.deliver("other", "p#6", "p", 6) // another consumer
    const r = Checkers.reliableDelivery(rec.snapshot())
    assertViolation(r, "reliableDelivery", /^phantom: p#7 from p processed by c as seq 7 at t=60: never offered/)
    assertViolation(r, "reliableDelivery", /^phantom: q#1 .* as seq 2 .*but it was offered as seq 1/)
    assertViolation(r, "reliableDelivery", /^phantom: p#6 .*processed by other.*but it was offered to c/)
    assert.strictEqual(violationsOf(r).filter((v) => v.detail.startsWith("phantom")).length, 3)
  })

  it("catches a lost confirmed message (and one confirmed before its handler completed)", () => {
    const { rec, at } = recorder()
    const [a, b] = [1, 2].map((seq) => offer(rec, "p", seq))
    at(5)
    rec.ok(a!) // confirmed before processing
    processed(rec, "p", 1)
    rec.ok(b!) // never processed: a crashed handler run does not count
    const r = Checkers.reliableDelivery(rec.snapshot())
    assertViolation(r, "reliableDelivery", /^lost: p#2 \(message p#2\) was confirmed at t=5 but never processed by c/)
    assertViolation(r, "reliableDelivery", /^confirmed early: p#1/)
    assert.strictEqual(violationsOf(r).length, 2)
  })

  it("catches an unreported message: offered, never confirmed nor failed", () => {
    const { rec, at } = valid()
    offer(rec, "p", 7)
    at(100)
    assertViolation(
      Checkers.reliableDelivery(rec.snapshot()),
      "reliableDelivery",
      /^unreported: p#7 \(message p#7\), offered at t=50, has no outcome by the end of the history \(t=100\)/,
      1
    )
  })

  it("catches a rejected message that was processed", () => {
    const { rec, at } = valid()
    at(60)
    processed(rec, "p", 5) // also out of order after 6
    const r = Checkers.reliableDelivery(rec.snapshot())
    assertViolation(r, "reliableDelivery", /^processed rejected: p#5/)
    assertViolation(r, "reliableDelivery", /^reorder: p → c: seq 5/)
  })

  it("with unknownSettleMillis: a timed-out message may be processed by a copy in flight, not later", () => {
    const { rec, at } = valid()
    at(40)
    processed(rec, "p", 3) // 10 ms after the timeout report of p#3 (and after p#4: a reorder too)
    const h = rec.snapshot()
    assertViolation(Checkers.reliableDelivery(h, { unknownSettleMillis: 5 }), "reliableDelivery", /^processed after timeout: p#3 .*reported undeliverable at t=30 but c processed it at t=40, 10 ms later/)
    const within = violationsOf(Checkers.reliableDelivery(h, { unknownSettleMillis: 10 }))
    assert.deepStrictEqual(within.map((v) => v.detail.split(":")[0]), ["reorder"])
  })

  it("liveness: every message pending at the heal (or offered after it) gets its outcome within the bound", () => {
    const { rec, at } = recorder()
    const a = offer(rec, "p", 1)
    const b = offer(rec, "p", 2)
    at(100)
    rec.heal()
    at(150)
    const c = offer(rec, "p", 3)
    at(180)
    processed(rec, "p", 1)
    rec.ok(a)
    at(400)
    processed(rec, "p", 2)
    processed(rec, "p", 3)
    rec.ok(b)
    rec.ok(c)
    const h = rec.snapshot()
    assertValid(Checkers.reliableDelivery(h, { liveness: { withinMillis: 300 } }))
    const r = Checkers.reliableDelivery(h, { liveness: { withinMillis: 200 } })
    assertViolation(r, "reliableDelivery", /^late: p#2 .*got its outcome \(ok\) only at t=400, 300 ms later \(bound: 200 ms\)/)
    assertViolation(r, "reliableDelivery", /^late: p#3 .*offered at t=150.*only at t=400, 250 ms later/)
    assert.strictEqual(violationsOf(r).length, 2)
  })

  it("liveness with deadlineMillis: a message whose deadline is after the recovery bound must be confirmed", () => {
    const { rec, at } = recorder()
    const expired = offer(rec, "p", 1) // deadline t=150: may expire during the recovery
    at(100)
    rec.heal()
    at(150)
    rec.info(expired, "DeliveryTimeout")
    const stuck = offer(rec, "p", 2) // deadline t=300, after the recovery bound (t=150)
    at(300)
    rec.info(stuck, "DeliveryTimeout")
    const r = Checkers.reliableDelivery(rec.snapshot(), { liveness: { withinMillis: 50, deadlineMillis: 150 } })
    assertViolation(
      r,
      "reliableDelivery",
      /^not confirmed: p#2 .*offered at t=150, was reported undeliverable at t=300 \(DeliveryTimeout\), but its deadline \(t=300\) is after the recovery bound \(heal at t=100 \+ 50 ms\)/,
      1
    )
  })

  it("is listed among the rules and exported by the testing barrel", () => {
    assert.include(Checkers.rules, "reliableDelivery")
    assert.strictEqual(Testing.Checkers.reliableDelivery, Checkers.reliableDelivery)
  })
})

describe("Checkers.checkAll and format", () => {
  it("runs the applicable checkers: all valid", () => {
    const { rec, at } = recorder()
    const a = send(rec, "p", "b", "m1", 1)
    at(1)
    rec.deliver("b", "m1", "p", 1)
    rec.ok(a)
    rec.sample("mailbox:b", 1, 10)
    const r = Checkers.checkAll(rec.snapshot(), { watchers: { deadlineMillis: 10 } })
    assert.isTrue(r.valid)
    assert.deepStrictEqual(r.checked, ["noLostAcknowledged", "noDuplicates", "perPairFifo", "noPhantoms", "boundedBuffers"])
    assert.strictEqual(Checkers.format(r), "valid (noLostAcknowledged, noDuplicates, perPairFifo, noPhantoms, boundedBuffers)")
  })

  it("collects every violation, and format prints them with rule, detail and entries", () => {
    const { rec, at } = recorder()
    const a = send(rec, "p", "b", "m1", 1)
    const b = send(rec, "p", "b", "m2", 2)
    at(3)
    rec.deliver("b", "m2", "p", 2)
    rec.deliver("b", "m2", "p", 2)
    rec.ok(a)
    rec.ok(b)
    rec.sample("q", 11, 10)
    rec.supervision({ _tag: "ChildStarted", supervisor: "s", at: 3, childId: "c", actor: "c1" })
    rec.supervision({ _tag: "ChildRestarted", supervisor: "s", at: 3, childId: "c", actor: "c1", restarts: 1 })
    rec.heal()
    at(10_000)
    const r = Checkers.checkAll(rec.snapshot(), { restarts: { policy: RP.defaults }, liveness: { withinMillis: 1000 }, fifo: { allowGaps: false } })
    assert.isFalse(r.valid)
    assert.deepStrictEqual(violationsOf(r).map((v) => v.rule), [
      "noLostAcknowledged",
      "noDuplicates",
      "perPairFifo",
      "perPairFifo",
      "restartsWithinPolicy",
      "boundedBuffers"
    ])
    assert.isFalse(r.results.noDuplicates!.valid)
    assert.isTrue(r.results.noPhantoms!.valid)
    assert.isTrue(r.results.livenessAfterHeal!.valid)
    const text = Checkers.format(r)
    assert.match(text, /^INVALID: 6 violations \(noLostAcknowledged, noDuplicates, perPairFifo, noPhantoms, restartsWithinPolicy, boundedBuffers, livenessAfterHeal\)/)
    assert.include(text, "  1. [noLostAcknowledged] message m1 from p to b was acknowledged (op 0 ok at t=3) but never delivered")
    assert.include(text, "       #0 t=0 p :invoke send \"m1\" (op 0) [message m1 → b seq 1]")
    assert.include(text, "       #3 t=3 deliver m2 p → b seq 2")
    assert.include(text, "[boundedBuffers] buffer q exceeded its bound of 10")
    assert.include(text, "       #8 t=3 s: ChildRestarted c (restart #1)")
    const skipped = Checkers.checkAll(rec.snapshot(), { skip: ["noDuplicates", "perPairFifo", "noLostAcknowledged", "boundedBuffers"] })
    assert.isTrue(skipped.valid, Checkers.format(skipped))
    assert.match(Checkers.format(r, { maxViolations: 2 }), /\.\.\. and 4 more$/)
  })
})

// ---------------------------------------------------------------------------------------------
// property tests
// ---------------------------------------------------------------------------------------------

/** cases per property (CHECKERS_RUNS=... for a longer run) */
const RUNS = Math.max(1000, Number(process.env.CHECKERS_RUNS ?? 0))


const BASE_SEED = process.env.CHECKERS_SEED ? Number(process.env.CHECKERS_SEED) >>> 0 : (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0
const ONLY_CASE = process.env.CHECKERS_CASE ? Number(process.env.CHECKERS_CASE) : undefined
const caseSeed = (i: number) => {
  let z = (BASE_SEED + Math.imul(i + 1, 0x9e3779b9)) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/** Runs `property` for RUNS cases (returns how many ran); a failure names the seed and case. */
const forAll = (name: string, property: (rng: Rng, i: number) => void, runs = RUNS): number => {
  let ran = 0
  for (let i = 0; i < runs; i++) {
    if (ONLY_CASE !== undefined && i !== ONLY_CASE) continue
    try {
      property(new Rng(caseSeed(i)), i)
    } catch (e) {
      const message = `property "${name}" failed at case ${i}: reproduce with CHECKERS_SEED=${BASE_SEED} CHECKERS_CASE=${i}`
      console.error(message)
      throw new Error(`${message}\n${e instanceof Error ? e.message : String(e)}`, { cause: e })
    }
    ran++
  }
  return ran
}

/**
 * A history of senders and receivers over simulated FIFO channels (one per pair): sends get
 * per-pair seqs; the channel delivers in order, dropping messages with probability `drop`
 * (at most once); a sender is acknowledged (`ok`) only for delivered messages, and learns
 * nothing (`info` or still pending) about dropped ones.
 */
const channelHistory = (rng: Rng, drop: number) => {
  const clock = History.manualClock()
  const rec = History.make({ now: clock.now })
  const senders = Array.from({ length: rng.int(1, 3) }, (_, i) => `s${i}`)
  const receivers = Array.from({ length: rng.int(1, 3) }, (_, i) => `r${i}`)
  const channels = new Map<string, Array<{ op: number; id: string; from: string; to: string; seq: number }>>()
  const seqs = new Map<string, number>()
  const delivered: Array<number> = []
  const dropped: Array<number> = []
  const acked = new Set<string>()
  let n = 0
  const steps = rng.int(5, 120)
  for (let step = 0; step < steps; step++) {
    clock.advance(rng.int(0, 5))
    const action = rng.float()
    const busy = Array.from(channels.values()).filter((q) => q.length > 0)
    if (action < 0.4 || busy.length === 0) {
      const from = rng.pick(senders)
      const to = rng.pick(receivers)
      const pair = `${from}>${to}`
      const seq = (seqs.get(pair) ?? 0) + 1
      seqs.set(pair, seq)
      const id = `m${n++}`
      const op = rec.invoke(from, { f: "send", value: id, message: { id, to, seq } })
      const q = channels.get(pair) ?? []
      q.push({ op, id, from, to, seq })
      channels.set(pair, q)
    } else if (action < 0.8) {
      const m = rng.pick(busy).shift()!
      if (rng.bool(drop)) {
        dropped.push(m.op)
      } else {
        rec.deliver(m.to, m.id, m.from, m.seq)
        delivered.push(m.op)
      }
    } else if (action < 0.95 && delivered.length > 0) {
      const op = delivered.splice(rng.int(0, delivered.length - 1), 1)[0]!
      rec.ok(op)
      acked.add(String(op))
    } else if (dropped.length > 0 || delivered.length > 0) {
      // a timeout: the outcome is unknown (the message may or may not have been delivered)
      const list = dropped.length > 0 && (delivered.length === 0 || rng.bool()) ? dropped : delivered
      rec.info(list.splice(rng.int(0, list.length - 1), 1)[0]!, "timeout")
    }
  }
  return rec.snapshot()
}

/** Rebuilds a history from edited entries. */
const edit = (h: History.History, f: (entries: Array<History.Entry>) => void): History.History => {
  const entries = h.entries.slice()
  f(entries)
  return History.fromEntries(entries, h.end)
}

const deliveryIndexes = (h: History.History) =>
  h.entries.flatMap((e, i) => (e._tag === "Deliver" ? [i] : []))

describe("properties: message checkers over simulated at-most-once FIFO channels", () => {
  it("generated histories (with random drops) pass every message checker", () => {
    const ran = forAll("valid at-most-once histories pass", (rng) => {
      const h = channelHistory(rng, rng.pick([0, 0.1, 0.3, 0.6]))
      const r = Checkers.checkAll(h)
      assert.isTrue(r.valid, Checkers.format(r))
    })
    assert.isAtLeast(ran, ONLY_CASE === undefined ? RUNS : 1)
  })

  it("generated histories without drops pass perPairFifo without gaps", () => {
    forAll("lossless histories have no gaps", (rng) => {
      const r = Checkers.checkAll(channelHistory(rng, 0), { fifo: { allowGaps: false } })
      assert.isTrue(r.valid, Checkers.format(r))
    })
  })

  it("duplicating one delivery is caught by noDuplicates (and perPairFifo)", () => {
    let mutated = 0
    forAll("a duplicated delivery is caught", (rng) => {
      const h = channelHistory(rng, 0.2)
      const ds = deliveryIndexes(h)
      if (ds.length === 0) return
      const i = rng.pick(ds)
      const j = rng.int(i + 1, h.entries.length)
      const bad = edit(h, (es) => es.splice(j, 0, es[i]!))
      mutated++
      const d = h.entries[i] as History.DeliverEntry
      assertViolation(Checkers.noDuplicates(bad), "noDuplicates", new RegExp(`message ${d.messageId} from ${d.from} delivered 2 times to ${d.receiver}`), 1)
      assert.isFalse(Checkers.perPairFifo(bad).valid)
    })
    assert.isAbove(mutated, RUNS * 0.8)
  })

  it("swapping two deliveries of a pair is caught by perPairFifo as a reordering", () => {
    let mutated = 0
    forAll("a swapped pair of deliveries is caught", (rng) => {
      const h = channelHistory(rng, 0.2)
      const byPair = new Map<string, Array<number>>()
      for (const i of deliveryIndexes(h)) {
        const d = h.entries[i] as History.DeliverEntry
        const k = `${d.from}>${d.receiver}`
        byPair.set(k, [...(byPair.get(k) ?? []), i])
      }
      const pairs = Array.from(byPair.values()).filter((l) => l.length >= 2)
      if (pairs.length === 0) return
      const list = rng.pick(pairs)
      const x = rng.int(0, list.length - 2)
      const y = rng.int(x + 1, list.length - 1)
      const [i, j] = [list[x]!, list[y]!]
      const bad = edit(h, (es) => {
        const t = es[i]!
        es[i] = es[j]!
        es[j] = t
      })
      mutated++
      assertViolation(Checkers.perPairFifo(bad), "perPairFifo", /reordered/)
      assert.isTrue(Checkers.noDuplicates(bad).valid)
    })
    assert.isAbove(mutated, RUNS * 0.5)
  })

  it("removing an acknowledged delivery is caught by noLostAcknowledged; a gap by perPairFifo without gaps", () => {
    let mutated = 0
    forAll("a lost acknowledged delivery is caught", (rng) => {
      const h = channelHistory(rng, 0)
      const okIds = new Set(h.operations.filter((o) => o.completion?.type === "ok").map((o) => o.message!.id))
      const candidates = deliveryIndexes(h).filter((i) => okIds.has((h.entries[i] as History.DeliverEntry).messageId))
      if (candidates.length === 0) return
      const i = rng.pick(candidates)
      const d = h.entries[i] as History.DeliverEntry
      const bad = edit(h, (es) => es.splice(i, 1))
      mutated++
      assertViolation(Checkers.noLostAcknowledged(bad), "noLostAcknowledged", new RegExp(`message ${d.messageId} from ${d.from} to ${d.receiver} was acknowledged`), 1)
      // a later delivery on the pair leaves a gap (in the middle, or before the first delivery)
      const later = h.entries.some((e, k) => k > i && e._tag === "Deliver" && e.from === d.from && e.receiver === d.receiver)
      if (later) assertViolation(Checkers.perPairFifo(bad, { allowGaps: false }), "perPairFifo", /gap/)
      assert.isTrue(Checkers.perPairFifo(bad).valid)
    })
    assert.isAbove(mutated, RUNS * 0.5)
  })

  it("renaming a delivered message is caught by noPhantoms", () => {
    forAll("a phantom delivery is caught", (rng) => {
      const h = channelHistory(rng, 0.2)
      const ds = deliveryIndexes(h)
      if (ds.length === 0) return
      const i = rng.pick(ds)
      const mutation = rng.int(0, 2)
      const bad = edit(h, (es) => {
        const d = es[i] as History.DeliverEntry
        es[i] = mutation === 0
          ? { ...d, messageId: `ghost-${rng.u32()}` }
          : mutation === 1
          ? { ...d, receiver: `${d.receiver}-elsewhere` }
          : { ...d, seq: d.seq! + 1000 }
      })
      assertViolation(Checkers.noPhantoms(bad), "noPhantoms", [/no operation sent/, /it was sent to/, /it was sent with seq/][mutation]!, 1)
    })
  })
})

/**
 * A supervisor simulated on top of `RP.decide`, publishing events as the Supervisor
 * actor does: random crashes (abnormal and normal) of running children, restarts at once or
 * after a scheduled delay, start failures during restarts, escalation (after which a fresh
 * incarnation starts). Records which restarts were delayed and which exits escalated.
 */
const supervisorHistory = (rng: Rng) => {
  const strategy = rng.pick(["one_for_one", "one_for_all", "rest_for_one"] as const)
  const pol: RP.Policy = {
    strategy,
    intensity: rng.int(1, 5),
    periodMillis: rng.int(50, 500),
    backoff: rng.bool(0.2) ? undefined : {
      initialMillis: rng.int(5, 50),
      maxMillis: rng.int(50, 400),
      factor: rng.pick([1.5, 2, 3]),
      jitter: rng.pick([0, 0.1, 0.3]),
      resetAfterMillis: rng.int(100, 1000)
    }
  }
  const specs = Array.from({ length: rng.int(1, 4) }, (_, i) => ({
    id: `c${i}`,
    restart: rng.pick(["permanent", "permanent", "transient", "temporary"] as const)
  }))
  const restartTypes = Object.fromEntries(specs.map((s) => [s.id, s.restart]))
  const events: Array<SupervisionEvent> = []
  /** ChildStarted of the failed child's delayed restart, by its own timer */
  const delayed: Array<{ index: number; failedAt: number; delay: number }> = []
  const schedules: Array<number> = [] // RestartScheduled indexes
  const restartExits: Array<number> = [] // exits the policy restarted
  type C = { id: string; restart: RP.RestartType; status: "running" | "stopped" | "restarting" }
  type Timer = { due: number; ids: Array<string>; failed: string; failedAt: number; delay: number }
  let children: Array<C> = []
  let history = RP.emptyHistory
  let timers: Array<Timer> = []
  let t = 0
  const S = "sup"
  const startAll = () => {
    children = specs.map((s) => ({ ...s, status: "running" }))
    history = RP.emptyHistory
    timers = []
    for (const c of children) events.push({ _tag: "ChildStarted", supervisor: S, at: t, childId: c.id, actor: c.id })
  }
  const onExit = (c: C, reason: Parameters<typeof RP.decide>[3], now: number, exitIndex: number): void => {
    const infos = children.map((x) => ({ id: x.id, restart: x.restart, running: x.status === "running" }))
    const [d, next] = RP.decide(pol, infos, c.id, reason, now, history, rng.float())
    history = next
    if (d._tag === "NoRestart") {
      children = children.filter((x) => !d.remove.includes(x.id))
      return
    }
    if (d._tag === "Escalate") {
      events.push({ _tag: "IntensityExceeded", supervisor: S, at: now, restarts: d.restarts, periodMillis: pol.periodMillis })
      events.push({ _tag: "Escalated", supervisor: S, at: now, reason: { _tag: "Error", message: "gave up" } })
      t = Math.max(t, now) + rng.int(1, 100) // a new incarnation, started by the parent
      startAll()
      return
    }
    restartExits.push(exitIndex)
    for (const id of d.stop) {
      const x = children.find((x) => x.id === id)
      if (x !== undefined) x.status = "stopped"
    }
    children = children.filter((x) => !d.remove.includes(x.id))
    for (const id of d.start) {
      const x = children.find((x) => x.id === id)
      if (x !== undefined) x.status = "restarting"
    }
    // the failed child waits for this decision's delay: earlier timers no longer restart it
    for (const timer of timers) timer.ids = timer.ids.filter((id) => id !== c.id)
    if (d.delayMillis > 0) {
      schedules.push(events.length)
      events.push({ _tag: "RestartScheduled", supervisor: S, at: now, childIds: d.start, delayMillis: d.delayMillis })
      timers.push({ due: now + d.delayMillis, ids: [...d.start], failed: c.id, failedAt: now, delay: d.delayMillis })
      return
    }
    restartGroup(d.start, now, undefined)
  }
  const restartGroup = (ids: ReadonlyArray<string>, now: number, timer: Timer | undefined): void => {
    for (const id of ids) {
      const c = children.find((x) => x.id === id)
      if (c === undefined || c.status !== "restarting") continue
      if (rng.bool(0.1)) {
        c.status = "stopped"
        const index = events.length
        events.push({ _tag: "ChildStartFailed", supervisor: S, at: now, childId: id, message: "refused" })
        return onExit(c, { _tag: "Error", message: "refused" }, now, index)
      }
      if (timer !== undefined && timer.failed === id) delayed.push({ index: events.length, failedAt: timer.failedAt, delay: timer.delay })
      events.push({ _tag: "ChildStarted", supervisor: S, at: now, childId: id, actor: id })
      events.push({ _tag: "ChildRestarted", supervisor: S, at: now, childId: id, actor: id, restarts: 1 })
      c.status = "running"
    }
  }
  startAll()
  const steps = rng.int(5, 60)
  for (let step = 0; step < steps; step++) {
    t += rng.int(0, 80)
    for (;;) {
      const timer = timers.reduce<Timer | undefined>((a, b) => (a === undefined || b.due < a.due ? b : a), undefined)
      if (timer === undefined || timer.due > t) break
      timers = timers.filter((x) => x !== timer)
      restartGroup(timer.ids, timer.due, timer)
    }
    const running = children.filter((c) => c.status === "running")
    if (running.length === 0) continue
    const c = rng.pick(running)
    c.status = "stopped"
    const reason = rng.pick([{ _tag: "Error", message: "boom" }, { _tag: "Error", message: "boom" }, { _tag: "Normal" }, { _tag: "Shutdown" }] as const)
    const index = events.length
    events.push({ _tag: "ChildExited", supervisor: S, at: t, childId: c.id, actor: c.id, reason })
    onExit(c, reason, t, index)
  }
  const rec = History.make()
  for (const e of events) rec.supervision(e)
  return { h: rec.snapshot(), pol, restartTypes, delayed, schedules, restartExits, events }
}

describe("properties: restartsWithinPolicy over a simulated supervisor", () => {
  it("generated supervisor histories pass (with and without tolerance)", () => {
    forAll("simulated supervisors follow their policy", (rng) => {
      const { h, pol, restartTypes } = supervisorHistory(rng)
      const context = `${JSON.stringify(pol)} ${JSON.stringify(restartTypes)}\n${h.entries.map(History.describe).join("\n")}`
      assertValid(Checkers.restartsWithinPolicy(h, { policy: pol, restartTypes, toleranceMillis: 0 }), context)
      assertValid(Checkers.restartsWithinPolicy(h, { policy: pol, restartTypes }), context)
    })
  })

  it("a delayed restart moved before its due time is caught", () => {
    let mutated = 0
    forAll("an early restart is caught", (rng) => {
      const { h, pol, restartTypes, delayed } = supervisorHistory(rng)
      if (delayed.length === 0) return
      const { index, failedAt, delay } = rng.pick(delayed)
      const early = failedAt + rng.int(0, delay - 1)
      const bad = edit(h, (es) => {
        for (const k of [index, index + 1]) {
          const e = es[k] as History.SupervisionEntry
          es[k] = { ...e, at: early, event: { ...e.event, at: early } }
        }
      })
      mutated++
      assertViolation(Checkers.restartsWithinPolicy(bad, { policy: pol, restartTypes, toleranceMillis: 0 }), "restartsWithinPolicy", /before its backoff/)
    })
    assert.isAbove(mutated, RUNS * 0.2)
  })

  it("a scheduled delay shortened below the policy's minimum is caught", () => {
    let mutated = 0
    forAll("a short backoff is caught", (rng) => {
      const { h, pol, restartTypes, schedules } = supervisorHistory(rng)
      if (schedules.length === 0) return
      const k = rng.pick(schedules)
      const bad = edit(h, (es) => {
        const e = es[k] as History.SupervisionEntry & { event: Extract<SupervisionEvent, { _tag: "RestartScheduled" }> }
        es[k] = { ...e, event: { ...e.event, delayMillis: Math.floor(e.event.delayMillis / 4) } }
      })
      mutated++
      assertViolation(Checkers.restartsWithinPolicy(bad, { policy: pol, restartTypes, toleranceMillis: 0 }), "restartsWithinPolicy", /restart before its backoff/)
    })
    assert.isAbove(mutated, RUNS * 0.2)
  })

  it("a removed IntensityExceeded is caught as missing; an inserted one as unexpected", () => {
    let removed = 0
    let inserted = 0
    forAll("intensity mutations are caught", (rng) => {
      const { h, pol, restartTypes, restartExits } = supervisorHistory(rng)
      const exceeded = h.entries.flatMap((e, i) => (e._tag === "Supervision" && e.event._tag === "IntensityExceeded" ? [i] : []))
      if (exceeded.length > 0 && rng.bool()) {
        const i = rng.pick(exceeded)
        const bad = edit(h, (es) => es.splice(i, 2)) // IntensityExceeded + Escalated
        removed++
        assertViolation(Checkers.restartsWithinPolicy(bad, { policy: pol, restartTypes, toleranceMillis: 0 }), "restartsWithinPolicy", /missing IntensityExceeded/)
      } else if (restartExits.length > 0) {
        const i = rng.pick(restartExits)
        const at = h.entries[i]!.at
        const bad = edit(h, (es) =>
          es.splice(i + 1, 0, {
            _tag: "Supervision",
            index: 0,
            at,
            event: { _tag: "IntensityExceeded", supervisor: "sup", at, restarts: 99, periodMillis: pol.periodMillis }
          }))
        inserted++
        assertViolation(Checkers.restartsWithinPolicy(bad, { policy: pol, restartTypes, toleranceMillis: 0 }), "restartsWithinPolicy", /gave up \(IntensityExceeded, 99 restarts\) .* but the policy allows it/)
      }
    })
    assert.isAbove(removed, RUNS * 0.1)
    assert.isAbove(inserted, RUNS * 0.1)
  })
})

/**
 * Watchers on node "client" monitoring actors on n1..n3; nodes are lost and come back; each
 * watch of a lost node gets Down(NoConnection) within the deadline; some watches end earlier
 * (the actor died, or unwatch). Entries sorted by time.
 */
const watcherHistory = (rng: Rng, deadline: number) => {
  const nodes = ["n1", "n2", "n3"]
  const entries: Array<History.EntryInput> = []
  const active = new Map<string, { watcher: string; target: string; node: string }>()
  const down = new Map<string, number>() // node → busy until (its Downs still to arrive)
  const busy = new Map<string, number>()
  const lossDowns: Array<number> = [] // entries index of Downs caused by losses (before sorting: tagged)
  let t = 0
  const steps = rng.int(5, 80)
  for (let step = 0; step < steps; step++) {
    t += rng.int(1, 200)
    const action = rng.float()
    if (action < 0.4) {
      const node = rng.pick(nodes)
      if (down.has(node)) continue
      const watcher = `w${rng.int(0, 3)}`
      const target = `${node}/a${rng.int(0, 3)}`
      const k = `${watcher}>${target}`
      if (active.has(k)) continue
      active.set(k, { watcher, target, node })
      entries.push({ _tag: "Watch", at: t, watcher, target, node, watcherNode: rng.bool() ? "client" : undefined })
    } else if (action < 0.5 && active.size > 0) {
      const [k, w] = rng.pick(Array.from(active))
      active.delete(k)
      entries.push(rng.bool()
        ? { _tag: "Unwatch", at: t, watcher: w.watcher, target: w.target }
        : { _tag: "Notify", at: t, watcher: w.watcher, target: w.target, kind: "Down", reason: { _tag: "Error", message: "died" } })
    } else if (action < 0.7) {
      const node = rng.pick(nodes)
      if (down.has(node)) continue
      down.set(node, t)
      entries.push({ _tag: "Node", at: t, event: "NodeDown", node, observer: rng.bool() ? "client" : undefined, reason: "lost" })
      let until = t + deadline // down at least until its watchers' deadlines
      for (const [k, w] of Array.from(active)) {
        if (w.node !== node) continue
        active.delete(k)
        const at = t + rng.int(0, deadline)
        until = Math.max(until, at)
        lossDowns.push(entries.length)
        entries.push({ _tag: "Notify", at, watcher: w.watcher, target: w.target, kind: rng.bool() ? "Down" : "Exit", reason: { _tag: "NoConnection", node } })
      }
      busy.set(node, until)
    } else {
      const node = rng.pick(nodes)
      if (!down.has(node) || busy.get(node)! >= t) continue
      down.delete(node)
      entries.push({ _tag: "Node", at: t, event: "NodeUp", node, observer: "client", reason: undefined })
    }
  }
  // stable sort by time; the loss Downs carry a marker to find them afterwards
  const tagged = entries.map((e, i) => ({ e, i }))
  tagged.sort((a, b) => a.e.at - b.e.at || a.i - b.i)
  const lossSet = new Set(lossDowns)
  const sorted = tagged.map((x) => x.e)
  const lossIndexes = tagged.flatMap((x, k) => (lossSet.has(x.i) ? [k] : []))
  return { h: History.fromEntries(sorted, t + deadline + 1), lossIndexes }
}

describe("properties: watchersNotified over simulated node losses", () => {
  const deadline = 1250
  it("generated histories pass", () => {
    forAll("watchers are notified in time", (rng) => {
      const { h } = watcherHistory(rng, deadline)
      assertValid(Checkers.watchersNotified(h, { deadlineMillis: deadline }))
    })
  })

  it("a Down delayed past the deadline, or dropped, is caught", () => {
    let mutated = 0
    forAll("a late or missing Down is caught", (rng) => {
      const { h, lossIndexes } = watcherHistory(rng, deadline)
      if (lossIndexes.length === 0) return
      const i = rng.pick(lossIndexes)
      const late = rng.bool()
      const bad = late
        ? History.fromEntries(
          (() => {
            const es: Array<History.Entry> = h.entries.slice()
            const n = es[i] as History.NotifyEntry
            const lost = es.slice(0, i).reverse().find((e) => e._tag === "Node" && e.event === "NodeDown" && e.node === (n.reason as { node: string }).node)!
            es.splice(i, 1)
            const moved = { ...n, at: lost.at + deadline + rng.int(1, 500) }
            let k = es.findIndex((e) => e.at > moved.at)
            if (k < 0) k = es.length
            es.splice(k, 0, moved)
            return es
          })(),
          h.end + 1000
        )
        : edit(h, (es) => es.splice(i, 1))
      mutated++
      assertViolation(Checkers.watchersNotified(bad, { deadlineMillis: deadline }), "watchersNotified", /late (Down|Exit)|no Down\/Exit by the (end|deadline)/)
    })
    assert.isAbove(mutated, RUNS * 0.5)
  })
})
