import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as Metrics from "../../src/cluster/Metrics.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const build = (name: string) => TestNode.startNode(name, { cluster: "m" })

describe("metrics", () => {
  it.live("GET /metrics reports messages, actors, mailboxes and links in Prometheus format", () =>
    Effect.gen(function*() {
      const b = yield* build("mb")
      const a = yield* build("ma")
      yield* b.system.spawn(CounterLive, { name: "counter" })
      yield* a.node.connect({ name: "mb", host: "127.0.0.1", port: b.node.address.port })
      const counter = yield* a.node.lookup("mb", Counter, "counter")
      for (let i = 0; i < 10; i++) yield* counter.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 10)
      const server = yield* Metrics.serve(0).pipe(Effect.provide(b.context))
      const text = yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/metrics`).then((r) => r.text()))
      assert.include(text, "# TYPE telex_messages_delivered_total counter")
      const delivered = Number(/telex_messages_delivered_total\{node="mb"\} (\d+)/.exec(text)?.[1])
      assert.isAtLeast(delivered, 11)
      assert.match(text, /telex_link_up\{node="mb",peer="ma"\} 1/)
      const received = Number(/telex_link_envelopes_received_total\{node="mb",peer="ma"\} (\d+)/.exec(text)?.[1])
      assert.isAtLeast(received, 12) // lookup + 10 tells + 1 ask
      assert.match(text, /telex_actors\{node="mb"\} \d+/)
      // counters only grow between scrapes
      yield* counter.tell(Counter.Increment({ by: 1 }))
      yield* counter.ask(Counter.Get())
      const again = server.scrape()
      assert.isAbove(Number(/telex_messages_delivered_total\{node="mb"\} (\d+)/.exec(again)?.[1]), delivered)
      const missing = yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/other`).then((r) => r.status))
      assert.strictEqual(missing, 404)
    }).pipe(Effect.scoped))
})
