/**
 * A shard lost by its node and acquired again by the same node never runs under the epoch it
 * lost: a state write of the old activation still on its way to the store (a statement already
 * sent when its handler was stopped) is refused by the fence, and cannot overwrite what the new
 * activation saved and acknowledged since.
 *
 * The store, as a slow or lossy one is (what `bench/soak-sharding-chaos.ts`'s `store-slow`
 * makes): renewals reach it but their replies are lost (the node's renew deadline passes while
 * the store keeps the lease alive), the release the node sends as it stops the shard is lost on
 * its way, and a state write is held on the wire until the test lets it through. Acquiring a
 * lease its owner still holds renews it with the same epoch (`ShardStore`'s contract), so the
 * node must not take such a lease for a shard it lost under that epoch.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { eventually, quiet, startNode } from "../sharding/_runtime.ts"

const Acct = Actor.make("test/Soak5ReacquireFence", {
  Inc: Actor.ask({}, { success: Schema.Int })
})
const AcctEntity = Entity.make(Acct, Acct.behavior(Effect.gen(function*() {
  const v = yield* Entity.state(Schema.Int)
  return { Inc: () => Effect.andThen(v.update((n) => n + 1), v.get) }
})), { state: { schema: Schema.Int, initial: 0 } })

describe("sharding: a shard acquired again by the node that lost it", () => {
  it.live("gets a new epoch: a write of its old activation still in flight is refused, no acknowledged update lost", () =>
    quiet(Effect.gen(function*() {
      const mem = ShardStore.memory()
      let loseRenewReplies = false
      let loseReleases = false
      let holdSaves = false
      const gate = yield* Deferred.make<void>()
      const held: Array<Fiber.Fiber<void, unknown>> = []
      const store: ShardStore.ShardStore = {
        ...mem,
        // the renewal reaches the store; its reply is lost
        renew: (owner, leases, ttl) =>
          Effect.flatMap(mem.renew(owner, leases, ttl), (renewed) => loseRenewReplies ? Effect.never : Effect.succeed(renewed)),
        // the release is lost on its way
        release: (owner, leases) => loseReleases ? Effect.never : mem.release(owner, leases),
        // a write sent: it reaches the store once the gate opens, whatever becomes of its sender
        saveState: (type, key, fence, state) =>
          holdSaves
            ? Effect.gen(function*() {
              const sent = yield* Effect.forkDetach(Effect.andThen(Deferred.await(gate), mem.saveState(type, key, fence, state)))
              held.push(sent)
              yield* Fiber.join(sent)
            })
            : mem.saveState(type, key, fence, state)
      }
      const a = yield* startNode("a", store, { entities: [AcctEntity] })
      yield* eventually("a owns every shard", () => a.sharding.ownedShards().length === 64)
      const accounts = yield* a.sharding.entity(AcctEntity)
      const ref = accounts.ref("acct")
      const shard = a.sharding.shardOf("acct")
      const epochOf = () => a.sharding.ownedShards().find((l) => l.shard === shard)?.epoch
      assert.strictEqual(yield* ref.ask(Acct.Inc()), 1)
      const lostEpoch = epochOf()!

      // an increment whose save is on the wire when the shard is lost
      holdSaves = true
      const inFlight = yield* Effect.forkChild(Effect.exit(ref.ask(Acct.Inc(), { timeout: "10 seconds" })))
      yield* eventually("the save is on its way", () => held.length === 1)
      loseRenewReplies = true
      loseReleases = true
      yield* eventually("a lost the shard", () => a.events.some((e) => e.kind === "shardLost" && e.shard === shard), 10_000)
      const stopped = yield* Fiber.join(inFlight)
      assert.isTrue(Exit.isFailure(stopped), "the increment whose save was cut short is not acknowledged")
      holdSaves = false
      loseRenewReplies = false

      // the node holds the shard again, and its new activation takes increments
      yield* eventually("a holds the shard again", () => epochOf() !== undefined, 10_000)
      let acked = 0
      for (let i = 0; i < 3; i++) acked = yield* ref.ask(Acct.Inc(), { timeout: "10 seconds" })
      assert.isAbove(epochOf()!, lostEpoch, "the shard runs under a new epoch")

      // the old write lands now: the fence must refuse it
      loseReleases = false
      yield* Deferred.succeed(gate, void 0)
      const late = yield* Fiber.await(held[0]!)
      assert.isTrue(Exit.isFailure(late), "the old activation's late write is refused")
      const saved = yield* mem.loadState(AcctEntity.type, "acct")
      assert.deepStrictEqual(Option.map(saved, (s) => JSON.parse(s)), Option.some(acked), "the acknowledged state stays")
    }).pipe(Effect.scoped)), 60_000)
})
