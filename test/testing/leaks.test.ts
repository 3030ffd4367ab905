/**
 * 100 partition/heal cycles between two nodes over real TCP (through a FaultProxy): file
 * descriptors and heap come back to where they started (within 10%).
 */
import { readdirSync } from "node:fs"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { FaultProxy } from "../../src/testing/FaultProxy.ts"
import { startNode } from "../../src/testing/TestNode.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void
const fds = () => readdirSync("/proc/self/fd").length
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const until = (check: () => boolean, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`timed out: ${what}`))
  })

describe("no leaks across partitions", () => {
  it.live("100 partition/heal cycles: file descriptors and heap return to their start", () =>
    Effect.gen(function*() {
      const b = yield* startNode("lb")
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const proxy = yield* Effect.promise(() => FaultProxy.start({ upstream: { host: "127.0.0.1", port: b.node.address.port }, seed: 3 }))
      yield* Effect.addFinalizer(() => Effect.promise(() => proxy.close()))
      const a = yield* startNode("la", {
        peers: [{ name: "lb", host: "127.0.0.1", port: proxy.address.port }],
        reconnect: { initial: "5 millis", max: "20 millis" }
      })
      const up = () => a.node.peers().some((p) => p.name === "lb" && p.up)
      yield* until(up, "first connection")
      const counter = yield* a.node.lookup("lb", Counter, "counter")
      const cycle = Effect.gen(function*() {
        // a partition that the peers see as resets (REJECT-style), then the heal
        proxy.down()
        yield* until(() => !up(), "the link to go down")
        proxy.up()
        yield* until(up, "the link to come back")
        yield* counter.tell(Counter.Increment({ by: 1 }))
        yield* Effect.ignore(counter.ask(Counter.Get(), { timeout: "2 seconds" }))
      })
      for (let i = 0; i < 10; i++) yield* cycle // warm-up: caches, JIT, pools
      const fd0 = fds()
      const heap0 = heap()
      for (let i = 0; i < 100; i++) yield* cycle
      yield* Effect.sleep("100 millis") // let closed sockets finish closing
      const fd1 = fds()
      const heap1 = heap()
      assert.isAtMost(fd1, Math.ceil(fd0 * 1.1) + 1, `file descriptors: ${fd0} → ${fd1}`)
      assert.isAtMost(heap1, heap0 * 1.1, `heap: ${heap0} → ${heap1}`)
      assert.isAtLeast(proxy.stats.connections, 110)
      assert.isAtLeast(yield* counter.ask(Counter.Get()), 100)
    }).pipe(Effect.scoped), 120_000)
})
