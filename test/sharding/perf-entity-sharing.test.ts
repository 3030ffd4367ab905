/**
 * An entity type's activations share its init, its supervision and its rules (one of each per
 * type), not their state: each entity keeps its own key, context, in-memory state and restart
 * count, and an in-place restart keeps the entity's key and actor.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as Supervise from "../../src/supervision/Supervise.ts"
import { ActorSystem } from "../../src/system/ActorSystem.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Tally = Actor.make("test/PerfTally", {
  Add: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int }),
  Who: Actor.ask({}, { success: Schema.String }),
  Self: Actor.ask({}, { success: Schema.String }),
  Node: Actor.ask({}, { success: Schema.String }),
  Crash: Actor.tell({})
})

/** in-memory state only (no `state` option): a restart starts it again from 0 */
const tallyBehavior = Tally.behavior<never, Entity.Services | ActorContext>(Effect.gen(function*() {
  const ctx = yield* Entity.EntityContext
  const self = (yield* ActorContext).self
  let n = 0
  return {
    Add: ({ by }) => Effect.sync(() => void (n += by)),
    Get: () => Effect.sync(() => n),
    // the key as the init saw it, and as a handler's context gives it
    Who: () => Effect.map(Entity.key, (key) => `${ctx.entityKey}/${key}`),
    Self: () => Effect.succeed(self.key),
    Node: () => Sharding.useSync((s) => s.node),
    Crash: () => Effect.die(new Error("crash on purpose"))
  }
}))

const TallyEntity = Entity.make(Tally, tallyBehavior, {
  type: "test/PerfTally",
  restart: [{ match: () => true, directive: "restart", limit: { maxRestarts: 1, within: "1 minute" } }]
})

