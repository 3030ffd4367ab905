/**
 * The pure restart decision (`RestartPolicy.decide`), exhaustively and by properties.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { ExitReason, RestartPolicy } from "../../src/index.ts"

type Policy = RestartPolicy.Policy
type ChildInfo = RestartPolicy.ChildInfo
type Decision = RestartPolicy.Decision

const allReasons: ReadonlyArray<ExitReason.ExitReason> = [
  ExitReason.normal,
  ExitReason.shutdown,
  ExitReason.shutdownWith("app stop"),
  ExitReason.killed,
  ExitReason.error("boom"),
  ExitReason.noproc,
  ExitReason.noconnection(),
  ExitReason.noconnection("n2")
]
const abnormalReasons = allReasons.filter((r) => r._tag !== "Normal" && r._tag !== "Shutdown")
const strategies: ReadonlyArray<RestartPolicy.Strategy> = ["one_for_one", "one_for_all", "rest_for_one"]

const policy = (overrides: Partial<Policy> = {}): Policy => ({
  strategy: "one_for_one",
  intensity: 1_000,
  periodMillis: 10_000,
  backoff: undefined,
  ...overrides
})

const backoff = (overrides: Partial<RestartPolicy.Backoff> = {}): RestartPolicy.Backoff => ({
  initialMillis: 100,
  maxMillis: 1_000,
  factor: 2,
  jitter: 0,
  resetAfterMillis: 5_000,
  ...overrides
})

const child = (id: string, restart: RestartPolicy.RestartType = "permanent", running = true): ChildInfo => ({
  id,
  restart,
  running
})

const abcd = [child("a"), child("b"), child("c"), child("d")]

const decide = (
  p: Policy,
  children: ReadonlyArray<ChildInfo>,
  failedId: string,
  reason: ExitReason.ExitReason = ExitReason.error("boom"),
  now = 0,
  history: RestartPolicy.History = RestartPolicy.emptyHistory,
  random = 0.5
) => RestartPolicy.decide(p, children, failedId, reason, now, history, random)

const asRestart = (d: Decision) => {
  assert.strictEqual(d._tag, "Restart", `expected Restart, got ${JSON.stringify(d)}`)
  return d as Extract<Decision, { _tag: "Restart" }>
}

/** Feeds failures of `id` at the given times through `decide`, threading the history. */
const run = (p: Policy, children: ReadonlyArray<ChildInfo>, failures: ReadonlyArray<{ id: string; at: number }>, random = 0.5) => {
  let history = RestartPolicy.emptyHistory
  const decisions: Array<Decision> = []
  for (const { at, id } of failures) {
    const [d, next] = decide(p, children, id, ExitReason.error("boom"), at, history, random)
    decisions.push(d)
    history = next
    if (d._tag === "Escalate") break
  }
  return { decisions, history }
}

// ---------------------------------------------------------------------------
// arbitraries
// ---------------------------------------------------------------------------

const IntBetween = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const RestartTypeS = Schema.Literals(["permanent", "transient", "temporary"])
const StrategyS = Schema.Literals(["one_for_one", "one_for_all", "rest_for_one"])
const Random01 = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMaximum: true }))
const ChildrenS = Schema.Array(Schema.Struct({ restart: RestartTypeS, running: Schema.Boolean })).check(
  Schema.isBetweenLength(1, 8)
)
const toChildren = (specs: ReadonlyArray<{ restart: RestartPolicy.RestartType; running: boolean }>) =>
  specs.map((s, i) => child(`c${i}`, s.restart, s.running))

describe("RestartPolicy.shouldRestart", () => {
  it("permanent: every reason", () => {
    for (const r of allReasons) assert.isTrue(RestartPolicy.shouldRestart("permanent", r), ExitReason.format(r))
  })
  it("transient: only abnormal reasons", () => {
    for (const r of allReasons) {
      assert.strictEqual(
        RestartPolicy.shouldRestart("transient", r),
        r._tag !== "Normal" && r._tag !== "Shutdown",
        ExitReason.format(r)
      )
    }
  })
  it("temporary: never", () => {
    for (const r of allReasons) assert.isFalse(RestartPolicy.shouldRestart("temporary", r), ExitReason.format(r))
  })
})

