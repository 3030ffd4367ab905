import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { startNode } from "../../src/testing/TestNode.ts"

describe("remote basics", () => {
  it.live("tell and ask across two nodes over loopback", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b", { spawnable: [CounterLive] })
      const a = yield* startNode("a")
      yield* b.system.spawn(CounterLive, { name: "counter" })
      yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      yield* counter.tell(Counter.Increment({ by: 3 }))
      yield* counter.tell(Counter.Increment({ by: 4 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 7)
      const err = yield* Effect.flip(counter.ask(Counter.Decrement({ by: 100 })))
      assert.strictEqual(err._tag, "Overdrawn")
      assert.strictEqual((err as any).balance, 7)
      const remote = yield* a.node.spawn("b", Counter, { name: "c2" })
      yield* remote.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* remote.ask(Counter.Get()), 1)
      const invalid = yield* Effect.exit(counter.tell({ _tag: "Increment", by: 1.5 } as any))
      assert.isTrue(Exit.isFailure(invalid))
      yield* a.node.disconnect("b")
    }))
})
void Schema
