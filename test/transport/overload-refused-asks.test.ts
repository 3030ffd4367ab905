/**
 * A node asking a peer that goes down, many asks in flight: every ask sent after the loss is
 * refused at once (`NodeDown`). A loop of such asks (`Effect.forEach` with concurrency forks
 * each ask and goes on at once when it ends as it starts) must still let the node's timers and
 * sockets run between refusals — or the node's heartbeats to every other peer stop for as long
 * as the loop lasts, and the cluster declares it dead. Found by the soak workloads
 * (test/soak/stop-under-load.test.ts): a node flooding a peer with asks fell silent for 3–5 s
 * when that peer stopped, and its other links were lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const ASKS = 20_000

describe("asks refused at send time", () => {
  it.live("a flood of asks to a peer that stops: each refused with NodeDown, with the event loop running between them", () =>
    Effect.gen(function*() {
      const bScope = yield* Scope.make()
      const b = yield* TestNode.startNode("rb").pipe(Scope.provide(bScope))
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const a = yield* TestNode.startNode("ra", {
        peers: [{ name: "rb", host: "127.0.0.1", port: b.node.address.port }],
        reconnect: { initial: "100 millis", max: "500 millis" }
      })
      const counter = yield* a.node.lookup("rb", Counter, "counter", { timeout: "5 seconds" })
      let answered = 0
      let refused = 0
      let other = 0
      const flood = yield* Effect.forEach(
        Array.from({ length: ASKS }),
        () =>
          counter.ask(Counter.Get(), { timeout: "30 seconds" }).pipe(
            Effect.tap(() => Effect.sync(() => void answered++)),
            Effect.catchTag("NodeDown", () => Effect.sync(() => void refused++)),
            Effect.catch(() => Effect.sync(() => void other++))
          ),
        { concurrency: 32, discard: true }
      ).pipe(Effect.forkScoped)
      // b stops while the flood is in full swing (most of the asks are still to come)
      while (answered < 100) yield* Effect.sleep("1 millis")
      // what a timer sees of the refusals: a timer that never runs in the middle of them means
      // they all happened in one stretch of the event loop
      const seen: Array<number> = []
      const timer = setInterval(() => seen.push(refused), 1)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(timer)))
      yield* Scope.close(bScope, Exit.void)
      yield* Fiber.join(flood)
      clearInterval(timer)
      assert.strictEqual(answered + refused + other, ASKS)
      assert.isAbove(refused, ASKS / 2, `answered ${answered}, refused ${refused}, other ${other}`)
      const between = seen.filter((n) => n > 0 && n < refused)
      assert.isAbove(between.length, 0, `timers ran only before or after the ${refused} refusals (saw ${JSON.stringify(seen.slice(0, 20))}…)`)
    }).pipe(Effect.scoped), 60_000)
})
