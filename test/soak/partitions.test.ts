/**
 * Partitions between real node processes through the fault proxies (Jepsen's partition nemesis):
 * a silent drop partition, connection resets, latency, a one-way (half-open) partition and a
 * frozen receiver (SIGSTOP), each while n2 sends sequenced tells and asks to a slow actor on n1, then healed.
 *
 * What must hold in every phase:
 * - every ask ends: answered, or a typed error (`NodeDown`, `AskTimeout`) — none hangs;
 * - tells are at most once and in order: the actor never handles one twice or out of order;
 * - after the heal the link comes back and traffic flows in full;
 * - latency below the failure detector's pause is not a failure (no NodeDown).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Probe, Sink } from "../fixtures/soak-app.ts"
import { MiB, start } from "./_soak.ts"

describe("soak: partitions, resets, latency and one-way loss between processes, then heal", () => {
  it.live("asks end with typed errors, tells never duplicate or reorder, the link comes back", () =>
    Effect.gen(function*() {
      const { cluster, meshed, probe, sink, why } = yield* start({
        nodes: [{ name: "n1", run: ["probe", "sinks"] }, { name: "n2", run: ["probe"] }],
        // the nodes also watch the test process's own client, and the test process (which
        // forwards the proxies' bytes) can stall for over a second on a loaded machine: with a
        // 1 s pause they took that for the client's death and failed its asks with NodeDown.
        // The faults below last longer than this pause.
        heartbeat: { interval: "250ms", acceptablePause: "3s" }
      })
      yield* meshed()
      const p1 = yield* probe("n1")
      const p2 = yield* probe("n2")
      const target = yield* sink("n1", "sink-backpressure")
      const downs = (p: typeof p1, peer: string) => p.ask(Probe.Info({ gc: false })).pipe(Effect.map((i) => i.nodeDowns[peer] ?? 0))

      /** sequenced tells and asks from n2 to n1's slow actor while `fault` runs; then heal */
      const phase = (label: string, fault: Effect.Effect<void>, options: { readonly expectLoss: boolean; readonly tells?: number; readonly asks?: number }) =>
        Effect.gen(function*() {
          yield* meshed()
          const downsBefore = yield* downs(p2, "n1")
          const flood = (mode: "tell" | "ask", count: number) =>
            p2.ask(
              Probe.Flood({ node: "n1", name: "sink-backpressure", from: `${label}-${mode}`, count, mode, padBytes: 100, askTimeoutMillis: 8_000 }),
              { timeout: "120 seconds" }
            )
          const [tellCount, askCount] = [options.tells ?? 4_000, options.asks ?? 2_000]
          const [tells, asks] = yield* Effect.all([
            flood("tell", tellCount),
            flood("ask", askCount),
            Effect.andThen(Effect.sleep("300 millis"), fault)
          ], { concurrency: 3 })
          yield* cluster.heal()
          const account = `${label}: tells ${JSON.stringify(tells)}\nasks ${JSON.stringify(asks)}`
          assert.strictEqual(asks.ok + Object.values(asks.errors).reduce((a, b) => a + b, 0), asks.sent, `every ask ended: ${account}`)
          for (const tag of Object.keys(asks.errors)) assert.include(["NodeDown", "AskTimeout"], tag, `typed errors only: ${account}`)
          for (const tag of Object.keys(tells.deadLetters)) assert.include(["NoRoute", "NodeDown"], tag, `typed drops only: ${account}`)
          if (options.expectLoss) {
            assert.isAbove(yield* downs(p2, "n1"), downsBefore, `n2 saw the link go down: ${account}\n${why()}`)
          } else {
            assert.deepStrictEqual(asks.errors, {}, account)
            assert.strictEqual(yield* downs(p2, "n1"), downsBefore, `no NodeDown: ${account}\n${why()}`)
          }
          // healed: the link is back and a new sequence arrives in full, after everything else
          yield* meshed()
          const after = yield* p2.ask(
            Probe.Flood({ node: "n1", name: "sink-backpressure", from: `${label}-after`, count: 200, mode: "tell", padBytes: 10, askTimeoutMillis: 0 }),
            { timeout: "60 seconds" }
          )
          assert.strictEqual(after.ok, 200, `${label}: after the heal ${JSON.stringify(after)}`)
          const stats = yield* target.ask(Sink.Stats(), { timeout: "60 seconds" })
          assert.deepStrictEqual(stats.duplicates, {}, `${label}: nothing handled twice: ${JSON.stringify(stats)}`)
          // one sender's tells stay in order (concurrent asks have no order to keep)
          for (const from of [`${label}-tell`, `${label}-after`]) {
            assert.isUndefined(stats.outOfOrder[from], `${label}: ${from} in order: ${JSON.stringify(stats)}`)
          }
          assert.strictEqual(stats.by[`${label}-after`], 200, `${label}: ${JSON.stringify(stats)}`)
          assert.isAtMost(stats.by[`${label}-tell`] ?? 0, tellCount, `${label}: at most once: ${JSON.stringify(stats)}`)
          assert.isAtMost(stats.by[`${label}-ask`] ?? 0, askCount, `${label}: at most once: ${JSON.stringify(stats)}`)
          if (!options.expectLoss) assert.strictEqual(stats.by[`${label}-tell`], tellCount, `${label}: nothing lost: ${JSON.stringify(stats)}`)
        }).pipe(Effect.tapCause(() => Effect.sync(() => console.error(why()))))

      const figures = () => Effect.forEach([p1, p2], (p) => p.ask(Probe.Info({ gc: true }), { timeout: "10 seconds" }))
      const before = yield* figures()
      // a silent partition longer than the failure detector's pause (3 s), then the heal
      yield* phase("drop", Effect.andThen(cluster.partition("n1", "n2"), Effect.sleep("4500 millis")), { expectLoss: true })
      // resets mid-stream, three times
      yield* phase(
        "reset",
        Effect.forEach([1, 2, 3], () => Effect.andThen(cluster.reset("n1", "n2"), Effect.sleep("400 millis")), { discard: true }),
        { expectLoss: true }
      )
      // latency well below the pause: slow, not lost (a 16-message mailbox over a 300 ms round
      // trip takes about its capacity per round trip: fewer messages)
      const latency = Effect.gen(function*() {
        for (const [a, b] of [["n1", "n2"], ["n2", "n1"]] as const) {
          for (const direction of ["upstream", "downstream"] as const) {
            yield* cluster.toxic(a, b, `latency-${direction}`, direction, { type: "latency", latencyMillis: 150, jitterMillis: 50 })
          }
        }
        yield* Effect.sleep("2 seconds")
      })
      yield* phase("latency", latency, { expectLoss: false, tells: 600, asks: 300 })
      // one way: n1's bytes never reach n2 (on both proxies), n2's reach n1
      const oneWay = Effect.gen(function*() {
        yield* cluster.toxic("n1", "n2", "one-way", "upstream", { type: "timeout", timeoutMillis: 0 })
        yield* cluster.toxic("n2", "n1", "one-way", "downstream", { type: "timeout", timeoutMillis: 0 })
        yield* Effect.sleep("5 seconds")
      })
      yield* phase("one-way", oneWay, { expectLoss: true })
      // the receiving process frozen (SIGSTOP) past the pause, then resumed: it reads a stale
      // backlog, finds its connection gone, and reconnects
      yield* phase("pause", Effect.andThen(cluster.pause("n1"), Effect.andThen(Effect.sleep("4500 millis"), cluster.resume("n1"))), {
        expectLoss: true
      })
      assert.isAbove(yield* downs(p1, "n2"), 0, "n1 saw the link go down too")
      // soak: after the five faults and their heals, both nodes hold what they held before
      yield* meshed()
      yield* Effect.sleep("500 millis")
      const after = yield* figures()
      for (const [i, b] of before.entries()) {
        const a = after[i]!
        const report = `${a.node}: fds ${b.fds} → ${a.fds}, handles ${b.handles} → ${a.handles}, timers ${b.timers} → ${a.timers}, heap ${
          (b.heapUsed / MiB).toFixed(1)
        } → ${(a.heapUsed / MiB).toFixed(1)} MiB`
        yield* Effect.logInfo(`after the partition phases: ${report}`)
        assert.isAtMost(a.fds, b.fds + 3, report)
        assert.isAtMost(a.handles, b.handles + 3, report)
        assert.isAtMost(a.timers, b.timers + 3, report)
        assert.isBelow(a.heapUsed - b.heapUsed, 16 * MiB, report)
      }
    }).pipe(Effect.scoped), 300_000)
})
