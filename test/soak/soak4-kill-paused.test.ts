/**
 * `TestCluster.kill(name, "SIGTERM")` of a paused node (a graceful stop of a frozen process): the
 * node is resumed to receive the signal, stops gracefully, and the kill returns — instead of
 * waiting for good for an exit the stopped process cannot make. Then it restarts as any node.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Probe } from "../fixtures/soak-app.ts"
import { start } from "./_soak.ts"

describe("soak: TestCluster's kill of a paused node", () => {
  it.live("SIGTERM: the node resumes, stops gracefully, and the kill returns", () =>
    Effect.gen(function*() {
      const { cluster, probe } = yield* start({ nodes: [{ name: "n1", run: ["probe"] }] })
      yield* probe("n1")
      yield* cluster.pause("n1")
      const killed = yield* cluster.kill("n1", "SIGTERM").pipe(Effect.timeoutOption("30 seconds"))
      assert.isTrue(Option.isSome(killed), `the kill did not return\n${cluster.logs("n1").slice(-20).join("\n")}`)
      // a graceful stop: the node printed its stats line on the way out
      assert.isTrue(cluster.logs("n1").some((l) => l.startsWith("@@telex-stats")), cluster.logs("n1").slice(-20).join("\n"))
      yield* cluster.restart("n1")
      const p = yield* probe("n1")
      assert.strictEqual(yield* p.ask(Probe.Ping(), { timeout: "20 seconds" }), "n1")
    }).pipe(Effect.scoped), 90_000)
})
