/**
 * A dynamic supervisor of many temporary children (sessions, connections) whose children all
 * exit at once: each exit removes the child's entry in constant time, so the process spends
 * about half a second of CPU on 60 000 exits here. With a scan and a splice of the supervisor's
 * list per exit it spent 3.3 s (6 s of wall time on a loaded machine), its mailbox and the
 * event loop blocked meanwhile (100 000: its own asks timed out); the bound, 1.5 s of CPU time
 * (not wall time: a loaded machine does not move it much), is between the two.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Actor, ActorContext, ActorSystem, Supervisor } from "../../src/index.ts"

const Session = Actor.make("soak/DynamicChildrenExit", {
  Quit: Actor.tell({})
})

const session = Session.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  return { Quit: () => ctx.stop() }
}))

const CHILDREN = 60_000

describe("soak: many dynamic children exit at once", () => {
  it.live(`${CHILDREN} temporary children exit: their supervisor has removed them within 1.5 s of CPU`, () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const sup = yield* system.spawn(Supervisor.dynamic({
        backoff: false,
        template: (_: unknown, i: number) => Supervisor.child(`s${i}`, session, { restart: "temporary" })
      }))
      const refs = yield* Effect.forEach(
        Array.from({ length: CHILDREN }, (_, i) => i),
        (i) => Supervisor.startChild(sup, Supervisor.child(`s${i}`, session, { restart: "temporary" }))
      )
      assert.strictEqual((yield* Supervisor.countChildren(sup)).workers, CHILDREN)
      // the process's CPU time, not the wall clock's: what the exits cost, however loaded the machine
      const cpu = process.cpuUsage()
      const started = performance.now()
      for (const ref of refs) ref.tellUnsafe(Session.Quit())
      let left = CHILDREN
      while (left > 0 && performance.now() - started < 10_000) {
        yield* Effect.sleep("50 millis")
        left = (yield* Supervisor.countChildren(sup).pipe(Effect.timeout("10 seconds"))).workers
      }
      const used = process.cpuUsage(cpu)
      const millis = (used.user + used.system) / 1000
      assert.strictEqual(left, 0)
      assert.isBelow(millis, 1_500, `${CHILDREN} exits took ${Math.round(millis)} ms of CPU`)
    }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer())), 60_000)
})
