/**
 * Soak workload (a script): a sender keeps `tell`ing large messages to an actor on a peer that
 * stops answering (a black-holed proxy: the connection goes silent, is declared lost, and each
 * redial connects but never completes its handshake). Samples the sender's heap and RSS and its
 * event-loop delay, and counts its dead letters by reason.
 *
 *   npx node bench/soak-outbox.ts [seconds=20] [payloadBytes=1048576]
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect, Schema, Stream } from "effect"
import { Actor } from "../src/index.ts"
import { FaultProxy } from "../src/testing/FaultProxy.ts"
import * as TestNode from "../src/testing/TestNode.ts"

const seconds = Number(process.argv[2] ?? 20)
const payload = Number(process.argv[3] ?? 1024 * 1024)
const MiB = 1024 * 1024

const Big = Actor.make("soak/OutboxBig", {
  Take: Actor.tell({ data: Schema.Uint8Array })
})

const main = Effect.gen(function*() {
  const options = { heartbeatInterval: "500 millis", acceptablePause: "2 seconds" } as const
  const b = yield* TestNode.startNode("b", options)
  let taken = 0
  yield* b.system.spawn(Big.behavior(Effect.succeed({ Take: () => Effect.sync(() => void taken++) })), { name: "big" })
  const proxy = yield* Effect.promise(() => FaultProxy.start({ upstream: { host: "127.0.0.1", port: b.node.address.port } }))
  const a = yield* TestNode.startNode("a", { ...options, peers: [{ name: "b", host: "127.0.0.1", port: proxy.address.port }] })
  const ref = yield* a.node.lookup("b", Big, "big", { timeout: "10 seconds" })
  const dead: Record<string, number> = {}
  yield* a.system.deadLetters.pipe(
    Stream.runForEach((d) => Effect.sync(() => void (dead[d.reason._tag] = (dead[d.reason._tag] ?? 0) + 1))),
    Effect.forkScoped
  )
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  let sent = 0
  let stop = false
  const data = new Uint8Array(payload).fill(1)
  yield* Effect.forkScoped(Effect.gen(function*() {
    while (!stop) {
      yield* ref.tell(Big.Take({ data }))
      sent++
      if ((sent & 15) === 0) yield* Effect.yieldNow
    }
  }))
  const t0 = performance.now()
  let peakHeap = 0
  let peakRss = 0
  let partitioned = false
  while (performance.now() - t0 < seconds * 1000) {
    yield* Effect.sleep("500 millis")
    const t = (performance.now() - t0) / 1000
    if (!partitioned && t > 2) {
      partitioned = true
      proxy.partition()
      console.log("partition")
    }
    if (process.env.SOAK_GC === "1") (globalThis as any).gc?.()
    const m = process.memoryUsage()
    peakHeap = Math.max(peakHeap, m.heapUsed)
    peakRss = Math.max(peakRss, m.rss)
    const up = a.node.peers().find((p) => p.name === "b")?.up
    console.log(
      `t=${t.toFixed(1)}s sent=${sent} taken=${taken} heap=${(m.heapUsed / MiB).toFixed(0)}MiB ` +
        `ext=${(m.external / MiB).toFixed(0)}MiB ab=${(m.arrayBuffers / MiB).toFixed(0)}MiB rss=${(m.rss / MiB).toFixed(0)}MiB ` +
        `elMax=${(h.max / 1e6).toFixed(0)}ms up=${up} dead=${JSON.stringify(dead)}`
    )
    h.reset()
  }
  stop = true
  console.log(JSON.stringify({ peakHeapMiB: peakHeap / MiB, peakRssMiB: peakRss / MiB, sent, taken, dead }))
  proxy.heal()
})

Effect.runPromise(Effect.scoped(main)).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