describe("RestartPolicy.decide: restart types", () => {
  it("an unknown child is ignored and the history is unchanged", () => {
    const history: RestartPolicy.History = { restarts: [1, 2], streaks: new Map() }
    const [d, next] = decide(policy(), abcd, "zz", ExitReason.error("x"), 3, history)
    assert.deepStrictEqual(d, { _tag: "NoRestart", remove: [] })
    assert.strictEqual(next, history)
  })

  it("permanent children are restarted whatever the reason", () => {
    for (const strategy of strategies) {
      for (const reason of allReasons) {
        const [d] = decide(policy({ strategy }), abcd, "b", reason)
        const r = asRestart(d)
        assert.include(r.start, "b", `${strategy} ${ExitReason.format(reason)}`)
      }
    }
  })

  it("transient children are not restarted after Normal or Shutdown, and nothing is removed", () => {
    const children = [child("a"), child("t", "transient"), child("c")]
    for (const strategy of strategies) {
      for (const reason of [ExitReason.normal, ExitReason.shutdown, ExitReason.shutdownWith("bye")]) {
        const history: RestartPolicy.History = { restarts: [5], streaks: new Map() }
        const [d, next] = decide(policy({ strategy }), children, "t", reason, 10, history)
        assert.deepStrictEqual(d, { _tag: "NoRestart", remove: [] })
        // a non-restart is not a restart: intensity history untouched
        assert.deepStrictEqual(next.restarts, [5])
      }
    }
  })

  it("transient children are restarted after Error, Killed, NoProc, NoConnection", () => {
    const children = [child("a"), child("t", "transient"), child("c")]
    for (const reason of abnormalReasons) {
      const [d] = decide(policy(), children, "t", reason)
      assert.deepStrictEqual(asRestart(d).start, ["t"], ExitReason.format(reason))
    }
  })

  it("temporary children are never restarted and their spec is removed", () => {
    const children = [child("a"), child("x", "temporary"), child("c")]
    for (const strategy of strategies) {
      for (const reason of allReasons) {
        const [d, next] = decide(policy({ strategy }), children, "x", reason, 10)
        assert.deepStrictEqual(d, { _tag: "NoRestart", remove: ["x"] })
        assert.deepStrictEqual(next.restarts, [])
      }
    }
  })

  it.prop("property: permanent always restarted", { reason: ExitReason.ExitReason, strategy: StrategyS, children: ChildrenS, pick: IntBetween(0, 100) }, ({ children: specs, pick, reason, strategy }) => {
    const children = toChildren(specs).map((c, i) => i === pick % specs.length ? { ...c, restart: "permanent" as const } : c)
    const failed = children[pick % children.length]!
    const [d] = decide(policy({ strategy }), children, failed.id, reason)
    return d._tag === "Restart" && d.start.includes(failed.id)
  })

  it.prop("property: transient restarted iff the exit is abnormal", { reason: ExitReason.ExitReason, strategy: StrategyS }, ({ reason, strategy }) => {
    const [d] = decide(policy({ strategy }), [child("a"), child("t", "transient")], "t", reason)
    const abnormal = reason._tag !== "Normal" && reason._tag !== "Shutdown"
    return abnormal
      ? d._tag === "Restart" && d.start.includes("t")
      : d._tag === "NoRestart" && d.remove.length === 0
  })

  it.prop("property: temporary never restarted, always removed", { reason: ExitReason.ExitReason, strategy: StrategyS, children: ChildrenS }, ({ children: specs, reason, strategy }) => {
    const children = [...toChildren(specs), child("tmp", "temporary")]
    const [d, next] = decide(policy({ strategy }), children, "tmp", reason, 0)
    assert.deepStrictEqual(d, { _tag: "NoRestart", remove: ["tmp"] })
    assert.strictEqual(next.restarts.length, 0)
  })
})

