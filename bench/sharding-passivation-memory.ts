/**
 * Memory after passivation (not a bench group): two nodes in this process over loopback TCP
 * sharing a memory shard store; node `a` asks `N` keys with durable state (half of them live on
 * `b`, asked through its region and then directly), then every entity passivates. Prints the
 * heap (after a full GC) before, with the entities active, and after they all passivated, and
 * what each node still keeps (active entities).
 *
 *   node --expose-gc bench/sharding-passivation-memory.ts [N]
 */
import { Context, Effect, Exit, Layer, Redacted, References, Schema, Scope } from "effect"
import * as Actor from "../src/actors/Actor.ts"
import * as Entity from "../src/sharding/Entity.ts"
import { Sharding } from "../src/sharding/Sharding.ts"
import * as ShardStore from "../src/sharding/ShardStore.ts"
import { Node } from "../src/transport/Node.ts"
import { fullGc } from "./lib.ts"

const N = Number(process.argv[2] ?? 100_000)
const Cell = Actor.make("bench/PassivationCell", { Inc: Actor.ask({}, { success: Schema.Int }) })
const CellEntity = Entity.make(Cell, Cell.behavior(Effect.gen(function*() {
  const n = yield* Entity.state(Schema.Int)
  return { Inc: () => Effect.andThen(n.update((x) => x + 1), n.get) }
})), { passivateAfter: "2 seconds", state: { schema: Schema.Int, initial: 0 } })

const heapMb = () => {
  fullGc()
  return (process.memoryUsage().heapUsed / 1e6).toFixed(1)
}

const startNode = (name: string, store: ShardStore.ShardStore) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const layer = Sharding.layer({ entities: [CellEntity], shards: 256 }).pipe(
      Layer.provide(ShardStore.Service.layer(store)),
      Layer.provideMerge(Node.layerWithSystem({ name, cluster: "passivation-memory", secret: Redacted.make("passivation-memory") }))
    )
    const ctx = yield* Layer.buildWithScope(layer, scope)
    return { node: Context.get(ctx, Node), sharding: Context.get(ctx, Sharding) }
  })

const program = Effect.gen(function*() {
  const store = ShardStore.memory()
  const a = yield* startNode("a", store)
  const b = yield* startNode("b", store)
  yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port }, "10 seconds")
  while (a.sharding.ownedShards().length + b.sharding.ownedShards().length < 256 || a.sharding.members().length < 2) {
    yield* Effect.sleep("100 millis")
  }
  const cells = yield* a.sharding.entity(CellEntity)
  const before = heapMb()
  const t0 = Date.now()
  yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) => cells.ref(`k-${i}`).ask(Cell.Inc(), { timeout: "60 seconds" }), { concurrency: 500, discard: true })
  // a second round: the keys on b are now asked directly
  yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) => cells.ref(`k-${i}`).ask(Cell.Inc(), { timeout: "60 seconds" }), { concurrency: 500, discard: true })
  const active = a.sharding.activeEntities() + b.sharding.activeEntities()
  const during = heapMb()
  console.log(`${N} keys asked twice in ${Date.now() - t0} ms; ${active} active (a ${a.sharding.activeEntities()}, b ${b.sharding.activeEntities()})`)
  while (a.sharding.activeEntities() + b.sharding.activeEntities() > 0) yield* Effect.sleep("500 millis")
  yield* Effect.sleep("2 seconds")
  const after = heapMb()
  if (process.env.SNAPSHOT !== undefined) (yield* Effect.promise(() => import("node:v8"))).writeHeapSnapshot(process.env.SNAPSHOT)
  console.log(`heap MB: before ${before}, active ${during}, after passivation ${after}`)
  console.log(`per key after passivation: ${((Number(after) - Number(before)) * 1e6 / N).toFixed(0)} B; per active entity: ${((Number(during) - Number(before)) * 1e6 / N).toFixed(0)} B`)
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
