/**
 * Holds across a lost connection: a sender held on a full actor whose connection is lost and
 * made again is held on the new connection from its start, not only once a message it sent there
 * has brought a new `Hold` back, whichever of the two dialled the new connection (and what the
 * sender tells it while dialling again waits for that connection, rather than being buffered
 * and written ahead of its holds); and a sender
 * that was waiting for a Release when its connection was replaced (the peer redialled, having
 * found it dead first) goes on on the new one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Random, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor } from "../../src/index.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"
import * as SimNetwork from "../../src/testing/SimNetwork.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"

const Slow = Actor.make("LinkHolds/Slow", {
  Deliver: Actor.tell({ seq: Schema.Int }),
  Ping: Actor.ask({}, { success: Schema.String })
})

// the node given the other's address dials it, and dials it again after the loss
const cases = [{ dialler: "receiver" }, { dialler: "sender" }] as const

describe("holds across a lost connection", () => {
  it.effect.each(cases)("the receiver holds the sender again as soon as the new connection is attached (the $dialler dials)", ({ dialler }) =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 1, readBytes: 256, windowBytes: 1024 })
      sim.setDefaultFaults({ delayMillis: 5 })
      const common = {
        port: 7000,
        cluster: "link-holds",
        secret: Redacted.make("link-holds"),
        heartbeatInterval: "200 millis",
        acceptablePause: "800 millis",
        reconnect: { initial: "50 millis", max: "50 millis" }
      } as const
      // a is the receiver, b the sender
      const dial = (name: string) => ({ peers: [{ name, host: name, port: 7000 }] })
      const b = yield* TestNode.startNode("b", { ...common, network: sim.host("b"), ...(dialler === "sender" ? dial("a") : {}) })
      const a = yield* TestNode.startNode("a", { ...common, network: sim.host("a"), ...(dialler === "receiver" ? dial("b") : {}) })
      const step = (millis: number) => Effect.gen(function*() {
        for (let t = 0; t < millis; t += 5) yield* TestClock.adjust("5 millis")
      })
      const up = () => a.node.peers().some((p) => p.name === "b" && p.up) && b.node.peers().some((p) => p.name === "a" && p.up)
      while (!up()) yield* step(5)
      // a's actor takes nothing: its mailbox stays full
      const gate = yield* Deferred.make<void>()
      yield* a.system.spawn(Slow.behavior(Effect.succeed({ Deliver: () => Deferred.await(gate), Ping: () => Effect.succeed("pong") })), {
        name: "slow",
        mailbox: { capacity: 8, overflow: "backpressure" }
      })
      const slowSize = () => kernelOf(a.system).named("slow")!.mailbox.size
      const ref = yield* b.node.lookup("a", Slow, "slow").pipe(Effect.forkChild)
      yield* step(50)
      const slow = ref.pollUnsafe()!
      assert.isTrue(slow._tag === "Success")
      if (slow._tag !== "Success") return
      let seq = 0
      yield* Effect.forkChild(Effect.forever(Effect.suspend(() =>
        slow.value.target.isAlive
          ? slow.value.tell(Slow.Deliver({ seq: ++seq }))
          // while disconnected: on trying (dead letters, or buffered while the link dials)
          : Effect.andThen(slow.value.tell(Slow.Deliver({ seq: ++seq })), Effect.sleep("1 millis"))
      )))
      yield* step(100)
      const heldBefore = routerOf(b.node).peers.get("a")!.flow.held.size
      assert.strictEqual(heldBefore, 1, "b is held on a's full actor")
      const before = slowSize()
      assert.isAtLeast(before, 8)

      sim.reset("a", "b")
      yield* step(5)
      while (!up()) yield* step(5)
      yield* step(200)
      // nothing b sent on the new connection got into the full mailbox (held from the start)
      assert.strictEqual(slowSize(), before, `${slowSize() - before} messages accepted past the capacity on the new connection`)
      assert.strictEqual(routerOf(b.node).peers.get("a")!.flow.held.size, 1, "b is held on the new connection")
    }).pipe(Effect.scoped, Effect.provide(SimNetwork.testClock), Random.withSeed(1)))

  it.effect("a sender held when its connection is replaced goes on on the new one", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 2 })
      sim.setDefaultFaults({ delayMillis: 5 })
      const common = {
        port: 7000,
        cluster: "link-holds",
        secret: Redacted.make("link-holds"),
        heartbeatInterval: "200 millis",
        acceptablePause: "800 millis",
        reconnect: { initial: "50 millis", max: "50 millis" }
      } as const
      // a (the receiver) dials b (the sender)
      const b = yield* TestNode.startNode("b", { ...common, network: sim.host("b") })
      const a = yield* TestNode.startNode("a", { ...common, network: sim.host("a"), peers: [{ name: "b", host: "b", port: 7000 }] })
      const step = (millis: number) => Effect.gen(function*() {
        for (let t = 0; t < millis; t += 5) yield* TestClock.adjust("5 millis")
      })
      const up = () => a.node.peers().some((p) => p.name === "b" && p.up) && b.node.peers().some((p) => p.name === "a" && p.up)
      while (!up()) yield* step(5)
      const gate = yield* Deferred.make<void>()
      const delivered: Array<number> = []
      const behavior = Slow.behavior(Effect.succeed({
        Deliver: ({ seq }) => Effect.andThen(Deferred.await(gate), Effect.sync(() => delivered.push(seq))),
        Ping: () => Effect.succeed("pong")
      }))
      yield* a.system.spawn(behavior, { name: "slow", mailbox: { capacity: 2, overflow: "backpressure" } })
      const ref = yield* b.node.lookup("a", Slow, "slow").pipe(Effect.forkChild)
      yield* step(50)
      const slow = ref.pollUnsafe()!
      if (slow._tag !== "Success") return assert.fail("lookup failed")
      const tells = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4, 5, 6], (seq) => slow.value.tell(Slow.Deliver({ seq }))))
      yield* step(100)
      const ask = yield* slow.value.ask(Slow.Ping()).pipe(Effect.forkChild)
      yield* step(100)
      assert.strictEqual(routerOf(b.node).peers.get("a")!.flow.held.size, 1, "b is held on a's full actor")
      assert.isUndefined(ask.pollUnsafe(), "the ask waits for the Release")

      // a's end of the connection dies without a word to b: a dials again, and b replaces its
      // connection (still up on its side) by the new one
      const conn = routerOf(a.node).peers.get("b")!.conn! as unknown as { socket: { close(e: undefined, notify: boolean): void } }
      conn.socket.close(undefined, false)
      yield* step(5)
      while (!up()) yield* step(5)
      yield* step(100)
      assert.isUndefined(ask.pollUnsafe(), "the ask still waits for the Release")
      yield* Deferred.succeed(gate, undefined)
      yield* step(200)
      assert.strictEqual(tells.pollUnsafe()?._tag, "Success")
      assert.deepStrictEqual(delivered, [1, 2, 3, 4, 5, 6])
      const answer = ask.pollUnsafe()
      assert.isTrue(answer?._tag === "Success" && answer.value === "pong", `the held ask: ${String(answer)}`)
    }).pipe(Effect.scoped, Effect.provide(SimNetwork.testClock), Random.withSeed(2)))
})
