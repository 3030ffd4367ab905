/**
 * A connection lost with many asks waiting on it (not a benchmark, not in `run.ts`): node a has
 * `LOSS_ASKS` asks (50 000) to an actor on b that never replies; b stops reading (as a frozen
 * process), so some asks are sent and pending, the rest wait for room in the connection's queue.
 * The connection is then cut (a partition: no redial). Prints the longest event-loop stall on a
 * from the cut until every ask has ended (a setImmediate chain's longest gap, and
 * `monitorEventLoopDelay`'s max), how long until every ask ended, and their outcomes.
 * `LOSS_RESUME=1`: b reads again instead (and answers at once), measured until every ask has its answer.
 *
 *   npx node bench/soak-loss-storm.ts
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect, Exit, Fiber, Schema } from "effect"
import { Actor } from "../src/index.ts"
import { routerOf } from "../src/transport/Node.ts"
import { partition } from "../src/transport/internal/peers.ts"
import { startNode } from "../src/testing/TestNode.ts"
import { connect, remote } from "../test/transport/_remote.ts"

const ASKS = Number(process.env.LOSS_ASKS ?? 50_000)
/** LOSS_RESUME=1: b reads again (and answers) instead of the cut */
const RESUME = process.env.LOSS_RESUME === "1"
const PAD = "x".repeat(Number(process.env.LOSS_PAD ?? 200))

const Hang = Actor.make("bench/LossHang", { Hang: Actor.ask({ pad: Schema.String }) })
// with LOSS_RESUME, b answers at once
const HangLive = Hang.behavior(Effect.succeed({ Hang: () => (RESUME ? Effect.void : Effect.never) }))

const program = Effect.gen(function*() {
  const b = yield* startNode("b")
  const a = yield* startNode("a", { highWaterBytes: Number(process.env.LOSS_HWM ?? 4096) })
  yield* connect(a, b)
  const hanger = remote(a, yield* b.system.spawn(HangLive))
  // b stops reading what a sends: a's queue fills, later asks wait for room
  const bConn = routerOf(b.node).peers.get("a")!.conn as any
  bConn.socket.pause()
  let ended = 0
  const outcomes = new Map<string, number>()
  let allEnded: () => void = () => {}
  const done = new Promise<void>((resolve) => (allEnded = resolve))
  const fibers = yield* Effect.forEach(
    Array.from({ length: ASKS }, (_, i) => i),
    () =>
      Effect.forkDetach(
        hanger.ask(Hang.Hang({ pad: PAD }), { timeout: "60 seconds" }).pipe(
          Effect.exit,
          Effect.map((exit) => {
            const tag = Exit.isSuccess(exit) ? "ok" : String((exit.cause as any).reasons?.[0]?.error?._tag ?? "other")
            outcomes.set(tag, (outcomes.get(tag) ?? 0) + 1)
            if (++ended === ASKS) allEnded()
          })
        )
      )
  )
  const h = monitorEventLoopDelay({ resolution: 1 })
  const peer = routerOf(a.node).peers.get("b")!
  // every ask sent (pending) or waiting for room
  while (peer.asks.size + ((peer.conn as any)?.drainWaiters.size ?? 0) < ASKS) yield* Effect.sleep("50 millis")
  h.enable()
  yield* Effect.sleep("100 millis")
  const pending = peer.asks.size
  const waiting = (peer.conn as any).drainWaiters.size
  let gap = 0
  let last = performance.now()
  let ticking = true
  const tick = () => {
    const now = performance.now()
    gap = Math.max(gap, now - last)
    last = now
    if (ticking) setImmediate(tick)
  }
  const t0 = performance.now()
  setImmediate(tick)
  if (RESUME) {
    // b reads again: every waiting ask is sent (none ends: b's actor never replies)
    bConn.socket.resume()
  } else {
    partition(routerOf(a.node), "b", 60_000)
  }
  const closeMs = performance.now() - t0
  yield* Effect.promise(() => done)
  const total = performance.now() - t0
  // the turn the last ask ended in is measured too
  yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
  ticking = false
  h.disable()
  console.log(JSON.stringify({
    asks: ASKS,
    pending,
    waiting,
    closeMs: Math.round(closeMs),
    maxGapMs: Math.round(gap),
    loopDelayMaxMs: Math.round(h.max / 1e6),
    allEndedMs: Math.round(total),
    outcomes: Object.fromEntries(outcomes)
  }))
  void fibers
  void Fiber
})

Effect.runPromise(Effect.scoped(program)).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
