import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Redacted, Stream } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { routerOf, type NodeOptions } from "../../src/transport/Node.ts"
import type { NodeEvent } from "../../src/transport/Node.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { freePort } from "./_remote.ts"

const secret = Redacted.make("simultaneous")


const startNode = (options: NodeOptions) => TestNode.startNode(options.name, options)

describe("one connection per pair of nodes", () => {
  it.live("two nodes that dial each other at the same time end with one stable connection", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 5; round++) {
        const [pa, pb] = [yield* freePort(), yield* freePort()]
        const events: Array<NodeEvent & { at: string }> = []
        const common = { cluster: "sim", secret, reconnect: { initial: "20 millis", max: "100 millis" } } as const
        yield* Effect.scoped(Effect.gen(function*() {
          // both nodes list each other as peers, so both dial at start
          const a = yield* startNode({ ...common, name: "a", port: pa, peers: [{ name: "b", host: "127.0.0.1", port: pb }] })
          const b = yield* startNode({ ...common, name: "b", port: pb, peers: [{ name: "a", host: "127.0.0.1", port: pa }] })
          for (const [name, n] of [["a", a], ["b", b]] as const) {
            yield* n.node.events.pipe(
              Stream.runForEach((e) => Effect.sync(() => events.push({ ...e, at: name }))),
              Effect.forkScoped
            )
          }
          yield* b.system.spawn(CounterLive, { name: "counter" })
          yield* a.system.spawn(CounterLive, { name: "counter" })
          // wait (bounded) until both sides see each other up
          for (let i = 0; i < 200 && !(a.node.peers().some((p) => p.up) && b.node.peers().some((p) => p.up)); i++) {
            yield* Effect.sleep("20 millis")
          }
          const connA = routerOf(a.node).peers.get("b")!.conn
          const connB = routerOf(b.node).peers.get("a")!.conn
          assert.isDefined(connA, `round ${round}: a is connected to b`)
          assert.isDefined(connB, `round ${round}: b is connected to a`)
          // both sides agree on which connection survived: a's outbound is b's inbound, or vice versa
          assert.notStrictEqual(connA!.outbound, connB!.outbound)
          assert.strictEqual(connA!.session, connB!.session)
          // the connection dialled by the smaller name ("a") wins whenever both handshakes raced
          // to the end; in any case the surviving connection must stay put
          const settled = events.length
          yield* Effect.sleep("500 millis")
          const later = events.slice(settled).filter((e) => e._tag === "NodeDown" || e._tag === "NodeUp")
          assert.deepStrictEqual(later, [], `round ${round}: no flapping after the connection settled`)
          assert.strictEqual(routerOf(a.node).peers.get("b")!.conn, connA, `round ${round}: a's connection is stable`)
          assert.strictEqual(routerOf(b.node).peers.get("a")!.conn, connB, `round ${round}: b's connection is stable`)
          // messages flow both ways over it
          const onB = yield* a.node.lookup("b", Counter, "counter")
          const onA = yield* b.node.lookup("a", Counter, "counter")
          yield* onB.tell(Counter.Increment({ by: 2 }))
          yield* onA.tell(Counter.Increment({ by: 3 }))
          assert.strictEqual(yield* onB.ask(Counter.Get()), 2)
          assert.strictEqual(yield* onA.ask(Counter.Get()), 3)
        }))
      }
    }), 60_000)

  it.live("resolving a simultaneous connect, and stopping, log nothing at WARN or above (they are no faults)", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make<unknown, void>(({ message, logLevel }) => {
        if (logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") {
          logged.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
        }
      })
      for (let round = 0; round < 5; round++) {
        const [pa, pb] = [yield* freePort(), yield* freePort()]
        const common = { cluster: "sim", secret, reconnect: { initial: "20 millis", max: "100 millis" } } as const
        yield* Effect.scoped(Effect.gen(function*() {
          const a = yield* startNode({ ...common, name: "a", port: pa, peers: [{ name: "b", host: "127.0.0.1", port: pb }] })
          const b = yield* startNode({ ...common, name: "b", port: pb, peers: [{ name: "a", host: "127.0.0.1", port: pa }] })
          yield* b.system.spawn(CounterLive, { name: "counter" })
          const onB = yield* a.node.lookup("b", Counter, "counter")
          yield* onB.tell(Counter.Increment({ by: 1 }))
          assert.strictEqual(yield* onB.ask(Counter.Get()), 1)
          yield* Effect.sleep("300 millis")
        })).pipe(Effect.provide(Logger.layer([logger])))
      }
      assert.deepStrictEqual(logged, [])
    }), 60_000)
})
