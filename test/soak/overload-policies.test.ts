/**
 * Overload between real node processes (Pekko Artery's "slow consumer" and Erlang's busy dist
 * port, across `telex node` processes behind fault proxies): node n2 floods a slow actor on n1
 * (capacity 16, 1 ms per message) under each overflow policy. What must hold for each:
 *
 * - the link stays up (no NodeDown on either side: heartbeats are not starved by the flood);
 * - other actors on both nodes answer asks throughout (generous timeouts, no latency bound);
 * - the sender's memory stays bounded (RSS growth far below the 64 MiB queue limit);
 * - every message is accounted for: handled by the sink, or a typed drop (a dead letter with
 *   reason `MailboxFull` on one side, or a `MailboxFull` error at the sender under `fail`) —
 *   none lost silently, none handled twice or out of order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Probe, Sink } from "../fixtures/soak-app.ts"
import { MiB, pingWhile, start } from "./_soak.ts"

const COUNT = 2_000

describe("soak: a slow consumer on another process under each overflow policy", () => {
  it.live("the link stays up, both nodes answer, the sender stays bounded, every message is handled or a typed drop", () =>
    Effect.gen(function*() {
      const { cluster, meshed, probe, sink, why } = yield* start({
        nodes: [{ name: "n1", run: ["probe", "sinks"] }, { name: "n2", run: ["probe"] }],
        // the test process (client, fault proxies) can stall for a second on a loaded machine:
        // the nodes must not take it for dead (kills are seen at once by their resets)
        heartbeat: { interval: "250ms", acceptablePause: "3s" }
      })
      yield* meshed()
      const p1 = yield* probe("n1")
      const p2 = yield* probe("n2")
      const downsBefore = {
        n1: (yield* p1.ask(Probe.Info({ gc: false }))).nodeDowns["n2"] ?? 0,
        n2: (yield* p2.ask(Probe.Info({ gc: false }))).nodeDowns["n1"] ?? 0
      }
      for (const policy of ["backpressure", "dropNewest", "dropOldest", "fail"] as const) {
        const name = `sink-${policy}`
        const dl1Before = (yield* p1.ask(Probe.Info({ gc: false }))).deadLetters["MailboxFull"] ?? 0
        const { answered, failures, result: flood } = yield* pingWhile(
          [p1, p2],
          p2.ask(
            Probe.Flood({ node: "n1", name, from: "n2", count: COUNT, mode: "tell", padBytes: 100, askTimeoutMillis: 0 }),
            { timeout: "120 seconds" }
          )
        )
        const label = `${policy}: ${JSON.stringify(flood)}`
        assert.deepStrictEqual(failures, [], `${label}: pings failed\n${why()}`)
        assert.isAbove(answered, 0, label)
        const target = yield* sink("n1", name)
        // the sink has handled what it accepted once its mailbox is empty: Stats queues behind it
        const stats = yield* target.ask(Sink.Stats(), { timeout: "60 seconds" })
        const dl1 = ((yield* p1.ask(Probe.Info({ gc: false }))).deadLetters["MailboxFull"] ?? 0) - dl1Before
        const handled = stats.by["n2"] ?? 0
        const droppedAtSender = (flood.deadLetters["MailboxFull"] ?? 0) + (flood.errors["MailboxFull"] ?? 0)
        const account = `${label}; sink ${JSON.stringify(stats)}; receiver MailboxFull dead letters ${dl1}`
        assert.deepStrictEqual(stats.duplicates, {}, `nothing handled twice: ${account}`)
        assert.strictEqual(stats.outOfOrder["n2"] ?? 0, 0, `per-sender order: ${account}`)
        assert.strictEqual(handled + droppedAtSender + dl1, COUNT, `every message handled or a typed drop: ${account}`)
        if (policy === "backpressure") {
          assert.strictEqual(flood.ok, COUNT, account)
          assert.strictEqual(handled, COUNT, `nothing lost under backpressure: ${account}`)
        } else {
          assert.isAbove(droppedAtSender + dl1, 0, `a 1 ms consumer flooded with tells drops some: ${account}`)
        }
        const { deadLetters, errors } = flood
        for (const tag of Object.keys(deadLetters)) assert.include(["MailboxFull"], tag, account)
        for (const tag of Object.keys(errors)) assert.include(["MailboxFull"], tag, account)
        assert.isBelow(flood.rssPeak - flood.rssBefore, 48 * MiB, `the sender's memory stays bounded: ${account}`)
      }
      const after = {
        n1: (yield* p1.ask(Probe.Info({ gc: false }))).nodeDowns["n2"] ?? 0,
        n2: (yield* p2.ask(Probe.Info({ gc: false }))).nodeDowns["n1"] ?? 0
      }
      assert.deepStrictEqual(after, downsBefore, `the link never went down under the floods\n${why()}`)
      void cluster
    }).pipe(Effect.scoped), 240_000)
})
