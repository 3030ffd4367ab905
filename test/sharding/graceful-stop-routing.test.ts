/**
 * Messages sent to a node's entities while the node stops gracefully (a rolling restart): every
 * ask is answered by the shard's next owner (none fails because the node it reached was closing,
 * its region gone), and every tell arrives exactly once there (the stopping node holds what
 * reaches it and forwards it to the next owner; senders hold theirs once they read that the
 * lease was given up). No key is active on two nodes at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import type { EntityClient } from "../../src/sharding/Entity.ts"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { regionName } from "../../src/sharding/internal/protocol.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { connect, Counter, CounterEntity, eventually, fast, quiet, settled, startNode } from "./_runtime.ts"

const Slow = Actor.make("test/GracefulSlow", { Work: Actor.ask({}, { success: Schema.Int }) })
/** every message takes 40 ms: a backlog keeps its node's graceful stop going (its entities drain) */
const SlowEntity = Entity.make(Slow, Slow.behavior(Effect.succeed({ Work: () => Effect.as(Effect.sleep("40 millis"), 1) })))

/** `n` keys whose shards `a` owns among a and b */
const keysOn = (a: string, n: number) => {
  const keys: Array<string> = []
  for (let i = 0; keys.length < n; i++) {
    const key = `gs-${i}`
    if (Hash.owner([a, "b"].sort(), Hash.shardOf(key, fast.shards)) === a) keys.push(key)
  }
  return keys
}

/**
 * a and b, with `keys` of a's shards running on a (asked from b); then `load` runs from b while a
 * stops, and after. `backlog`: asks wait at one of a's entities, so a's stop drains for 400 ms
 * (else it is over within a few ms).
 */
const duringStop = <R>(
  backlog: boolean,
  load: (onB: EntityClient<typeof Counter.defs>, keys: ReadonlyArray<string>) => Effect.Effect<void, never, R>
) =>
  Effect.gen(function*() {
    const store = ShardStore.memory()
    const a = yield* startNode("a", store, { entities: [CounterEntity, SlowEntity] })
    const b = yield* startNode("b", store, { entities: [CounterEntity, SlowEntity] })
    yield* connect(a, b)
    yield* settled([a, b])
    const onB = yield* b.sharding.entity(CounterEntity)
    const keys = keysOn("a", 8)
    for (const key of keys) assert.strictEqual(yield* onB.ref(key).ask(Counter.Where(), { timeout: "10 seconds" }), "a")
    // with `backlog`, 10 asks (400 ms) wait at one of a's entities when a stops: a drains them before it gives its leases up
    const slow = (yield* b.sharding.entity(SlowEntity)).ref(keysOn("a", 9)[8]!)
    assert.strictEqual(yield* slow.ask(Slow.Work(), { timeout: "10 seconds" }), 1)
    const waiting = yield* Effect.forkChild(Effect.forEach(Array.from({ length: backlog ? 10 : 0 }), () => slow.ask(Slow.Work(), { timeout: "20 seconds" }), {
      concurrency: "unbounded"
    }))
    let stopped = false
    // every 10 ms, from before a's stop until 40 rounds after it ended
    const loop = yield* Effect.forkChild(Effect.gen(function*() {
      let after = 0
      while (after < 40) {
        if (stopped) after++
        yield* load(onB, keys)
        yield* Effect.sleep("10 millis")
      }
    }))
    yield* Effect.sleep("100 millis")
    yield* a.stop
    stopped = true
    yield* Fiber.join(loop)
    yield* Fiber.join(waiting)
    return { a, b, onB, keys }
  })

describe("sharding: messages to a node during its graceful stop", () => {
  it.live("asks sent to a stopping node's keys are answered by the next owner, none fails", () =>
    quiet(Effect.gen(function*() {
      let sent = 0
      const asks: Array<Exit.Exit<unknown, unknown>> = []
      // a tell with each ask (traffic on the connection as the node closes)
      yield* duringStop(false, (onB, keys) =>
        Effect.sync(() => {
          sent += keys.length
        }).pipe(
          Effect.andThen(Effect.forEach(keys, (key) => Effect.ignore(onB.ref(key).tell(Counter.Add({ by: 1 }))), { discard: true })),
          Effect.andThen(Effect.forkChild(Effect.forEach(keys, (key) =>
            Effect.exit(onB.ref(key).ask(Counter.Get(), { timeout: "15 seconds" })).pipe(Effect.map((e) => asks.push(e)))))),
          Effect.asVoid
        ))
      yield* eventually("every ask ended", () => asks.length === sent)
      const failed = asks.filter(Exit.isFailure).map((e) => JSON.stringify(e.cause))
      assert.deepStrictEqual(failed, [], "no ask failed because the node it reached was stopping")
    })), 60_000)

  it.live("tells sent to a stopping node's keys are each handled once by the next owner; one activation at a time", () =>
    quiet(Effect.gen(function*() {
      let told = 0
      const { a, b, onB, keys } = yield* duringStop(true, (onB, keys) =>
        Effect.forEach(keys, (key) => Effect.andThen(onB.ref(key).tell(Counter.Add({ by: 1 })), Effect.sync(() => told++)), { discard: true }).pipe(Effect.orDie))
      // the counts add up to the tells sent: no loss, no duplicate
      const total = Effect.map(
        Effect.forEach(keys, (key) => onB.ref(key).ask(Counter.Get(), { timeout: "10 seconds" })),
        (counts) => counts.reduce((n, c) => n + c, 0)
      )
      // tells forwarded by a may still be on their way: a few reads, 200 ms apart
      let counted = 0
      for (let i = 0; i < 10 && counted !== told; i++) {
        if (i > 0) yield* Effect.sleep("200 millis")
        counted = yield* total
      }
      assert.strictEqual(counted, told, "every tell handled once (no loss, no duplicate)")
      // a's activation of each key ended before b's began
      for (const key of keys) {
        const onA = a.events.filter((e) => "key" in e && e.key === key)
        const bStart = b.events.find((e) => e.kind === "activated" && "key" in e && e.key === key)
        const aEnd = onA.filter((e) => e.kind === "stopped" || e.kind === "passivated").at(-1)
        assert.isDefined(bStart)
        assert.isTrue(aEnd === undefined || aEnd.at <= bStart!.at, `${key}: a's activation ended before b's began`)
      }
    })), 60_000)

  it.live("an ask answered NoProc by a region gone from its node is routed again: the shard's next owner answers it", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const onB = yield* b.sharding.entity(CounterEntity)
      const [known, fresh] = keysOn("a", 2) as [string, string]
      // b knows a's region (and asks `known` directly from now on)
      assert.strictEqual(yield* onB.ref(known).ask(Counter.Where(), { timeout: "10 seconds" }), "a")
      // a's region goes (as at the end of its node's stop) while a still holds the leases
      const region = a.system.whereis(regionName(CounterEntity.type))
      assert.isTrue(region._tag === "Some")
      if (region._tag === "Some") yield* a.system.stop(region.value)
      const ask = yield* Effect.forkChild(Effect.exit(onB.ref(fresh).ask(Counter.Where(), { timeout: "10 seconds" })))
      yield* Effect.sleep("100 millis")
      yield* a.stop
      const exit = yield* Fiber.join(ask)
      assert.deepStrictEqual(exit, Exit.succeed("b"), "answered by the shard's next owner")
    })), 60_000)
})
