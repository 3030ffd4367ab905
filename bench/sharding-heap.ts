/**
 * Heap snapshots of active entities against plain actors (not a bench group): one node, `N`
 * echo entities activated between snapshots 0 and 1, `N` plain echo actors between 1 and 2.
 * Diff them (by constructor, and by retainer) to see what an entity holds beyond a plain actor.
 *
 *   node --expose-gc bench/sharding-heap.ts [dir]   # writes dir/h0|h1|h2.heapsnapshot
 */
import { Context, Effect, Layer, References } from "effect"
import v8 from "node:v8"
import { ActorSystem } from "../src/system/ActorSystem.ts"
import { Sharding } from "../src/sharding/Sharding.ts"
import * as ShardStore from "../src/sharding/ShardStore.ts"
import { fullGc } from "./lib.ts"
import { Echo, EchoClosureEntity } from "./sharding-app.ts"

const N = 5000
const dir = process.argv[2] ?? "."
const EchoLive = Echo.behavior(Effect.succeed({ Ping: ({ n }) => Effect.succeed(n), Where: () => Effect.succeed("plain") }))
const snapshot = (name: string) => {
  fullGc()
  v8.writeHeapSnapshot(`${dir}/${name}.heapsnapshot`)
}

const program = Effect.gen(function*() {
  // long leases: writing a snapshot blocks the process for seconds
  const ctx = yield* Layer.build(Sharding.layer({ entities: [EchoClosureEntity], leaseTtl: "10 minutes" }).pipe(
    Layer.provideMerge(Layer.merge(ActorSystem.layer({ node: "solo" }), ShardStore.Service.layer(ShardStore.memory())))
  ))
  const sharding = Context.get(ctx, Sharding)
  const system = Context.get(ctx, ActorSystem)
  while (sharding.ownedShards().length < sharding.shards) yield* Effect.sleep("50 millis")
  const echoes = yield* sharding.entity(EchoClosureEntity)
  const plain: Array<unknown> = []
  const spawnPlain = Effect.gen(function*() {
    for (let i = 0; i < N; i++) {
      const ref = yield* system.spawn(EchoLive)
      plain.push(ref)
      yield* ref.ask(Echo.Ping({ n: i }))
    }
  })
  // warm: every per-shard and per-type structure exists before the first snapshot
  for (let i = 0; i < N; i++) yield* echoes.ref(`w-${i}`).ask(Echo.Ping({ n: i }))
  yield* spawnPlain
  snapshot("h0")
  for (let i = 0; i < N; i++) yield* echoes.ref(`m-${i}`).ask(Echo.Ping({ n: i }))
  snapshot("h1")
  yield* spawnPlain
  snapshot("h2")
  console.log(`${sharding.activeEntities()} entities, ${plain.length} plain actors`)
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

Effect.runPromise(program).then(() => process.exit(0))
