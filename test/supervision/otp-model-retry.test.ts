/**
 * Supervisor restarts whose starts fail, against a model of OTP's supervisor.erl (its
 * `restart/2` and `try_again_restart`), on seeded random sequences under each static strategy.
 * A step crashes, kills or stops a child (or none) while some children's next start is set to
 * fail (after 1 s), and sends admin calls (`terminateChild`, `restartChild`, `deleteChild`, `startChild`) that
 * queue behind the crash: they are served after the restart's attempt, before its retry.
 * Checked after every step: the calls' results, the order in which children stopped and
 * started, and `whichChildren` (ids in start order, running / stopped).
 *
 * The model: a restart is the group of the child — itself (one_for_one), every child
 * (one_for_all), itself and those after it (rest_for_one) — whose running members stop (newest
 * first), whose temporary members are forgotten, and whose others start in order until one
 * fails: that one waits `restarting`, those before it run, those after it are stopped. Its retry
 * is the restart of its group as it is then; a call that terminates it ends the retries.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorSystem, ActorContext, type ActorRef, Supervisor } from "../../src/index.ts"
import { settle } from "./helpers.ts"
import { prng as random } from "../../src/testing/FaultProxy.ts"

/** mulberry32: a small seeded generator, so that a failing seed replays */

const W = Actor.make("test/ModelRetryWorker", { Crash: Actor.tell({}) })

const strategies = ["one_for_one", "one_for_all", "rest_for_one"] as const
const ids = ["a", "b", "c", "d", "e"]
const restartOf = (id: string) => (["permanent", "permanent", "temporary", "transient", "permanent"] as const)[ids.indexOf(id)]!

type Status = "running" | "stopped" | "restarting"
interface Entry {
  readonly id: string
  status: Status
}

const SEEDS = Number(process.env.MODEL_SEEDS ?? 12)
const STEPS = 20