describe("RestartPolicy.decide: strategies", () => {
  it("one_for_one restarts only the failed child", () => {
    const r = asRestart(decide(policy({ strategy: "one_for_one" }), abcd, "b")[0])
    assert.deepStrictEqual(r, { _tag: "Restart", stop: [], remove: [], start: ["b"], delayMillis: 0 })
  })

  it("one_for_all stops the others in reverse start order and starts all in start order", () => {
    const r = asRestart(decide(policy({ strategy: "one_for_all" }), abcd, "b")[0])
    assert.deepStrictEqual(r.stop, ["d", "c", "a"])
    assert.deepStrictEqual(r.start, ["a", "b", "c", "d"])
    assert.deepStrictEqual(r.remove, [])
  })

  it("one_for_all does not stop children that are not running, but starts them", () => {
    const children = [child("a"), child("b", "permanent", false), child("c"), child("d", "transient", false)]
    const r = asRestart(decide(policy({ strategy: "one_for_all" }), children, "c")[0])
    assert.deepStrictEqual(r.stop, ["a"])
    assert.deepStrictEqual(r.start, ["a", "b", "c", "d"])
  })

  it("rest_for_one stops the children after the failed one (reverse) and starts the failed one and those after it", () => {
    const r = asRestart(decide(policy({ strategy: "rest_for_one" }), abcd, "b")[0])
    assert.deepStrictEqual(r.stop, ["d", "c"])
    assert.deepStrictEqual(r.start, ["b", "c", "d"])
    const last = asRestart(decide(policy({ strategy: "rest_for_one" }), abcd, "d")[0])
    assert.deepStrictEqual(last.stop, [])
    assert.deepStrictEqual(last.start, ["d"])
    const first = asRestart(decide(policy({ strategy: "rest_for_one" }), abcd, "a")[0])
    assert.deepStrictEqual(first.stop, ["d", "c", "b"])
    assert.deepStrictEqual(first.start, ["a", "b", "c", "d"])
  })

  it("temporary children in a group restart are stopped and removed, not restarted", () => {
    const children = [child("a"), child("t1", "temporary"), child("b"), child("t2", "temporary", false), child("c", "transient")]
    const all = asRestart(decide(policy({ strategy: "one_for_all" }), children, "b")[0])
    assert.deepStrictEqual(all.stop, ["c", "t1", "a"])
    assert.deepStrictEqual(all.remove, ["t1", "t2"])
    assert.deepStrictEqual(all.start, ["a", "b", "c"])
    const rest = asRestart(decide(policy({ strategy: "rest_for_one" }), children, "a")[0])
    assert.deepStrictEqual(rest.stop, ["c", "b", "t1"])
    assert.deepStrictEqual(rest.remove, ["t1", "t2"])
    assert.deepStrictEqual(rest.start, ["a", "b", "c"])
    // one_for_one never touches siblings
    const one = asRestart(decide(policy({ strategy: "one_for_one" }), children, "a")[0])
    assert.deepStrictEqual(one.remove, [])
  })

  it.prop(
    "property: stop/remove/start are exactly the strategy's group",
    { children: ChildrenS, pick: IntBetween(0, 100), strategy: StrategyS },
    ({ children: specs, pick, strategy }) => {
      const children = toChildren(specs)
      const index = pick % children.length
      // the failed child must be restartable
      const fixed = children.map((c, i) => i === index && c.restart === "temporary" ? { ...c, restart: "permanent" as const } : c)
      const failed = fixed[index]!
      const r = asRestart(decide(policy({ strategy }), fixed, failed.id)[0])
      const group = strategy === "one_for_one" ? [failed] : strategy === "one_for_all" ? fixed : fixed.slice(index)
      const others = group.filter((c) => c.id !== failed.id)
      assert.deepStrictEqual(r.stop, others.filter((c) => c.running).map((c) => c.id).reverse())
      assert.deepStrictEqual(r.remove, others.filter((c) => c.restart === "temporary").map((c) => c.id))
      assert.deepStrictEqual(r.start, group.filter((c) => c.restart !== "temporary").map((c) => c.id))
      // the failed child is always restarted; children outside the group are never touched
      assert.include(r.start, failed.id)
      const outside = fixed.filter((c) => !group.includes(c)).map((c) => c.id)
      for (const id of outside) {
        assert.notInclude(r.stop, id)
        assert.notInclude(r.start, id)
        assert.notInclude(r.remove, id)
      }
    }
  )
})

