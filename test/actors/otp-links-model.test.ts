/**
 * Links, monitors, trapping and exit signals against a model of Erlang's semantics
 * (erl_link_SUITE, monitor_SUITE, process_SUITE's exit/2 cases), on seeded random sequences:
 * actors link, unlink and monitor, trap exits or not, crash, stop themselves normally, are
 * killed, or get an exit signal from outside with `Normal`, `Shutdown`, an `Error` or `Killed`;
 * some take a second of virtual time to run their finalizers, so signals also reach actors that
 * are stopping (a process in its terminate/2). After every step each actor is running, stopping
 * or gone as in the model, each gone one with the model's exit reason, each trapping actor
 * received the model's exit signals and each watcher the model's `Down`s.
 *
 * The model: an actor that is gone sends its reason to the actors linked to it, and its links are
 * gone. A running actor that traps exits receives it as a message; one that does not ends with the
 * same reason, unless it is `Normal` (`Killed` over a link is trappable; an actor it ends is gone
 * at once). An exit signal from outside (`exit/2`) with `Killed` ends it at once; otherwise it is
 * received by a trapping actor, ignored by another if `Normal`, and ends it with its reason if
 * not. A stopping actor (alive until it is gone) ends at once with an abnormal signal's reason if
 * it does not trap exits and is not stopping because an earlier signal ended it. A link to an
 * actor that is gone gives an exit signal `NoProc`. A monitor gives its watcher one `Down` with
 * the reason the actor is gone with (`NoProc` at once if it is gone already), handled if the
 * watcher still runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, ExitReason } from "../../src/index.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"
import { settle } from "./_helpers.ts"
import { prng as random } from "../../src/testing/FaultProxy.ts"

/** mulberry32: a small seeded generator, so that a failing seed replays */

const L = Actor.make("test/LinksModel", {
  /** runs a function inside the actor (closures: local only) */
  Run: Actor.ask({ f: Schema.Any }),
  Crash: Actor.tell({}),
  Stop: Actor.tell({})
})

const N = 6
// MODEL_SEEDS=3000 for a longer run (about 13 s), MODEL_FROM=n to replay from seed n
const SEEDS = Number(process.env.MODEL_SEEDS ?? 16)
const STEPS = 30

/** a reason as the model writes it: an `Error` by what it says (its message carries a stack) */
const describeReason = (r: ExitReason.ExitReason) =>
  r._tag === "Error" ? `Error(${/crash \d|from outside/.exec(r.message)?.[0] ?? r.message})` : r._tag

type State = "running" | "stopping" | "gone"

