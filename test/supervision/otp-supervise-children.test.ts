/**
 * Pekko typed's SupervisionSpec "stop children after restart": `Supervise.behavior`'s in-place
 * restart stops the actor's children before the new incarnation starts, so a new init that
 * spawns them again under the same names starts (before, the name was still taken and the
 * re-init failed: the actor died instead of restarting). They stop after the old incarnation's
 * finalizers (Pekko's PreRestart first); a linked one does not end its parent, a monitored one
 * gives the new incarnation no `Down`. `stopChildren: false` keeps them (Pekko's
 * `withStopChildren(false)`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ActorSystem, Supervise } from "../../src/index.ts"

class Corrupt extends Schema.TaggedError<Corrupt>()("Corrupt", {}) {}

const Kid = Actor.make("test/SuperviseKid", { Noop: Actor.tell({}) })
const P = Actor.make("test/SuperviseParent", {
  Fail: Actor.tell({}),
  Kid: Actor.ask({}, { success: Schema.Any })
})

const parent = (log: Array<string>, stopChildren?: boolean) => {
  let incarnations = 0
  return Supervise.behavior(
    P.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext.for(P)
      const me = ++incarnations
      const kid = yield* ctx.spawn(
        Kid.behavior(Effect.gen(function*() {
          yield* Effect.addFinalizer(() => Effect.sync(() => log.push(`kid ${me} stopped`)))
          return { Noop: () => Effect.void }
        })),
        stopChildren === false ? {} : { name: "kid", link: true }
      )
      yield* ctx.monitor(kid)
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push(`parent ${me} finalized`)))
      return {
        Fail: () => Effect.fail(new Corrupt()),
        Kid: () => Effect.succeed(kid),
        onDown: (down) => Effect.sync(() => log.push(`parent ${me} got a Down of ${down.actor.key === kid.key ? "its kid" : "another"}`))
      }
    })),
    [{ match: "Corrupt", directive: "restart", ...(stopChildren === undefined ? {} : { stopChildren }) }]
  )
}

describe("Supervise restart and the actor's children", () => {
  it.effect("they stop (a linked one too, without ending the actor; a monitored one without a Down); the new init spawns them again under the same name", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const ref = yield* system.spawn(parent(log))
      const first = (yield* ref.ask(P.Kid())) as ActorRef.ActorRef<typeof Kid.defs>
      yield* ref.tell(P.Fail())
      const second = (yield* ref.ask(P.Kid())) as ActorRef.ActorRef<typeof Kid.defs>
      assert.isTrue(ref.target.isAlive)
      assert.strictEqual((yield* system.awaitExit(first))._tag, "Shutdown")
      assert.notStrictEqual(second.key, first.key)
      assert.strictEqual(Option.getOrThrow(system.whereis("kid")).key, second.key)
      yield* ref.ask(P.Kid()) // (after the stopped kid's Down, had it been sent)
      // the old incarnation's finalizers first (Pekko's PreRestart), then its children; no Down of them
      assert.deepStrictEqual(log, ["parent 1 finalized", "kid 1 stopped"])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("stopChildren: false keeps them running", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const ref = yield* system.spawn(parent(log, false))
      const first = (yield* ref.ask(P.Kid())) as ActorRef.ActorRef<typeof Kid.defs>
      yield* ref.tell(P.Fail())
      const second = (yield* ref.ask(P.Kid())) as ActorRef.ActorRef<typeof Kid.defs>
      assert.notStrictEqual(second.key, first.key)
      assert.isTrue(first.target.isAlive)
      assert.deepStrictEqual(log, ["parent 1 finalized"])
    }).pipe(Effect.provide(ActorSystem.layer())))
})
