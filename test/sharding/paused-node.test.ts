/**
 * A node paused (SIGSTOP, a long GC or VM stall) for longer than its leases' TTL, then resumed.
 * Meanwhile its peers declared it lost, and another node took its shards over and acknowledged
 * updates. When a process resumes, Node runs the I/O that waited first and its overdue timers
 * after (the lease watchdog among them): what reaches the resumed node before its timers fire
 * must not be served by the entities of the leases it no longer holds.
 *
 * Simulated on SimCluster: the paused node's network is held (`pause`) and its sharding runs on a
 * clock whose sleeps do not end while it is paused (its timers are late, its clock is not); at
 * the resume, the node is asked before its timers are let go.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, References } from "effect"
import { TestClock } from "effect/testing"
import { ClusterApp } from "../../src/index.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as SimCluster from "../../src/testing/SimCluster.ts"
import { Counter, CounterEntity, pausableClock, recordingSharding, stepClock } from "./_runtime.ts"

const SHARDS = 16

describe("sharding: a node paused past its leases' TTL", () => {
  it.effect("serves nothing from the shards it lost once resumed, before its timers fire", () =>
    Effect.gen(function*() {
      const shardings = new Map<string, Sharding["Service"]>()
      const clock = pausableClock()
      const sharding = recordingSharding(shardings, [CounterEntity], SHARDS)
      const cluster = yield* SimCluster.start({
        app: ClusterApp.make({ modules: {} }),
        seed: 1,
        heartbeatInterval: "100 millis",
        acceptablePause: "400 millis",
        nodes: [{ name: "n1" }, { name: "n2" }],
        sharding: { layer: (node) => node === "n1" ? Layer.provide(sharding(node), clock.layer) : sharding(node) }
      })
      /** an ask from `node`, forked: its outcome once virtual time has moved on enough */
      const ask = (node: string, key: string, message: any) =>
        Effect.gen(function*() {
          const client = yield* shardings.get(node)!.entity(CounterEntity)
          return yield* Effect.forkChild(Effect.exit(client.ref(key).ask(message, { timeout: "3 seconds" })))
        })
      const answer = (fiber: Fiber.Fiber<Exit.Exit<unknown, unknown>>) =>
        Effect.gen(function*() {
          while (fiber.pollUnsafe() === undefined) yield* TestClock.adjust("10 millis")
          return yield* Fiber.join(fiber)
        })
      const where = (node: string, key: string) =>
        Effect.map(Effect.flatMap(ask(node, key, Counter.Where()), answer), (exit) => (Exit.isSuccess(exit) ? exit.value : "nowhere"))
      yield* stepClock(2_000)
      // a key whose entity runs on n1, at 1
      let key = ""
      for (let i = 0; key === ""; i++) if ((yield* where("n1", `k${i}`)) === "n1") key = `k${i}`
      const n1 = yield* shardings.get("n1")!.entity(CounterEntity)
      yield* n1.ref(key).tell(Counter.Add({ by: 1 }))
      assert.deepStrictEqual(yield* answer(yield* ask("n1", key, Counter.Get())), Exit.succeed(1))

      // n1 stops: nothing reaches it or leaves it, its timers do not fire
      yield* cluster.pause("n1")
      clock.pause()
      // n2 declares it lost, takes the shard once its lease expired, and acknowledges 2
      do yield* stepClock(200)
      while ((yield* where("n2", key)) !== "n2")
      const n2 = yield* shardings.get("n2")!.entity(CounterEntity)
      yield* n2.ref(key).tell(Counter.Add({ by: 1 }))
      assert.deepStrictEqual(yield* answer(yield* ask("n2", key, Counter.Get())), Exit.succeed(2))

      // n1 resumes: asked before its timers fire (its watchdog has not stopped the shard yet)
      yield* cluster.resume("n1")
      const stale = yield* ask("n1", key, Counter.Get())
      // the I/O that waited, and what it sets off, runs before the overdue timers
      for (let i = 0; i < 100 && stale.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
      clock.resume()
      const got = yield* answer(stale)
      assert.isFalse(Exit.isSuccess(got) && got.value === 1, `n1 answered from the lease it lost: ${JSON.stringify(got)}`)
    }).pipe(
      Effect.scoped,
      Effect.provide(SimCluster.testClock),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ), 60_000)
})
