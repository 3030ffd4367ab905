import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Redacted } from "effect"
import { makeMember, makeRoom, Member, NickTaken, NotAMember, Room, type ChatMessage } from "../../examples/chat.ts"
import { makePinger, PongerLive, Ponger } from "../../examples/ping-pong.ts"
import { Registry } from "../../src/cluster/Registry.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const secret = Redacted.make("examples")

/** A test node with the cluster registry. */
const startNode = (name: string) =>
  Effect.gen(function*() {
    const n = yield* TestNode.startNode(name, { cluster: "ex", secret })
    const registry = yield* Layer.build(Registry.layer).pipe(Effect.provideContext(n.context))
    return { ...n, registry: Context.get(registry, Registry) }
  })

const eventually = <A, E>(check: Effect.Effect<A | undefined, E>, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 250; i++) {
      const a = yield* check
      if (a !== undefined) return a
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

describe("examples", () => {
  it.live("ping-pong: 1000 rounds across two nodes", () =>
    Effect.gen(function*() {
      const a = yield* startNode("pa")
      const b = yield* startNode("pb")
      yield* b.system.spawn(PongerLive, { name: "ponger" })
      yield* a.node.connect({ name: "pb", host: "127.0.0.1", port: b.node.address.port })
      const ponger = yield* a.node.lookup("pb", Ponger, "ponger")
      const done = yield* Deferred.make<number>()
      yield* a.system.spawn(makePinger(ponger, 1000, done))
      assert.strictEqual(yield* Deferred.await(done).pipe(Effect.timeout("20 seconds")), 1000)
    }).pipe(Effect.scoped), 30_000)

  it.live("chat: members on two nodes see every post in order; a lost node's members leave the room", () =>
    Effect.gen(function*() {
      const home = yield* startNode("home")
      const n2 = yield* startNode("n2")
      const n3 = yield* startNode("n3")
      yield* n2.node.connect({ name: "home", host: "127.0.0.1", port: home.node.address.port })
      yield* n3.node.connect({ name: "home", host: "127.0.0.1", port: home.node.address.port })
      const room = yield* home.system.spawn(makeRoom("lobby"))
      yield* home.registry.register("room:lobby", room)
      // the room's name reaches the other nodes through the registry
      const roomOn2 = yield* eventually(Effect.sync(() => n2.registry.whereis("room:lobby").pipe((o) => o._tag === "Some" ? o.value : undefined)), "the registry on n2")
      const roomOn3 = yield* eventually(Effect.sync(() => n3.registry.whereis("room:lobby").pipe((o) => o._tag === "Some" ? o.value : undefined)), "the registry on n3")
      const seen2: Array<ChatMessage> = []
      const seen3: Array<ChatMessage> = []
      const alice = yield* n2.system.spawn(makeMember((m) => Effect.sync(() => seen2.push(m))))
      const bob = yield* n3.system.spawn(makeMember((m) => Effect.sync(() => seen3.push(m))))
      const r2 = roomOn2 as typeof room
      const r3 = roomOn3 as typeof room
      yield* r2.ask(Room.Join({ nick: "alice", inbox: alice }))
      yield* r3.ask(Room.Join({ nick: "bob", inbox: bob }))
      const taken = yield* Effect.flip(r3.ask(Room.Join({ nick: "alice", inbox: bob })))
      assert.instanceOf(taken, NickTaken)
      for (let i = 1; i <= 20; i++) yield* (i % 2 === 0 ? r2 : r3).ask(Room.Post({ nick: i % 2 === 0 ? "alice" : "bob", text: `hello ${i}` }))
      const notMember = yield* Effect.flip(r2.ask(Room.Post({ nick: "carol", text: "hi" })))
      assert.instanceOf(notMember, NotAMember)
      yield* eventually(Effect.sync(() => (seen2.length === 20 && seen3.length === 20 ? true : undefined)), "all deliveries")
      assert.deepStrictEqual(seen2.map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i + 1))
      assert.deepStrictEqual(seen3.map((m) => m.text), seen2.map((m) => m.text))
      // n3 goes away: bob leaves the room by itself (the room's monitor fires NoConnection)
      yield* home.node.partition("n3", "30 seconds")
      yield* eventually(
        r2.ask(Room.Members()).pipe(Effect.map((ms) => (ms.length === 1 && ms[0] === "alice" ? true : undefined))),
        "bob to leave"
      )
      void Member
    }).pipe(Effect.scoped), 30_000)
})
