/**
 * Passivation is invisible to askers: an ask that reaches an entity's own ref (as another
 * node's one-hop ask does) just after the lease round found the entity idle is either answered
 * or refused as not delivered (`NoProc`, then routed through the region, which activates the
 * entity again) — never failed with `ActorStopped` — and its handler runs exactly once.
 *
 * The asks are sent from the store's `leases()` call of every third lease round, each key a
 * different number of event-loop turns later, so that across rounds they land before, during
 * and after the round's idleness check and the stops it starts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorContext } from "../../src/actors/ActorContext.ts"
import type { ActorRef } from "../../src/actors/ActorRef.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Pinged = Actor.make("test/PassivationRace", { Ping: Actor.ask({ id: Schema.Int }, { success: Schema.Int }) })

/** the raw ref of each key's running activation (what a direct ask from another node holds) */
const raw = new Map<string, ActorRef<any>>()
/** how many times each ask id was handled */
const handled = new Map<number, number>()

const PingedEntity = Entity.make(
  Pinged,
  Pinged.behavior(Effect.gen(function*() {
    const ctx = yield* Entity.EntityContext
    raw.set(ctx.entityKey, (yield* ActorContext).self)
    return {
      Ping: ({ id }) =>
        Effect.sync(() => {
          handled.set(id, (handled.get(id) ?? 0) + 1)
          return id
        })
    }
  })),
  { passivateAfter: "200 millis" }
)

describe("sharding: an ask racing a passivation", () => {
  it.live("is answered (or refused as not delivered), never ActorStopped; handled exactly once", () =>
    quiet(Effect.gen(function*() {
      const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
      const stopped: Array<string> = []
      const answered: Array<number> = []
      let passivations = 0
      let nextId = 0
      let rounds = 0
      let sending = true
      let client: { ref: (key: string) => { ask: (m: any, o?: any) => Effect.Effect<any, any> } } | undefined
      const memory = ShardStore.memory()
      const store: ShardStore.ShardStore = {
        ...memory,
        leases: () =>
          Effect.tap(memory.leases(), () =>
            Effect.sync(() => {
              // every third round: the round after an idle one past passivateAfter (150 ms rounds, 200 ms)
              if (++rounds % 3 !== 0 || client === undefined || !sending) return
              for (const key of keys) {
                const ref = raw.get(key)
                if (ref === undefined) continue
                const id = ++nextId
                // a few scheduler turns later each round: some land between the check and the stop
                const depth = (keys.indexOf(key) + rounds / 3) % keys.length
                const later = (n: number, f: () => void): void => {
                  if (n === 0) f()
                  else setImmediate(() => later(n - 1, f))
                }
                later(depth, () => {
                  const direct = ref.ask(Pinged.Ping({ id }), { timeout: "3 seconds" }) as Effect.Effect<number, unknown>
                  Effect.runFork(direct.pipe(
                    Effect.catchIf((e: any) => e?._tag === "NoProc", () =>
                      // not delivered: what a direct ask does then (through the region)
                      client!.ref(key).ask(Pinged.Ping({ id }), { timeout: "3 seconds" })),
                    Effect.exit,
                    Effect.map((exit) => {
                      if (Exit.isSuccess(exit)) answered.push(exit.value)
                      else stopped.push(`${key}#${id}: ${String(exit.cause)}`)
                    })
                  ))
                })
              }
            }))
      }
      yield* Effect.gen(function*() {
        const pinged = yield* Sharding.entity(PingedEntity)
        client = pinged as any
        for (const key of keys) {
          const id = ++nextId
          assert.strictEqual(yield* pinged.ref(key).ask(Pinged.Ping({ id })), id)
          answered.push(id)
        }
        yield* Effect.sleep("4 seconds")
        // no more asks; the last ones end (each within its timeouts: 3 s, and 3 s more through
        // the region): waited for, not for a fixed time, so that a loaded machine is no failure
        sending = false
        const deadline = Date.now() + 10_000
        while (answered.length + stopped.length < nextId && Date.now() < deadline) yield* Effect.sleep("50 millis")
      }).pipe(Effect.provide(soloLayer({
        ...fast,
        entities: [PingedEntity],
        onEvent: (e) => {
          if (e.kind === "passivated") passivations++
        }
      }, store)))
      assert.deepStrictEqual(stopped, [], "asks failed although nothing failed")
      assert.isAbove(passivations, keys.length, "the entities passivated during the test")
      assert.strictEqual(answered.length, nextId, "every ask answered")
      for (const id of answered) assert.strictEqual(handled.get(id), 1, `ask ${id} handled once`)
      assert.strictEqual(handled.size, nextId)
    })), 30_000)
})
