// The app under a partition, on an in-process simulated cluster (virtual time: runs in
// milliseconds; TELEX_SEED=<n> replays a run exactly).
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { SimCluster } from "telex/testing"
import app, { Counter } from "../src/app.ts"

describe("the counter under a partition", () => {
  it.effect("clicks from n2 reach the counter on n1 again once the partition heals", () =>
    Effect.gen(function*() {
      const cluster = yield* SimCluster.start({
        app,
        seed: Number(process.env["TELEX_SEED"] ?? 1),
        nodes: [{ name: "n1", run: ["counter"] }, { name: "n2", run: ["clicker"] }]
      })
      const counter = yield* cluster.eventually(cluster.client.registry.lookup(Counter, "counter"))
      const count = counter.ask(Counter.Get())
      const atLeast = (n: number) =>
        cluster.eventually(count.pipe(Effect.filterOrFail((c) => c >= n, (c) => `count is ${c}, waiting for ${n}`)))
      const n1Seen = (up: boolean) =>
        Effect.sync(() => cluster.services("n2").node.peers().some((p) => p.name === "n1" && p.up)).pipe(
          Effect.filterOrFail((seen) => seen === up, () => `n2 does not see n1 ${up ? "up" : "down"} yet`)
        )

      yield* atLeast(5) // clicks flow from n2 to n1

      yield* cluster.partition("n1", "n2")
      yield* cluster.eventually(n1Seen(false)) // n2's failure detector noticed (virtual time)
      const during = yield* count

      yield* cluster.heal()
      yield* cluster.eventually(n1Seen(true)) // reconnected
      const after = yield* atLeast(during + 5) // and the clicks flow again
      assert.isTrue(after >= during + 5)
    }).pipe(Effect.scoped))
})
