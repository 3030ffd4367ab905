/**
 * A stateful entity's save still on its way to the store when its incarnation ends — its forked
 * handler interrupted as its activation stops, or its actor restarted in place while a forked
 * handler saves — is under the same lease epoch as the next incarnation's writes, so the fence
 * does not refuse it. The next incarnation loads the state only once that save has settled:
 * it starts from what the old one wrote, and the old write cannot land after (and undo) what
 * the new one saved and acknowledged. A forked handler that goes on across an in-place restart
 * changes the state of an incarnation that ended: it saves nothing (its ask fails), since its
 * write would undo the new incarnation's. An ask whose change another handler's write carries
 * is answered once that write has landed, and fails with it.
 *
 * The store link (`ShardStore.severable(...).degrade`) is slow while the old save is sent (the
 * request stays in flight even when its sender is interrupted), then fast again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { eventually, fast, quiet, soloLayer } from "./_runtime.ts"

/** what the `AddLater` handler waits for (set by the test that sends it), and how many began waiting */
let later: Deferred.Deferred<void> | undefined
let laterStarted = 0

class Boom extends Schema.TaggedError<Boom>()("Fence2Boom", {}) {}

const Tally = Actor.make("test/Fence2Tally", {
  /** adds in a forked handler (the actor takes its next messages while it saves) */
  AddForked: Actor.ask({ by: Schema.Int }, { success: Schema.Int }),
  /** adds in a forked handler once `later` is done */
  AddLater: Actor.ask({ by: Schema.Int }, { success: Schema.Int }),
  Add: Actor.ask({ by: Schema.Int }, { success: Schema.Int }),
  Stop: Actor.tell({}),
  Fail: Actor.tell({})
})
const TallyEntity = Entity.make(
  Tally,
  Tally.behavior(Effect.gen(function*() {
    const count = yield* Entity.state(Schema.Int)
    const ctx = yield* ActorContext
    return {
      AddForked: ({ by }) => Actor.fork(Effect.andThen(count.update((n) => n + by), count.get)),
      AddLater: ({ by }) =>
        Actor.fork(
          Effect.sync(() => laterStarted++).pipe(
            Effect.andThen(Deferred.await(later!)),
            Effect.andThen(count.update((n) => n + by)),
            Effect.andThen(count.get)
          )
        ),
      Add: ({ by }) => Effect.andThen(count.update((n) => n + by), count.get),
      Stop: () => ctx.stop(),
      Fail: () => Effect.die(new Boom())
    }
  })),
  { state: { schema: Schema.Int, initial: 0 }, restart: [{ match: "Fence2Boom", directive: "restart" }] }
)

const savedOf = (memory: ShardStore.ShardStore) =>
  Effect.map(memory.loadState(TallyEntity.type, "t"), Option.map((s) => JSON.parse(s) as number))

/** A store in memory behind a link that can be slowed, with the writes sent and those that reached it. */
const linked = () => {
  const written: Array<number> = []
  const memory = ShardStore.memory({ onEvent: (e) => e._tag === "StateSaved" && written.push(JSON.parse(e.state)) })
  const link = ShardStore.severable(memory, "solo")
  let sent = 0
  const store: ShardStore.ShardStore = {
    ...link.store,
    saveState: (type, key, fence, state) => Effect.andThen(Effect.sync(() => sent++), link.store.saveState(type, key, fence, state))
  }
  return { memory, link, store, written, sent: () => sent }
}

/**
 * The key "t" at 1, then a forked handler's save (of 11) sent on a slow link, which is fast again
 * after it: that save stays on the wire. The ref, and the forked ask's outcome to come.
 */
const saveOnTheWire = (l: ReturnType<typeof linked>) =>
  Effect.gen(function*() {
    const ref = (yield* Sharding.entity(TallyEntity)).ref("t")
    assert.strictEqual(yield* ref.ask(Tally.Add({ by: 1 }), { timeout: "5 seconds" }), 1)
    l.link.degrade({ requestMillis: 1_000 })
    const forked = yield* Effect.forkChild(Effect.exit(ref.ask(Tally.AddForked({ by: 10 }), { timeout: "10 seconds" })))
    yield* eventually("the forked handler's save is sent", () => l.sent() === 2)
    l.link.heal()
    return { ref, forked }
  })

