/**
 * TestCluster picks each node's port before the node starts; another process can take it in
 * between (an ephemeral port handed to someone else's connect or listen). Such a node is moved
 * to another free port and the proxies to it follow, instead of the whole cluster failing to
 * start ("port … is already in use").
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Probe } from "../fixtures/soak-app.ts"
import { start } from "./_soak.ts"

describe("soak: a node's port taken before it starts", () => {
  it.live("the node moves to another port; the cluster meshes and answers", () =>
    Effect.gen(function*() {
      // a port that someone else holds
      const squatter = Net.createServer()
      const taken = yield* Effect.callback<number>((resume) =>
        void squatter.listen(0, "127.0.0.1", () => resume(Effect.succeed((squatter.address() as Net.AddressInfo).port)))
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => squatter.close()))
      const { cluster, meshed, probe } = yield* start({
        nodes: [{ name: "n1", run: ["probe"] }, { name: "n2", run: ["probe"] }],
        ports: { n1: taken }
      })
      yield* meshed()
      const p1 = yield* probe("n1")
      assert.strictEqual(yield* p1.ask(Probe.Ping(), { timeout: "20 seconds" }), "n1")
      assert.isTrue(cluster.logs("n1").some((l) => l.includes("ready on 127.0.0.1:")))
      assert.isFalse(cluster.logs("n1").some((l) => l.includes(`ready on 127.0.0.1:${taken}`)), "n1 runs on another port")
    }).pipe(Effect.scoped), 120_000)
})
