/**
 * Real processes behind fault proxies: the job-queue example (queue on n1, worker pools on n2
 * and n3) through a partition and its heal, a reset, a SIGKILL + restart, a SIGSTOP pause, and
 * 10% loss with 50±10 ms latency. Invariants after every phase: every submitted job completes
 * exactly once (completed === submitted), nothing is lost, and the pool recovers all workers.
 */
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { JobQueue } from "../../examples/jobs.ts"
import * as TestCluster from "../../src/testing/TestCluster.ts"

const app = fileURLToPath(new URL("../../examples/cluster/app.ts", import.meta.url))

describe("TestCluster: the job queue under network and process faults", () => {
  it.live("partition/heal, reset, kill -9 + restart, pause, loss + latency", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.start({
        app,
        nodes: [{ name: "n1", run: ["jobs"] }, { name: "n2", run: ["workers"] }, { name: "n3", run: ["workers"] }]
      })
      const queue = yield* cluster.eventually(cluster.client.registry.lookup(JobQueue, "jobs"))
      const stats = queue.ask(JobQueue.GetStats(), { timeout: "5 seconds" })
      let submitted = 0
      const submit = (n: number) =>
        Effect.forEach(Array.from({ length: n }), () => {
          submitted++
          return queue.ask(JobQueue.Submit({ job: { id: `job-${submitted}`, work: 1 + (submitted % 5) } }))
        }, { discard: true })
      const allWorkers = cluster.eventually(stats.pipe(Effect.filterOrFail((s) => s.workers === 6, () => new Error("waiting for 6 workers"))))
      const allDone = cluster.eventually(
        stats.pipe(Effect.filterOrFail((s) => s.completed === submitted && s.pending === 0 && s.inFlight === 0, (s) => new Error(`waiting: ${JSON.stringify(s)}`))),
        "30 seconds"
      )
      const check = Effect.gen(function*() {
        const s = yield* allDone
        assert.strictEqual(s.submitted, submitted)
        assert.strictEqual(s.completed, submitted, "every job completed exactly once")
      })

      yield* allWorkers
      yield* submit(50)
      yield* check

      // 1. partition n1 | n3: n3's workers lose the queue and restart; n2 carries on; heal
      yield* cluster.partition("n1", "n3")
      yield* submit(50)
      yield* cluster.eventually(stats.pipe(Effect.filterOrFail((s) => s.workers === 3, () => new Error("n3's workers still counted"))))
      yield* check
      yield* cluster.heal()
      yield* allWorkers
      yield* submit(20)
      yield* check

      // 2. reset the connections n1 <-> n2 (ECONNRESET mid-stream)
      yield* submit(30)
      yield* cluster.reset("n1", "n2")
      yield* check
      yield* allWorkers

      // 3. kill -9 n2, then start it again (a new incarnation)
      yield* cluster.kill("n2")
      yield* submit(30)
      yield* check
      yield* cluster.restart("n2")
      yield* allWorkers

      // 4. pause n3 longer than the failure detector's deadline, then resume
      yield* cluster.pause("n3")
      yield* submit(30)
      yield* check
      yield* cluster.resume("n3")
      yield* allWorkers

      // 5. 10% loss and 50±10 ms latency on every link between the nodes
      for (const a of cluster.names) {
        for (const b of cluster.names) {
          if (a === b) continue
          yield* cluster.toxic(a, b, "latency", "upstream", { type: "latency", latencyMillis: 50, jitterMillis: 10 })
          yield* cluster.toxic(a, b, "loss", "downstream", { type: "loss", probability: 0.1 })
        }
      }
      yield* submit(40)
      yield* check
      yield* cluster.heal()
      const final = yield* stats
      assert.strictEqual(final.completed, submitted)
      assert.isAbove(final.retried, 0, "faults caused retries")
    }).pipe(Effect.scoped), 240_000)
})
