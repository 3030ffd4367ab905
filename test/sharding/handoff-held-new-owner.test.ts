/**
 * Tells for a shard handed off, that reach its next owner before that node has the lease while
 * its lease reads still show the old owner: the next owner holds them until it acquires the
 * shard, and does not send them back to the old owner (which would hold them past the
 * acquisition, behind what the senders send the new owner directly). Then each arrives once, in
 * order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Hash from "../../src/sharding/internal/hash.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, eventually, fast, laggingView, quiet, Seq, SeqEntity, settled, startNode } from "./_runtime.ts"

const TELLS = 100

describe("sharding: tells held by a shard's next owner", () => {
  it.live("stay there until it has the lease (none sent back to the old owner), then arrive once, in order", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const options = { entities: [SeqEntity] }
      const a = yield* startNode("a", store, options)
      const b = yield* startNode("b", store, options)
      yield* connect(a, b)
      yield* settled([a, b])
      let key = ""
      for (let i = 0; key === ""; i++) {
        const shard = Hash.shardOf(`held-${i}`, fast.shards)
        if (Hash.owner(["a", "b"], shard) === "a" && Hash.owner(["a", "b", "c"], shard) === "c") key = `held-${i}`
      }
      const shard = Hash.shardOf(key, fast.shards)
      // until thawed, c's lease reads show a owning the shard and its acquisitions get nothing
      const lagging = laggingView(store)
      let thawed = false
      const view: ShardStore.ShardStore = {
        ...lagging.view,
        acquire: (owner, shards, ttl) => Effect.suspend(() => thawed ? store.acquire(owner, shards, ttl) : Effect.succeed([]))
      }
      yield* lagging.freeze
      const c = yield* startNode("c", view, options)
      yield* connect(c, a)
      yield* connect(c, b)
      yield* eventually("a handed the shard off", () => a.events.some((e) => e.kind === "shardReleased" && e.shard === shard))
      const onB = yield* b.sharding.entity(SeqEntity)
      for (let n = 1; n <= TELLS; n++) yield* Effect.orDie(onB.ref(key).tell(Seq.Next({ n })))
      // whichever way they went (through a or straight to c), they end up at c; a few of c's
      // placement rounds (each one routes what c holds again) must not send them back to a
      yield* Effect.sleep("300 millis")
      const sentToA = () => c.node.linkStats().find((l) => l.name === "a")?.sent ?? 0
      const before = sentToA()
      yield* Effect.sleep(`${6 * 150} millis`)
      const bounced = sentToA() - before
      assert.isBelow(bounced, TELLS / 2, `envelopes c sent a over 6 placement rounds while holding ${TELLS} tells for the shard`)
      yield* lagging.thaw
      thawed = true
      yield* eventually("c owns the shard", () => c.sharding.ownedShards().some((l) => l.shard === shard))
      const report = yield* onB.ref(key).ask(Seq.Report(), { timeout: "10 seconds" })
      assert.deepStrictEqual(report, { last: TELLS, count: TELLS, gaps: 0 }, "every tell once, in order")
    })), 30_000)
})
