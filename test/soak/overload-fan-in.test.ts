/**
 * Overload between real node processes, many to one and large against small:
 *
 * - fan-in: three nodes flood one slow `backpressure` actor on a fourth at once, each its own
 *   way (`yield* tell`, 32 asks in flight, `tellUnsafe`); every node keeps answering, no link
 *   goes down, nothing is lost or reordered for the senders that can wait, and what the
 *   `tellUnsafe` sender could not queue is a typed drop (`Overloaded` at the sender or
 *   `MailboxFull` at the receiver), never silent;
 * - head-of-line: 16 MiB asks on a link while small asks share it: both complete, the link and
 *   both nodes stay up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Probe, Sink } from "../fixtures/soak-app.ts"
import { MiB, pingWhile, start } from "./_soak.ts"

const COUNT = 1_500

describe("soak: fan-in and head-of-line across processes", () => {
  it.live("three senders flood one slow actor; 16 MiB asks share a link with small ones", () =>
    Effect.gen(function*() {
      const { meshed, probe, sink, why } = yield* start({
        nodes: [
          { name: "n1", run: ["probe", "sinks"] },
          { name: "n2", run: ["probe"] },
          { name: "n3", run: ["probe"] },
          { name: "n4", run: ["probe"] }
        ],
        // the test process (client, fault proxies) can stall for a second on a loaded machine:
        // the nodes must not take it for dead (kills are seen at once by their resets)
        heartbeat: { interval: "250ms", acceptablePause: "3s" }
      })
      yield* meshed()
      const probes = yield* Effect.forEach(["n1", "n2", "n3", "n4"], probe)
      const [p1, p2, p3, p4] = probes as [typeof probes[0], typeof probes[0], typeof probes[0], typeof probes[0]]
      const downs = () =>
        Effect.forEach(probes, (p) =>
          p.ask(Probe.Info({ gc: false })).pipe(
            // links between the nodes (the test's client is another matter: its process forwards
            // the proxies' bytes and may stall)
            Effect.map((i) => Object.fromEntries(Object.entries(i.nodeDowns).filter(([n]) => n !== "client")))
          ))
      const downsBefore = yield* downs()
      const dlBefore = (yield* p1.ask(Probe.Info({ gc: false }))).deadLetters["MailboxFull"] ?? 0

      const flood = (p: typeof p1, from: string, mode: "tell" | "ask" | "tellUnsafe") =>
        p.ask(
          Probe.Flood({ node: "n1", name: "sink-backpressure", from, count: COUNT, mode, padBytes: 200, askTimeoutMillis: 60_000 }),
          { timeout: "180 seconds" }
        )
      const { answered, failures, result: [byTell, byAsk, byUnsafe] } = yield* pingWhile(
        probes,
        Effect.all([flood(p2, "n2", "tell"), flood(p3, "n3", "ask"), flood(p4, "n4", "tellUnsafe")], { concurrency: 3 })
      )
      const stats = yield* (yield* sink("n1", "sink-backpressure")).ask(Sink.Stats(), { timeout: "60 seconds" })
      const dlReceiver = ((yield* p1.ask(Probe.Info({ gc: false }))).deadLetters["MailboxFull"] ?? 0) - dlBefore
      const account = `tell ${JSON.stringify(byTell)}\nask ${JSON.stringify(byAsk)}\ntellUnsafe ${JSON.stringify(byUnsafe)}\nsink ${
        JSON.stringify(stats)
      }\nreceiver MailboxFull ${dlReceiver}`
      yield* Effect.logInfo(`fan-in: the slow actor's mailbox peaked at ${stats.maxMailbox} (capacity 16; what was in flight when Hold left is accepted)`)
      assert.deepStrictEqual(failures, [], `every node answered during the fan-in\n${account}\n${why()}`)
      assert.isAbove(answered, 0)
      assert.deepStrictEqual(stats.duplicates, {}, `nothing handled twice\n${account}`)
      // each sender's tells stay in order (its 32 concurrent asks have no order to keep)
      assert.isUndefined(stats.outOfOrder["n2"], `per-sender order\n${account}`)
      assert.isUndefined(stats.outOfOrder["n4"], `per-sender order\n${account}`)
      assert.strictEqual(stats.by["n2"], COUNT, `nothing lost for the waiting tells\n${account}`)
      assert.strictEqual(byAsk.ok, COUNT, `every ask answered\n${account}`)
      assert.strictEqual(stats.by["n3"], COUNT, account)
      const unsafeHandled = stats.by["n4"] ?? 0
      assert.strictEqual(
        unsafeHandled + (byUnsafe.deadLetters["Overloaded"] ?? 0) + dlReceiver,
        COUNT,
        `tellUnsafe: handled or a typed drop\n${account}`
      )
      for (const r of [byTell, byAsk, byUnsafe]) {
        assert.isBelow(r.rssPeak - r.rssBefore, 48 * MiB, `sender memory bounded\n${account}`)
      }

      // head-of-line: 16 MiB asks from n2 to n1 while n2's small asks to n1 share the link
      const blobs = yield* pingWhile(
        [p1, p2],
        p2.ask(Probe.Blobs({ node: "n1", blobs: 6, blobBytes: 16 * MiB }), { timeout: "180 seconds" })
      )
      assert.deepStrictEqual(blobs.failures, [], `nodes answered during the large asks\n${why()}`)
      assert.deepStrictEqual(blobs.result.errors, {}, JSON.stringify(blobs.result))
      assert.strictEqual(blobs.result.blobsOk, 6, JSON.stringify(blobs.result))
      assert.isAbove(blobs.result.pings, 0, "small asks on the same link were answered meanwhile")

      assert.deepStrictEqual(yield* downs(), downsBefore, `no link went down\n${why()}`)
    }).pipe(Effect.scoped), 300_000)
})
