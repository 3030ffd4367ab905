/**
 * Lookups waiting for a peer that does not come up (it accepts TCP and never answers the
 * handshake, as a frozen process does): when they time out together, they fail a slice per turn
 * of the event loop, as asks do, and leave no waiter behind. Lookups waiting for a peer that
 * comes up go on a slice per turn too.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
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

  it.live("waiting for a peer that comes up: a slice of them sends its lookup per turn, and every one is answered", () =>
    Effect.gen(function*() {
      // a free port for b (listened on, then closed)
      const probe = Net.createServer()
      yield* Effect.promise(() => new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve())))
      const port = (probe.address() as Net.AddressInfo).port
      yield* Effect.promise(() => new Promise<void>((resolve) => probe.close(() => resolve())))
      const a = yield* TestNode.startNode("lua", { peers: [{ name: "lub", host: "127.0.0.1", port }], reconnect: { initial: "20 millis", max: "50 millis" } })
      const lookups = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: N }),
        () => Effect.exit(a.node.lookup("lub", Counter, "counter", { timeout: "20 seconds" })),
        { concurrency: "unbounded" }
      ))
      yield* Effect.sleep("200 millis")
      const requests = () => routerOf(a.node).peers.get("lub")?.requests.nextId ?? 1
      const perTurn: Array<number> = []
      let seen = requests()
      let counting = true
      const turn = () => {
        const now = requests()
        if (now > seen) perTurn.push(now - seen)
        seen = now
        if (counting) setImmediate(turn)
      }
      setImmediate(turn)
      const b = yield* TestNode.startNode("lub", { port })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const exits = yield* Fiber.join(lookups)
      counting = false
      // answered: found, or not yet registered when it was asked
      const unanswered = exits.filter((e) => Exit.isFailure(e) && Exit.findErrorOption(e).pipe((o) => o._tag !== "Some" || o.value._tag !== "ActorNotFound"))
      assert.strictEqual(unanswered.length, 0, "every lookup answered")
      assert.isAtMost(Math.max(...perTurn), 1100, `lookups sent per turn: ${perTurn.join(" ")}`)
    }).pipe(Effect.scoped), 20_000)
})
