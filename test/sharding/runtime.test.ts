/**
 * Sharded entities on one node: activation by the first message, the key in the entity's
 * context, durable state saved after each change and loaded again after passivation, typed
 * errors, restarts in place, the shard hash's documented test vectors.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { TestClock } from "effect/testing"
import * as Hash from "../../src/sharding/internal/hash.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Counter, CounterEntity, eventually, fast, quiet, soloLayer } from "./_runtime.ts"

const single = (store: ShardStore.ShardStore, events: Array<any>) =>
  soloLayer({ ...fast, entities: [CounterEntity], onEvent: (e) => events.push(e) }, store)

describe("sharding: the shard hash", () => {
  it("FNV-1a 32 of the key's UTF-8 bytes, modulo the shard count (docs/protocol.md vectors)", () => {
    assert.strictEqual(Hash.fnv1a32String(""), 0x811c9dc5)
    assert.strictEqual(Hash.fnv1a32String("a"), 0xe40c292c)
    assert.strictEqual(Hash.fnv1a32String("foobar"), 0xbf9cf968)
    assert.strictEqual(Hash.fnv1a32String("user-42"), Hash.fnv1a32(new TextEncoder().encode("user-42")))
    assert.strictEqual(Hash.fnv1a32String("é"), Hash.fnv1a32(new Uint8Array([0xc3, 0xa9])))
    assert.strictEqual(Hash.shardOf("", 1024), 0x811c9dc5 % 1024)
  })

  it("rendezvous placement moves only the joining member's shards", () => {
    const before = Array.from({ length: 1024 }, (_, s) => Hash.owner(["n1", "n2"], s))
    const after = Array.from({ length: 1024 }, (_, s) => Hash.owner(["n1", "n2", "n3"], s))
    let moved = 0
    for (let s = 0; s < 1024; s++) {
      if (before[s] !== after[s]) {
        moved++
        assert.strictEqual(after[s], "n3")
      }
    }
    // about a third, each to the new member
    assert.isTrue(moved > 250 && moved < 430, `moved ${moved}`)
  })
})

/** A memory store whose state writes can be made to fail as a newer owner's lease would make them. */
const fencedStore = () => {
  const inner = ShardStore.memory()
  let refuse = false
  const store: ShardStore.ShardStore = {
    ...inner,
    saveState: (type, key, fence, state) =>
      refuse
        ? Effect.fail(new ShardStore.StaleEpoch({ shard: fence.shard, epoch: fence.epoch, message: "a newer epoch holds the shard" }))
        : inner.saveState(type, key, fence, state)
  }
  return { store, refuse: (on: boolean) => (refuse = on) }
}

