/**
 * The flooding node `n1` of the `overload` benchmark group (started by `bench/overload.ts`,
 * which is node `n2`). Prints `{ "port" }` once it listens, then answers the parent's commands
 * (see `Command` in `overload-protocol.ts`), one JSON line per command, until its stdin closes:
 *
 * - `asks`: `n` sequential asks to `fast` on n2 → `{ p50, p99 }` in µs;
 * - `flood`: tells (or `tellUnsafe`s) to `target` on n2 without end, in a fiber → `{ ok }`;
 * - `stop`: ends the flood → `{ sent }`;
 * - `rss`: `{ peak, now }` (bytes; the peak since the last `rss`, sampled every 20 ms).
 *
 * Environment: `TELEX_BENCH_SECRET`, `OVERLOAD_N2_PORT` (n2's port).
 */
import { createInterface } from "node:readline"
import { Effect, Fiber, Layer, ManagedRuntime, Redacted, References } from "effect"
import { type ActorRef } from "../src/index.ts"
import { Node } from "../src/transport/Node.ts"
import { percentile } from "./lib.ts"
import { type Command, NOTE, Overload } from "./overload-protocol.ts"

const secret = process.env["TELEX_BENCH_SECRET"]
const n2Port = Number(process.env["OVERLOAD_N2_PORT"])
if (secret === undefined || secret === "" || !(n2Port > 0)) throw new Error("overload-peer: TELEX_BENCH_SECRET / OVERLOAD_N2_PORT not set")

let peak = process.memoryUsage.rss()
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss())
}, 20).unref()

const runtime = ManagedRuntime.make(
  Node.layerWithSystem({ name: "n1", cluster: "overload", secret: Redacted.make(secret) }).pipe(
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  )
)

const port = await runtime.runPromise(Effect.gen(function*() {
  const node = yield* Node
  yield* node.connect({ name: "n2", host: "127.0.0.1", port: n2Port })
  return node.address.port
}))
const refs = new Map<string, ActorRef.ActorRef<typeof Overload.defs>>()
const ref = (name: string) =>
  Effect.gen(function*() {
    const known = refs.get(name)
    if (known !== undefined) return known
    const node = yield* Node
    const found = yield* node.lookup("n2", Overload, name)
    refs.set(name, found)
    return found
  })

let flood: Fiber.Fiber<unknown, unknown> | undefined
let sent = 0
const macrotask = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

const handle = (command: Command): Effect.Effect<unknown, unknown, Node> => {
  switch (command.op) {
    case "asks":
      return Effect.gen(function*() {
        const fast = yield* ref("fast")
        const times = new Float64Array(command.n)
        for (let i = 0; i < command.n; i++) {
          const start = performance.now()
          yield* fast.ask(Overload.Ping({ seq: i }), { timeout: "30 seconds" })
          times[i] = (performance.now() - start) * 1000
        }
        times.sort()
        return { p50: percentile(times, 50), p99: percentile(times, 99) }
      })
    case "flood":
      return Effect.gen(function*() {
        const target = yield* ref(command.target)
        sent = 0
        const loop = command.mode === "tell"
          ? Effect.forever(Effect.suspend(() => target.tell(Overload.Work({ n: sent++, note: NOTE }))))
          : Effect.forever(Effect.andThen(
            Effect.sync(() => {
              for (let i = 0; i < 1000; i++) target.tellUnsafe(Overload.Work({ n: sent++, note: NOTE }))
            }),
            macrotask
          ))
        flood = runtime.runFork(loop)
        return { ok: true }
      })
    case "stop":
      return Effect.gen(function*() {
        if (flood !== undefined) yield* Fiber.interrupt(flood)
        flood = undefined
        return { sent }
      })
    case "rss": {
      const now = process.memoryUsage.rss()
      const result = { peak: Math.max(peak, now), now }
      peak = now
      return Effect.succeed(result)
    }
  }
}

process.stdout.write(`${JSON.stringify({ port })}\n`)
const lines = createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on("line", (line) => {
  queue = queue.then(async () => {
    const result = await runtime.runPromise(handle(JSON.parse(line) as Command)).catch((e) => ({ error: String(e) }))
    process.stdout.write(`${JSON.stringify(result)}\n`)
  })
})
lines.on("close", () => {
  void runtime.dispose().finally(() => process.exit(0))
})
