/**
 * Ends of a node while traffic is heaviest, between real processes:
 *
 * - a graceful stop (SIGTERM) of a node that two peers are flooding (tells into a slow actor,
 *   asks): the node exits by itself, cleanly (exit code 0), in bounded time — a stopping
 *   node reads its sockets only to drain them, and no peer's flood can keep it alive; the
 *   peers' floods end (asks with `NodeDown`), they log the loss as routine, and the node comes
 *   back when started again;
 * - a `kill -9` of a node in the middle of 16 MiB asks to it: the asks fail with `NodeDown`,
 *   the sender's memory goes back down (the buffers of the large messages are let go), and
 *   large asks to the restarted node succeed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Probe } from "../fixtures/soak-app.ts"
import { MiB, start } from "./_soak.ts"

describe("soak: a node stopped or killed under heavy traffic", () => {
  it.live("SIGTERM while flooded: clean exit, the floods end, it comes back; kill -9 mid 16 MiB asks: NodeDown, memory let go", () =>
    Effect.gen(function*() {
      const { cluster, meshed, probe, why } = yield* start({
        nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe", "sinks"] }, { name: "n3", run: ["probe"] }],
        // the test process forwards every byte of the 16 MiB asks through its fault proxies and
        // can stall for a second: the nodes must not take that for the client's death (the
        // client's own detector keeps its 3 s pause, and a kill is seen at once by its reset)
        heartbeat: { interval: "250ms", acceptablePause: "5s" }
      })
      return yield* Effect.gen(function*() {
      yield* meshed()
      const p1 = yield* probe("n1")
      const p3 = yield* probe("n3")
      const flood = (p: typeof p1, from: string, mode: "tell" | "ask") =>
        p.ask(
          Probe.Flood({ node: "n2", name: "sink-backpressure", from, count: 50_000, mode, padBytes: 200, askTimeoutMillis: 30_000 }),
          { timeout: "90 seconds" }
        ).pipe(Effect.forkScoped)
      const floods = [yield* flood(p1, "n1", "tell"), yield* flood(p3, "n3", "ask")]
      yield* Effect.sleep("1500 millis")
      const stopped = yield* Effect.gen(function*() {
        yield* cluster.kill("n2", "SIGTERM")
        return true
      }).pipe(Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.succeed(false) }))
      assert.isTrue(stopped, `n2 exits by itself under the floods\n${why()}`)
      const [tells, asks] = yield* Effect.forEach(floods, Fiber.join)
      assert.isAbove(tells!.deadLetters["NoRoute"] ?? 0, 0, JSON.stringify(tells))
      assert.isAbove(asks!.errors["NodeDown"] ?? 0, 0, JSON.stringify(asks))
      for (const tag of Object.keys(asks!.errors)) assert.include(["NodeDown"], tag, JSON.stringify(asks))
      assert.isTrue(cluster.logs("n2").some((l) => l.includes("@@telex-stats")), `n2 stopped in order (stats line)\n${why(["n2"])}`)
      // the peers saw an orderly close, not a fault
      for (const n of ["n1", "n3"]) {
        const faults = cluster.logs(n).filter((l) => /WARN.*connection to n2 lost/.test(l))
        assert.deepStrictEqual(faults, [], `${n} logged n2's stop as a fault\n${why([n])}`)
      }
      yield* cluster.restart("n2")
      yield* meshed()

      // kill -9 in the middle of large asks
      const baseline = yield* p1.ask(Probe.Info({ gc: true }))
      // more blobs than any machine sends in the 2 s before the kill (16 GiB): the kill is always
      // mid-transfer, and the blobs left fail at once with NodeDown
      const blobs = yield* p1.ask(Probe.Blobs({ node: "n2", blobs: 1_000, blobBytes: 16 * MiB }), { timeout: "120 seconds" }).pipe(
        Effect.forkScoped
      )
      yield* Effect.sleep("2 seconds")
      yield* cluster.kill("n2")
      const cut = yield* Fiber.join(blobs)
      assert.isAbove(cut.errors["blob:NodeDown"] ?? 0, 0, JSON.stringify(cut))
      for (const tag of Object.keys(cut.errors)) assert.match(tag, /:NodeDown$/, JSON.stringify(cut))
      // the sender lets the large buffers go
      const after = yield* cluster.eventually(
        p1.ask(Probe.Info({ gc: true })).pipe(
          Effect.filterOrFail(
            (i) => i.rss - baseline.rss < 64 * MiB && i.heapUsed - baseline.heapUsed < 16 * MiB,
            (i) => new Error(`rss ${baseline.rss} → ${i.rss}, heap ${baseline.heapUsed} → ${i.heapUsed}`)
          )
        ),
        "20 seconds"
      )
      void after
      yield* cluster.restart("n2")
      yield* meshed()
      const again = yield* p1.ask(Probe.Blobs({ node: "n2", blobs: 3, blobBytes: 16 * MiB }), { timeout: "120 seconds" })
      assert.deepStrictEqual(again.errors, {}, JSON.stringify(again))
      assert.strictEqual(again.blobsOk, 3)
      }).pipe(Effect.tapCause(() => Effect.sync(() => console.error(why()))))
    }).pipe(Effect.scoped), 240_000)
})
