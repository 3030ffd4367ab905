/**
 * The cluster registry across several nodes in one process (loopback TCP): replication of names
 * and groups, withdrawal when an actor stops or a node is lost, full sync after a partition
 * heals, and conflict resolution (the registration owned by the smaller node name wins).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as Registry from "../../src/cluster/Registry.ts"
import { eventually, keyOf, memberKeys, mesh, quiet, startNode, type TestNode } from "./_helpers.ts"

const three = Effect.gen(function*() {
  const a = yield* startNode("a")
  const b = yield* startNode("b")
  const c = yield* startNode("c")
  yield* mesh([a, b, c])
  return [a, b, c] as const
})

/** Collects this node's registry events about `name`, from now until the end of the test. */
const watchEvents = (n: TestNode, name: string) =>
  Effect.gen(function*() {
    const seen: Array<Registry.RegistryEvent> = []
    yield* n.registry.events.pipe(
      Stream.filter((e) => e.name === name),
      Stream.runForEach((e) => Effect.sync(() => seen.push(e))),
      Effect.forkScoped({ startImmediately: true })
    )
    yield* Effect.yieldNow
    return { seen }
  })

describe("cluster registry", () => {
  it.live("a name registered on one node is visible on the others (whereis, lookup, names)", () =>
    quiet(Effect.gen(function*() {
      const [a, b, c] = yield* three
      const counter = yield* a.system.spawn(CounterLive)
      yield* a.registry.register("counter", counter)
      // local reads see the registration as soon as register returns
      assert.strictEqual(keyOf(a, "counter"), counter.key)

      yield* eventually("b and c see counter", () => keyOf(b, "counter") === counter.key && keyOf(c, "counter") === counter.key)
      assert.deepStrictEqual(c.registry.names().filter((x) => x.name === "counter"), [{ name: "counter", actor: counter.key }])

      // the ref found on b is usable: messages reach the actor on a
      const found = yield* b.registry.lookup(Counter, "counter")
      yield* found.tell(Counter.Increment({ by: 5 }))
      assert.strictEqual(yield* found.ask(Counter.Get()), 5)
      assert.strictEqual(yield* counter.ask(Counter.Get()), 5)

      // lookup checks the protocol
      const wrong = yield* Effect.flip(c.registry.lookup(Registry.Protocol, "counter"))
      assert.strictEqual(wrong._tag, "ActorNotFound")
      const missing = yield* Effect.flip(c.registry.lookup(Counter, "no-such-name"))
      assert.strictEqual(missing._tag, "ActorNotFound")

      // unregistering on the owner withdraws it everywhere
      yield* a.registry.unregister("counter")
      yield* eventually("counter withdrawn on a, b and c", () =>
        [a, b, c].every((n) => Option.isNone(n.registry.whereis("counter"))))
    })))

  it.live("groups: join, leave and members across nodes", () =>
    quiet(Effect.gen(function*() {
      const [a, b, c] = yield* three
      const a1 = yield* a.system.spawn(CounterLive)
      const a2 = yield* a.system.spawn(CounterLive)
      const b1 = yield* b.system.spawn(CounterLive)
      yield* a.registry.join("pool", a1)
      yield* a.registry.join("pool", a2)
      yield* b.registry.join("pool", b1)
      yield* c.registry.join("other", yield* c.system.spawn(CounterLive))
      const all = [a1.key, a2.key, b1.key].sort()
      yield* eventually("every node sees the three pool members", () =>
        [a, b, c].every((n) => JSON.stringify(memberKeys(n, "pool")) === JSON.stringify(all)))
      assert.strictEqual(memberKeys(a, "other").length, 1)
      assert.deepStrictEqual(memberKeys(a, "nobody"), [])

      yield* a.registry.leave("pool", a1)
      const rest = [a2.key, b1.key].sort()
      yield* eventually("every node sees a1 leave", () =>
        [a, b, c].every((n) => JSON.stringify(memberKeys(n, "pool")) === JSON.stringify(rest)))
      // the members are usable refs
      const [member] = c.registry.members("pool").filter((r) => r.key === b1.key)
      yield* member!.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* member!.ask(Counter.Get()), 2) // after the tell: same sender, same link
    })))

  it.live("an actor that stops loses its names and group memberships on every node", () =>
    quiet(Effect.gen(function*() {
      const [a, b, c] = yield* three
      const worker = yield* b.system.spawn(CounterLive)
      const other = yield* b.system.spawn(CounterLive)
      yield* b.registry.register("worker", worker)
      yield* b.registry.register("worker-alias", worker)
      yield* b.registry.join("pool", worker)
      yield* b.registry.register("other", other)
      yield* eventually("a and c see worker", () =>
        [a, c].every((n) => keyOf(n, "worker") === worker.key && keyOf(n, "worker-alias") === worker.key && memberKeys(n, "pool").length === 1))

      yield* b.system.stop(worker)
      yield* eventually("worker withdrawn everywhere", () =>
        [a, b, c].every((n) =>
          Option.isNone(n.registry.whereis("worker")) && Option.isNone(n.registry.whereis("worker-alias")) &&
          memberKeys(n, "pool").length === 0
        ))
      // the other actor of the same node keeps its name
      for (const n of [a, b, c]) assert.strictEqual(keyOf(n, "other"), other.key, `other on ${n.name}`)
    })))

  it.live("a node that stops: its names and group members are removed on the others", () =>
    quiet(Effect.gen(function*() {
      const [a, b, c] = yield* three
      const onC = yield* c.system.spawn(CounterLive)
      const onA = yield* a.system.spawn(CounterLive)
      yield* c.registry.register("c-service", onC)
      yield* c.registry.join("pool", onC)
      yield* a.registry.register("a-service", onA)
      yield* a.registry.join("pool", onA)
      yield* eventually("a and b see c's entries, b sees a's", () =>
        keyOf(a, "c-service") === onC.key && keyOf(b, "c-service") === onC.key && keyOf(b, "a-service") === onA.key &&
        memberKeys(a, "pool").length === 2 && memberKeys(b, "pool").length === 2)

      yield* c.stop
      yield* eventually("c's entries removed on a and b", () =>
        [a, b].every((n) => Option.isNone(n.registry.whereis("c-service")) && JSON.stringify(memberKeys(n, "pool")) === JSON.stringify([onA.key])))
      assert.strictEqual(keyOf(b, "a-service"), onA.key)
    })))

  it.live("a partition drops the other side's entries; after the heal a full sync brings them back", () =>
    quiet(Effect.gen(function*() {
      const [a, b, c] = yield* three
      const onA = yield* a.system.spawn(CounterLive)
      const onB = yield* b.system.spawn(CounterLive)
      yield* a.registry.register("a-service", onA)
      yield* a.registry.join("pool", onA)
      yield* b.registry.register("b-service", onB)
      yield* b.registry.join("pool", onB)
      yield* eventually("everything replicated", () =>
        [a, b, c].every((n) => keyOf(n, "a-service") === onA.key && keyOf(n, "b-service") === onB.key && memberKeys(n, "pool").length === 2))

      // events are collected so the test does not depend on observing the short partition by polling
      const onBEvents = yield* watchEvents(b, "a-service")
      const onAEvents = yield* watchEvents(a, "b-service")
      const onCEvents = yield* watchEvents(c, "a-service")

      yield* a.node.partition("b", "1500 millis")
      yield* eventually("b forgets a-service and a forgets b-service, then both come back", () =>
        onBEvents.seen.length >= 2 && onAEvents.seen.length >= 2 &&
        keyOf(b, "a-service") === onA.key && keyOf(a, "b-service") === onB.key)
      assert.deepStrictEqual(onBEvents.seen.map((e) => e._tag), ["Unregistered", "Registered"])
      assert.deepStrictEqual(onAEvents.seen.map((e) => e._tag), ["Unregistered", "Registered"])
      yield* eventually("group members restored on both sides", () =>
        [a, b].every((n) => JSON.stringify(memberKeys(n, "pool")) === JSON.stringify([onA.key, onB.key].sort())))
      // c was never cut off from either: it kept both names throughout
      assert.deepStrictEqual(onCEvents.seen, [])
      assert.strictEqual(keyOf(c, "a-service"), onA.key)
      assert.strictEqual(keyOf(c, "b-service"), onB.key)
    })), { timeout: 60_000 })

  it.live("conflict: the same name registered on both sides of a partition; the smaller node name wins everywhere", () =>
    quiet(Effect.gen(function*() {
      const [a, b, c] = yield* three
      const events = { a: yield* watchEvents(a, "leader"), b: yield* watchEvents(b, "leader"), c: yield* watchEvents(c, "leader") }
      yield* a.node.partition("b", "2 seconds")
      yield* b.node.partition("a", "2 seconds")
      yield* eventually("a and b see each other down", () =>
        !a.node.peers().some((p) => p.name === "b" && p.up) && !b.node.peers().some((p) => p.name === "a" && p.up))

      // b registers first, so "first registration wins" or "last writer wins" would both pick b somewhere
      const onB = yield* b.system.spawn(CounterLive)
      yield* b.registry.register("leader", onB)
      yield* eventually("c sees b's leader", () => keyOf(c, "leader") === onB.key)
      const onA = yield* a.system.spawn(CounterLive)
      yield* a.registry.register("leader", onA) // a does not know b's registration: no NameTaken
      assert.strictEqual(keyOf(a, "leader"), onA.key)
      assert.strictEqual(keyOf(b, "leader"), onB.key)

      // c is connected to both: it resolves the conflict at once, for a
      yield* eventually("c prefers a's leader", () => keyOf(c, "leader") === onA.key)

      yield* eventually("after the heal every node has a's leader", () =>
        a.node.peers().some((p) => p.name === "b" && p.up) && [a, b, c].every((n) => keyOf(n, "leader") === onA.key))
      yield* eventually("b published the conflict", () => events.b.seen.some((e) => e._tag === "RegistryConflict"))
      const conflict = events.b.seen.find((e) => e._tag === "RegistryConflict")
      assert.deepStrictEqual(conflict, { _tag: "RegistryConflict", name: "leader", winner: onA.key, loser: onB.key })
      assert.isTrue(events.c.seen.some((e) => e._tag === "RegistryConflict" && e.winner === onA.key && e.loser === onB.key))
      // the loser's node no longer lists its own registration, and it stays that way
      assert.deepStrictEqual(b.registry.names().filter((x) => x.name === "leader"), [{ name: "leader", actor: onA.key }])
      yield* Effect.sleep("300 millis")
      for (const n of [a, b, c]) assert.strictEqual(keyOf(n, "leader"), onA.key, `leader on ${n.name}`)
      // the losing actor keeps running, without the name; b can no longer take the name
      yield* onB.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* onB.ask(Counter.Get()), 1)
      const taken = yield* Effect.flip(b.registry.register("leader", onB))
      assert.strictEqual(taken._tag, "NameTaken")
      assert.strictEqual(taken.owner, onA.key)
    })), { timeout: 60_000 })

  it.live("NameTaken: a name taken on this node, or by another node, or a ref of another node", () =>
    quiet(Effect.gen(function*() {
      const a = yield* startNode("a")
      const b = yield* startNode("b")
      yield* mesh([a, b])
      const first = yield* a.system.spawn(CounterLive)
      const second = yield* a.system.spawn(CounterLive)
      yield* a.registry.register("x", first)
      const taken = yield* Effect.flip(a.registry.register("x", second))
      assert.deepStrictEqual({ ...taken }, { _tag: "NameTaken", name: "x", owner: first.key })
      assert.instanceOf(taken, Registry.NameTaken)
      // registering the same ref again under the same name is fine
      yield* a.registry.register("x", first)
      assert.strictEqual(keyOf(a, "x"), first.key)

      // a name owned by another node is taken here too, once replicated
      const onB = yield* b.system.spawn(CounterLive)
      yield* b.registry.register("y", onB)
      yield* eventually("a sees y", () => keyOf(a, "y") === onB.key)
      const takenRemote = yield* Effect.flip(a.registry.register("y", second))
      assert.deepStrictEqual({ ...takenRemote }, { _tag: "NameTaken", name: "y", owner: onB.key })

      // only a node's own actors can be registered on it
      const foreign = yield* Effect.flip(a.registry.register("z", onB))
      assert.strictEqual(foreign._tag, "NameTaken")
      assert.isTrue(Option.isNone(a.registry.whereis("z")))
    })))
})
