import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import app from "../../examples/cluster/app.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { jobsScenario } from "./jobs-scenario.ts"
import * as Admin from "../../src/cluster/Admin.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import * as History from "../../src/testing/History.ts"

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

describe("SimCluster with a shard store", () => {
  it.effect("every node sees the shared store through its own view; a node cut off from it fails alone; a late node joins", () =>
    Effect.gen(function*() {
      const views = new Map<string, ShardStore.ShardStore>()
      const history = yield* History.makeEffect
      const cluster = yield* SimCluster.start({
        app,
        seed: 5,
        history,
        nodes: [{ name: "n1" }, { name: "n2" }, { name: "n3", join: true }],
        sharding: {
          // the node's sharding runtime would be built here, on its view of the store
          layer: (node) => Layer.effectDiscard(Effect.map(ShardStore.Service, (store) => void views.set(node, store)))
        }
      })
      assert.deepStrictEqual([...views.keys()], ["n1", "n2"])
      assert.isFalse(cluster.isRunning("n3"))
      const n1 = views.get("n1")!
      const n2 = views.get("n2")!
      const [lease] = yield* n1.acquire("n1", [1], "1 second")
      assert.deepStrictEqual(lease, { shard: 1, owner: "n1", epoch: 1 })

      yield* cluster.partitionStore("n1")
      assert.isTrue(cluster.storeSevered("n1"))
      const cut = yield* Effect.flip(n1.renew("n1", [lease!], "1 second"))
      assert.strictEqual(cut._tag, "ShardStoreError")
      assert.deepStrictEqual(yield* n2.acquire("n2", [1], "1 second"), [], "n1's lease still holds")
      yield* cluster.advance("1 second")
      assert.deepStrictEqual(yield* n2.acquire("n2", [1], "1 second"), [{ shard: 1, owner: "n2", epoch: 2 }])

      yield* cluster.healStore("n1")
      assert.deepStrictEqual(yield* n1.renew("n1", [lease!], "1 second"), [], "n1 learns its lease is gone")
      const stale = yield* Effect.flip(n1.saveState("Cart", "k", lease!, "{}"))
      assert.strictEqual(stale._tag, "StaleEpoch")

      yield* cluster.join("n3")
      assert.isTrue(cluster.isRunning("n3"))
      assert.deepStrictEqual((yield* views.get("n3")!.leases()).map((l) => l.owner), ["n2"])
      yield* cluster.eventually(Effect.suspend(() =>
        cluster.services("n1").node.peers().some((p) => p.name === "n3" && p.up) ? Effect.void : Effect.fail("n3 not up yet")
      ))
      yield* cluster.kill("n3")
      // a killed node's fibers wind down in-process: they must not reach the store (release its leases)
      assert.strictEqual((yield* Effect.flip(views.get("n3")!.leases()))._tag, "ShardStoreError")
      yield* cluster.heal()
      assert.strictEqual((yield* Effect.flip(views.get("n3")!.leases()))._tag, "ShardStoreError", "still dead after the heal")
      const faults = history.snapshot().entries.map((e) =>
        e._tag === "Fault" ? `${e.name} ${JSON.stringify(e.detail)}` : e._tag === "Crash" ? `crash ${e.node}` : e._tag
      )
      assert.deepStrictEqual(faults, [
        `partitionStore {"node":"n1"}`,
        `healStore {"node":"n1"}`,
        `join {"node":"n3"}`,
        `kill {"node":"n3"}`,
        "crash n3",
        "Heal"
      ])
      const noStore = yield* SimCluster.start({ app, seed: 5, nodes: [{ name: "n1" }] })
      assert.isUndefined(noStore.store)
      assert.throws(() => Effect.runSync(noStore.partitionStore("n1")), /no shard store/)
    }).pipe(Effect.scoped), 60_000)
})

describe("SimCluster's network", () => {
  it.effect("a node advertises its host on the simulated network: one that dials nobody learns the others' addresses by gossip, and can dial them", () =>
    Effect.gen(function*() {
      // each node dials the nodes with greater names: n3 is dialled, and dials only whom it learns of
      const cluster = yield* SimCluster.start({ app, seed: 7, nodes: [{ name: "n1" }, { name: "n2" }, { name: "n3" }] })
      yield* cluster.advance("1 second")
      const n3 = cluster.services("n3").node
      assert.deepStrictEqual(n3.address, { host: "n3", port: 7000 })
      assert.deepStrictEqual(
        n3.peers().filter((p) => p.listen !== undefined).map((p) => [p.name, p.up, p.listen!.host]).sort(),
        [["n1", true, "n1"], ["n2", true, "n2"]]
      )
      // a member it learned while not yet connected to it is dialled (one already up is not)
      assert.isAbove(n3.linkActors.size, 0, "n3 dials a member it learned by gossip")
    }).pipe(Effect.scoped), 30_000)


  it.effect("its peers reconnect to the new incarnation, though the killed one's finalizers close its listener after the restart", () =>
    Effect.gen(function*() {
      const cluster = yield* SimCluster.start({
        app,
        seed: 7,
        nodes: [{ name: "n1" }, { name: "n2" }, { name: "n3" }],
        // a killed node's scope closes in-process, in the background: a slow finalizer (a
        // sharding stop waiting on its store) delays its transport's past the restart
        sharding: { layer: () => Layer.effectDiscard(Effect.addFinalizer(() => Effect.sleep("10 millis"))) }
      })
      const before = cluster.services("n3").system.nodeId.incarnation
      yield* cluster.kill("n3")
      yield* cluster.restart("n3")
      const incarnation = cluster.services("n3").system.nodeId.incarnation
      assert.notStrictEqual(incarnation, before)
      // within a few redials (their backoff is capped at 500 ms)
      yield* cluster.eventually(
        Effect.suspend(() =>
          ["n1", "n2"].every((n) =>
              cluster.services(n).node.peers().some((p) => p.name === "n3" && p.up && p.node?.incarnation === incarnation)
            )
            ? Effect.void
            : Effect.fail("n1 and n2 are not connected to the new n3 yet")
        ),
        "2 seconds",
        "n1 and n2 connected to the restarted n3"
      )
    }).pipe(Effect.scoped), 30_000)
})
