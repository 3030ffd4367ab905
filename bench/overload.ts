/**
 * The `overload` benchmark group: one slow actor flooded across nodes must not wedge its node.
 *
 * This process is node `n2`, hosting `slow` actors (5 ms per message) and `fast` (answers at
 * once); `bench/overload-peer.ts` is node `n1` in a child process, which floods a slow actor and
 * asks `fast`. Per round:
 *
 * - `askP99Ratio`: p99 of n1's asks to `fast` while n1 floods a `backpressure` slow actor with
 *   `tell`, ÷ the same p99 with no flood (goal ≤ 2: the flood is held at n1, per destination);
 * - `rssGrowthMiB.{backpressureTell,backpressureTellUnsafe,dropNewest}`: peak RSS growth of both
 *   processes over a flood (goal ≤ 64 MiB each);
 * - `dropNewestUsefulRatio`: messages/s the slow actor handles while flooded under `dropNewest`,
 *   ÷ its rate when fed without overload (goal ≥ 0.8: shedding happens at the sender, and the
 *   receiver does not drown in messages it only drops);
 * - `detectMs`: n1 is frozen (SIGSTOP) while it floods; the time until n2 declares it lost
 *   (goal ≤ acceptable pause + one heartbeat interval, 4 000 ms with the defaults).
 *
 * Environment: `BENCH_OVERLOAD_FLOOD_MS` (each flood's length, default 30 000),
 * `BENCH_OVERLOAD_ASKS` (asks per latency sample, default 2 000).
 */
import { randomBytes } from "node:crypto"
import { createInterface } from "node:readline"
import { Deferred, Effect, Layer, ManagedRuntime, PubSub, Redacted, References } from "effect"
import { ActorSystem } from "../src/index.ts"
import type { NodeEvent } from "../src/transport/Node.ts"
import { Node } from "../src/transport/Node.ts"
import { type BenchGroup, envInt, type GroupResult, type Metric, nowNs } from "./lib.ts"
import { type Command, NOTE, Overload } from "./overload-protocol.ts"
import { startPeer } from "./remote.ts"

const params = {
  floodMillis: envInt("BENCH_OVERLOAD_FLOOD_MS", 30_000),
  asks: envInt("BENCH_OVERLOAD_ASKS", 2_000),
  slowMillis: 5,
  heartbeatMillis: 1000,
  acceptablePauseMillis: 3000
}

const metrics: ReadonlyArray<Metric> = [
  { key: "askP99IdleMicros", label: "ask p99 to another actor, idle", unit: "µs", digits: 1 },
  { key: "askP99FloodMicros", label: "  same, while a slow actor is flooded", unit: "µs", digits: 1 },
  { key: "askP99Ratio", label: "  ratio flood / idle", unit: "×", digits: 2, goal: { op: "<=", value: 2 } },
  {
    key: "detectMs",
    label: "frozen flooding peer detected after",
    unit: "ms",
    goal: { op: "<=", value: params.acceptablePauseMillis + params.heartbeatMillis }
  },
  {
    key: "rssGrowthMiB.backpressureTell",
    label: "RSS growth, backpressure + tell",
    unit: "MiB",
    digits: 1,
    goal: { op: "<=", value: 64 }
  },
  {
    key: "rssGrowthMiB.backpressureTellUnsafe",
    label: "RSS growth, backpressure + tellUnsafe",
    unit: "MiB",
    digits: 1,
    goal: { op: "<=", value: 64 }
  },
  { key: "rssGrowthMiB.dropNewest", label: "RSS growth, dropNewest + tell", unit: "MiB", digits: 1, goal: { op: "<=", value: 64 } },
  { key: "slowIdlePerSec", label: "slow actor, fed without overload", unit: "msg/s", digits: 1 },
  { key: "slowDropNewestPerSec", label: "  same, flooded under dropNewest", unit: "msg/s", digits: 1 },
  { key: "dropNewestUsefulRatio", label: "  ratio flooded / unloaded", unit: "×", digits: 2, goal: { op: ">=", value: 0.8 } }
]

