/**
 * While a peer is being dialled, what is sent to it waits in its outbox (written first on the
 * new connection). The outbox is bounded in bytes as a connection's queue is: a peer that
 * accepts the connection and never answers the handshake (a frozen process, a half-open
 * partition) must not make a sender of large messages pile them up in memory — before, up to
 * 10 000 envelopes of any size were buffered at each redial (1 MiB tells: 5 GiB of RSS).
 *
 * - past `highWaterBytes` buffered a `tell` waits for the dial to end (sent on the new
 *   connection, or refused when the dial fails); past `maxQueuedBytes / 8` a `tellUnsafe` is a
 *   dead letter `Overloaded`;
 * - when the peer does answer, the tells that waited follow the buffered ones, in order;
 * - small messages: once the outbox holds `bufferLimit` envelopes, a `tell` waits too (it is
 *   not dropped as if the node were not connected), a `tellUnsafe` is `Overloaded`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, PubSub, Schema } from "effect"
import { Actor, type ActorRef, type DeadLetter } from "../../src/index.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { listen, makeProxy, subscribeDeadLetters, withTimeout } from "../transport/_remote.ts"

const Big = Actor.make("soak/OutboxBig", {
  Take: Actor.tell({ n: Schema.Int, data: Schema.Uint8Array })
})

const KiB = 1024
const MESSAGE = 256 * KiB
const HIGH_WATER = 1024 * KiB

/**
 * Node b with an actor recording what it takes (`done` once it has `expected` messages), reached
 * through a proxy that holds the connection; node a (`options`) dialling b through it, the dial
 * under way: a's outbox for b buffers.
 */
const heldDial = (expected: number, options?: Parameters<typeof startNode>[1]) =>
  Effect.gen(function*() {
    const proxy = yield* makeProxy
    const b = yield* startNode("b")
    const received: Array<number> = []
    const done = yield* Deferred.make<void>()
    const big = yield* b.system.spawn(Big.behavior(Effect.succeed({
      Take: ({ n }) =>
        Effect.sync(() => {
          received.push(n)
          if (received.length === expected) Deferred.doneUnsafe(done, Effect.void)
        })
    })))
    proxy.setTarget(b.node.address.port)
    proxy.hold()
    const a = yield* startNode("a", options)
    yield* Effect.forkChild(Effect.ignore(a.node.connect({ name: "b", host: "127.0.0.1", port: proxy.port }, "10 seconds")))
    yield* withTimeout("the dial", Deferred.await(proxy.held))
    const outbox = routerOf(a.node).peers.get("b")!.outbox
    const ref = a.system.refFor(big.address) as ActorRef.ActorRef<typeof Big.defs>
    return { proxy, a, ref, outbox, received, done }
  })

describe("soak: the outbox of a peer being dialled is bounded in bytes", () => {
  it.live("a peer that never answers its handshake: large tells wait, tellUnsafes past the limit are dead letters", () =>
    Effect.gen(function*() {
      const blackHole = yield* listen((socket) => socket.pause())
      const a = yield* startNode("a", { handshakeTimeout: "1 second", reconnect: { initial: "10 seconds", max: "10 seconds" } })
      const letters = yield* subscribeDeadLetters(a)
      yield* Effect.forkChild(Effect.ignore(a.node.connect({ name: "c", host: "127.0.0.1", port: blackHole.port }, "200 millis")))
      yield* withTimeout("the dial", Deferred.await(blackHole.accepted))
      const outbox = routerOf(a.node).peers.get("c")!.outbox
      assert.isTrue(outbox.dialing)
      const ghost = a.system.refFor({ node: { name: "c", incarnation: 1 }, id: 1, protocol: Big.name }) as ActorRef.ActorRef<
        typeof Big.defs
      >
      const data = new Uint8Array(MESSAGE).fill(1)

      let told = 0
      const tells = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 20 }, (_, i) => i + 1), (n) =>
          Effect.andThen(ghost.tell(Big.Take({ n, data })), Effect.sync(() => void told++)), { discard: true }),
        { startImmediately: true }
      )
      // the fiber ran until its tell had to wait
      assert.isBelow(told, 20, "the tells wait once the outbox holds more than highWaterBytes")
      assert.isAtMost(outbox.bytes, HIGH_WATER + MESSAGE + KiB)
      assert.strictEqual(outbox.buffer.length, told)

      for (let n = 1; n <= 40; n++) ghost.tellUnsafe(Big.Take({ n: 100 + n, data }))
      const unsafeLimit = (64 * 1024 * KiB) / 8
      assert.isAtMost(outbox.bytes, unsafeLimit + MESSAGE + KiB, "tellUnsafes are not buffered past maxQueuedBytes / 8")
      const overloaded = (yield* PubSub.takeAll(letters)).filter((d: DeadLetter) => d.reason._tag === "Overloaded")
      assert.isAbove(overloaded.length, 0, "the tellUnsafes past the limit are dead letters Overloaded")

      // the handshake times out: the waiting tell is refused (the node is not connected), the rest
      // too, and what was buffered is refused
      yield* withTimeout("the waiting tells", Fiber.join(tells))
      assert.strictEqual(told, 20)
      yield* withTimeout("the buffer refused", Effect.gen(function*() {
        while (outbox.buffer.length > 0) yield* Effect.sleep("10 millis")
      }))
      assert.strictEqual(outbox.bytes, 0)
    }).pipe(Effect.scoped), 20_000)

  it.live("small messages: past bufferLimit envelopes a tell waits, a tellUnsafe is Overloaded", () =>
    Effect.gen(function*() {
      const { a, done, outbox, proxy, received, ref } = yield* heldDial(300, { bufferLimit: 100 })
      const letters = yield* subscribeDeadLetters(a)
      const data = new Uint8Array(8)
      let told = 0
      const tells = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 300 }, (_, i) => i + 1), (n) =>
          Effect.andThen(ref.tell(Big.Take({ n, data })), Effect.sync(() => void told++)), { discard: true }),
        { startImmediately: true }
      )
      assert.strictEqual(told, 100, "the tells wait once bufferLimit envelopes are buffered")
      assert.strictEqual(outbox.buffer.length, 100)
      ref.tellUnsafe(Big.Take({ n: 1000, data }))
      const refused = (yield* PubSub.takeAll(letters)).map((d: DeadLetter) => d.reason._tag)
      assert.deepStrictEqual(refused, ["Overloaded"], "nothing dropped but the tellUnsafe past the limit")
      proxy.release()
      yield* withTimeout("the tells", Fiber.join(tells))
      yield* withTimeout("every message handled", Deferred.await(done), 10_000)
      assert.deepStrictEqual(received, Array.from({ length: 300 }, (_, i) => i + 1))
    }).pipe(Effect.scoped), 20_000)

  it.live("a peer that answers later: the tells that waited follow the buffered ones, in order", () =>
    Effect.gen(function*() {
      const { done, outbox, proxy, received, ref } = yield* heldDial(20)
      assert.isTrue(outbox.dialing)
      const data = new Uint8Array(MESSAGE).fill(2)
      const tells = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 20 }, (_, i) => i + 1), (n) => ref.tell(Big.Take({ n, data })), { discard: true }),
        { startImmediately: true }
      )
      assert.isBelow(outbox.buffer.length, 20, "some tells wait for the connection")
      proxy.release()
      yield* withTimeout("the tells", Fiber.join(tells))
      yield* withTimeout("every message handled", Deferred.await(done), 10_000)
      assert.deepStrictEqual(received, Array.from({ length: 20 }, (_, i) => i + 1))
    }).pipe(Effect.scoped), 20_000)
})