describe("RestartPolicy.decide: intensity", () => {
  it("more than `intensity` restarts within the period escalates", () => {
    const p = policy({ intensity: 3, periodMillis: 1_000 })
    const { decisions, history } = run(p, abcd, [0, 10, 20, 30, 40].map((at) => ({ id: "a", at })))
    assert.deepStrictEqual(decisions.map((d) => d._tag), ["Restart", "Restart", "Restart", "Escalate"])
    assert.deepStrictEqual(decisions[3], { _tag: "Escalate", restarts: 4 })
    assert.deepStrictEqual(history.restarts, [0, 10, 20, 30])
  })

  it("restarts of different children count together", () => {
    const p = policy({ intensity: 2, periodMillis: 1_000 })
    const { decisions } = run(p, abcd, [{ id: "a", at: 0 }, { id: "b", at: 1 }, { id: "c", at: 2 }])
    assert.deepStrictEqual(decisions.map((d) => d._tag), ["Restart", "Restart", "Escalate"])
  })

  it("intensity 0 escalates on the first restart, but not on a non-restart", () => {
    const p = policy({ intensity: 0 })
    assert.deepStrictEqual(decide(p, abcd, "a")[0], { _tag: "Escalate", restarts: 1 })
    const children = [child("t", "transient"), child("x", "temporary")]
    assert.strictEqual(decide(p, children, "t", ExitReason.normal)[0]._tag, "NoRestart")
    assert.strictEqual(decide(p, children, "x", ExitReason.error("e"))[0]._tag, "NoRestart")
  })

  it("restarts older than the period do not count (the window is [now - period, now], as OTP's add_restart)", () => {
    const p = policy({ intensity: 1, periodMillis: 1_000 })
    // one millisecond more than a period apart: the older one is out of the window
    const apart = run(p, abcd, [{ id: "a", at: 0 }, { id: "a", at: 1_001 }, { id: "a", at: 2_002 }, { id: "a", at: 3_003 }])
    assert.deepStrictEqual(apart.decisions.map((d) => d._tag), ["Restart", "Restart", "Restart", "Restart"])
    assert.deepStrictEqual(apart.history.restarts, [3_003])
    // exactly one period apart: both are in the window
    const close = run(p, abcd, [{ id: "a", at: 0 }, { id: "a", at: 1_000 }])
    assert.deepStrictEqual(close.decisions.map((d) => d._tag), ["Restart", "Escalate"])
  })

  it("the history prunes restarts that left the window", () => {
    const p = policy({ intensity: 5, periodMillis: 100 })
    const { history } = run(p, abcd, [0, 50, 120, 140, 260].map((at) => ({ id: "b", at })))
    assert.deepStrictEqual(history.restarts, [260])
  })

  it.prop(
    "property: Escalate happens iff some window of `period` holds more than `intensity` restarts (at the first such failure)",
    {
      intensity: IntBetween(0, 6),
      period: IntBetween(1, 1_000),
      gaps: Schema.Array(IntBetween(0, 400)).check(Schema.isBetweenLength(0, 40)),
      ids: Schema.Array(IntBetween(0, 3))
    },
    ({ gaps, ids, intensity, period }) => {
      const times: Array<number> = []
      let t = 0
      for (const g of gaps) times.push(t += g)
      const failures = times.map((at, i) => ({ at, id: abcd[(ids[i] ?? 0) % abcd.length]!.id }))
      const { decisions } = run(policy({ intensity, periodMillis: period }), abcd, failures)
      // oracle: the first failure i whose window [t_i - period, t_i] holds more than `intensity` failures
      const firstOver = times.findIndex((ti, i) => times.slice(0, i + 1).filter((tj) => tj >= ti - period).length > intensity)
      const escalatedAt = decisions.findIndex((d) => d._tag === "Escalate")
      assert.strictEqual(escalatedAt, firstOver)
      if (firstOver >= 0) assert.strictEqual(decisions.length, firstOver + 1)
    }
  )
})