describe("sharding: what the activations of one entity type share", () => {
  it.live("two entities of one type keep their own state, key and context; a restart keeps the key and the actor, and counts per entity", () =>
    quiet(Effect.gen(function*() {
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const tallies = yield* Sharding.entity(TallyEntity)
        const a = tallies.ref("a")
        const b = tallies.ref("b")
        yield* a.tell(Tally.Add({ by: 2 }))
        yield* b.tell(Tally.Add({ by: 5 }))
        assert.strictEqual(yield* a.ask(Tally.Get()), 2)
        assert.strictEqual(yield* b.ask(Tally.Get()), 5)
        assert.strictEqual(yield* a.ask(Tally.Who()), "a/a")
        assert.strictEqual(yield* b.ask(Tally.Who()), "b/b")
        assert.strictEqual(yield* a.ask(Tally.Node()), "solo")
        const selfA = yield* a.ask(Tally.Self())
        const selfB = yield* b.ask(Tally.Self())
        assert.notStrictEqual(selfA, selfB)

        // a crash of a: restarted in place (same actor, same key), its memory starts again; b is untouched
        yield* a.tell(Tally.Crash())
        assert.strictEqual(yield* a.ask(Tally.Get()), 0)
        assert.strictEqual(yield* a.ask(Tally.Who()), "a/a")
        assert.strictEqual(yield* a.ask(Tally.Self()), selfA)
        assert.strictEqual(yield* b.ask(Tally.Get()), 5)

        // the restart limit (1) is each entity's own: b may restart once too
        yield* b.tell(Tally.Crash())
        assert.strictEqual(yield* b.ask(Tally.Get()), 0)
        assert.strictEqual(yield* b.ask(Tally.Self()), selfB)
        assert.strictEqual(events.filter((e) => e.kind === "activated").length, 2)

        // a second crash of a is past its limit: it stops, the next message activates it again
        yield* a.tell(Tally.Add({ by: 1 }))
        yield* a.tell(Tally.Crash())
        const sharding = yield* Sharding
        for (let i = 0; i < 200 && events.filter((e) => e.kind === "stopped" && e.key === "a").length === 0; i++) {
          yield* Effect.sleep("10 millis")
        }
        assert.strictEqual(yield* a.ask(Tally.Get()), 0)
        assert.strictEqual(yield* a.ask(Tally.Who()), "a/a")
        assert.notStrictEqual(yield* a.ask(Tally.Self()), selfA)
        assert.strictEqual(events.filter((e) => e.kind === "activated" && e.key === "a").length, 2)
        assert.strictEqual(yield* b.ask(Tally.Get()), 0)
        assert.strictEqual(sharding.activeEntities(), 2)
      }).pipe(Effect.provide(soloLayer({ ...fast, entities: [TallyEntity], onEvent: (e) => events.push(e) })))
    })))

  it.live("actors of one supervised behaviour keep their own incarnation and restart count", () =>
    quiet(Effect.gen(function*() {
      const system = yield* ActorSystem
      const supervised = Supervise.behavior(
        Tally.behavior(Effect.gen(function*() {
          const self = (yield* ActorContext).self
          let n = 0
          return {
            Add: ({ by }) => Effect.sync(() => void (n += by)),
            Get: () => Effect.sync(() => n),
            Who: () => Effect.succeed("plain"),
            Self: () => Effect.succeed(self.key),
            Node: () => Effect.succeed(""),
            Crash: () => Effect.die(new Error("crash on purpose"))
          }
        })),
        [{ match: () => true, directive: "restart", limit: { maxRestarts: 1, within: "1 minute" } }]
      )
      const a = yield* system.spawn(supervised)
      const b = yield* system.spawn(supervised)
      yield* a.tell(Tally.Add({ by: 3 }))
      yield* b.tell(Tally.Add({ by: 4 }))
      yield* a.tell(Tally.Crash())
      assert.strictEqual(yield* a.ask(Tally.Get()), 0)
      assert.strictEqual(yield* b.ask(Tally.Get()), 4)
      assert.strictEqual(yield* a.ask(Tally.Self()), a.key)
      // b's first failure is within its own limit
      yield* b.tell(Tally.Crash())
      assert.strictEqual(yield* b.ask(Tally.Get()), 0)
      assert.isTrue(system.info(b)._tag === "Some")
      // a's second is past its own: it stops
      yield* a.tell(Tally.Crash())
      const gone = yield* Effect.exit(a.ask(Tally.Get(), { timeout: "2 seconds" }))
      assert.strictEqual(gone._tag, "Failure")
      assert.strictEqual(yield* b.ask(Tally.Get()), 0)
    }).pipe(Effect.provide(ActorSystem.layer({ node: "solo" })))))

  it.live("a supervised actor's onDown follows its current incarnation across a restart", () =>
    quiet(Effect.gen(function*() {
      const system = yield* ActorSystem
      const Watcher = Actor.make("test/PerfWatcher", {
        Watch: Actor.ask({ target: Schema.Any }, { success: Schema.Boolean }),
        Downs: Actor.ask({}, { success: Schema.Int }),
        Crash: Actor.tell({})
      })
      let incarnations = 0
      const supervised = Supervise.behavior(
        Watcher.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          const mine = ++incarnations
          let downs = 0
          const handlers = {
            Watch: ({ target }: { target: any }) => Effect.as(ctx.monitor(target), true),
            Downs: () => Effect.sync(() => downs),
            Crash: () => Effect.die(new Error("crash on purpose"))
          }
          // the first incarnation handles Down signals; the second has no onDown
          return mine === 1 ? { ...handlers, onDown: () => Effect.sync(() => void downs++) } : handlers
        })),
        [{ match: () => true, directive: "restart" }]
      )
      const Idle = Actor.make("test/PerfIdle", { Ping: Actor.ask({}, { success: Schema.Int }) })
      const idle = Idle.behavior(Effect.succeed({ Ping: () => Effect.succeed(1) }))
      const w = yield* system.spawn(supervised)
      const t1 = yield* system.spawn(idle)
      assert.isTrue(yield* w.ask(Watcher.Watch({ target: t1 })))
      yield* system.stop(t1)
      for (let i = 0; i < 100 && (yield* w.ask(Watcher.Downs())) === 0; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual(yield* w.ask(Watcher.Downs()), 1)
      // restarted: the new incarnation has no onDown, so a Down is skipped (and does not crash it)
      yield* w.tell(Watcher.Crash())
      assert.strictEqual(yield* w.ask(Watcher.Downs()), 0)
      const t2 = yield* system.spawn(idle)
      assert.isTrue(yield* w.ask(Watcher.Watch({ target: t2 })))
      yield* system.stop(t2)
      yield* Effect.sleep("50 millis")
      assert.strictEqual(yield* w.ask(Watcher.Downs()), 0)
      assert.strictEqual(incarnations, 2)
      assert.isTrue(system.info(w)._tag === "Some")
    }).pipe(Effect.provide(ActorSystem.layer({ node: "solo" })))))
})