type Runtime = ManagedRuntime.ManagedRuntime<Node | ActorSystem, unknown>

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** A slow actor (5 ms per Work) with the given policy; `handled()` counts what it finished. */
const spawnSlow = (runtime: Runtime, name: string, overflow: "backpressure" | "dropNewest") => {
  let handled = 0
  return runtime.runPromise(Effect.gen(function*() {
    const system = yield* ActorSystem
    const ref = yield* system.spawn(
      Overload.behavior(Effect.succeed({
        Work: () => Effect.andThen(Effect.sleep(params.slowMillis), Effect.sync(() => void handled++)),
        Ping: ({ seq }) => Effect.succeed(seq),
        Count: () => Effect.sync(() => handled)
      })),
      { name, mailbox: { overflow } }
    )
    return { ref, handled: () => handled, stop: () => runtime.runPromise(system.stop(ref)) }
  }))
}

/** Peak RSS of this process, sampled every 20 ms; `take` returns the peak since the last take. */
const rssSampler = () => {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 20)
  return {
    take: () => {
      const now = process.memoryUsage.rss()
      const result = Math.max(peak, now)
      peak = now
      return result
    },
    stop: () => clearInterval(timer)
  }
}

const MiB = 1024 * 1024

const oneRound = async (runtime: Runtime, secret: string, port: number, log: (line: string) => void) => {
  const peer = await startPeer(secret, log, `${import.meta.dirname}/overload-peer.ts`, { OVERLOAD_N2_PORT: String(port) })
  const rss = rssSampler()
  const answers: Array<(line: string) => void> = []
  createInterface({ input: peer.child.stdout! }).on("line", (line) => answers.shift()?.(line))
  const command = (c: Command): Promise<any> =>
    new Promise((resolve) => {
      answers.push((line) => resolve(JSON.parse(line)))
      peer.child.stdin!.write(`${JSON.stringify(c)}\n`)
    })
  // a lost link spoils the round: say so
  const watch = runtime.runFork(Effect.scoped(Effect.gen(function*() {
    const events = yield* (yield* Node).subscribe
    for (;;) {
      const e = yield* PubSub.take(events)
      if (e._tag === "NodeDown") log(`overload: n2 lost n1: ${e.reason}`)
    }
  })))
  try {
    const result: Record<string, number> = {}
    await command({ op: "asks", n: Math.ceil(params.asks / 4) }) // warm-up
    result["askP99IdleMicros"] = (await command({ op: "asks", n: params.asks })).p99

    // a flood of `what` into a fresh slow actor for floodMillis; RSS growth of both processes
    const flood = async (
      what: string,
      overflow: "backpressure" | "dropNewest",
      mode: "tell" | "tellUnsafe",
      during?: (slow: { handled: () => number }) => Promise<void>
    ) => {
      const slow = await spawnSlow(runtime, what, overflow)
      global.gc?.()
      const base2 = rss.take()
      const base1 = (await command({ op: "rss" })).now
      const started = Date.now()
      await command({ op: "flood", target: what, mode })
      if (during !== undefined) await during(slow)
      await sleep(Math.max(0, params.floodMillis - (Date.now() - started)))
      const { sent } = await command({ op: "stop" })
      const growth2 = (rss.take() - base2) / MiB
      const growth1 = ((await command({ op: "rss" })).peak - base1) / MiB
      await slow.stop()
      log(
        `overload: ${what}: ${sent} sent by n1, ${slow.handled()} handled; RSS n1 +${growth1.toFixed(1)} MiB, n2 +${growth2.toFixed(1)} MiB`
      )
      return growth1 + growth2
    }

    result["rssGrowthMiB.backpressureTell"] = await flood("bpTell", "backpressure", "tell", async () => {
      await sleep(500)
      result["askP99FloodMicros"] = (await command({ op: "asks", n: params.asks })).p99
    })
    result["askP99Ratio"] = result["askP99FloodMicros"]! / result["askP99IdleMicros"]!
    result["rssGrowthMiB.backpressureTellUnsafe"] = await flood("bpUnsafe", "backpressure", "tellUnsafe")

    // the slow actor's own rate: 400 local tells, never more than it can hold
    const unloaded = await spawnSlow(runtime, "unloaded", "dropNewest")
    await runtime.runPromise(Effect.forEach(
      Array.from({ length: 400 }, (_, n) => n),
      (n) => unloaded.ref.tell(Overload.Work({ n, note: NOTE })),
      { discard: true }
    ))
    await sleep(200)
    const u0 = unloaded.handled()
    const ut0 = nowNs()
    await sleep(1000)
    result["slowIdlePerSec"] = ((unloaded.handled() - u0) * 1e9) / (nowNs() - ut0)
    await unloaded.stop()

    result["rssGrowthMiB.dropNewest"] = await flood("dropNewest", "dropNewest", "tell", async (slow) => {
      await sleep(Math.min(2000, params.floodMillis / 4))
      const h0 = slow.handled()
      const t0 = nowNs()
      await sleep(Math.min(5000, params.floodMillis / 2))
      result["slowDropNewestPerSec"] = ((slow.handled() - h0) * 1e9) / (nowNs() - t0)
    })
    result["dropNewestUsefulRatio"] = result["slowDropNewestPerSec"]! / result["slowIdlePerSec"]!

    // freeze n1 while it floods: how long until n2 notices
    const detect = await spawnSlow(runtime, "detect", "backpressure")
    await command({ op: "flood", target: "detect", mode: "tell" })
    await sleep(2000)
    result["detectMs"] = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const node = yield* Node
      const events = yield* node.subscribe
      const down = yield* Deferred.make<number>()
      yield* Effect.forkScoped(PubSub.take(events).pipe(
        Effect.repeat({ until: (e: NodeEvent) => e._tag === "NodeDown" && e.node.name === "n1" }),
        Effect.andThen(Effect.suspend(() => Deferred.succeed(down, Date.now())))
      ))
      const stoppedAt = Date.now()
      peer.child.kill("SIGSTOP")
      const at = yield* Deferred.await(down).pipe(Effect.timeoutOrElse({ duration: "60 seconds", orElse: () => Effect.succeed(NaN) }))
      return at - stoppedAt
    })))
    peer.child.kill("SIGCONT")
    await detect.stop()
    return result
  } finally {
    watch.interruptUnsafe()
    rss.stop()
    peer.child.kill("SIGCONT")
    await peer.stop()
  }
}