describe("RestartPolicy.decide: the history is a value", () => {
  it.prop(
    "property: any history, reused any number of times, gives what the plain filter model gives (clock may go backwards)",
    {
      period: IntBetween(1, 500),
      steps: Schema.Array(Schema.Struct({ from: IntBetween(0, 1_000), dt: IntBetween(-50, 200) })).check(
        Schema.isBetweenLength(1, 60)
      )
    },
    ({ period, steps }) => {
      const p = policy({ intensity: 1_000_000, periodMillis: period })
      // every history made so far, and what the model says its restart times are
      const made: Array<{ history: RestartPolicy.History; model: ReadonlyArray<number>; now: number }> = [
        { history: RestartPolicy.emptyHistory, model: [], now: 0 }
      ]
      for (const { dt, from } of steps) {
        // continue from any earlier history, not only the latest (decide must not mutate what it was given)
        const base = made[from % made.length]!
        const now = base.now + dt
        const [d, next] = decide(p, abcd, "a", ExitReason.error("x"), now, base.history)
        const model = [...base.model.filter((t) => t >= now - period), now]
        assert.strictEqual(d._tag, "Restart")
        assert.deepStrictEqual(next.restarts, model)
        made.push({ history: next, model, now })
      }
      // and none of the earlier histories changed
      for (const m of made) assert.deepStrictEqual(m.history.restarts, m.model)
    }
  )

  it("a long crash loop keeps only the window (the shared array is compacted)", () => {
    const p = policy({ intensity: 100, periodMillis: 50 })
    let history = RestartPolicy.emptyHistory
    for (let t = 0; t < 10_000; t++) {
      const [d, next] = decide(p, abcd, "a", ExitReason.error("x"), t, history)
      assert.strictEqual(d._tag, "Restart")
      history = next
    }
    assert.deepStrictEqual(history.restarts, Array.from({ length: 51 }, (_, i) => 9_949 + i))
  })
})

