/**
 * A burst of first messages on one node (Orleans' activation storms): 20 000 asks at once, each
 * to a key not active yet, so each activates a new entity; a second round to the same keys; then
 * 20 000 tells at once to new keys. However long the bursts keep the node's CPU busy, its lease
 * renewals must still be confirmed (default lease timing): the node keeps every shard through
 * them — none lost, no entity stopped for safety — every ask is answered and every tell's
 * entity activated.
 *
 * No timing is asserted: a 1 ms timer must get a turn in the middle of each burst's activations
 * (before the fix it saw none or all of them); the longest stall of the timer is logged.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { ActorSystem } from "../../src/system/ActorSystem.ts"
import { eventually, quiet } from "./_runtime.ts"

const Echo = Actor.make("test/VerifyStarvation", { Echo: Actor.ask({ n: Schema.Int }, { success: Schema.Int }) })
const EchoEntity = Entity.make(Echo, Echo.behavior(Effect.succeed({ Echo: ({ n }) => Effect.succeed(n) })))

const BURST = 20_000
const SHARDS = 64

describe("sharding: a burst of activations does not cost the node its leases", () => {
  it.live(`${BURST} first asks at once, then ${BURST} more, then ${BURST} first tells: no lease lost, every ask answered`, () => {
    const events: Array<ShardingEvent> = []
    // default lease timing; a buffer large enough that no ask waiting for its activation is refused
    const layer = Sharding.layer({ shards: SHARDS, bufferSize: 2 * BURST, entities: [EchoEntity], onEvent: (e) => events.push(e) }).pipe(
      Layer.provide(ShardStore.Service.layer(ShardStore.memory())),
      Layer.provideMerge(ActorSystem.layer({ node: "solo" }))
    )
    return quiet(Effect.gen(function*() {
      const sharding = yield* Sharding
      const echo = yield* Sharding.entity(EchoEntity)
      yield* eventually(`the node owns all ${SHARDS} shards`, () => sharding.ownedShards().length === SHARDS)
      // a timer: when it gets its turn, how many entities of each burst have been activated —
      // it must get one in the middle of each burst's activations (not only before and after)
      let last = performance.now()
      let stall = 0
      const activated = (prefix: string) => events.filter((e) => e.kind === "activated" && e.key.startsWith(prefix)).length
      let counted = 0
      const byPrefix: Record<string, number> = { k: 0, t: 0 }
      const seen: Record<string, Array<number>> = { k: [], t: [] }
      const probe = setInterval(() => {
        const t = performance.now()
        stall = Math.max(stall, t - last)
        last = t
        for (; counted < events.length; counted++) {
          const e = events[counted]!
          if (e.kind === "activated") byPrefix[e.key[0]!]!++
        }
        seen.k!.push(byPrefix.k!)
        seen.t!.push(byPrefix.t!)
      }, 1)
      const round = (r: number) =>
        Effect.forEach(
          Array.from({ length: BURST }, (_, i) => i),
          (i) => Effect.exit(echo.ref(`k${i}`).ask(Echo.Echo({ n: i + r }), { timeout: "60 seconds" })),
          { concurrency: "unbounded" }
        ).pipe(Effect.map((exits) => {
          const failures: Record<string, number> = {}
          let answered = 0
          exits.forEach((e, i) => {
            if (Exit.isSuccess(e) && e.value === i + r) return void answered++
            const error: any = Exit.isFailure(e) ? (e.cause.reasons[0] as any)?.error : undefined
            const tag = String((typeof error?.reason === "string" ? error.reason : error?._tag) ?? (Exit.isFailure(e) ? e.cause.reasons[0]?._tag : "wrong answer"))
            failures[tag] = (failures[tag] ?? 0) + 1
          })
          return { answered, failures }
        }))
      const t0 = performance.now()
      const first = yield* round(0)
      const firstMillis = performance.now() - t0
      const second = yield* round(1)
      yield* Effect.forEach(
        Array.from({ length: BURST }, (_, i) => i),
        (i) => echo.ref(`t${i}`).tell(Echo.Echo({ n: i }) as any),
        { concurrency: "unbounded", discard: true }
      )
      yield* eventually(`the ${BURST} entities told activated`, () => byPrefix.t === BURST, 60_000)
      clearInterval(probe)
      stall = Math.max(stall, performance.now() - last)
      const lost = events.filter((e) => e.kind === "shardLost")
      const stopped = events.filter((e) => e.kind === "stopped").length
      console.log(
        `${BURST} activations in ${firstMillis.toFixed(0)} ms; longest stall of a 1 ms timer ${stall.toFixed(0)} ms; ` +
          `answered ${first.answered} + ${second.answered}; active ${sharding.activeEntities()}; shards lost ${lost.length}; entities stopped ${stopped}; ` +
          `failures ${JSON.stringify(first.failures)} ${JSON.stringify(second.failures)}`
      )
      const middle = (prefix: string) => seen[prefix]!.filter((n) => n > 0 && n < BURST).length
      console.log(`timer turns in the middle of the activations: asks ${middle("k")}, tells ${middle("t")}`)
      assert.deepStrictEqual(lost.slice(0, 3), [], `${lost.length} of ${SHARDS} leases lost during the burst`)
      assert.strictEqual(stopped, 0, "no entity stopped")
      assert.deepStrictEqual([first, second], [{ answered: BURST, failures: {} }, { answered: BURST, failures: {} }])
      assert.strictEqual(sharding.ownedShards().length, SHARDS)
      assert.isAbove(middle("k"), 0, `a timer ran in the middle of the asks' activations (it saw ${[...new Set(seen.k)].slice(0, 10)})`)
      assert.isAbove(middle("t"), 0, `a timer ran in the middle of the tells' activations (it saw ${[...new Set(seen.t)].slice(0, 10)})`)
      assert.strictEqual(activated("k") + activated("t"), 2 * BURST)
    }).pipe(Effect.provide(layer)))
  }, 120_000)
})
