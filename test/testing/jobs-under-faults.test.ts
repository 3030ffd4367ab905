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
import { jobsScenario } from "./jobs-scenario.ts"

const app = fileURLToPath(new URL("../../examples/cluster/app.ts", import.meta.url))

describe("TestCluster: the job queue under network and process faults", () => {
  it.live("partition/heal, reset, kill -9 + restart, pause, loss + latency", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.start({
        app,
        nodes: [{ name: "n1", run: ["jobs"] }, { name: "n2", run: ["workers"] }, { name: "n3", run: ["workers"] }]
      })
      // phases 1–4 are shared with the in-process twin (test/testing/sim-cluster.test.ts)
      const result = yield* jobsScenario(cluster)
      let submitted = result.submitted
      const queue = yield* cluster.client.registry.lookup(JobQueue, "jobs")
      const stats = queue.ask(JobQueue.GetStats(), { timeout: "5 seconds" })
      const submit = (n: number) =>
        Effect.forEach(Array.from({ length: n }), () => {
          submitted++
          return queue.ask(JobQueue.Submit({ job: { id: `job-${submitted}`, work: 1 + (submitted % 5) } }))
        }, { discard: true })
      const check = Effect.gen(function*() {
        const s = yield* cluster.eventually(
          stats.pipe(Effect.filterOrFail((s) => s.completed === submitted && s.pending === 0 && s.inFlight === 0, (s) => new Error(`waiting: ${JSON.stringify(s)}`))),
          "30 seconds"
        )
        assert.strictEqual(s.completed, submitted, "every job completed exactly once")
      })

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