describe("RestartPolicy.decide: backoff", () => {
  const p = policy({ backoff: backoff() })

  it("the first failure restarts at once; consecutive failures grow by `factor` up to `max`", () => {
    // every restart is followed at once by the next failure (no quiet time)
    let history = RestartPolicy.emptyHistory
    let now = 0
    const delays: Array<number> = []
    for (let i = 0; i < 8; i++) {
      const [d, next] = decide(p, abcd, "a", ExitReason.error("x"), now, history)
      const r = asRestart(d)
      delays.push(r.delayMillis)
      history = next
      now += r.delayMillis // fails again right when restarted
    }
    assert.deepStrictEqual(delays, [0, 100, 200, 400, 800, 1_000, 1_000, 1_000])
    assert.deepStrictEqual(history.streaks.get("a"), { failures: 8, restartedAt: now })
  })

  it("resets after `resetAfter` of quiet since the last restart, not before", () => {
    let history = RestartPolicy.emptyHistory
    const step = (at: number) => {
      const [d, next] = decide(p, abcd, "a", ExitReason.error("x"), at, history)
      history = next
      return asRestart(d).delayMillis
    }
    assert.strictEqual(step(0), 0)
    assert.strictEqual(step(10), 100) // restarted at 110
    assert.strictEqual(step(110 + 4_999), 200) // 1 ms short of quiet: streak continues; restarted at 5309
    assert.strictEqual(step(5_309 + 5_000), 0) // quiet: immediate again
    assert.strictEqual(step(10_309), 100)
  })

  it("streaks are per child", () => {
    let history = RestartPolicy.emptyHistory
    const step = (id: string, at: number) => {
      const [d, next] = decide(p, abcd, id, ExitReason.error("x"), at, history)
      history = next
      return asRestart(d).delayMillis
    }
    assert.strictEqual(step("a", 0), 0)
    assert.strictEqual(step("a", 0), 100)
    assert.strictEqual(step("b", 0), 0)
    assert.strictEqual(step("a", 100), 200)
    assert.strictEqual(step("b", 0), 100)
  })

  it("without backoff every restart is immediate", () => {
    const { decisions } = run(policy(), abcd, [0, 0, 0, 0, 0].map((at) => ({ id: "a", at })))
    assert.deepStrictEqual(decisions.map((d) => asRestart(d).delayMillis), [0, 0, 0, 0, 0])
  })

  it("a group restart is delayed by the failed child's backoff", () => {
    const pa = policy({ strategy: "one_for_all", backoff: backoff() })
    const [, h1] = decide(pa, abcd, "c", ExitReason.error("x"), 0)
    const r = asRestart(decide(pa, abcd, "c", ExitReason.error("x"), 0, h1)[0])
    assert.strictEqual(r.delayMillis, 100)
    assert.deepStrictEqual(r.start, ["a", "b", "c", "d"])
  })

  it("intensity counts restarts when decided, so a crash loop with backoff still escalates", () => {
    const pi = policy({ intensity: 3, periodMillis: 10_000, backoff: backoff() })
    let history = RestartPolicy.emptyHistory
    let now = 0
    const tags: Array<string> = []
    for (let i = 0; i < 6; i++) {
      const [d, next] = decide(pi, abcd, "a", ExitReason.error("x"), now, history)
      tags.push(d._tag)
      history = next
      if (d._tag !== "Restart") break
      now += d.delayMillis
    }
    assert.deepStrictEqual(tags, ["Restart", "Restart", "Restart", "Escalate"])
  })

  it("backoffDelay: 0 failures is immediate, then initial × factor^(n-1) capped at max, jitter scales", () => {
    const b = backoff()
    assert.strictEqual(RestartPolicy.backoffDelay(b, 0, 0.9), 0)
    assert.strictEqual(RestartPolicy.backoffDelay(b, -3, 0.9), 0)
    assert.deepStrictEqual([1, 2, 3, 4, 5, 50].map((n) => RestartPolicy.backoffDelay(b, n, 0.3)), [100, 200, 400, 800, 1_000, 1_000])
    const j = backoff({ jitter: 0.2 })
    assert.strictEqual(RestartPolicy.backoffDelay(j, 1, 0), 80)
    assert.strictEqual(RestartPolicy.backoffDelay(j, 1, 0.5), 100)
    assert.strictEqual(RestartPolicy.backoffDelay(j, 1, 0.75), 110)
    assert.strictEqual(RestartPolicy.backoffDelay(j, 10, 0), 800)
    assert.isAtMost(RestartPolicy.backoffDelay(j, 10, 0.999999), 1_200)
  })

  it.prop(
    "property: jitter bounds hold for any random in [0, 1)",
    {
      initial: IntBetween(1, 1_000),
      extra: IntBetween(0, 60_000),
      factor: Schema.Number.check(Schema.isBetween({ minimum: 1, maximum: 4 })),
      jitter: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
      failures: IntBetween(0, 40),
      random: Random01
    },
    ({ extra, factor, failures, initial, jitter, random }) => {
      const b = backoff({ initialMillis: initial, maxMillis: initial + extra, factor, jitter })
      const delay = RestartPolicy.backoffDelay(b, failures, random)
      assert.isTrue(Number.isInteger(delay))
      if (failures === 0) return delay === 0
      const base = Math.min(b.maxMillis, initial * Math.pow(factor, failures - 1))
      // rounding may move the delay by at most half a millisecond past the exact bounds
      assert.isAtLeast(delay, Math.max(0, Math.floor(base * (1 - jitter))))
      assert.isAtMost(delay, Math.ceil(base * (1 + jitter)))
      assert.isAtMost(delay, Math.ceil(b.maxMillis * (1 + jitter)))
    }
  )

  it.prop(
    "property: the delay chosen by decide respects the jitter bounds for any random in [0, 1)",
    { random: Random01, jitter: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })), streak: IntBetween(1, 12) },
    ({ jitter, random, streak }) => {
      const pj = policy({ backoff: backoff({ jitter }) })
      const history: RestartPolicy.History = { restarts: [], streaks: new Map([["a", { failures: streak, restartedAt: 0 }]]) }
      const r = asRestart(decide(pj, abcd, "a", ExitReason.error("x"), 1, history, random)[0])
      const base = Math.min(1_000, 100 * Math.pow(2, streak - 1))
      assert.isAtLeast(r.delayMillis, Math.floor(base * (1 - jitter)))
      assert.isAtMost(r.delayMillis, Math.ceil(base * (1 + jitter)))
    }
  )

  it.prop(
    "property: with jitter 0 the delay is monotone in failures",
    {
      initial: IntBetween(1, 1_000),
      extra: IntBetween(0, 60_000),
      factor: Schema.Number.check(Schema.isBetween({ minimum: 1, maximum: 4 })),
      f1: IntBetween(0, 60),
      f2: IntBetween(0, 60),
      random: Random01
    },
    ({ extra, f1, f2, factor, initial, random }) => {
      const b = backoff({ initialMillis: initial, maxMillis: initial + extra, factor, jitter: 0 })
      const [lo, hi] = f1 <= f2 ? [f1, f2] : [f2, f1]
      return RestartPolicy.backoffDelay(b, lo, random) <= RestartPolicy.backoffDelay(b, hi, random)
    }
  )
})
