/**
 * Overload of one node's entities (Pekko's ClusterShardingSpec buffer limits, Orleans'
 * activation overload): what a sender sees when it sends more than the node takes.
 *
 * - tells to an entity still activating are held with the node's other held messages, at most
 *   `bufferSize`: past it the sender gets `ShardingError` `BufferFull` (not a success for a
 *   message that is then dropped), and the entity handles exactly the tells accepted;
 * - a flood of asks and tells to one running entity with a small `fail` mailbox: each ask is
 *   answered or refused with `MailboxFull`, each tell accepted or refused with `MailboxFull`,
 *   the entity handles exactly what was accepted and keeps answering.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { fast, quiet, soloLayer } from "./_runtime.ts"

const Tally = Actor.make("test/VerifyOverload", {
  Bump: Actor.tell({}),
  Count: Actor.ask({}, { success: Schema.Int })
})
const handled = new Map<string, number>()
const tally = (initMillis: number) =>
  Tally.behavior(Effect.gen(function*() {
    const key = yield* Entity.key
    yield* Effect.sleep(initMillis)
    return {
      Bump: () => Effect.sync(() => void handled.set(key, (handled.get(key) ?? 0) + 1)),
      Count: () => Effect.sync(() => handled.get(key) ?? 0)
    }
  }))
const SlowStart = Entity.make(Tally, tally(300), { type: "test/VerifyOverloadSlowStart" })
const SmallMailbox = Entity.make(Tally, tally(0), { type: "test/VerifyOverloadSmall", mailbox: { capacity: 16, overflow: "fail" } })

const tags = (exits: ReadonlyArray<Exit.Exit<unknown, any>>) => {
  const out: Record<string, number> = {}
  for (const e of exits) {
    const tag = Exit.isSuccess(e) ? "ok" : String(e.cause.reasons[0]?._tag === "Fail" ? ((e.cause.reasons[0] as any).error.reason ?? (e.cause.reasons[0] as any).error._tag) : e.cause.reasons[0]?._tag)
    out[tag] = (out[tag] ?? 0) + 1
  }
  return out
}

describe("sharding: overload", () => {
  it.live("tells to an entity still activating: at most bufferSize held, the rest BufferFull; exactly the accepted ones handled", () =>
    quiet(Effect.gen(function*() {
      const slow = yield* Sharding.entity(SlowStart)
      const ref = slow.ref("starting")
      const exits: Array<Exit.Exit<void, unknown>> = []
      for (let i = 0; i < 20; i++) exits.push(yield* Effect.exit(ref.tell(Tally.Bump())))
      const seen = tags(exits)
      assert.deepStrictEqual(seen, { ok: 8, BufferFull: 12 })
      // an ask waits with the held messages too: refused while they fill the buffer
      const asked = yield* Effect.flip(ref.ask(Tally.Count(), { timeout: "10 seconds" }))
      assert.strictEqual((asked as any).reason, "BufferFull")
      yield* Effect.sleep("600 millis") // activated: the held tells are delivered
      assert.strictEqual(yield* ref.ask(Tally.Count(), { timeout: "10 seconds" }), 8)
      // the buffer is free again
      for (let i = 0; i < 8; i++) yield* slow.ref(`other-${i}`).tell(Tally.Bump())
    }).pipe(Effect.provide(soloLayer({ ...fast, bufferSize: 8, entities: [SlowStart] })))), 30_000)

  it.live("a flood to one entity with a 16-message `fail` mailbox: answered or MailboxFull, nothing else; exactly the accepted tells handled", () =>
    quiet(Effect.gen(function*() {
      const small = yield* Sharding.entity(SmallMailbox)
      const ref = small.ref("hot")
      assert.strictEqual(yield* ref.ask(Tally.Count()), 0)
      const asks = yield* Effect.forEach(
        Array.from({ length: 2000 }),
        () => Effect.exit(ref.ask(Tally.Count(), { timeout: "20 seconds" })),
        { concurrency: "unbounded" }
      )
      const askTags = tags(asks)
      assert.deepStrictEqual(Object.keys(askTags).sort(), ["MailboxFull", "ok"], JSON.stringify(askTags))
      const tells = yield* Effect.forEach(Array.from({ length: 2000 }), () => Effect.exit(ref.tell(Tally.Bump())), {
        concurrency: "unbounded"
      })
      const tellTags = tags(tells)
      assert.includeMembers(["ok", "MailboxFull"], Object.keys(tellTags), JSON.stringify(tellTags))
      assert.isAbove(tellTags.ok ?? 0, 0)
      yield* Effect.sleep("100 millis")
      assert.strictEqual(yield* ref.ask(Tally.Count(), { timeout: "10 seconds" }), tellTags.ok)
    }).pipe(Effect.provide(soloLayer({ ...fast, entities: [SmallMailbox] })))), 30_000)
})
