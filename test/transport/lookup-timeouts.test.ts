/**
 * Lookups waiting for a peer that does not come up (it accepts TCP and never answers the
 * handshake, as a frozen process does): when they time out together, they fail a slice per turn
 * of the event loop, as asks do, and leave no waiter behind.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { Counter } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"

const N = 5_000

describe("lookups of a node stuck in its handshake", () => {
  it.live("time out at most a slice per turn, every one NodeDown, none left waiting", () =>
    Effect.gen(function*() {
      const sockets: Array<Net.Socket> = []
      const server = Net.createServer((s) => void sockets.push(s))
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))),
        () => Effect.sync(() => {
          server.close()
          for (const s of sockets) s.destroy()
        })
      )
      const port = (server.address() as Net.AddressInfo).port
      const a = yield* TestNode.startNode("lta", { peers: [{ name: "ltb", host: "127.0.0.1", port }], handshakeTimeout: "10 seconds" })
      let failed = 0
      const perTurn: Array<number> = []
      let seen = 0
      let counting = true
      const turn = () => {
        if (failed > seen) perTurn.push(failed - seen)
        seen = failed
        if (counting) setImmediate(turn)
      }
      setImmediate(turn)
      const lookups = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: N }),
        () => a.node.lookup("ltb", Counter, "counter", { timeout: "500 millis" }).pipe(Effect.exit, Effect.tap(() => Effect.sync(() => void failed++))),
        { concurrency: "unbounded" }
      ))
      // the process busy (a collection, a loaded machine) past every deadline: they are all due at once
      yield* Effect.sleep("300 millis")
      yield* Effect.sync(() => {
        const until = performance.now() + 400
        while (performance.now() < until);
      })
      const exits = yield* Fiber.join(lookups)
      counting = false
      const tags = exits.map((e) => (Exit.isFailure(e) ? Exit.findErrorOption(e).pipe((o) => (o._tag === "Some" ? o.value._tag : "defect")) : "found"))
      assert.isTrue(tags.every((t) => t === "NodeDown"), `outcomes: ${Array.from(new Set(tags)).join(", ")}`)
      assert.strictEqual(routerOf(a.node).peers.get("ltb")!.upWaiters.size, 0, "no waiter left behind")
      assert.isAtMost(Math.max(...perTurn), 1100, `lookups failing per turn: ${perTurn.join(" ")}`)
    }).pipe(Effect.scoped), 20_000)
})
