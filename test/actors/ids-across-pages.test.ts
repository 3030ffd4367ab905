/**
 * Live actors are found by id in pages of consecutive ids. Across page boundaries: an actor
 * stopped is NoProc to an ask and a dead letter to a tell (through its old ref and a ref made
 * again from its address), while its neighbours, and actors spawned after whole pages emptied,
 * are found; an id never handed out is NoProc too. And a system that stops while a top-level
 * actor is handling a message that never ends interrupts it and stops.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import { Actor, ActorSystem, NoProc } from "../../src/index.ts"
import { withSystem } from "./_helpers.ts"

const Id = Actor.make("IdsAcrossPages", { Who: Actor.ask({}, { success: Schema.Int }) })
const numbered = (n: number) => Id.behavior(Effect.succeed({ Who: () => Effect.succeed(n) }))

describe("actors by id across pages", () => {
  it.effect("stopped ids are NoProc, live neighbours and later spawns answer", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const refs = []
      for (let i = 0; i < 300; i++) refs.push(yield* system.spawn(numbered(i)))
      // stop whole pages' worth in the middle and every third one elsewhere
      for (let i = 0; i < 300; i++) if ((i >= 60 && i < 200) || i % 3 === 0) yield* system.stop(refs[i]!)
      const later = []
      for (let i = 300; i < 420; i++) later.push(yield* system.spawn(numbered(i)))
      for (let i = 0; i < 300; i++) {
        const stopped = (i >= 60 && i < 200) || i % 3 === 0
        for (const ref of [refs[i]!, system.refFor(refs[i]!.address) as typeof refs[number]]) {
          const exit: any = yield* Effect.exit(ref.ask(Id.Who()))
          if (stopped) {
            assert.strictEqual(exit._tag, "Failure", `actor ${i} was stopped`)
            if (exit._tag === "Failure") assert.instanceOf((exit.cause as any).reasons[0].error, NoProc)
          } else {
            assert.strictEqual(exit._tag === "Success" && exit.value, i)
          }
        }
      }
      for (let i = 0; i < later.length; i++) assert.strictEqual(yield* later[i]!.ask(Id.Who()), 300 + i)
      const never = system.refFor({ ...later[later.length - 1]!.address, id: later[later.length - 1]!.address.id + 1000 })
      const error = yield* Effect.flip(never.ask(Id.Who()))
      assert.instanceOf(error, NoProc)
    }).pipe(withSystem()))

  it.effect("the system stops, past a page of idle top-level actors, one whose handler never ends", () =>
    Effect.gen(function*() {
      const handling = yield* Deferred.make<void>()
      const finalized: Array<string> = []
      const Busy = Actor.make("IdsBusy", { Work: Actor.tell({}) })
      yield* Effect.scoped(Effect.gen(function*() {
        const system = yield* ActorSystem
        for (let i = 0; i < 70; i++) yield* system.spawn(numbered(i))
        const busy = yield* system.spawn(Busy.behavior(Effect.gen(function*() {
          yield* Effect.addFinalizer(() => Effect.sync(() => { finalized.push("busy") }))
          return { Work: () => Deferred.succeed(handling, undefined).pipe(Effect.andThen(Effect.never)) }
        })))
        yield* busy.tell(Busy.Work())
        yield* Deferred.await(handling)
      }).pipe(Effect.provide(ActorSystem.layer())))
      assert.deepStrictEqual(finalized, ["busy"])
    }))
})