describe("links and exit signals against a model of Erlang's", () => {
  for (let seed = Number(process.env.MODEL_FROM ?? 1); seed <= SEEDS; seed++) {
    it.effect(`seed ${seed}`, () =>
      Effect.gen(function*() {
        const system = yield* ActorSystem
        const kernel = kernelOf(system)
        const next = random(seed)
        const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
        const slow = Array.from({ length: N }, () => next() < 0.5)
        let over = false
        const received: Array<Array<string>> = Array.from({ length: N }, () => [])
        const refs: Array<ActorRef.ActorRef<typeof L.defs>> = []
        const keyIndex = new Map<string, number>()
        for (let i = 0; i < N; i++) {
          const ref = yield* system.spawn(L.behavior(Effect.gen(function*() {
            const ctx = yield* ActorContext
            // (not once the test is over: its system's stop would wait for virtual time)
            if (slow[i]) yield* Effect.addFinalizer(() => Effect.suspend(() => over ? Effect.void : Effect.sleep("1 second")))
            return {
              Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<void>)(ctx),
              Crash: () => Effect.die(new Error(`crash ${i}`)),
              Stop: () => ctx.stop(),
              onDown: (down) => Effect.sync(() => void downs[i]!.push(`${keyIndex.get(down.actor.key)}:${describeReason(down.reason)}`)),
              onExit: (signal) =>
                Effect.sync(() => void received[i]!.push(`${keyIndex.get(signal.from.key) ?? "outside"}:${describeReason(signal.reason)}`))
            }
          })))
          refs.push(ref)
          keyIndex.set(ref.key, i)
        }
        // the model
        const state: Array<State> = Array.from({ length: N }, () => "running")
        const trapping = Array.from({ length: N }, () => false)
        const bySignal = Array.from({ length: N }, () => false)
        const reasons: Array<string | undefined> = Array.from({ length: N }, () => undefined)
        /** stopping actors, in the order they began to stop (their finalizers end in that order) */
        let stopping: Array<number> = []
        const links = new Set<string>()
        /** [watcher, watched] */
        let monitors: Array<readonly [number, number]> = []
        /** Downs sent this step: a watcher handles them if it still runs once the step's signals are through */
        let pendingDowns: Array<readonly [number, string]> = []
        const downs: Array<Array<string>> = Array.from({ length: N }, () => [])
        const expectedDowns: Array<Array<string>> = Array.from({ length: N }, () => [])
        const linkKey = (i: number, j: number) => i < j ? `${i}-${j}` : `${j}-${i}`
        const expected: Array<Array<string>> = Array.from({ length: N }, () => [])
        const gone = (i: number, reason: string) => {
          if (state[i] === "gone") return
          state[i] = "gone"
          reasons[i] = reason
          stopping = stopping.filter((s) => s !== i)
          for (const [w, t] of monitors) if (t === i) pendingDowns.push([w, `${i}:${reason}`])
          monitors = monitors.filter(([w, t]) => t !== i && w !== i)
          for (let j = 0; j < N; j++) {
            if (j === i || !links.has(linkKey(i, j))) continue
            links.delete(linkKey(i, j))
            overLink(j, i, reason)
          }
        }
        /** a running actor ends: it stops (slow) or is gone at once (as when killed) */
        const end = (i: number, reason: string, signal: boolean) => {
          if (!slow[i] || reason === "Killed") return gone(i, reason)
          state[i] = "stopping"
          reasons[i] = reason
          bySignal[i] = signal
          stopping.push(i)
        }
        /** an abnormal signal to a stopping actor */
        const toStopping = (i: number, reason: string) => {
          if (trapping[i] || bySignal[i] || reason === "Normal") return
          gone(i, reason)
        }
        const overLink = (j: number, from: number, reason: string) => {
          if (state[j] === "gone") return
          if (state[j] === "stopping") return toStopping(j, reason)
          if (trapping[j]) expected[j]!.push(`${from}:${reason}`)
          else if (reason !== "Normal") end(j, reason, true)
        }
        const exitFromOutside = (i: number, reason: string) => {
          if (state[i] === "gone") return
          if (reason === "Killed") return gone(i, "Killed")
          if (state[i] === "stopping") return toStopping(i, reason)
          if (trapping[i]) expected[i]!.push(`outside:${reason}`)
          else if (reason !== "Normal") end(i, reason, true)
        }
        const trace: Array<string> = [`slow ${slow.flatMap((s, i) => s ? [i] : []).join(",")}`]
        /** what differs from the model (checked once the finalizers have ended: a failing test must not hang its system's stop) */
        const differences = Effect.fnUntraced(function*() {
          const found: Array<string> = []
          for (let k = 0; k < N; k++) {
            const registered = kernel.local(refs[k]!.address.id) !== undefined
            const actual: State = refs[k]!.target.isAlive ? "running" : registered ? "stopping" : "gone"
            if (actual !== state[k]) found.push(`${k} is ${actual}, not ${state[k]}`)
            else if (state[k] === "gone") {
              const reason = describeReason(yield* system.awaitExit(refs[k]!))
              if (reason !== reasons[k]) found.push(`${k} ended with ${reason}, not ${reasons[k]}`)
            }
            const got = [...received[k]!].sort().join(" ")
            const want = [...expected[k]!].sort().join(" ")
            if (got !== want) found.push(`${k} received [${got}], not [${want}]`)
            const gotDowns = [...downs[k]!].sort().join(" ")
            const wantDowns = [...expectedDowns[k]!].sort().join(" ")
            if (gotDowns !== wantDowns) found.push(`${k} got the Downs [${gotDowns}], not [${wantDowns}]`)
          }
          return found
        })
        let failure: Array<string> = []
        for (let step = 0; step < STEPS; step++) {
          const running = state.flatMap((s, i) => s === "running" ? [i] : [])
          const notGone = state.flatMap((s, i) => s !== "gone" ? [i] : [])
          if (notGone.length === 0) break
          const op = Math.floor(next() * 11)
          if (op === 9 || running.length === 0) {
            trace.push("1 s")
            yield* TestClock.adjust("1 second")
            for (const i of [...stopping]) gone(i, reasons[i]!)
          } else if (op >= 7) {
            const i = pick(notGone)
            const reason = op === 8 ? ExitReason.killed : pick([ExitReason.normal, ExitReason.shutdown, ExitReason.error("from outside")])
            trace.push(`exit ${i} ${describeReason(reason)}`)
            yield* system.exit(refs[i]!, reason)
            exitFromOutside(i, describeReason(reason))
          } else {
            const i = pick(running)
            const j = pick(state.flatMap((_, k) => k !== i ? [k] : []))
            // (not awaited: an actor its own link ends answers once it is gone, after its finalizers)
            const run = (f: (ctx: ActorContext["Service"]) => Effect.Effect<void>) => Effect.forkChild(Effect.exit(refs[i]!.ask(L.Run({ f }))))
            if (op === 10) {
              trace.push(`monitor ${i} ${j}`)
              yield* run((ctx) => Effect.asVoid(ctx.monitor(refs[j]!)))
              if (state[j] === "gone") pendingDowns.push([i, `${j}:NoProc`])
              else monitors.push([i, j])
            } else if (op <= 1) {
              trace.push(`link ${i} ${j}`)
              yield* run((ctx) => ctx.link(refs[j]!))
              if (state[j] === "gone") overLink(i, j, "NoProc")
              else links.add(linkKey(i, j))
            } else if (op === 2) {
              trace.push(`unlink ${i} ${j}`)
              yield* run((ctx) => ctx.unlink(refs[j]!))
              links.delete(linkKey(i, j))
            } else if (op === 3) {
              const on = !trapping[i]
              trace.push(`trap ${i} ${on}`)
              yield* run((ctx) => ctx.trapExit(on))
              trapping[i] = on
            } else if (op === 4) {
              trace.push(`crash ${i}`)
              yield* refs[i]!.tell(L.Crash())
              end(i, `Error(crash ${i})`, false)
            } else if (op === 5) {
              trace.push(`stop ${i}`)
              yield* refs[i]!.tell(L.Stop())
              end(i, "Normal", false)
            } else {
              trace.push(`exit ${i} Killed (system.kill)`)
              yield* Effect.forkChild(system.kill(refs[i]!))
              gone(i, "Killed")
            }
          }
          yield* settle(30)
          for (const [w, down] of pendingDowns) if (state[w] === "running") expectedDowns[w]!.push(down)
          pendingDowns = []
          failure = yield* differences()
          if (failure.length > 0) break
        }
        // the rest of the stops end
        const ended = failure.length > 0
        trace.push("end")
        for (let round = 0; round < N; round++) {
          yield* TestClock.adjust("1 second")
          for (const i of [...stopping]) gone(i, reasons[i]!)
          yield* settle(30)
          for (const [w, down] of pendingDowns) if (state[w] === "running") expectedDowns[w]!.push(down)
          pendingDowns = []
        }
        if (!ended) failure = yield* differences()
        over = true
        assert.deepStrictEqual(failure, [], `seed ${seed}: ${trace.join(" | ")}`)
      }).pipe(Effect.provide(ActorSystem.layer())))
  }
})
