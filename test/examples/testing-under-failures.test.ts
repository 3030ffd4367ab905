// The example from the README's "Testing your actors under failures" section, kept as a test.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import app from "../../examples/cluster/app.ts"
import { JobQueue } from "../../examples/jobs.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"

describe("the job queue under a partition", () => {
  it.effect("jobs keep completing on the reachable workers; the others rejoin after the heal", () =>
    Effect.gen(function*() {
      const cluster = yield* SimCluster.start({
        app,
        seed: Number(process.env.TELEX_SEED ?? 1), // TELEX_SEED=… replays a run exactly
        nodes: [{ name: "n1", run: ["jobs"] }, { name: "n2", run: ["workers"] }, { name: "n3", run: ["workers"] }]
      })
      const queue = yield* cluster.eventually(cluster.client.registry.lookup(JobQueue, "jobs"))
      const stats = queue.ask(JobQueue.GetStats())
      const until = (ok: (s: typeof JobQueue.defs.GetStats.success.Type) => boolean) =>
        cluster.eventually(stats.pipe(Effect.filterOrFail(ok, (s) => `not yet: ${JSON.stringify(s)}`)))
      yield* until((s) => s.workers === 6) // 3 workers on n2, 3 on n3

      yield* cluster.partition("n1", "n3") // n3's workers are cut off from the queue
      for (let i = 1; i <= 20; i++) yield* queue.ask(JobQueue.Submit({ job: { id: `j${i}`, work: 1 } }))
      yield* until((s) => s.workers === 3) // the queue noticed (heartbeat deadline, virtual time)
      const during = yield* until((s) => s.completed === 20)
      assert.strictEqual(during.completed, 20) // n2's workers did all the work, none lost

      yield* cluster.heal()
      yield* until((s) => s.workers === 6) // n3's workers rejoined
    }).pipe(Effect.scoped))
})
