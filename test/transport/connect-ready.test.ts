/**
 * When is a connection usable? A lookup right after start, to a configured peer still being
 * dialled, waits for it (the README's cluster snippet); `connect` returns once both sides can
 * send, so the accepting side may link, monitor and tell back at once. Real TCP, in-process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { type NodeOptions, routerOf } from "../../src/transport/Node.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { freePort } from "./_remote.ts"

const startNode = (options: Omit<NodeOptions, "cluster" | "secret">) => TestNode.startNode(options.name, options)

describe("a connection is usable when start / connect return", () => {
  it.live("the README snippet: lookup right after start waits for the configured peer", () =>
    Effect.scoped(Effect.gen(function*() {
      const b = yield* startNode({ name: "b" })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const a = yield* startNode({ name: "a", peers: [{ name: "b", host: "127.0.0.1", port: b.node.address.port }] })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      yield* counter.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* counter.ask(Counter.Get(), { timeout: "5 seconds" }), 1)
    })))

  it.live("a configured peer that starts after us is waited for; the wait is bounded", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* freePort()
      const a = yield* startNode({
        name: "a",
        reconnect: { initial: "20 millis", max: "50 millis" },
        peers: [{ name: "b", host: "127.0.0.1", port }]
      })
      // nobody listens yet: the lookup waits, bounded by its timeout
      const early = yield* Effect.flip(a.node.lookup("b", Counter, "counter", { timeout: "200 millis" }))
      assert.strictEqual(early._tag, "NodeDown")
      assert.strictEqual(routerOf(a.node).peers.get("b")!.upWaiters.size, 0, "a timed-out wait leaves no waiter behind")
      // an unknown node is not waited for
      const unknown = yield* Effect.flip(a.node.lookup("zz", Counter, "counter", { timeout: "1 minute" }))
      assert.strictEqual(unknown._tag, "NodeDown")
      const lookup = yield* a.node.lookup("b", Counter, "counter", { timeout: "10 seconds" }).pipe(Effect.forkScoped)
      yield* Effect.sleep("100 millis")
      const b = yield* startNode({ name: "b", port })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      // the name may be registered after the connection: retry not-found, never NodeDown
      let ref = yield* Effect.result(Fiber.join(lookup))
      for (let i = 0; i < 50 && ref._tag === "Failure" && ref.failure._tag === "ActorNotFound"; i++) {
        yield* Effect.sleep("20 millis")
        ref = yield* Effect.result(a.node.lookup("b", Counter, "counter"))
      }
      assert.strictEqual(ref._tag, "Success", String(ref._tag === "Failure" ? ref.failure : ""))
    })))

  it.live("after connect returns, the accepting side can look up, tell and ask the dialler", () =>
    Effect.scoped(Effect.gen(function*() {
      for (let round = 0; round < 5; round++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const b = yield* startNode({ name: "b" })
          const a = yield* startNode({ name: "a" })
          yield* a.system.spawn(CounterLive, { name: "counter" })
          yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
          // b never dialled a: it can reach a only over the connection a made
          assert.isTrue(b.node.peers().some((p) => p.name === "a" && p.up), `round ${round}: b has registered a`)
          const counter = yield* b.node.lookup("a", Counter, "counter")
          yield* counter.tell(Counter.Increment({ by: 2 }))
          assert.strictEqual(yield* counter.ask(Counter.Get(), { timeout: "5 seconds" }), 2)
        }))
      }
    })))
})
