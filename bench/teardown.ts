/**
 * The teardown group: what giving up costs when many do it at once, each against what starting
 * the same thing cost in the same round (so that a linear cost shows as a ratio near 1 and a
 * scan per removal as a ratio that grows with the count):
 *
 * - `waiterCancelRatio`: `waiters` senders wait for room in one full `backpressure` mailbox and
 *   all give up, oldest first (as asks with one timeout expire): CPU per cancel ÷ CPU per wait.
 * - `childExitRatio`: `children` temporary children of a dynamic supervisor all stop by
 *   themselves; CPU per exit (until the supervisor has removed them all) ÷ CPU per start.
 *
 * Environment: BENCH_TEARDOWN_WAITERS (100 000), BENCH_TEARDOWN_CHILDREN (60 000).
 */
import { Deferred, Effect } from "effect"
import { Actor, ActorContext, ActorSystem, Supervisor } from "../src/index.ts"
import * as Kernel from "../src/actors/Kernel.ts"
import { type BenchGroup, envInt, type GroupResult, type Metric, nowNs } from "./lib.ts"

const params = {
  waiters: envInt("BENCH_TEARDOWN_WAITERS", 100_000),
  children: envInt("BENCH_TEARDOWN_CHILDREN", 60_000)
}

const metrics: ReadonlyArray<Metric> = [
  { key: "waiterWaitNanos", label: "a sender starts waiting for room", unit: "ns", digits: 0 },
  { key: "waiterCancelNanos", label: "  one of them gives up", unit: "ns", digits: 0 },
  { key: "waiterCancelRatio", label: "  ratio give up / wait", unit: "×", digits: 2 },
  { key: "childStartMicros", label: "a temporary child started", unit: "µs", digits: 2 },
  { key: "childExitMicros", label: "  it exits, its supervisor removes it", unit: "µs", digits: 2 },
  { key: "childExitRatio", label: "  ratio exit / start", unit: "×", digits: 2 }
]

/** CPU time of this process, in ns */
const cpuNs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

const Stuck = Actor.make("bench/TeardownStuck", { Work: Actor.tell({}) })
const Session = Actor.make("bench/TeardownSession", { Quit: Actor.tell({}) })
const session = Session.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  return { Quit: () => ctx.stop() }
}))

const waiters = Effect.gen(function*() {
  const system = yield* ActorSystem
  const gate = yield* Deferred.make<void>()
  const stuck = yield* system.spawn(
    Stuck.behavior(Effect.succeed({ Work: () => Deferred.await(gate) })),
    { mailbox: { capacity: 2, overflow: "backpressure" } }
  )
  for (let i = 0; i < 3; i++) yield* stuck.tell(Stuck.Work())
  const target = Kernel.targetOf(stuck)
  const cancels: Array<() => void> = []
  const t0 = cpuNs()
  for (let i = 0; i < params.waiters; i++) cancels.push(target.waitForSpace(() => {}))
  const t1 = cpuNs()
  for (const cancel of cancels) cancel()
  const t2 = cpuNs()
  yield* Deferred.succeed(gate, undefined)
  return { wait: (t1 - t0) / params.waiters, cancel: (t2 - t1) / params.waiters }
}).pipe(Effect.scoped, Effect.provide(ActorSystem.layer()))

const children = Effect.gen(function*() {
  const system = yield* ActorSystem
  const template = (_: unknown, i: number) => Supervisor.child(`s${i}`, session, { restart: "temporary" })
  const sup = yield* system.spawn(Supervisor.dynamic({ backoff: false, template }))
  const t0 = cpuNs()
  const refs = yield* Effect.forEach(
    Array.from({ length: params.children }, (_, i) => i),
    (i) => Supervisor.startChild(sup, template(undefined, i))
  )
  const t1 = cpuNs()
  for (const ref of refs) ref.tellUnsafe(Session.Quit())
  const started = nowNs()
  while ((yield* Supervisor.countChildren(sup)).workers > 0) {
    if (nowNs() - started > 120e9) return yield* Effect.die(new Error("children still there after 120 s"))
    yield* Effect.sleep("20 millis")
  }
  const t2 = cpuNs()
  return { start: (t1 - t0) / params.children / 1000, exit: (t2 - t1) / params.children / 1000 }
}).pipe(Effect.scoped, Effect.provide(ActorSystem.layer()))

export const teardown: BenchGroup = {
  name: "teardown",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    const results: Array<Record<string, number>> = []
    for (let r = 1; r <= rounds; r++) {
      const w = await Effect.runPromise(waiters)
      const c = await Effect.runPromise(children)
      results.push({
        waiterWaitNanos: w.wait,
        waiterCancelNanos: w.cancel,
        waiterCancelRatio: w.cancel / w.wait,
        childStartMicros: c.start,
        childExitMicros: c.exit,
        childExitRatio: c.exit / c.start
      })
      log(`teardown: round ${r}/${rounds}: cancel/wait ${(w.cancel / w.wait).toFixed(2)}, exit/start ${(c.exit / c.start).toFixed(2)}`)
    }
    return { metrics, rounds: results, params: { ...params } }
  }
}