describe("supervisor restarts with failing starts against a model of OTP's supervisor", () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    it.effect(`seed ${seed}`, () =>
      Effect.gen(function*() {
        const system = yield* ActorSystem
        const next = random(seed)
        const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
        const strategy = pick(strategies)
        const failNext = new Set<string>()
        const log: Array<string> = []
        const refs = new Map<string, ActorRef.ActorRef<typeof W.defs>>()
        const worker = (id: string) =>
          W.behavior(Effect.gen(function*() {
            const ctx = yield* ActorContext
            if (failNext.delete(id)) {
              yield* Effect.sleep("1 second")
              log.push(`failed:${id}`)
              return yield* Effect.die(new Error(`${id} fails to start`))
            }
            log.push(`start:${id}`)
            refs.set(id, ctx.self as ActorRef.ActorRef<typeof W.defs>)
            yield* Effect.addFinalizer(() => Effect.sync(() => log.push(`stop:${id}`)))
            return { Crash: () => Effect.die(new Error("crash")) }
          }))
        const specOf = (id: string) => Supervisor.child(id, worker(id), { restart: restartOf(id), shutdown: "1 second" })
        const sup = yield* system.spawn(Supervisor.make({
          strategy,
          intensity: 1_000_000,
          backoff: false,
          children: ids.slice(0, 3).map(specOf)
        }))

        // ---- the model ----
        let model: Array<Entry> = ids.slice(0, 3).map((id) => ({ id, status: "running" as Status }))
        let expectedLog: Array<string> = []
        let retry: string | undefined
        /** the model's own copy of the failures set for a step, consumed by its starts */
        const modelFails = new Set<string>()
        const find = (id: string) => model.find((c) => c.id === id)
        const forget = (id: string) => {
          model = model.filter((c) => c.id !== id)
        }
        /** a start: fails (once) when the child's next start is set to fail */
        const start = (c: Entry): boolean => {
          if (modelFails.delete(c.id)) {
            expectedLog.push(`failed:${c.id}`)
            return false
          }
          expectedLog.push(`start:${c.id}`)
          c.status = "running"
          return true
        }
        const stop = (c: Entry) => {
          if (c.status === "running") expectedLog.push(`stop:${c.id}`)
          c.status = "stopped"
        }
        /** OTP's restart(Strategy, Child): the group as it is now */
        const restart = (failed: Entry) => {
          const at = model.indexOf(failed)
          const group = strategy === "one_for_one" ? [failed] : strategy === "one_for_all" ? [...model] : model.slice(at)
          for (const c of [...group].reverse()) {
            if (c === failed) continue
            stop(c)
            if (restartOf(c.id) === "temporary") forget(c.id)
          }
          failed.status = "stopped"
          for (const c of group) {
            if (find(c.id) !== c) continue
            if (!start(c)) {
              c.status = "restarting"
              retry = c.id
              return
            }
          }
        }
        const exited = (id: string, abnormal: boolean) => {
          const child = find(id)!
          expectedLog.push(`stop:${id}`)
          child.status = "stopped"
          const type = restartOf(id)
          if (type === "temporary") return forget(id)
          if (type === "transient" && !abnormal) return
          restart(child)
        }
        const tryAgain = () => {
          while (retry !== undefined) {
            const lead = find(retry)
            retry = undefined
            if (lead !== undefined && lead.status === "restarting") restart(lead)
          }
        }
        const call = (op: string, id: string): boolean => {
          const c = find(id)
          switch (op) {
            case "terminateChild": {
              if (c === undefined) return false
              stop(c)
              if (restartOf(id) === "temporary") forget(id)
              return true
            }
            case "restartChild": {
              if (c === undefined || c.status !== "stopped") return false
              return start(c)
            }
            case "deleteChild": {
              if (c === undefined || c.status !== "stopped") return false
              forget(id)
              return true
            }
            default: {
              if (c !== undefined) return false
              const entry: Entry = { id, status: "stopped" }
              if (!start(entry)) return false
              model.push(entry)
              return true
            }
          }
        }

        const trace: Array<string> = [strategy]
        log.length = 0
        for (let step = 0; step < STEPS; step++) {
          // some children's next start fails (once each)
          for (const id of ids) if (next() < 0.25) failNext.add(id)
          trace.push(`fail next: ${[...failNext].join(",")}`)
          modelFails.clear()
          for (const id of failNext) modelFails.add(id)
          expectedLog = []
          // the crash, kill or stop (Shutdown) of a running child, or none
          const running = model.filter((c) => c.status === "running")
          const kind = Math.floor(next() * 4)
          const victim = running.length > 0 && kind < 3 ? pick(running) : undefined
          const calls = Array.from({ length: Math.floor(next() * 3) }, () =>
            [pick(["terminateChild", "restartChild", "deleteChild", "startChild"]), pick(ids)] as const)
          trace.push(`${victim === undefined ? "no exit" : `${["crash", "kill", "stop"][kind]} ${victim.id}`}; ${calls.map(([op, id]) => `${op}(${id})`).join(" ")}`)
          if (victim !== undefined) {
            const ref = refs.get(victim.id)!
            if (kind === 0) yield* ref.tell(W.Crash())
            else if (kind === 1) yield* system.kill(ref)
            else yield* Effect.forkChild(system.stop(ref))
            yield* system.awaitExit(ref)
          }
          // queued behind the exit: served after the restart's attempt, before its retry
          const results = yield* Effect.forkChild(Effect.forEach(calls, ([op, id]) => {
            const effect = op === "terminateChild"
              ? Supervisor.terminateChild(sup, id)
              : op === "restartChild"
              ? Supervisor.restartChild(sup, id)
              : op === "deleteChild"
              ? Supervisor.deleteChild(sup, id)
              : Supervisor.startChild(sup, specOf(id))
            return Effect.map(Effect.exit(effect), Exit.isSuccess)
          }, { concurrency: "unbounded" }))
          if (victim !== undefined) exited(victim.id, kind < 2)
          const expected = calls.map(([op, id]) => call(op, id))
          tryAgain()
          // (each failing start takes 1 s: at most one per child)
          for (let i = 0; i < ids.length + 2; i++) {
            yield* settle(50)
            yield* TestClock.adjust("1 second")
          }
          yield* settle(50)
          const actual = yield* Fiber.join(results)
          const msg = `seed ${seed}: ${trace.join(" | ")}`
          assert.deepStrictEqual(actual, expected, `calls: ${msg}`)
          assert.deepStrictEqual(log, expectedLog, `log: ${msg}`)
          log.length = 0
          // the same starts failed (the failures not met stay set for the next step)
          assert.deepStrictEqual([...failNext].sort(), [...modelFails].sort(), `failures left: ${msg}`)
          const after = yield* Supervisor.whichChildren(sup)
          assert.deepStrictEqual(after.map((c) => [c.id, c.status]), model.map((c) => [c.id, c.status]), `children: ${msg}`)
          for (const c of after) if (c.status === "running") assert.isTrue(c.ref!.target.isAlive, msg)
        }
      }).pipe(Effect.provide(ActorSystem.layer())))
  }
})
