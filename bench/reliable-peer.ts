/**
 * The second process of the `reliable` benchmark group (started by `bench/reliable.ts`): a Telex
 * node named `peer` hosting the plain actor (`Plain`) and the reliable consumers (`CONSUMERS`),
 * one per window measured, plus one on a durable `SqliteStore` when
 * `src/reliable/SqliteStore.ts` exists. Prints one JSON line `{ "port", "rawPort", "durable" }`
 * on stdout once it listens, then serves until its stdin closes (the parent's end, or the
 * parent's death), and exits.
 *
 * Environment: `TELEX_BENCH_SECRET` (the cluster secret chosen by the parent),
 * `TELEX_BENCH_STORE_DIR` (where the durable consumer's SQLite file goes; created by the parent,
 * which removes it).
 */
import { Effect, Layer, ManagedRuntime, Redacted, References } from "effect"
import { join } from "node:path"
import { ActorSystem, Reliable } from "../src/index.ts"
import { Node } from "../src/transport/Node.ts"
import { CONSUMERS, counters, loadSqliteStore, Payload, PLAIN, PlainLive } from "./reliable-protocol.ts"
import { nodeOptions } from "./remote-protocol.ts"

const secret = process.env["TELEX_BENCH_SECRET"]
if (secret === undefined || secret === "") throw new Error("reliable-peer: TELEX_BENCH_SECRET is not set")
const storeDir = process.env["TELEX_BENCH_STORE_DIR"]

const sqlite = storeDir === undefined || storeDir === "" ? undefined : await loadSqliteStore()
const durableStore = sqlite?.make(join(storeDir!, "consumer.sqlite"))

const runtime = ManagedRuntime.make(
  Node.layerWithSystem({ name: "peer", cluster: "bench", secret: Redacted.make(secret), ...nodeOptions }).pipe(
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  )
)

const handle = () =>
  Effect.sync(() => {
    counters.reliable++
  })

const port = await runtime.runPromise(Effect.gen(function*() {
  const system = yield* ActorSystem
  yield* system.spawn(PlainLive, { name: PLAIN })
  for (const c of [CONSUMERS.wDefault, CONSUMERS.w50, CONSUMERS.w500]) {
    yield* system.spawn(Reliable.consumer({ id: c.name, schema: Payload, window: c.window, handle }), { name: c.name })
  }
  if (durableStore !== undefined) {
    const c = CONSUMERS.durable
    yield* system.spawn(
      Reliable.consumer({ id: c.name, schema: Payload, window: c.window, store: durableStore, handle }),
      { name: c.name }
    )
  }
  const node = yield* Node
  return node.address.port
}))

process.stdout.write(`${JSON.stringify({ port, rawPort: 0, durable: durableStore !== undefined })}\n`)

// ---- life cycle ----------------------------------------------------------------

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  const timer = setTimeout(() => process.exit(0), 2000)
  timer.unref()
  runtime.dispose().then(
    () => {
      durableStore?.close()
      process.exit(0)
    },
    () => process.exit(1)
  )
}
process.stdin.on("end", stop)
process.stdin.on("error", stop)
process.stdin.resume()
process.on("SIGTERM", stop)
