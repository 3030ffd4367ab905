import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import app from "../../examples/cluster/app.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { jobsScenario } from "./jobs-scenario.ts"
import * as Admin from "../../src/cluster/Admin.ts"

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

describe("SimCluster.eventually with a check that waits on the test clock", () => {
  it.effect("an ask across a partition: virtual time moves while it runs; a check that never ends fails, named", () =>
    Effect.gen(function*() {
      const cluster = yield* SimCluster.start({ app, seed: 3, nodes: [{ name: "n1" }, { name: "n2" }] })
      const admin = yield* cluster.client.node.lookup("n1", Admin.Protocol, Admin.ADMIN_NAME)
      const status = admin.ask(Admin.Protocol.Status(), { timeout: "2 seconds" }).pipe(Effect.map((s) => s.node))
      assert.strictEqual(yield* cluster.eventually(status, "5 seconds"), "n1")

      yield* cluster.partition("client", "n1")
      // the ask waits on the TestClock (its timeout, the heartbeat deadline): virtual time must
      // move while it runs, and the wait ends — with the check's own error, or naming the check
      const failed = yield* Effect.flip(cluster.eventually(status, "3 seconds", "the status ask to n1"))
      if (failed instanceof SimCluster.SimClusterError) {
        assert.match(failed.message, /^eventually: the status ask to n1 was still running after 3000 ms of virtual time/)
        assert.match(failed.message, /the attempt before failed with: (AskTimeout|NodeDown)/)
      } else {
        assert.include(["AskTimeout", "NodeDown"], (failed as any)._tag, String(failed))
      }

      const stuck = yield* Effect.flip(cluster.eventually(Effect.never, "1 second", "a check that never completes"))
      assert.instanceOf(stuck, SimCluster.SimClusterError)
      assert.include(stuck.message, "a check that never completes")
      assert.match(stuck.message, /after 1000 ms of virtual time/)

      yield* cluster.heal()
      const again = cluster.client.node.lookup("n1", Admin.Protocol, Admin.ADMIN_NAME).pipe(
        Effect.flatMap((ref) => ref.ask(Admin.Protocol.Status(), { timeout: "2 seconds" })),
        Effect.map((s) => s.node)
      )
      assert.strictEqual(yield* cluster.eventually(again, "30 seconds"), "n1")
    }).pipe(Effect.scoped), 60_000)
})
