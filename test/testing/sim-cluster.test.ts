import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import app from "../../examples/cluster/app.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { jobsScenario } from "./jobs-scenario.ts"

describe("SimCluster: the same scenario in-process, on TestClock", () => {
  it.effect("job queue through partition, reset, kill + restart, pause (virtual time)", () =>
    Effect.gen(function*() {
      const cluster = yield* SimCluster.start({
        app,
        seed: Number(process.env.TELEX_SEED ?? 11),
        nodes: [{ name: "n1", run: ["jobs"] }, { name: "n2", run: ["workers"] }, { name: "n3", run: ["workers"] }]
      })
      const { submitted, stats } = yield* jobsScenario(cluster)
      assert.strictEqual(stats.completed, submitted)
      assert.isAbove(stats.retried, 0, "the faults caused retries")
    }).pipe(Effect.scoped), 120_000)
})
