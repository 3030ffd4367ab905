/**
 * A producer whose store is new opens a session numbered from its wall clock. When that clock is
 * behind the one that numbered the consumer's session of the channel, the consumer refuses the
 * session as stale and answers with an Ack of its own; a session that was never acknowledged
 * then moves past the consumer's. The session is in the store from the start: a process killed
 * before the first Ack (the consumer unreachable meanwhile) continues it after its restart, and
 * it still was never acknowledged — it must move past the consumer's session as well, else every
 * message, recovered or new, ends in `DeliveryTimeout`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"
import { ActorSystem, Reliable } from "../../src/index.ts"
import * as SqliteStore from "../../src/reliable/SqliteStore.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const Order = Schema.Struct({ n: Schema.Int })

const realNow = Date.now.bind(Date)

describe("reliable: a restarted producer whose session was never acknowledged", () => {
  it.live("moves past the consumer's newer session: recovered and new messages are delivered once, in order", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "telex-reliable4-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const { system } = yield* startNode("solo")
      const seen: Array<number> = []
      const consumer = yield* system.spawn(Reliable.consumer({
        id: "billing",
        schema: Order,
        handle: ({ n }) => Effect.sync(() => void seen.push(n))
      }))
      const open = (scope: Scope.Scope, file: string, reachable: boolean) =>
        Effect.gen(function*() {
          const store = SqliteStore.make(join(dir, file))
          yield* Scope.addFinalizer(scope, Effect.sync(() => store.close()))
          return yield* Reliable.producer({
            id: "shop->billing",
            schema: Order,
            consumer: Effect.succeed(reachable ? Option.some(consumer) : Option.none()),
            store,
            resendInterval: "100 millis",
            resendIntervalMax: "200 millis",
            deadline: "10 seconds"
          }).pipe(Effect.provideService(ActorSystem, system), Scope.provide(scope))
        })

      // the channel's previous process (its own file): the consumer's session is from its clock
      const first = yield* Scope.make()
      const p1 = yield* open(first, "previous.db", true)
      for (let n = 1; n <= 2; n++) yield* p1.send({ n })
      yield* Scope.close(first, Effect.void as any)

      // a new process on another store, its clock an hour behind, accepts 3 and 4 while the
      // consumer cannot be found, and ends before any Ack
      const spy = vi.spyOn(Date, "now").mockImplementation(() => realNow() - 3_600_000)
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      const second = yield* Scope.make()
      const p2 = yield* open(second, "current.db", false)
      yield* p2.offer({ n: 3 })
      yield* p2.offer({ n: 4 })
      yield* Scope.close(second, Effect.void as any)

      // restarted on the same file: 3 and 4 are recovered, then 5 is sent
      const third = yield* Scope.make()
      const outcomes: Array<string> = []
      const p3 = yield* Reliable.producer({
        id: "shop->billing",
        schema: Order,
        consumer,
        store: yield* Effect.sync(() => SqliteStore.make(join(dir, "current.db"))).pipe(
          Effect.tap((store) => Scope.addFinalizer(third, Effect.sync(() => store.close())))
        ),
        resendInterval: "100 millis",
        resendIntervalMax: "200 millis",
        deadline: "10 seconds",
        onOutcome: (o) => void outcomes.push(`${o.seq}:${o._tag}`)
      }).pipe(Effect.provideService(ActorSystem, system), Scope.provide(third))
      const last = yield* Effect.result(p3.send({ n: 5 }))
      assert.strictEqual(last._tag, "Success", JSON.stringify(last))
      assert.deepStrictEqual(outcomes, ["1:Confirmed", "2:Confirmed", "3:Confirmed"], "the recovered messages (seq 1, 2 of this store) then the new one")
      assert.deepStrictEqual(seen, [1, 2, 3, 4, 5])
      yield* Scope.close(third, Effect.void as any)
    }).pipe(Effect.scoped), 30_000)
})