describe("sharding: one node", () => {
  it.live("while a shard has no owner: messages are held up to bufferSize (then BufferFull), asks end with AskTimeout", () =>
    quiet(Effect.gen(function*() {
      // a store that grants nothing: no shard ever has an owner
      const store: ShardStore.ShardStore = { ...ShardStore.memory(), acquire: () => Effect.succeed([]) }
      const layer = soloLayer({ ...fast, bufferSize: 2, entities: [CounterEntity] }, store)
      yield* Effect.gen(function*() {
        const a = (yield* Sharding.entity(CounterEntity)).ref("held")
        yield* a.tell(Counter.Add({ by: 1 }))
        yield* a.tell(Counter.Add({ by: 1 }))
        const full = yield* Effect.flip(a.tell(Counter.Add({ by: 1 })))
        assert.strictEqual(full._tag, "ShardingError")
        assert.strictEqual((full as any).reason, "BufferFull")
        const error = yield* Effect.flip(a.ask(Counter.Get(), { timeout: "300 millis" }))
        assert.strictEqual(error._tag, "ShardingError") // the buffer is full for the ask too
        const sharding = yield* Sharding
        assert.strictEqual(sharding.ownedShards().length, 0)
      }).pipe(Effect.provide(layer))
      const roomy = soloLayer({ ...fast, entities: [CounterEntity] }, store)
      yield* Effect.gen(function*() {
        const a = (yield* Sharding.entity(CounterEntity)).ref("held")
        const error = yield* Effect.flip(a.ask(Counter.Get(), { timeout: "300 millis" }))
        assert.strictEqual(error._tag, "AskTimeout")
      }).pipe(Effect.provide(roomy))
    })))

  it.live("an activation that fails (its state cannot be loaded) fails what waits for it, once; the next message tries again", () =>
    quiet(Effect.gen(function*() {
      const inner = ShardStore.memory()
      let failLoads = true
      const store: ShardStore.ShardStore = {
        ...inner,
        loadState: (type, key) =>
          failLoads ? Effect.fail(new ShardStore.ShardStoreError({ message: "the database is away" })) : inner.loadState(type, key)
      }
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const a = (yield* Sharding.entity(CounterEntity)).ref("unloadable")
        const error = yield* Effect.flip(a.ask(Counter.Get(), { timeout: "5 seconds" }))
        assert.strictEqual(error._tag, "ShardingError")
        assert.strictEqual((error as any).reason, "ActivationFailed")
        yield* Effect.sleep("300 millis")
        // one attempt, not a loop of them
        assert.strictEqual(events.filter((e) => e.kind === "activated").length, 1)
        failLoads = false
        assert.strictEqual(yield* a.ask(Counter.Get()), 0)
      }).pipe(Effect.provide(single(store, events)))
    })))

  it.live("a refused (stale epoch) state write stops the shard; the update is not acknowledged", () =>
    quiet(Effect.gen(function*() {
      const { refuse, store } = fencedStore()
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const counters = yield* Sharding.entity(CounterEntity)
        const a = counters.ref("fenced")
        yield* a.tell(Counter.Add({ by: 1 }))
        assert.strictEqual(yield* a.ask(Counter.Get()), 1)
        refuse(true)
        yield* a.tell(Counter.Add({ by: 10 }))
        yield* eventually("the shard is lost", () => events.some((e) => e.kind === "shardLost" && e.shard === a.shard))
        assert.isTrue(events.some((e) => e.kind === "stopped" && e.key === "fenced"))
        refuse(false)
        // acquired again (same node, a new epoch): the refused update is not there
        assert.strictEqual(yield* a.ask(Counter.Get(), { timeout: "10 seconds" }), 1)
        const epochs = events.filter((e) => e.kind === "shardAcquired" && e.shard === a.shard).map((e) => e.epoch)
        assert.isTrue(epochs.length >= 2 && epochs[epochs.length - 1] > epochs[0], `epochs ${epochs}`)
      }).pipe(Effect.provide(single(store, events)))
    })))

  it.live("the first message activates the entity; its key, state saved and loaded again after passivation", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const counters = yield* Sharding.entity(CounterEntity)
        const a = counters.ref("user-1")
        assert.strictEqual(yield* a.ask(Counter.Get()), 0)
        assert.strictEqual(yield* a.ask(Counter.Key()), "user-1")
        yield* a.tell(Counter.Add({ by: 5 }))
        yield* a.tell(Counter.Add({ by: 2 }))
        assert.strictEqual(yield* a.ask(Counter.Get()), 7)
        // the typed error of an ask is the asker's, the entity keeps its state
        const failed = yield* Effect.flip(a.ask(Counter.Fail({ reason: "no" })))
        assert.strictEqual(failed, "no")
        assert.strictEqual(events.filter((e) => e.kind === "activated" && e.key === "user-1").length, 1)
        // idle: passivated, then activated again with its saved state
        yield* eventually("passivated", () => events.some((e) => e.kind === "passivated" && e.key === "user-1"))
        const sharding = yield* Sharding
        assert.strictEqual(sharding.activeEntities(), 0)
        assert.strictEqual(yield* a.ask(Counter.Get()), 7)
        assert.strictEqual(events.filter((e) => e.kind === "activated" && e.key === "user-1").length, 2)
        // another key has its own state
        assert.strictEqual(yield* counters.ref("user-2").ask(Counter.Get()), 0)
      }).pipe(Effect.provide(single(store, events)))
      // the store has the state
      const saved = yield* store.loadState(CounterEntity.type, "user-1")
      assert.deepStrictEqual(saved._tag === "Some" ? JSON.parse(saved.value) : undefined, 7)
    })))

  it.live("a crashing entity restarts in place from its saved state", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const events: Array<any> = []
      yield* Effect.gen(function*() {
        const counters = yield* Sharding.entity(CounterEntity)
        const a = counters.ref("k")
        yield* a.tell(Counter.Add({ by: 3 }))
        assert.strictEqual(yield* a.ask(Counter.Get()), 3)
        yield* a.tell(Counter.Crash())
        assert.strictEqual(yield* a.ask(Counter.Get()), 3)
        yield* a.tell(Counter.Add({ by: 1 }))
        assert.strictEqual(yield* a.ask(Counter.Get()), 4)
        assert.strictEqual(events.filter((e) => e.kind === "activated").length, 1)
      }).pipe(Effect.provide(single(store, events)))
    })))
  it.effect("tells held longer than max(10 s, 3 × leaseTtl) for a shard with no owner are dropped with one warning that counts them", () => {
    const warnings: Array<string> = []
    const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
      if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    return Effect.gen(function*() {
      // a store that grants nothing: no shard ever has an owner
      const store: ShardStore.ShardStore = { ...ShardStore.memory(), acquire: () => Effect.succeed([]) }
      const layer = soloLayer({ ...fast, entities: [CounterEntity] }, store)
      yield* Effect.gen(function*() {
        const a = (yield* Sharding.entity(CounterEntity)).ref("held")
        for (let i = 0; i < 3; i++) yield* a.tell(Counter.Add({ by: 1 }))
        yield* TestClock.adjust("9 seconds")
        assert.deepStrictEqual(warnings.filter((w) => w.includes("dropped")), [])
        for (let t = 0; t < 2000; t += 100) yield* TestClock.adjust("100 millis")
        const dropped = warnings.filter((w) => w.includes("dropped"))
        assert.strictEqual(dropped.length, 1, dropped.join("\n"))
        assert.include(dropped[0], "dropped 3 tells")
        assert.include(dropped[0], `shard ${a.shard}`)
        assert.include(dropped[0], "test/ShardedCounter/held")
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.provide(Logger.layer([logger])), Effect.scoped)
  })
})
