/**
 * One scenario, two modes: the job-queue example (queue on n1, worker pools on n2 and n3)
 * through a partition and its heal, a reset, a kill + restart and a pause — written against
 * `ClusterHandle`, so it runs on real processes (TestCluster) and in-process (SimCluster).
 * Invariant after every phase: every submitted job completes exactly once, and the pool
 * recovers all its workers.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { JobQueue } from "../../examples/jobs.ts"
import type { ClusterHandle } from "../../src/testing/Scenario.ts"

export const jobsScenario = (cluster: ClusterHandle) =>
  Effect.gen(function*() {
    const queue = yield* cluster.eventually(cluster.client.registry.lookup(JobQueue, "jobs"))
    const stats = queue.ask(JobQueue.GetStats(), { timeout: "5 seconds" })
    let submitted = 0
    const submit = (n: number) =>
      Effect.forEach(Array.from({ length: n }), () => {
        submitted++
        return queue.ask(JobQueue.Submit({ job: { id: `job-${submitted}`, work: 1 + (submitted % 5) } }))
      }, { discard: true })
    const workers = (n: number) =>
      cluster.eventually(stats.pipe(Effect.filterOrFail((s) => s.workers === n, (s) => new Error(`waiting for ${n} workers: ${JSON.stringify(s)}`))))
    const check = Effect.gen(function*() {
      const s = yield* cluster.eventually(
        stats.pipe(Effect.filterOrFail((s) => s.completed === submitted && s.pending === 0 && s.inFlight === 0, (s) => new Error(`waiting: ${JSON.stringify(s)}`))),
        "30 seconds"
      )
      assert.strictEqual(s.submitted, submitted)
      assert.strictEqual(s.completed, submitted, "every job completed exactly once")
      return s
    })

    yield* workers(6)
    yield* submit(50)
    yield* check

    // partition n1 | n3: n3's workers lose the queue and restart; n2 carries on; heal
    yield* cluster.partition("n1", "n3")
    yield* submit(50)
    yield* workers(3)
    yield* check
    yield* cluster.heal()
    yield* workers(6)
    yield* submit(20)
    yield* check

    // reset the connections n1 <-> n2 mid-stream
    yield* submit(30)
    yield* cluster.reset("n1", "n2")
    yield* check
    yield* workers(6)

    // kill n2, then start it again (a new incarnation)
    yield* cluster.kill("n2")
    yield* submit(30)
    yield* check
    yield* cluster.restart("n2")
    yield* workers(6)

    // pause n3 past the failure detector's deadline, then resume
    yield* cluster.pause("n3")
    yield* submit(30)
    yield* check
    yield* cluster.resume("n3")
    yield* workers(6)
    return { submitted, stats: yield* check }
  })
