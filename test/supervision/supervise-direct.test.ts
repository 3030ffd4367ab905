/**
 * The cell calls a supervised actor's current incarnation's handler itself (Actor.IncarnationTypeId):
 * a message of the tag it handled last reads nothing of `Supervise.behavior`'s handlers object,
 * and after an in-place restart the next turn's messages reach the new incarnation.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorSystem, Supervise } from "../../src/index.ts"
import { settle } from "./helpers.ts"

const P = Actor.make("test/SuperviseDirect", {
  Get: Actor.ask({}, { success: Schema.Number }),
  Twice: Actor.ask({ n: Schema.Number }, { success: Schema.Number }),
  /** dies on a negative n */
  Add: Actor.tell({ n: Schema.Number }),
  Sum: Actor.ask({}, { success: Schema.Number })
})

const inner = (counter: { inits: number }) =>
  P.behavior(Effect.sync(() => {
    const incarnation = ++counter.inits
    let sum = 0
    return {
      Get: () => Effect.succeed(incarnation),
      Twice: ({ n }) => Effect.sync(() => 2 * n),
      Add: ({ n }) => n < 0 ? Effect.die("negative") : Effect.sync(() => void (sum += n)),
      Sum: () => Effect.sync(() => sum)
    }
  }))

const rules: ReadonlyArray<Supervise.Rule> = [{ match: () => true, directive: "restart" }]

describe("Supervise.behavior: the cell calls the incarnation's handlers", () => {
  it.effect("a message of the last tag reads nothing of the wrapper's handlers object", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const supervised = Supervise.behavior(inner({ inits: 0 }), rules)
      const reads: Array<PropertyKey> = []
      // the wrapper's handlers object, with its reads recorded
      const watched = P.behavior(Effect.map(supervised.init, (handlers) =>
        new Proxy(handlers, {
          get(target, key, receiver) {
            reads.push(key)
            return Reflect.get(target, key, receiver)
          }
        })))
      const ref = yield* system.spawn(watched)
      assert.strictEqual(yield* ref.ask(P.Get()), 1)
      assert.strictEqual(yield* ref.ask(P.Twice({ n: 4 })), 8)
      reads.length = 0
      assert.strictEqual(yield* ref.ask(P.Twice({ n: 5 })), 10)
      assert.strictEqual(yield* ref.ask(P.Twice({ n: 6 })), 12)
      assert.deepStrictEqual(reads, [])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("after an in-place restart, later turns reach the new incarnation", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const counter = { inits: 0 }
      const ref = yield* system.spawn(Supervise.behavior(inner(counter), rules))
      yield* ref.tell(P.Add({ n: 1 }))
      assert.strictEqual(yield* ref.ask(P.Sum()), 1)
      yield* ref.tell(P.Add({ n: 2 }))
      yield* ref.tell(P.Add({ n: -1 }))
      // the restart's turn ends before the next message (of the tag that failed)
      while (counter.inits < 2) yield* settle()
      yield* settle()
      yield* ref.tell(P.Add({ n: 5 }))
      assert.strictEqual(yield* ref.ask(P.Sum()), 5)
      assert.strictEqual(yield* ref.ask(P.Get()), 2)
    }).pipe(Effect.provide(ActorSystem.layer())))
})
