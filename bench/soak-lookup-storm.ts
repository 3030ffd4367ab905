/**
 * Lookups of a node stuck in its handshake (not a benchmark, not in `run.ts`): node `a` dials
 * `b`, whose address is a socket server that accepts and never answers (a frozen process), and
 * `N` (50 000) lookups of `b` wait for it with a 2 s timeout. Prints their outcomes and the
 * event loop's longest gap while they time out.
 *
 *   N=50000 npx node bench/soak-lookup-storm.ts
 */
import * as Net from "node:net"
import { Effect, Fiber, Logger } from "effect"
import { Counter } from "../examples/counter.ts"
import * as TestNode from "../src/testing/TestNode.ts"
const N = Number(process.env.N ?? 50_000)
const program = Effect.gen(function*() {
  // b is dialled but its listener does not answer the handshake: a socket server that says nothing
  const sockets: Array<Net.Socket> = []
  const server = Net.createServer((s) => void sockets.push(s))
  yield* Effect.promise(() => new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r())))
  const port = (server.address() as Net.AddressInfo).port
  const a = yield* TestNode.startNode("a", { peers: [{ name: "b", host: "127.0.0.1", port }], handshakeTimeout: "3 seconds" })
  const t0 = performance.now()
  const fiber = yield* Effect.forkChild(Effect.forEach(Array.from({ length: N }), () => Effect.exit(a.node.lookup("b", Counter, "counter", { timeout: "2 seconds" })), { concurrency: "unbounded" }))
  yield* Effect.sleep("1 second")
  let maxGap = 0, last = performance.now(), on = true
  const gapper = () => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now; if (on) setImmediate(gapper) }
  setImmediate(gapper)
  const exits = yield* Fiber.join(fiber)
  on = false
  maxGap = Math.max(maxGap, performance.now() - last)
  const tags: Record<string, number> = {}
  for (const e of exits) { const t = e._tag === "Success" ? "ok" : String((e.cause as any).reasons?.[0]?.error?._tag ?? "other"); tags[t] = (tags[t] ?? 0) + 1 }
  console.log(JSON.stringify({ N, tags, ms: Math.round(performance.now() - t0), maxGapMs: Math.round(maxGap) }))
  server.close(); for (const s of sockets) s.destroy()
}).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
Effect.runPromise(program).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
