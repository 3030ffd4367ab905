/**
 * A node cut off from its PostgreSQL shard store (a TCP fault proxy in front of the server:
 * partitioned — bytes held both ways, as a kernel DROP rule does — or down — connections reset,
 * new ones refused) for several lease TTLs while another node reaches it
 * (Pekko's ClusterShardingFailureSpec, with the store as the failing part; Jepsen's checks):
 *
 * - the cut-off node stops its entities (its renewals go unconfirmed) before its leases can
 *   expire; never two activations of a key at once;
 * - meanwhile the other node's keys answer and take updates (the cut-off node's shards wait for
 *   it: it is still a member — see the module doc of `Sharding`);
 * - after the heal (the held bytes — late renewals, late state writes — reach the server: the
 *   fence refuses them), every key answers again from both nodes, and no acknowledged update is
 *   lost: each key's count is at least its acknowledged increments, at most its attempted ones.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgShardStore from "../../src/sharding/PgShardStore.ts"
import type { ShardingEvent } from "../../src/sharding/Sharding.ts"
import { FaultProxy } from "../../src/testing/FaultProxy.ts"
import { pgSkip, pgUrl } from "./_backends.ts"
import { Counter, CounterEntity, connect, eventually, quiet, settled, type ShardNode, startNode } from "./_runtime.ts"

const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)

const storeAt = (url: string, prefix: string) =>
  Effect.gen(function*() {
    const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
    const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 2, connectTimeout: "2 seconds" }).pipe(
      Effect.provide(Reactivity.layer)
    )
    return yield* PgShardStore.fromClient(sql, prefix, { maxConnections: 2 })
  })

const assertNoOverlap = (nodes: ReadonlyArray<ShardNode>) => {
  const all = nodes.flatMap((n) => n.events).filter((e): e is Extract<ShardingEvent, { key: string }> => "key" in e)
  const ordered = all.map((e, seq) => ({ e, seq })).sort((x, y) => x.e.at - y.e.at || x.seq - y.seq)
  const active = new Map<string, string>()
  for (const { e } of ordered) {
    if (e.kind === "activated") {
      assert.isUndefined(active.get(e.key), `${e.key} activated on ${e.owner} while active on ${active.get(e.key)}`)
      active.set(e.key, e.owner)
    } else if (active.get(e.key) === e.owner) active.delete(e.key)
  }
}

describe.skipIf(pgSkip !== undefined)("sharding on PostgreSQL: a node cut off from the store", () => {
  for (const mode of ["partition", "reset"] as const) it.live(`${mode}: its entities stop, the other node goes on; after the heal every key answers from both, no acknowledged update lost`, () =>
    quiet(Effect.gen(function*() {
      const prefix = `telex_verify_${process.pid}_${Math.random().toString(36).slice(2, 8)}_`
      const upstream = new URL(pgUrl)
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => FaultProxy.start({ upstream: { host: upstream.hostname, port: Number(upstream.port || 5432) }, name: "pg" })),
        (p) => Effect.promise(() => p.close())
      )
      const viaProxy = new URL(pgUrl)
      viaProxy.port = String(proxy.address.port)
      const direct = yield* storeAt(pgUrl, prefix)
      yield* Effect.addFinalizer(() =>
        Effect.ignore(Effect.flatMap(Effect.promise(() => import("@effect/sql-pg")), ({ PgClient }) =>
          Effect.flatMap(PgClient.make({ url: Redacted.make(pgUrl), maxConnections: 1 }), (sql) =>
            sql.unsafe(`DROP TABLE IF EXISTS ${prefix}shard_lease, ${prefix}entity_state`))
        ).pipe(Effect.provide(Reactivity.layer), Effect.scoped))
      )
      const cut = yield* storeAt(viaProxy.toString(), prefix)
      const a = yield* startNode("a", cut)
      const b = yield* startNode("b", direct)
      yield* connect(a, b)
      yield* settled([a, b])
      const ca = yield* a.sharding.entity(CounterEntity)
      const cb = yield* b.sharding.entity(CounterEntity)
      const acked = new Map<string, number>()
      const tried = new Map<string, number>()
      // an increment is a tell (Add), acknowledged when a later ask from the same node sees it;
      // that ask is retried, the tell is not: a first activation (its state loaded from the
      // store) can outlast one ask's timeout on a loaded machine
      const add = (client: typeof ca, key: string) =>
        Effect.gen(function*() {
          tried.set(key, (tried.get(key) ?? 0) + 1)
          const sent = yield* Effect.exit(client.ref(key).tell(Counter.Add({ by: 1 })))
          if (Exit.isFailure(sent)) return
          const got = yield* Effect.exit(eventuallyAsk(client, key))
          if (Exit.isSuccess(got) && got.value >= (acked.get(key) ?? 0) + 1) acked.set(key, got.value)
        })
      // An increment not acknowledged is tried again: on a loaded machine an ask can time out, or a
      // lease lapse and move its shard, losing a tell (README, "Which one?": a tell to a key can be
      // lost while its shard moves after a lease expiry). What the test judges is the outage.
      const addAcked = (client: typeof ca, key: string) =>
        Effect.gen(function*() {
          const before = acked.get(key) ?? 0
          for (let attempt = 0; attempt < 5 && (acked.get(key) ?? 0) === before; attempt++) yield* add(client, key)
        })
      for (const k of keys) yield* addAcked(ca, k)
      assert.strictEqual(acked.size, keys.length)
      const onA = keys.filter((k) => a.sharding.ownedShards().some((l) => l.shard === a.sharding.shardOf(k)))
      assert.isAbove(onA.length, 0)

      const onB = keys.filter((k) => !onA.includes(k))
      if (mode === "partition") proxy.partition()
      else proxy.down()
      // its renewals go unconfirmed: its entities stop before its leases can expire in the store
      yield* eventually("a stopped its shards", () => a.sharding.ownedShards().length === 0 && a.sharding.activeEntities() === 0, 15_000)
      yield* eventually("a reported its shards lost", () => a.events.some((e) => e.kind === "shardLost"), 15_000)
      // b goes on with its own keys; a's wait for a (it is still a member), held, not lost
      const beforeOutage = new Map(acked)
      for (const k of onB) yield* addAcked(cb, k)
      for (const k of onB) assert.isAbove(acked.get(k)!, beforeOutage.get(k)!, `${k} from b during the outage`)
      // an outage of several lease TTLs: a's pool has calls stuck behind the partition
      yield* Effect.sleep("3 seconds")
      if (mode === "partition") proxy.heal()
      else proxy.up()

      yield* eventually("a owns shards again", () => a.sharding.ownedShards().length > 0, 30_000)
      for (const k of keys) {
        const fromA = yield* Effect.exit(eventuallyAsk(ca, k))
        const fromB = yield* Effect.exit(eventuallyAsk(cb, k))
        assert.isTrue(Exit.isSuccess(fromA) && Exit.isSuccess(fromB), `${k} answers from both`)
        const v = (fromA as Exit.Success<number, unknown>).value
        assert.strictEqual((fromB as Exit.Success<number, unknown>).value, v)
        assert.isAtLeast(v, acked.get(k)!, `${k}: an acknowledged update lost`)
        assert.isAtMost(v, tried.get(k)!, `${k}: more than was sent`)
      }
      assertNoOverlap([a, b])
    }).pipe(Effect.scoped)), 90_000)
})

const eventuallyAsk = (client: { ref: (k: string) => { ask: (m: any, o?: any) => Effect.Effect<any, any> } }, key: string) =>
  client.ref(key).ask(Counter.Get(), { timeout: "2 seconds" }).pipe(Effect.retry({ times: 10 }))
