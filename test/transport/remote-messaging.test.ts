/**
 * Remote messaging: tell, ask, typed errors, remote spawn and lookup, per-sender FIFO, and refs
 * carried inside messages. The probe actor and the helpers are in ./_remote.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { RemoteTarget } from "../../src/transport/internal/remoteTarget.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"
import { Probe, makeProbe, makeSink, remote, twoNodes, withTimeout } from "./_remote.ts"

// ---------------------------------------------------------------------------
// tell / ask / errors / spawn / lookup / FIFO
// ---------------------------------------------------------------------------

describe("messaging", () => {
  it.live("tell, ask, typed errors, remote spawn and lookup", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      assert.instanceOf(counter.target, RemoteTarget)
      assert.strictEqual(counter.address.node.incarnation, b.node.nodeId.incarnation)
      yield* counter.tell(Counter.Increment({ by: 5 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 5)
      assert.strictEqual(yield* counter.ask(Counter.Decrement({ by: 2 })), 3)
      // a typed (protocol) error crosses the wire as itself
      const overdrawn = yield* Effect.flip(counter.ask(Counter.Decrement({ by: 100 })))
      assert.strictEqual(overdrawn._tag, "Overdrawn")
      assert.strictEqual((overdrawn as { balance: number }).balance, 3)
      assert.strictEqual(yield* counter.ask(Counter.Get()), 3) // the actor kept running

      // remote spawn of an allowed module, registered under a name there
      const spawned = yield* a.node.spawn("b", Counter, { name: "spawned" })
      assert.strictEqual(spawned.address.node.name, "b")
      yield* spawned.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* spawned.ask(Counter.Get()), 2)
      assert.isTrue(Option.isSome(b.system.whereis("spawned")))
      const again = yield* a.node.lookup("b", Counter, "spawned")
      assert.strictEqual(again.key, spawned.key)

      // the allowlist: Probe is not spawnable on b
      const refused = yield* Effect.flip(a.node.spawn("b", Probe, { name: "nope" }))
      assert.strictEqual(refused._tag, "RemoteSpawnError")
      assert.isTrue(Option.isNone(b.system.whereis("nope")))

      // lookups: a missing name, and a name registered with another protocol
      const missing = yield* Effect.flip(a.node.lookup("b", Counter, "missing"))
      assert.strictEqual(missing._tag, "ActorNotFound")
      const wrongProtocol = yield* Effect.flip(a.node.lookup("b", Probe, "counter"))
      assert.strictEqual(wrongProtocol._tag, "ActorNotFound")
      // an unknown node
      const noNode = yield* Effect.flip(a.node.lookup("zz", Counter, "counter"))
      assert.strictEqual(noNode._tag, "NodeDown")
    }).pipe(Effect.scoped))

  it.live("per-sender FIFO: 10 000 tells then an ask arrive in order", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const sink = yield* makeSink
      const recorder = remote(a, yield* b.system.spawn(makeProbe(sink)))
      const n = 10_000
      for (let i = 0; i < n; i++) yield* recorder.tell(Probe.Record({ n: i }))
      const result = yield* withTimeout("Recorded", recorder.ask(Probe.Recorded()), 15_000)
      assert.deepStrictEqual(result, { count: n, inOrder: true, last: n - 1 })
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// refs inside messages
// ---------------------------------------------------------------------------

describe("refs inside messages", () => {
  it.live("a ref of an actor on A, sent to B, is used by B to tell and ask A's actor", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const counterOnA = yield* a.system.spawn(CounterLive)
      yield* counterOnA.tell(Counter.Increment({ by: 10 }))
      const sink = yield* makeSink
      const probeOnB = remote(a, yield* b.system.spawn(makeProbe(sink)))
      // B tells Increment(5) to A's counter, then asks it Get: both cross back to A
      assert.strictEqual(yield* probeOnB.ask(Probe.Bump({ counter: counterOnA, by: 5 })), 15)
      assert.strictEqual(yield* counterOnA.ask(Counter.Get()), 15)
      // the ref was decoded on B: same address, bound to B's system (so it routes to A)
      assert.strictEqual(sink.received.length, 1)
      const decoded = sink.received[0]!
      assert.deepStrictEqual(decoded.address, counterOnA.address)
      assert.notStrictEqual(decoded, counterOnA)
      assert.strictEqual(decoded._resolver, kernelOf(b.system))
      assert.instanceOf(decoded.target, RemoteTarget)
      // and a ref of B's own actor sent back to B binds to the local cell there
      const counterOnB = yield* b.system.spawn(CounterLive)
      assert.strictEqual(yield* probeOnB.ask(Probe.Bump({ counter: remote(a, counterOnB), by: 1 })), 1)
      assert.notInstanceOf(sink.received[1]!.target, RemoteTarget)
    }).pipe(Effect.scoped))
})
