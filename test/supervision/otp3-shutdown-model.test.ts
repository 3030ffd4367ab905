/**
 * A child spec's `shutdown` against its rule, under random crashes, busy handlers, restarts and
 * terminations of three children (trapping exits or not, a finalizer that never ends or not;
 * `brutal_kill`, 0 or 5 ms) in each strategy: `terminateChild` ends a child with what a monitor
 * of it would see in OTP (`brutal_kill`: killed; 0: shutdown unless it traps exits, then killed;
 * T: shutdown unless it is still alive after T — a trapping child busy in a handler, or a
 * finalizer that never ends — then killed), and the supervisor's own stop never hangs and leaves
 * no child alive.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, Supervisor } from "../../src/index.ts"
import { settle, withSystem } from "./helpers.ts"

const C = Actor.make("test/otp3/ShutdownModel", { Crash: Actor.tell({}), Busy: Actor.tell({}) })
interface Cfg {
  readonly trap: boolean
  readonly shutdown: 0 | "brutal_kill" | "5 millis"
  /** its finalizer never ends */
  readonly hang: boolean
}
const child = (cfg: Cfg) =>
  C.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext.for(C)
    if (cfg.trap) yield* ctx.trapExit(true)
    if (cfg.hang) yield* Effect.addFinalizer(() => Effect.never)
    return { Crash: () => Effect.die("boom"), Busy: () => Effect.never }
  }))

/** The reason a monitor of the child sees when `terminateChild` stops it. */
const expected = (cfg: Cfg, busy: boolean): string => {
  if (cfg.shutdown === "brutal_kill") return "Killed"
  if (cfg.shutdown === 0) return cfg.trap ? "Killed" : "Shutdown"
  // 5 ms: a trapping busy child never handles the signal; a hanging finalizer outlives the budget
  if (cfg.hang) return "Killed"
  if (cfg.trap && busy) return "Killed"
  return "Shutdown"
}

describe("child spec shutdown under random crashes, restarts and terminations", () => {
  for (let seed = 1; seed <= 30; seed++) {
    it.effect(`seed ${seed}`, () =>
      withSystem((system) =>
        Effect.gen(function*() {
          let s = seed * 7919
          const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648)
          const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
          const cfgs: Array<Cfg> = [0, 1, 2].map(() => ({ trap: next() < 0.5, shutdown: pick([0, "brutal_kill", "5 millis"] as const), hang: next() < 0.3 }))
          const strategy = pick(["one_for_one", "one_for_all", "rest_for_one"] as const)
          const sup = yield* system.spawn(Supervisor.make({
            strategy, backoff: false, intensity: 100,
            children: cfgs.map((c, i) => Supervisor.child(`c${i}`, child(c), { shutdown: c.shutdown }))
          }))
          const trace: Array<string> = [strategy, JSON.stringify(cfgs)]
          const busy = new Set<string>()
          for (let step = 0; step < 8; step++) {
            const i = Math.floor(next() * 3)
            const id = `c${i}`
            const info = (yield* Supervisor.whichChildren(sup)).find((c) => c.id === id)!
            const ref = info.ref as ActorRef.ActorRef<typeof C.defs> | undefined
            const op = Math.floor(next() * 4)
            trace.push(`${op}:${id}:${info.status}`)
            // a crash: only of a child whose crash ends it (not one busy forever, nor one whose
            // finalizer never ends: a crash waits for its finalizers, as terminate/2)
            if (op === 0 && ref !== undefined && !cfgs[i]!.hang && !busy.has(ref.key)) {
              yield* ref.tell(C.Crash())
              const f = yield* Effect.forkChild(system.awaitExit(ref))
              yield* settle()
              yield* TestClock.adjust("10 millis")
              yield* settle()
              assert.isDefined(f.pollUnsafe(), trace.join(" "))
            } else if (op === 1 && ref !== undefined) {
              const ex = yield* Effect.forkChild(system.awaitExit(ref))
              const t = yield* Effect.forkChild(Supervisor.terminateChild(sup, id))
              yield* settle()
              yield* TestClock.adjust("10 millis")
              yield* settle()
              assert.isDefined(t.pollUnsafe(), `terminate hung: ${trace.join(" ")}`)
              const reason = (yield* Fiber.join(ex))._tag
              assert.strictEqual(reason, expected(cfgs[i]!, busy.has(ref.key)), trace.join(" "))
            } else if (op === 2 && ref === undefined) {
              const r = yield* Effect.exit(Supervisor.restartChild(sup, id))
              trace.push(r._tag)
            } else if (op === 3 && ref !== undefined) {
              yield* ref.tell(C.Busy())
              busy.add(ref.key)
              yield* settle()
            }
            yield* TestClock.adjust("10 millis")
            yield* settle()
          }
          const refs = (yield* Supervisor.whichChildren(sup)).flatMap((c) => c.ref === undefined ? [] : [c.ref])
          const st = yield* Effect.forkChild(system.stop(sup))
          for (let k = 0; k < 5; k++) {
            yield* settle()
            yield* TestClock.adjust("10 millis")
          }
          assert.isDefined(st.pollUnsafe(), `sup stop hung: ${trace.join(" ")}`)
          for (const r of refs) assert.isFalse(r.target.isAlive, trace.join(" "))
        })))
  }
})
