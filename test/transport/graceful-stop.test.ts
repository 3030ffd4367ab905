/**
 * A node that stops ends its connections cleanly: a FIN after what it had written, reading on
 * until the peer closes too. A socket destroyed with unread bytes makes the kernel send a reset,
 * which the peer can only log as a fault ("socket error: read ECONNRESET"); a peer that stops is
 * routine and must not look like one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Logger, Schema, Scope } from "effect"
import { Actor } from "../../src/index.ts"
import { TestNode } from "../../src/testing/index.ts"

const Sink = Actor.make("test/GracefulSink", { Put: Actor.tell({ payload: Schema.String }) })
const SinkLive = Sink.behavior(Effect.succeed({ Put: () => Effect.void }))

describe("a node stopping", () => {
  it.live("ends its connections cleanly while its peer is still sending: the peer logs no fault", () =>
    Effect.gen(function*() {
      const faults: Array<string> = []
      const logger = Logger.make<unknown, void>(({ message, logLevel }) => {
        if (logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") {
          faults.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
        }
      })
      const payload = "x".repeat(200)
      for (let round = 0; round < 5; round++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const b = yield* TestNode.startNode("b")
          const aScope = yield* Scope.make()
          const a = yield* TestNode.startNode("a").pipe(Scope.provide(aScope))
          yield* a.system.spawn(SinkLive, { name: "sink" })
          yield* TestNode.connect(b, a)
          const sink = yield* b.node.lookup("a", Sink, "sink")
          // b keeps a's receive buffer full until a is gone
          const flood = yield* Effect.forkChild(Effect.forever(Effect.gen(function*() {
            for (let i = 0; i < 200; i++) sink.tellUnsafe(Sink.Put({ payload }))
            yield* Effect.yieldNow
          })))
          yield* Effect.sleep("100 millis")
          yield* Scope.close(aScope, Exit.void)
          yield* Effect.sleep("200 millis")
          yield* Fiber.interrupt(flood)
        })).pipe(Effect.provide(Logger.layer([logger])))
      }
      assert.deepStrictEqual(faults.filter((f) => /ECONNRESET|EPIPE|socket error/.test(f)), [])
    }), 60_000)
})