describe("sharding: a save in flight as its incarnation ends", () => {
  it.live("activation stopped with a forked handler's save on the wire: the next activation's acknowledged updates stay", () => {
    const l = linked()
    const { memory, store, written } = l
    return quiet(Effect.gen(function*() {
      const { ref, forked } = yield* saveOnTheWire(l)
      // the actor stops meanwhile, interrupting the forked handler
      yield* ref.tell(Tally.Stop())
      const first = yield* Fiber.join(forked)
      assert.isTrue(Exit.isFailure(first), "the interrupted forked handler is not acknowledged")
      // the next activation (same epoch) takes updates, each acknowledged
      let acked = 0
      for (let i = 0; i < 3; i++) acked = yield* ref.ask(Tally.Add({ by: 100 }), { timeout: "10 seconds" })
      yield* eventually("the old write reached the store", () => written.includes(11))
      assert.deepStrictEqual(yield* savedOf(memory), Option.some(acked), "the store holds the last acknowledged state")
      assert.strictEqual(acked, 311, "the next activation started from the old write")
      assert.strictEqual(yield* ref.ask(Tally.Add({ by: 0 }), { timeout: "5 seconds" }), acked)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] }, store))))
  }, 20_000)

  it.live("restarted in place while a forked handler saves: the new incarnation starts from that save", () => {
    const l = linked()
    const { memory, store, written } = l
    return quiet(Effect.gen(function*() {
      const { ref, forked } = yield* saveOnTheWire(l)
      // a failure restarts the actor in place (same node, same epoch) meanwhile
      yield* ref.tell(Tally.Fail())
      let acked = 0
      for (let i = 0; i < 3; i++) acked = yield* ref.ask(Tally.Add({ by: 100 }), { timeout: "10 seconds" })
      const first = yield* Fiber.join(forked)
      yield* eventually("the old write reached the store", () => written.includes(11))
      assert.deepStrictEqual(yield* savedOf(memory), Option.some(acked), "the store holds the last acknowledged state")
      // the restart does not stop the forked handler: its update, acknowledged, is in the state
      // the new incarnation went on from
      assert.deepStrictEqual(first, Exit.succeed(11))
      assert.strictEqual(acked, 311, "the forked handler's acknowledged update is kept")
      assert.strictEqual(yield* ref.ask(Tally.Add({ by: 0 }), { timeout: "5 seconds" }), acked)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] }, store))))
  }, 20_000)

  it.live("restarted in place while a forked handler runs: its old incarnation's write does not undo the new one's", () => {
    const memory = ShardStore.memory()
    return quiet(Effect.gen(function*() {
      later = yield* Deferred.make<void>()
      laterStarted = 0
      const ref = (yield* Sharding.entity(TallyEntity)).ref("t")
      assert.strictEqual(yield* ref.ask(Tally.Add({ by: 1 }), { timeout: "5 seconds" }), 1)
      const forked = yield* Effect.forkChild(Effect.exit(ref.ask(Tally.AddLater({ by: 10 }), { timeout: "10 seconds" })))
      yield* eventually("the forked handler runs", () => laterStarted === 1)
      // restarted in place (same node, same epoch): the new incarnation starts from the saved 1
      yield* ref.tell(Tally.Fail())
      let acked = 0
      for (let i = 0; i < 3; i++) acked = yield* ref.ask(Tally.Add({ by: 100 }), { timeout: "5 seconds" })
      assert.strictEqual(acked, 301)
      // the old incarnation's forked handler goes on now, with the state of its incarnation
      yield* Deferred.succeed(later, void 0)
      const old = yield* Fiber.join(forked)
      assert.deepStrictEqual(yield* savedOf(memory), Option.some(acked), "the store holds the last acknowledged state")
      assert.isTrue(Exit.isFailure(old), "the old incarnation's update is not acknowledged")
      assert.strictEqual(yield* ref.ask(Tally.Add({ by: 0 }), { timeout: "5 seconds" }), acked)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] }, memory))))
  }, 20_000)

  it.live("concurrent forked handlers: each reply waits for the write that carries its change, and fails with it", () => {
    const written: Array<number> = []
    const memory = ShardStore.memory({ onEvent: (e) => e._tag === "StateSaved" && written.push(JSON.parse(e.state)) })
    // writes take `slowMillis` to reach the store; those reaching it while `failWrites` fail
    let slowMillis = 0
    let failWrites = false
    let sent = 0
    const store: ShardStore.ShardStore = {
      ...memory,
      saveState: (type, key, fence, state) =>
        Effect.suspend(() => {
          sent++
          return Effect.andThen(
            Effect.sleep(slowMillis),
            Effect.suspend(() =>
              failWrites ? Effect.fail(new ShardStore.ShardStoreError({ message: "the write was lost" })) : memory.saveState(type, key, fence, state)
            )
          )
        })
    }
    return quiet(Effect.gen(function*() {
      const ref = (yield* Sharding.entity(TallyEntity)).ref("t")
      assert.strictEqual(yield* ref.ask(Tally.Add({ by: 1 }), { timeout: "5 seconds" }), 1)
      slowMillis = 2_000
      // a first forked handler's write (11) on its way; two more change the state meanwhile and
      // wait for it, then one of them writes both changes (1111)
      const first = yield* Effect.forkChild(Effect.exit(ref.ask(Tally.AddForked({ by: 10 }), { timeout: "10 seconds" })))
      yield* eventually("the first write is sent", () => sent === 2)
      const others = yield* Effect.forkChild(Effect.all([
        Effect.exit(ref.ask(Tally.AddForked({ by: 100 }), { timeout: "10 seconds" })),
        Effect.exit(ref.ask(Tally.AddForked({ by: 1_000 }), { timeout: "10 seconds" }))
      ], { concurrency: "unbounded" }))
      yield* eventually("the first write landed", () => written.includes(11))
      // the write of both changes, sent as the first landed, is lost
      failWrites = true
      assert.deepStrictEqual(yield* Fiber.join(first), Exit.succeed(11))
      const replies = yield* Fiber.join(others)
      slowMillis = 0
      failWrites = false
      const durable = yield* ref.ask(Tally.Add({ by: 0 }), { timeout: "5 seconds" })
      assert.deepStrictEqual(yield* savedOf(memory), Option.some(durable))
      // no reply acknowledged a state the store does not hold
      for (const r of replies) {
        if (Exit.isSuccess(r)) assert.isAtMost(r.value, durable, `an update acknowledged at ${r.value} was lost (the store holds ${durable})`)
      }
      assert.isTrue(replies.some(Exit.isFailure), "the handler whose write was lost failed")
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity] }, store))))
  }, 30_000)
})
