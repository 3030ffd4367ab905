/**
 * Asks refused at once, again and again (not a benchmark, not in `run.ts`): 50 000 fibers ask an
 * actor on a node that is cut off (a partition: no redial) in a loop for 3 s, each asking again
 * once refused, as a flood does after its peer went down. Prints how many asks were made and the
 * longest event-loop gap (a setImmediate chain's).
 *
 *   npx node bench/soak-refused-loop.ts
 */
import { Effect, Schema } from "effect"
import { Actor } from "../src/index.ts"
import { routerOf } from "../src/transport/Node.ts"
import { partition } from "../src/transport/internal/peers.ts"
import { startNode } from "../src/testing/TestNode.ts"
import { connect, remote } from "../test/transport/_remote.ts"
const Hang = Actor.make("bench/RefHang", { Hang: Actor.ask({ pad: Schema.String }) })
const HangLive = Hang.behavior(Effect.succeed({ Hang: () => Effect.void }))
const N = 50_000
const program = Effect.gen(function*() {
  const b = yield* startNode("b")
  const a = yield* startNode("a")
  yield* connect(a, b)
  const target = remote(a, yield* b.system.spawn(HangLive))
  partition(routerOf(a.node), "b", 60_000)
  yield* Effect.sleep("200 millis")
  let stop = false
  let asks = 0
  let gap = 0, last = performance.now(), ticking = true
  const tick = () => { const now = performance.now(); gap = Math.max(gap, now - last); last = now; if (ticking) setImmediate(tick) }
  setImmediate(tick)
  for (let i = 0; i < N; i++) {
    yield* Effect.forkDetach(Effect.gen(function*() {
      while (!stop) { asks++; yield* Effect.exit(target.ask(Hang.Hang({ pad: "x" }), { timeout: "1 second" })) }
    }))
  }
  yield* Effect.sleep("3 seconds")
  stop = true
  ticking = false
  console.log(JSON.stringify({ asks, maxGapMs: Math.round(gap) }))
})
Effect.runPromise(Effect.scoped(program)).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
