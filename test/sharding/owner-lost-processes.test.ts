/**
 * An ask in flight to an entity whose node is lost (real processes, SQLite store), as Orleans
 * fails a request to a silo declared dead: the asker learns it from its transport at once —
 * the connection closed (kill -9), or silent past the heartbeat deadline (a partition) — and the
 * ask fails with `NodeDown`, long before its timeout. It is not sent again (it may have been
 * handled: at most once); the key answers again from its next owner.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { fileURLToPath } from "node:url"
import * as TestCluster from "../../src/testing/TestCluster.ts"
import { Gateway } from "../fixtures/sharding-counters-app.ts"
import { quiet } from "./_runtime.ts"
import { logsOnFailure } from "./_processes.ts"

const app = fileURLToPath(new URL("../fixtures/sharding-counters-app.ts", import.meta.url))

/** long enough that an ask ending by its timeout fails the test's own timeout instead */
const LONG = 100_000

describe("sharding: an ask in flight when the entity's node is lost (real processes)", () => {
  it.live("kill -9, then a partition: the ask fails with NodeDown, not at its timeout; the key answers again", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.start({
        app,
        nodes: ["n1", "n2", "n3"].map((name) => ({ name, run: ["gateway"] })),
        sharding: { store: "sqlite", leaseTtl: "2s", shards: 64 },
        heartbeat: { interval: "500ms", acceptablePause: "2s" }
      })
      yield* logsOnFailure(cluster, 40)
      const gateway = (n: string) => cluster.client.node.lookup(n, Gateway, "gateway", { timeout: "5 seconds" })
      const g1 = yield* gateway("n1")
      const g3 = yield* gateway("n3")
      /** where a key's entity runs, asked through `via` */
      const where = (via: typeof g1, key: string) =>
        cluster.eventually(via.ask(Gateway.Hold({ key, millis: 0, timeoutMillis: 5_000 })), "30 seconds")
      /** a key whose entity runs on `node`, found through `via` */
      const keyOn = (via: typeof g1, node: string, prefix: string) =>
        Effect.gen(function*() {
          for (let i = 0; ; i++) if ((yield* where(via, `${prefix}${i}`)) === node) return `${prefix}${i}`
        })
      /** an ask through n1 that the entity answers only after the test */
      const inFlight = (key: string) =>
        Effect.forkChild(Effect.exit(g1.ask(Gateway.Hold({ key, millis: LONG, timeoutMillis: LONG }), { timeout: LONG + 10_000 })))

      // kill -9: n1 asks n2's entity directly (it learned its ref from the first ask)
      const killed = yield* keyOn(g1, "n2", "killed-")
      const ask1 = yield* inFlight(killed)
      yield* Effect.sleep("1 second")
      yield* cluster.kill("n2")
      assert.deepStrictEqual(yield* Fiber.join(ask1), Exit.fail("NodeDown"))
      assert.include(["n1", "n3"], yield* where(g1, killed))

      // a partition between n1 and n3 (both up, both reach the store); n1 never asked the key:
      // the ask goes through n3's region
      const cut = yield* keyOn(g3, "n3", "cut-")
      const ask2 = yield* inFlight(cut)
      yield* Effect.sleep("1 second")
      yield* cluster.partition("n1", "n3")
      assert.deepStrictEqual(yield* Fiber.join(ask2), Exit.fail("NodeDown"))
      yield* cluster.heal()
      // after the heal, n1 reaches n3's entities again (`cut`'s still handles the held ask)
      const other = yield* keyOn(g3, "n3", "other-")
      assert.strictEqual(yield* where(g1, other), "n3")
    }).pipe(Effect.scoped, quiet), 120_000)
})