export const overload: BenchGroup = {
  name: "overload",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    const secret = randomBytes(16).toString("hex")
    const runtime: Runtime = ManagedRuntime.make(
      Node.layerWithSystem({
        name: "n2",
        cluster: "overload",
        secret: Redacted.make(secret),
        heartbeatInterval: `${params.heartbeatMillis} millis`,
        acceptablePause: `${params.acceptablePauseMillis} millis`
      }).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error")))
    )
    try {
      const port = await runtime.runPromise(Effect.gen(function*() {
        const system = yield* ActorSystem
        yield* system.spawn(
          Overload.behavior(Effect.succeed({
            Work: () => Effect.void,
            Ping: ({ seq }) => Effect.succeed(seq),
            Count: () => Effect.succeed(0)
          })),
          { name: "fast" }
        )
        return (yield* Node).address.port
      }))
      const results: Array<Record<string, number>> = []
      for (let r = 1; r <= rounds; r++) {
        const t0 = nowNs()
        results.push(await oneRound(runtime, secret, port, log))
        log(`overload: round ${r}/${rounds} done in ${((nowNs() - t0) / 1e9).toFixed(1)} s`)
      }
      return { metrics, rounds: results, params: { ...params } }
    } finally {
      await runtime.dispose().catch(() => {})
    }
  }
}
