/**
 * A node that dies where its peer cannot see it, and comes back before the peer noticed: n2 is
 * killed behind a partition of the link n1 uses (its FIN and resets are held, as a kernel DROP
 * partition holds them), and restarted at once; the new incarnation dials n1 over the other
 * proxy, which works, long before n1's failure detector (8 s here) would have declared the old
 * one lost. n1 must then treat the old incarnation as gone at that moment (Erlang: a new
 * connection from a node with a new creation ends the old one):
 *
 * - the monitor and link n1 held on n2's actor fire with `NoConnection`;
 * - n1's ref to the old actor is refused (`NoProc`), and nothing sent to it reaches the new one;
 * - n1's registry forgets the old incarnation's names and learns the new one's;
 * - traffic to the new incarnation flows, in full, before and after the partition heals.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Probe, Sink } from "../fixtures/soak-app.ts"
import { start } from "./_soak.ts"

describe("soak: a node restarted behind a partition, before its peer noticed it die", () => {
  it.live("the new incarnation replaces the old at once: signals fire, old refs refused, registry follows, traffic flows", () =>
    Effect.gen(function*() {
      const { cluster, meshed, probe, sink, why } = yield* start({
        nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe", "sinks"] }],
        // a detector far slower than the restart: only the new incarnation can tell n1
        heartbeat: { interval: "250ms", acceptablePause: "8s" }
      })
      yield* meshed()
      // the scenario needs the connection between them dialled by n1 (over proxy n1→n2), so that
      // the restarted n2 can dial n1 over the other proxy. Whichever node's dial came through at
      // start keeps its connection; if it was n2's, that proxy refuses n2 for a moment so that
      // the connection n1 dials instead replaces it.
      if (cluster.proxy("n2", "n1").connections > 0) {
        cluster.proxy("n2", "n1").down()
        yield* cluster.eventually(Effect.suspend(() =>
          cluster.proxy("n1", "n2").connections > 0 ? meshed() : Effect.fail(new Error("n1 has not dialled n2 yet"))
        ))
        cluster.proxy("n2", "n1").up()
      }
      assert.strictEqual(cluster.proxy("n2", "n1").connections, 0, "the connection is n1's")
      const p1 = yield* probe("n1")
      const name = "sink-backpressure"
      assert.isTrue(yield* p1.ask(Probe.Watch({ node: "n2", name }), { timeout: "30 seconds" }))
      const old = yield* p1.ask(Probe.Remember({ node: "n2", name }), { timeout: "30 seconds" })
      yield* cluster.eventually(
        p1.ask(Probe.Whereis({ name: `${name}@n2` })).pipe(Effect.filterOrFail((i) => i === old, (i) => new Error(`whereis: ${i}`)))
      )
      const downsBefore = (yield* p1.ask(Probe.Info({ gc: false }))).nodeDowns["n2"] ?? 0
      cluster.proxy("n1", "n2").partition()
      yield* cluster.kill("n2")
      yield* cluster.restart("n2")

      const result = yield* Effect.gen(function*() {
        // n1 learns from the new incarnation's connection, not from its detector
        const watched = yield* cluster.eventually(
          p1.ask(Probe.Watched()).pipe(
            Effect.filterOrFail((w) => w.downs.length > 0 && w.exits.length > 0, (w) => new Error(`not yet: ${JSON.stringify(w)}`))
          ),
          "20 seconds"
        )
        assert.deepStrictEqual(watched, { downs: ["NoConnection"], exits: ["NoConnection"] })
        const answer = yield* cluster.eventually(
          p1.ask(Probe.SendRemembered({ from: "old", n: 1 }), { timeout: "10 seconds" }).pipe(
            Effect.filterOrFail((a) => a !== "NodeDown", () => new Error("n1 not reconnected yet"))
          )
        )
        assert.strictEqual(answer, "NoProc", "an ask to the old incarnation")
        const fresh = yield* sink("n2", name)
        assert.notStrictEqual(fresh.address.node.incarnation, old)
        yield* cluster.eventually(
          p1.ask(Probe.Whereis({ name: `${name}@n2` })).pipe(
            Effect.filterOrFail((i) => i === fresh.address.node.incarnation, (i) => new Error(`whereis: ${i}, old ${old}`))
          )
        )
        const flood = yield* p1.ask(
          Probe.Flood({ node: "n2", name, from: "n1-new", count: 300, mode: "tell", padBytes: 10, askTimeoutMillis: 0 }),
          { timeout: "60 seconds" }
        )
        assert.strictEqual(flood.ok, 300)
        const stats = yield* fresh.ask(Sink.Stats(), { timeout: "30 seconds" })
        assert.strictEqual(stats.by["n1-new"], 300, JSON.stringify(stats))
        assert.isUndefined(stats.by["old"], `a message to the old incarnation reached the new one: ${JSON.stringify(stats)}`)
        const info = yield* p1.ask(Probe.Info({ gc: false }))
        assert.isAbove(info.nodeDowns["n2"] ?? 0, downsBefore)
        // the path under test: the old connection ended because the new incarnation arrived
        assert.isTrue(cluster.logs("n1").some((l) => /n2 restarted \(new incarnation/.test(l)), why(["n1"]))
        return fresh
      }).pipe(Effect.tapCause(() => Effect.sync(() => console.error(why()))))

      // the heal lets the dead connection's held end through: nothing changes for the new one
      yield* cluster.heal()
      yield* Effect.sleep("1 second")
      yield* meshed()
      const again = yield* p1.ask(
        Probe.Flood({ node: "n2", name, from: "n1-healed", count: 100, mode: "tell", padBytes: 10, askTimeoutMillis: 0 }),
        { timeout: "60 seconds" }
      )
      assert.strictEqual(again.ok, 100)
      const stats = yield* result.ask(Sink.Stats(), { timeout: "30 seconds" })
      assert.strictEqual(stats.by["n1-healed"], 100, JSON.stringify(stats))
      assert.deepStrictEqual(stats.duplicates, {})
      assert.deepStrictEqual(stats.outOfOrder, {})
    }).pipe(Effect.scoped), 120_000)
})
