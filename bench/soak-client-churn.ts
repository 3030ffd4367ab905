/**
 * Clients connecting and dropping (not a benchmark, not in `run.ts`): a node `srv` (with the
 * cluster registry) and `CHURN_CLIENTS` (2 000) transient clients, each a `Node` of its own name
 * (no advertised address, as `telex status` and `telex shell`), `CHURN_PARALLEL` (20) at a time:
 * each connects, asks `srv`'s counter, and drops (its scope closes). Prints `srv`'s peers, actors,
 * open file descriptors, heap and RSS before and after; exit code 1 when `srv` kept actors of the clients,
 * more descriptors than before, or more peers than the 1 024 most recent clients gone (what a node
 * remembers of them, `Node.peers`): 3 000 clients leave 1 024 peers, heap 27 -> 30 MiB (one peer
 * per client name for ever before that bound: 3 001, heap 36 MiB).
 *
 *   npx node bench/soak-client-churn.ts
 *   CHURN_CLIENTS=10000 CHURN_PARALLEL=50 npx node bench/soak-client-churn.ts
 */
import { readdirSync } from "node:fs"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { ActorSystem, Node } from "../src/index.ts"
import { Registry } from "../src/cluster/Registry.ts"
import { Counter, CounterLive } from "../examples/counter.ts"

const CLIENTS = Number(process.env.CHURN_CLIENTS ?? 2_000)
const PARALLEL = Number(process.env.CHURN_PARALLEL ?? 20)
const secret = Redacted.make("client-churn-secret-0123456789abcdef")
const fds = () => readdirSync("/proc/self/fd").length

const program = Effect.gen(function*() {
  const ctx = yield* Layer.build(
    Registry.layer.pipe(Layer.provideMerge(Node.layerWithSystem({ name: "srv", host: "127.0.0.1", port: 0, cluster: "churn", secret })))
  )
  const srv = { node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem) }
  const port = srv.node.address.port
  yield* srv.system.spawn(CounterLive, { name: "counter" })
  const figures = () => {
    global.gc?.()
    const m = process.memoryUsage()
    return {
      peers: srv.node.peers().length,
      peersUp: srv.node.peers().filter((p) => p.up).length,
      actors: srv.system.actorCount(),
      fds: fds(),
      heapMiB: Math.round(m.heapUsed / 2 ** 20),
      rssMiB: Math.round(m.rss / 2 ** 20)
    }
  }
  const client = (i: number) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const c = yield* Layer.buildWithScope(Node.layerWithSystem({ name: `client-${i}`, cluster: "churn", secret, advertise: false }), scope)
      const node = Context.get(c, Node)
      const outcome = yield* Effect.result(Effect.gen(function*() {
        yield* node.connect({ name: "srv", host: "127.0.0.1", port }, "10 seconds")
        const counter = yield* node.lookup("srv", Counter, "counter", { timeout: "10 seconds" })
        yield* counter.tell(Counter.Increment({ by: 1 }))
        return yield* counter.ask(Counter.Get(), { timeout: "10 seconds" })
      }))
      yield* Scope.close(scope, Exit.void)
      return outcome._tag === "Success"
    })
  // one client first, so what a first connection creates once (codecs, caches) is in `before`
  yield* client(-1)
  yield* Effect.sleep("500 millis")
  const before = figures()
  console.log("before", JSON.stringify(before))
  let ok = 0
  const started = Date.now()
  yield* Effect.forEach(Array.from({ length: CLIENTS }, (_, i) => i), (i) =>
    Effect.map(client(i), (answered) => {
      if (answered) ok++
      if ((i + 1) % 500 === 0) console.log(`${i + 1} clients (${Date.now() - started} ms)`, JSON.stringify(figures()))
    }), { concurrency: PARALLEL, discard: true })
  // the server notices the last drops
  yield* Effect.sleep("5 seconds")
  const after = figures()
  console.log("after", JSON.stringify(after), `answered ${ok}/${CLIENTS}`)
  const leaked = after.peers > before.peers + 1024 || after.actors > before.actors || after.fds > before.fds + 2
  if (leaked) console.log("srv kept what its clients left:", srv.node.peers().slice(0, 5))
  return !leaked && ok === CLIENTS
})

Effect.runPromise(program.pipe(Effect.scoped)).then((ok) => process.exit(ok ? 0 : 1), (e) => {
  console.error(e)
  process.exit(1)
})
