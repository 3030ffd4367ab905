/**
 * Reliable delivery between real processes: 10 000 messages from a producer process
 * with a durable outbox (`SqliteStore`) to a consumer process, through repeated partitions,
 * connection resets and a SIGKILL of the producer's process in mid-stream. After recovery the
 * consumer's handler has run exactly once for every message, in order, and the restarted
 * producer reports every message confirmed and none failed.
 *
 * The app (`./app.ts`) runs the producer on `prod` and the consumer on `cons`; stats actors
 * registered in the cluster registry let the test watch both. The consumer keeps its
 * de-duplication state in memory (its process is not killed here); the producer's outbox is the
 * SQLite file the restarted process finds again. `TELEX_RELIABLE_CONSUMER_STORE=sqlite` in the
 * test's environment gives the consumer a `SqliteStore` too (durable stores on both sides).
 * `DEBUG_RELIABLE=1` prints the phases with their timings.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { ConsumerStats, type ConsumerStatsReply, ProducerStats, type ProducerStatsReply } from "./app.ts"

const app = fileURLToPath(new URL("./app.ts", import.meta.url))
const TOTAL = 10_000
const RATE = 500 // messages per second: production takes ~20 s, so the faults hit a flowing channel

const debug = (...args: Array<unknown>) => {
  if (process.env.DEBUG_RELIABLE) console.log(...args)
}

/** Sets environment variables for the nodes the test starts (they inherit the test's env) until the scope closes. */
const withEnv = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
      Object.assign(process.env, vars)
      return before
    }),
    (before) =>
      Effect.sync(() => {
        for (const [k, v] of Object.entries(before)) {
          if (v === undefined) delete process.env[k]
          else process.env[k] = v
        }
      })
  )

