/**
 * Overload over real TCP: a slow actor flooded by a peer must never wedge the link it shares
 * with other traffic. Each test names the failure it guards against.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import { Actor, ActorSystem } from "../../src/index.ts"
import { Node } from "../../src/transport/Node.ts"

const Slow = Actor.make("Overload/Slow", {
  Work: Actor.tell({ n: Schema.Int }),
  Count: Actor.ask({}, { success: Schema.Int })
})

const secret = Redacted.make("overload-test")
const startNode = (name: string, options?: Partial<Parameters<typeof Node.layerWithSystem>[0]>) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(Node.layerWithSystem({ name, cluster: "ov", secret, ...options }))
    return {
      node: ctx.mapUnsafe.get(Node.key) as Node["Service"],
      system: ctx.mapUnsafe.get(ActorSystem.key) as ActorSystem["Service"]
    }
  })

/** An actor that takes `millis` per `Work`, counting what it handled. */
const slowActor = (millis: number) => {
  let handled = 0
  return {
    handled: () => handled,
    behavior: Slow.behavior(Effect.succeed({
      Work: () => Effect.andThen(Effect.sleep(millis), Effect.sync(() => void handled++)),
      Count: () => Effect.sync(() => handled)
    }))
  }
}

describe("a burst into a small backpressure mailbox", () => {
  it.live("3 000 tells in one write to a capacity-4 mailbox, then an ask: answered, on two connections", () =>
    Effect.gen(function*() {
      const b = yield* startNode("ovb")
      const a = yield* startNode("ova")
      const c = yield* startNode("ovc")
      const slow = slowActor(1)
      yield* b.system.spawn(slow.behavior, { name: "slow", mailbox: { capacity: 4, overflow: "backpressure" } })
      const burst = 3_000
      for (const sender of [a, c]) {
        yield* sender.node.connect({ name: "ovb", host: "127.0.0.1", port: b.node.address.port })
        const ref = yield* sender.node.lookup("ovb", Slow, "slow")
        // one synchronous loop: every tell is queued in the same tick, so they leave in one write
        yield* Effect.sync(() => {
          for (let n = 0; n < burst; n++) ref.tellUnsafe(Slow.Work({ n }))
        })
      }
      const fromA = yield* a.node.lookup("ovb", Slow, "slow")
      const fromC = yield* c.node.lookup("ovb", Slow, "slow")
      const [countA, countC] = yield* Effect.all([
        fromA.ask(Slow.Count(), { timeout: "20 seconds" }),
        fromC.ask(Slow.Count(), { timeout: "20 seconds" })
      ], { concurrency: 2 })
      // per-link FIFO: each ask is handled after that link's whole burst
      assert.isAtLeast(countA, burst)
      assert.isAtLeast(countC, burst)
    }).pipe(Effect.scoped), 30_000)
})
