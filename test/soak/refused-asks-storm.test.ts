/**
 * Asks refused while they are being sent (their node is not connected) resume their askers after
 * pending I/O, a slice per turn: a loop of 50 000 asks to a node that went down, each asking
 * again once refused, held every turn of the event loop for one to two seconds when each
 * refusal had its own `setImmediate` (all of a turn's refusals ran together in the next one),
 * long enough under load for the node's healthy peers to drop it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Actor } from "../../src/index.ts"
import { partition } from "../../src/transport/internal/peers.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { connect, remote } from "../transport/_remote.ts"

const Echo = Actor.make("test/RefusedStormEcho", { Ping: Actor.ask({}) })
const EchoLive = Echo.behavior(Effect.succeed({ Ping: () => Effect.void }))

describe("soak: asks refused at once", () => {
  it.live("refused asks resume a slice per turn, each once with NodeDown", () =>
    Effect.gen(function*() {
      const count = 5_000
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* connect(a, b)
      const target = remote(a, yield* b.system.spawn(EchoLive))
      // the node is lost, and no new connection is made
      partition(routerOf(a.node), "b", 60_000)
      const tags = new Map<string, number>()
      let started = 0
      let ended = 0
      let beforeIo = -1
      yield* Effect.sync(() => {
        for (let i = 0; i < count; i++) {
          Effect.runFork(
            Effect.suspend(() => {
              // once the last ask was refused: what is pending (here a setImmediate) runs after how many resumed?
              if (++started === count) queueMicrotask(() => setImmediate(() => (beforeIo = ended)))
              return Effect.exit(target.ask(Echo.Ping(), { timeout: "30 seconds" }))
            }).pipe(Effect.map((exit) => {
              ended++
              const tag = Exit.isSuccess(exit) ? "success" : String((exit.cause.reasons[0] as any)?.error?._tag)
              tags.set(tag, (tags.get(tag) ?? 0) + 1)
            }))
          )
        }
      })
      do yield* Effect.sleep("20 millis")
      while (ended < count || beforeIo < 0)
      assert.isAbove(beforeIo, 0)
      assert.isBelow(beforeIo, count, "pending I/O runs after a slice of the refusals, not after all")
      assert.deepStrictEqual(Object.fromEntries(tags), { NodeDown: count })
    }).pipe(Effect.scoped), 20_000)
})
