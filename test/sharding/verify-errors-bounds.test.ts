/**
 * The region protocol's bounds, checked by the owner's Schema for a foreign client's raw
 * envelopes: an `Ask` whose `timeoutMillis` is not a finite number of milliseconds from 0 to
 * 2^31 - 1 (Infinity, 1e308, negative) is refused with `InvalidMessage` rather than held
 * forever or accepted, and a `Deliver` with negative `hops` is refused (not delivered).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import type { ActorRef } from "../../src/actors/ActorRef.ts"
import { RegionProtocol, regionName } from "../../src/sharding/internal/protocol.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { Counter, CounterEntity, connect, quiet, settled, type ShardNode, startNode } from "./_runtime.ts"

/** An Ask envelope written straight onto a's connection to `to`'s node (no validation on a's side). */
const rawAsk = (from: ShardNode, to: ActorRef<any>, message: unknown) =>
  Effect.callback<unknown, unknown>((resume) => {
    const peer = routerOf(from.node).peers.get(to.address.node.name)!
    const askId = peer.asks.add((exit: Exit.Exit<unknown, unknown>) => resume(exit), RegionProtocol as any, "Ask")
    peer.conn!.send([Kind.Ask, to.address.id, to.address.protocol, message, askId, null])
  }).pipe(Effect.timeoutOrElse({ duration: 4000, orElse: () => Effect.succeed("no reply within 4 s") }), Effect.exit)

const keys = Array.from({ length: 32 }, (_, i) => `k-${i}`)

describe("sharding: region protocol bounds", () => {
  it.live("Ask timeoutMillis of Infinity, 1e308, negative or NaN and Deliver hops below 0 are refused with InvalidMessage", () =>
    quiet(Effect.gen(function*() {
      const store = ShardStore.memory()
      const a = yield* startNode("a", store)
      const b = yield* startNode("b", store)
      yield* connect(a, b)
      yield* settled([a, b])
      const owned = new Set(b.sharding.ownedShards().map((l) => l.shard))
      const key = keys.find((k) => owned.has(a.sharding.shardOf(k)))!
      const region = yield* a.node.lookup("b", RegionProtocol, regionName(CounterEntity.type))
      const ok = yield* rawAsk(a, region, { _tag: "Ask", key, message: { _tag: "Get" }, timeoutMillis: 1000 })
      assert.isTrue(Exit.isSuccess(ok) && (ok.value as any)._tag === "Ok", String(ok))
      for (const timeoutMillis of [Infinity, 1e308, -1, -Infinity, NaN, 2 ** 31]) {
        const exit = yield* rawAsk(a, region, { _tag: "Ask", key, message: { _tag: "Get" }, timeoutMillis })
        assert.isTrue(Exit.isFailure(exit), `timeoutMillis ${timeoutMillis}: ${String(exit)}`)
        const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
        assert.strictEqual((error as any)?.value?._tag, "InvalidMessage", `timeoutMillis ${timeoutMillis}: ${String(exit)}`)
      }
      // a tell with negative hops is refused: it never reaches the entity
      const conn = routerOf(a.node).peers.get("b")!.conn!
      conn.send([Kind.Tell, region.address.id, region.address.protocol, { _tag: "Deliver", key, message: { _tag: "Add", by: 1 }, hops: -1 }])
      conn.send([Kind.Tell, region.address.id, region.address.protocol, { _tag: "Deliver", key, message: { _tag: "Add", by: 10 }, hops: 0 }])
      const counters = yield* a.sharding.entity(CounterEntity)
      let n = 0
      for (let i = 0; i < 100 && n < 10; i++) {
        n = yield* counters.ref(key).ask(Counter.Get())
        if (n < 10) yield* Effect.sleep("20 millis")
      }
      assert.strictEqual(n, 10)
      // the local API with an unbounded timeout still works (the sender bounds what it sends)
      const ca = yield* a.sharding.entity(CounterEntity)
      assert.strictEqual(yield* ca.ref(key).ask(Counter.Get(), { timeout: "Infinity" }), 10)
    })), 60_000)
})
