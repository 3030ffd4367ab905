/**
 * `kill -9` of a node under load, then a restart with the same name (a new incarnation), in
 * cycles — Jepsen's kill nemesis on real `telex node` processes. Node n3 floods a slow actor on
 * n2; n1 monitors that actor and is linked to it (trapping exits), and keeps a ref to it.
 *
 * Each cycle: n2 is killed mid-flood. The survivors detect it; n1's monitor and link fire with
 * `NoConnection`; n3's flood ends (a sender held by the dead node's flow control is let go,
 * never left waiting). n2 is started again: it rejoins, messages sent to the ref of the old
 * incarnation are refused (`NoProc`, a dead letter) and never reach the new incarnation's actor,
 * and traffic to the new one flows.
 *
 * Soak: after the cycles, the survivors' file descriptors, handles, timers and heap (after a
 * GC) are back near where they were after a first warm-up cycle.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Probe, Sink } from "../fixtures/soak-app.ts"
import { MiB, start } from "./_soak.ts"

const CYCLES = 3

describe("soak: kill -9 under load and restart with the same name", () => {
  it.live(`${CYCLES + 1} kill/restart cycles: monitors and links fire, old refs refused, traffic resumes, survivors do not leak`, () =>
    Effect.gen(function*() {
      const { cluster, meshed, probe, sink, why } = yield* start({
        nodes: [
          { name: "n1", run: ["probe"] },
          { name: "n2", run: ["probe", "sinks"] },
          { name: "n3", run: ["probe"] }
        ],
        // the test process (client, fault proxies) can stall for a second on a loaded machine:
        // the nodes must not take it for dead (kills are seen at once by their resets)
        heartbeat: { interval: "250ms", acceptablePause: "3s" }
      })
      yield* meshed()
      const p1 = yield* probe("n1")
      const p3 = yield* probe("n3")
      const info = (p: typeof p1) => p.ask(Probe.Info({ gc: true }), { timeout: "10 seconds" })

      const cycle = (i: number) =>
        Effect.gen(function*() {
          yield* meshed()
          assert.isTrue(yield* p1.ask(Probe.Watch({ node: "n2", name: "sink-backpressure" }), { timeout: "30 seconds" }))
          const oldIncarnation = yield* p1.ask(Probe.Remember({ node: "n2", name: "sink-backpressure" }), { timeout: "30 seconds" })
          const downsBefore = (yield* info(p3)).nodeDowns["n2"] ?? 0
          // a flood that cannot finish before the kill: n3 is held by n2's flow control, and the
          // sink takes 1 ms a message. What n3 sends before n2's Hold reaches it is accepted within
          // n2's hold slack (8 MiB): large messages keep that to a few thousand, which the Stats
          // ask below waits behind
          const flood = yield* p3.ask(
            Probe.Flood({ node: "n2", name: "sink-backpressure", from: `n3-${i}`, count: 100_000, mode: "tell", padBytes: 2_000, askTimeoutMillis: 0 }),
            { timeout: "180 seconds" }
          ).pipe(Effect.forkScoped)
          const target = yield* sink("n2", "sink-backpressure")
          // four node processes share the machine: the Stats ask's time is not what is tested
          yield* cluster.eventually(
            target.ask(Sink.Stats(), { timeout: "30 seconds" }).pipe(
              Effect.filterOrFail((s) => (s.by[`n3-${i}`] ?? 0) > 0, () => new Error("the flood has not reached n2"))
            ),
            "90 seconds"
          )
          yield* cluster.kill("n2")

          // the flood ends: the held sender is let go when the connection is lost
          const flooded = yield* Fiber.join(flood)
          // tells to a node that is gone are dead letters (NoRoute), not errors
          assert.isAbove(flooded.deadLetters["NoRoute"] ?? 0, 0, `cycle ${i}: the flood was cut by the kill: ${JSON.stringify(flooded)}`)
          // n1's monitor and link fired with NoConnection
          const watched = yield* cluster.eventually(
            p1.ask(Probe.Watched()).pipe(
              Effect.filterOrFail((w) => w.downs.length > 0 && w.exits.length > 0, (w) => new Error(`not yet: ${JSON.stringify(w)}`))
            ),
            "20 seconds"
          )
          assert.deepStrictEqual(watched, { downs: ["NoConnection"], exits: ["NoConnection"] }, `cycle ${i}`)
          const seen = yield* info(p3)
          assert.isAbove(seen.nodeDowns["n2"] ?? 0, downsBefore, `cycle ${i}: n3 saw n2 go down`)

          yield* cluster.restart("n2")
          yield* meshed()
          // the old incarnation's ref is refused, and nothing sent to it reaches the new actor
          const answer = yield* cluster.eventually(
            p1.ask(Probe.SendRemembered({ from: `old-${i}`, n: 1 }), { timeout: "10 seconds" }).pipe(
              Effect.filterOrFail((a) => a !== "NodeDown", () => new Error("n1 not reconnected yet"))
            )
          )
          assert.strictEqual(answer, "NoProc", `cycle ${i}: an ask to the old incarnation`)
          const fresh = yield* sink("n2", "sink-backpressure")
          assert.notStrictEqual(fresh.address.node.incarnation, oldIncarnation, `cycle ${i}: a new incarnation`)
          // traffic resumes: a short flood to the new incarnation is handled in full
          const again = yield* p3.ask(
            Probe.Flood({ node: "n2", name: "sink-backpressure", from: `n3-${i}-again`, count: 200, mode: "tell", padBytes: 100, askTimeoutMillis: 0 }),
            { timeout: "60 seconds" }
          )
          assert.strictEqual(again.ok, 200, JSON.stringify(again))
          const stats = yield* fresh.ask(Sink.Stats(), { timeout: "30 seconds" })
          assert.strictEqual(stats.by[`n3-${i}-again`], 200, JSON.stringify(stats))
          assert.isUndefined(stats.by[`old-${i}`], `cycle ${i}: a message to the old incarnation reached the new one: ${JSON.stringify(stats)}`)
          assert.deepStrictEqual(stats.outOfOrder, {}, JSON.stringify(stats))
          assert.deepStrictEqual(stats.duplicates, {}, JSON.stringify(stats))
        }).pipe(Effect.tapCause(() => Effect.sync(() => console.error(why()))))

      yield* cycle(0) // warm-up: caches, pools, the first reconnection's state
      const before = { n1: yield* info(p1), n3: yield* info(p3) }
      for (let i = 1; i <= CYCLES; i++) yield* cycle(i)
      yield* Effect.sleep("500 millis") // sockets of the last cycle finish closing
      const after = { n1: yield* info(p1), n3: yield* info(p3) }
      for (const n of ["n1", "n3"] as const) {
        const [b, a] = [before[n], after[n]]
        yield* Effect.logInfo(
          `${n} after ${CYCLES} kill/restart cycles: fds ${b.fds} → ${a.fds}, handles ${b.handles} → ${a.handles}, timers ${b.timers} → ${a.timers}, ` +
            `actors ${b.actors} → ${a.actors}, heap ${(b.heapUsed / MiB).toFixed(1)} → ${(a.heapUsed / MiB).toFixed(1)} MiB`
        )
        const figures = `${n}: ${JSON.stringify({ before: b, after: a })}`
        assert.isAtMost(a.fds, b.fds + 2, `file descriptors: ${figures}`)
        assert.isAtMost(a.handles, b.handles + 2, `handles: ${figures}`)
        assert.isAtMost(a.timers, b.timers + 2, `timers: ${figures}`)
        assert.isAtMost(a.actors, b.actors + 2, `actors: ${figures}`)
        assert.isBelow(a.heapUsed - b.heapUsed, 8 * MiB, `heap: ${figures}`)
      }
    }).pipe(Effect.scoped), 300_000)
})