describe("reliable delivery between real processes", () => {
  it.live("10 000 messages through partitions, resets and a SIGKILL of the producer: each processed exactly once", () =>
    Effect.gen(function*() {
      const t0 = Date.now()
      const lap = (what: string) => debug(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`)
      // the SQLite files live here; removed when the scope closes (after the cluster's processes are killed)
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "telex-reliable-processes-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
      yield* withEnv({ TELEX_RELIABLE_DIR: dir, TELEX_RELIABLE_TOTAL: String(TOTAL), TELEX_RELIABLE_RATE: String(RATE) })

      const cluster = yield* TestCluster.start({
        app,
        nodes: [{ name: "prod", run: ["producer"] }, { name: "cons", run: ["consumer"] }]
      })
      lap("cluster started")
      // on failure, show what the nodes printed last
      yield* Effect.addFinalizer((exit) =>
        exit._tag === "Failure"
          ? Effect.sync(() => {
            for (const n of cluster.names) console.log(`--- ${n} ---\n${cluster.logs(n).slice(-40).join("\n")}`)
          })
          : Effect.void
      )

      // looked up again on every call: the producer's stats actor is a new one after the restart
      const consumerStats = cluster.client.registry.lookup(ConsumerStats, "reliable-consumer-stats").pipe(
        Effect.flatMap((ref) => ref.ask(ConsumerStats.GetStats(), { timeout: "2 seconds" }))
      )
      const producerStats = cluster.client.registry.lookup(ProducerStats, "reliable-producer-stats").pipe(
        Effect.flatMap((ref) => ref.ask(ProducerStats.GetStats(), { timeout: "2 seconds" }))
      )
      const waitConsumer = (what: string, ok: (s: ConsumerStatsReply) => boolean, timeout: Duration.Input = "20 seconds") =>
        cluster.eventually(
          consumerStats.pipe(Effect.filterOrFail(ok, (s) => new Error(`waiting for ${what}: consumer ${JSON.stringify(s)}`))),
          timeout
        )
      const waitProducer = (what: string, ok: (s: ProducerStatsReply) => boolean, timeout: Duration.Input = "20 seconds") =>
        cluster.eventually(
          producerStats.pipe(Effect.filterOrFail(ok, (s) => new Error(`waiting for ${what}: producer ${JSON.stringify(s)}`))),
          timeout
        )
      const resets = () => cluster.proxy("prod", "cons").stats.resets + cluster.proxy("cons", "prod").stats.resets

      // a stats read retried: on a loaded machine a lookup can miss while the test client's own
      // connection to prod is re-established (the partition is between prod and cons only)
      const readProducer = cluster.eventually(producerStats, "10 seconds")
      /** Partitions prod | cons for longer than the failure detector's pause (1 s): the link is declared lost. */
      const partition = (millis: number) =>
        Effect.gen(function*() {
          const before = yield* readProducer
          yield* cluster.partition("prod", "cons")
          // what was past the proxies when the partition began settles within a moment
          yield* Effect.sleep(500)
          const settled = yield* readProducer
          yield* Effect.sleep(millis - 500)
          const end = yield* readProducer
          yield* cluster.heal()
          // nothing got through: no confirmation during the partition, while the producer kept
          // accepting (up to its buffer) and resending into the void
          assert.strictEqual(end.confirmed, settled.confirmed, `the partition held the channel: ${JSON.stringify(end)}`)
          assert.isAbove(end.resends, settled.resends, "the producer resent during the partition")
          lap(`partition ${millis} ms: unconfirmed ${before.unconfirmed} -> ${end.unconfirmed}, confirmed ${before.confirmed} -> ${settled.confirmed} -> ${end.confirmed}`)
        })
      /** Resets the connections between prod and cons, once messages flow over one. */
      const reset = Effect.gen(function*() {
        const from = (yield* consumerStats).processed
        yield* waitConsumer("messages flowing before a reset", (s) => s.processed >= from + 100)
        const before = resets()
        yield* cluster.reset("prod", "cons")
        assert.isAbove(resets(), before, "a connection between prod and cons was reset")
        lap("reset")
      })

      // -- before the kill: a partition, resets, another partition --------------------------------
      yield* waitConsumer("1000 processed", (s) => s.processed >= 1000)
      lap("1000 processed")
      yield* partition(1500)
      yield* waitConsumer("2500 processed", (s) => s.processed >= 2500)
      yield* reset
      yield* reset
      yield* waitConsumer("3200 processed", (s) => s.processed >= 3200)
      yield* partition(1200)
      yield* waitConsumer("4500 processed", (s) => s.processed >= 4500)

      // -- SIGKILL of the producer's process with messages in flight ------------------------------
      // 100 ms each way: the window's worth of messages is in flight and acknowledgements lag, so
      // the outbox holds messages the consumer has already processed
      yield* cluster.toxic("prod", "cons", "latency", "upstream", { type: "latency", latencyMillis: 100 })
      yield* cluster.toxic("prod", "cons", "latency-back", "downstream", { type: "latency", latencyMillis: 100 })
      yield* cluster.toxic("cons", "prod", "latency", "upstream", { type: "latency", latencyMillis: 100 })
      yield* cluster.toxic("cons", "prod", "latency-back", "downstream", { type: "latency", latencyMillis: 100 })
      // kill while messages flow: a backlog, and messages processed whose confirmations are on the way
      const beforeKill = yield* cluster.eventually(
        Effect.gen(function*() {
          const p = yield* producerStats
          const c = yield* consumerStats
          if (p.unconfirmed < 150 || c.highest < p.confirmed + 20) {
            return yield* Effect.fail(new Error(`waiting for a flowing channel with a backlog: producer ${JSON.stringify(p)}, consumer ${JSON.stringify(c)}`))
          }
          return p
        })
      )
      yield* cluster.kill("prod")
      const consumerAtKill = yield* consumerStats
      lap(`killed prod: ${JSON.stringify(beforeKill)}; consumer at ${consumerAtKill.highest}`)
      assert.isAbove(beforeKill.resends, 0, "the partitions and resets before the kill caused resends")
      yield* cluster.heal()
      yield* cluster.restart("prod")
      lap("prod restarted")
      const restarted = yield* waitProducer("the restarted producer", (s) => s.pid !== beforeKill.pid)
      lap(`restarted: ${JSON.stringify(restarted)}`)
      // the new process continued the stored session and found a non-empty outbox
      assert.strictEqual(restarted.session, beforeKill.session, "the restarted producer continued the stored session")
      assert.isAbove(restarted.recovered, 0, "the restarted producer found unconfirmed messages in its outbox")
      assert.isAtLeast(restarted.nextSeqAtStart, beforeKill.nextSeq, "nothing accepted before the kill was lost")
      const floorAtStart = restarted.nextSeqAtStart - 1 - restarted.recovered
      // some messages still in the outbox had been processed (their acknowledgements were lost with
      // the process): their resends reached the consumer again and had to be de-duplicated
      assert.isAbove(consumerAtKill.highest, floorAtStart, "the outbox held messages the consumer had processed")

      // -- after the restart: more partitions and a reset ------------------------------------------
      yield* waitConsumer("6500 processed", (s) => s.processed >= 6500)
      yield* partition(1500)
      yield* waitConsumer("8000 processed", (s) => s.processed >= 8000)
      yield* reset
      yield* waitConsumer("8600 processed", (s) => s.processed >= 8600)
      yield* partition(1200)

      // -- recovery ---------------------------------------------------------------------------------
      yield* cluster.heal()
      const consumer = yield* waitConsumer(`${TOTAL} processed`, (s) => s.processed >= TOTAL, "30 seconds")
      const producer = yield* waitProducer("every message confirmed", (s) => s.done && s.unconfirmed === 0, "10 seconds")
      // a moment more: nothing is processed again afterwards
      yield* Effect.sleep("500 millis")
      const final = yield* consumerStats
      lap(`done: consumer ${JSON.stringify(final)}; producer ${JSON.stringify(producer)}`)

      // the consumer's handler ran exactly once for each message, in order
      assert.deepStrictEqual(final, consumer, "nothing processed after the end")
      assert.strictEqual(final.pid, consumerAtKill.pid, "the consumer's process was never restarted")
      assert.strictEqual(final.processed, TOTAL)
      assert.strictEqual(final.distinct, TOTAL)
      assert.strictEqual(final.duplicates, 0, "no message processed twice")
      assert.strictEqual(final.outOfOrder, 0, "messages processed in order")
      assert.strictEqual(final.seqMismatches, 0)
      assert.strictEqual(final.highest, TOTAL)

      // the restarted producer: every message it found or accepted was confirmed, in order; none failed
      assert.strictEqual(producer.pid, restarted.pid)
      assert.strictEqual(producer.failed, 0, "no message failed")
      assert.strictEqual(producer.confirmed, TOTAL - floorAtStart, "the recovered outbox and every later message confirmed")
      assert.strictEqual(producer.accepted, TOTAL - (restarted.nextSeqAtStart - 1), "nothing offered twice")
      assert.strictEqual(producer.nextSeq, TOTAL + 1)
      assert.strictEqual(producer.lastOutcome, TOTAL)
      assert.strictEqual(producer.outcomeOrderErrors, 0)
      assert.strictEqual(producer.seqMismatches, 0)
      assert.isAbove(producer.resends, 0, "the partitions after the restart caused resends")
    }).pipe(Effect.scoped), 120_000)
})
