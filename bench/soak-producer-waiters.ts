/**
 * Many offers waiting on one reliable producer (not a benchmark, not in `run.ts`): `N` (20 000)
 * fibers offer to a producer whose buffer (16) is full, its consumer on another node. Two phases:
 *
 * - `cancel`: the consumer is stuck; every waiting offer is interrupted at once (as offers with
 *   one timeout expire together). Prints how long the interruption took and the event loop's
 *   longest gap meanwhile.
 * - `slow`: the consumer handles a message per millisecond; every offer has a 3 s timeout.
 *   Prints how many were accepted (at most ~3 000), how many timed out, and the longest gap.
 *
 *   N=20000 npx node bench/soak-producer-waiters.ts
 */
import { Deferred, Effect, Fiber, Logger, Schema } from "effect"
import { ActorSystem, Reliable } from "../src/index.ts"
import * as TestNode from "../src/testing/TestNode.ts"

const N = Number(process.env.N ?? 20_000)
const Order = Schema.Struct({ n: Schema.Int })

/** the event loop's longest gap (a setImmediate chain's) while `effect` runs */
const gaps = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    let maxGap = 0
    let last = performance.now()
    let on = true
    const gapper = () => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      if (on) setImmediate(gapper)
    }
    setImmediate(gapper)
    const t0 = performance.now()
    const result = yield* effect
    on = false
    maxGap = Math.max(maxGap, performance.now() - last)
    return { result, ms: Math.round(performance.now() - t0), maxGapMs: Math.round(maxGap) }
  })

const program = Effect.gen(function*() {
  const b = yield* TestNode.startNode("b")
  const a = yield* TestNode.startNode("a")
  yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port })
  const gate = yield* Deferred.make<void>()
  yield* b.system.spawn(Reliable.consumer({ id: "stuck", schema: Order, handle: () => Deferred.await(gate) }), { name: "stuck" })
  let seen = 0
  yield* b.system.spawn(
    Reliable.consumer({ id: "slow", schema: Order, handle: () => Effect.andThen(Effect.sleep("1 millis"), Effect.sync(() => void seen++)) }),
    { name: "slow" }
  )
  const producer = (name: string) =>
    Reliable.producer({ id: name, schema: Order, bufferSize: 16, consumer: a.node.lookup("b", Reliable.ConsumerProtocol, name) }).pipe(
      Effect.provideService(ActorSystem, a.system)
    )
  const offers = (p: Reliable.ReliableProducer<{ n: number }>, timeout?: "3 seconds") =>
    Effect.forEach(Array.from({ length: N }, (_, n) => n), (n) => {
      const offer = p.offer({ n })
      return Effect.exit(timeout === undefined ? offer : offer.pipe(Effect.timeout(timeout)))
    }, { concurrency: "unbounded" })

  const stuck = yield* producer("stuck")
  const waiting = yield* Effect.forkChild(offers(stuck))
  while (stuck.stats().unconfirmed < 16) yield* Effect.sleep("10 millis")
  yield* Effect.sleep("500 millis")
  const cancel = yield* gaps(Fiber.interrupt(waiting))
  console.log(JSON.stringify({ phase: "cancel", N, interruptMs: cancel.ms, maxGapMs: cancel.maxGapMs }))

  const slow = yield* producer("slow")
  const run = yield* gaps(offers(slow, "3 seconds"))
  const accepted = run.result.filter((e) => e._tag === "Success").length
  console.log(JSON.stringify({ phase: "slow", N, accepted, timedOut: N - accepted, handled: seen, ms: run.ms, maxGapMs: run.maxGapMs }))
  yield* Deferred.succeed(gate, undefined)
}).pipe(Effect.scoped, Effect.provide(Logger.layer([])))

Effect.runPromise(program).then(() => process.exit(0), (e) => (console.error(e), process.exit(1)))
