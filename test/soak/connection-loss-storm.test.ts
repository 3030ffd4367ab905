/**
 * A connection lost with thousands of asks on it (sent and awaiting their reply, or waiting for
 * room in its queue): they fail a slice at a time, so that between slices the event loop runs
 * what is pending (other connections' reads and heartbeats). Failing 50 000 in one turn held it
 * for 0.5-0.8 s, and under load for seconds: long enough for healthy peers to drop the node.
 * Every ask still ends once, with `NodeDown`, in the order it was made. And once the peer reads
 * again, waiting senders are woken only while there is room (each encodes its message: tens of
 * thousands woken at every write, most to find the queue full again, held it for seconds).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { NodeDown } from "../../src/actors/ActorError.ts"
import { Actor } from "../../src/index.ts"
import { PendingAsks, RemoteTarget } from "../../src/transport/internal/remoteTarget.ts"
import { partition } from "../../src/transport/internal/peers.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { connect, remote } from "../transport/_remote.ts"

const Hang = Actor.make("test/LossStormHang", { Hang: Actor.ask({ pad: Schema.String }) })
const HangLive = Hang.behavior(Effect.succeed({ Hang: () => Effect.never }))
const AnswerLive = Hang.behavior(Effect.succeed({ Hang: () => Effect.void }))

const tagOf = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? "success" : String((exit.cause.reasons[0] as { error?: { _tag?: string } })?.error?._tag)

describe("soak: connection lost under an ask storm", () => {
  it.live("pending asks fail a slice per turn, in order, each once with NodeDown", () =>
    Effect.callback<void>((resume) => {
      const count = 5_000
      const asks = new PendingAsks()
      const ended: Array<number> = []
      const outcomes = new Array<number>(count).fill(0)
      const tags = new Set<string>()
      let beforeIo = -1
      for (let i = 0; i < count; i++) {
        asks.add((exit) => {
          outcomes[i]!++
          ended.push(i)
          tags.add(tagOf(exit))
        }, undefined as any, "Hang")
      }
      asks.failAll(new NodeDown({ node: "b", reason: "lost" }))
      setImmediate(() => (beforeIo = ended.length))
      const check = () => {
        if (ended.length < count) return void setTimeout(check, 5)
        resume(Effect.sync(() => {
          assert.isAbove(beforeIo, 0)
          assert.isBelow(beforeIo, count, "pending I/O runs after a slice, not after every failure")
          assert.deepStrictEqual(ended, Array.from({ length: count }, (_, i) => i), "in the order they were made")
          assert.isTrue(outcomes.every((n) => n === 1), "each once")
          assert.deepStrictEqual([...tags], ["NodeDown"])
          assert.strictEqual(asks.size, 0)
        }))
      }
      setTimeout(check, 5)
    }), 10_000)

  it.live("senders waiting for room wake a slice per turn; every ask ends once with NodeDown", () =>
    Effect.gen(function*() {
      const { a, conn, count, outcomes, ended, peer, waiting } = yield* storm(HangLive, 1024)
      // the connection is lost, and no new one is made
      let stillWaiting = -1
      partition(routerOf(a.node), "b", 60_000)
      setImmediate(() => (stillWaiting = conn.drainWaiters.size))
      do yield* Effect.sleep("20 millis")
      while (ended() < count)
      assert.isAbove(stillWaiting, 0, "pending I/O runs after a slice of the waiting senders, not after all")
      assert.isBelow(stillWaiting, waiting)
      assert.deepStrictEqual(Object.fromEntries(outcomes), { NodeDown: count })
      assert.strictEqual(peer.asks.size, 0)
    }).pipe(Effect.scoped), 20_000)

  it.live("once the peer reads again, senders waiting for room are woken while there is room, each once", () =>
    Effect.gen(function*() {
      let offers = 0
      const offer = RemoteTarget.prototype.offer
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          RemoteTarget.prototype.offer = function(this: RemoteTarget, ...args: Parameters<typeof offer>) {
            offers++
            return offer.apply(this, args)
          }
        }),
        () => Effect.sync(() => (RemoteTarget.prototype.offer = offer))
      )
      const { bConn, count, outcomes, ended } = yield* storm(AnswerLive, 64 * 1024)
      bConn.socket.resume()
      do yield* Effect.sleep("20 millis")
      while (ended() < count)
      assert.deepStrictEqual(Object.fromEntries(outcomes), { success: count })
      // each ask offered once, and once more if it waited: a waiter is not woken only to find the queue full again
      assert.isAtMost(offers, 2 * count)
    }).pipe(Effect.scoped), 20_000)
})

/**
 * `count` asks with large messages (8 KB: what the kernel buffers is a small part of them) from
 * a to an actor on b, which stops reading (as a frozen process): a's queue fills
 * (`highWaterBytes`), and more than a slice of the asks wait for room.
 */
const storm = (behavior: typeof HangLive, highWaterBytes: number) =>
  Effect.gen(function*() {
    const count = 4_000
    const b = yield* startNode("b")
    const a = yield* startNode("a", { highWaterBytes })
    yield* connect(a, b)
    const target = remote(a, yield* b.system.spawn(behavior))
    const bConn = routerOf(b.node).peers.get("a")!.conn as any
    bConn.socket.pause()
    const pad = "x".repeat(8_000)
    const outcomes = new Map<string, number>()
    let ended = 0
    yield* Effect.forEach(Array.from({ length: count }), () =>
      Effect.forkChild(
        Effect.map(Effect.exit(target.ask(Hang.Hang({ pad }), { timeout: "60 seconds" })), (exit) => {
          ended++
          outcomes.set(tagOf(exit), (outcomes.get(tagOf(exit)) ?? 0) + 1)
        }),
        { startImmediately: true }
      ))
    const peer = routerOf(a.node).peers.get("b")!
    const conn = peer.conn as any
    while (peer.asks.size + conn.drainWaiters.size < count) yield* Effect.sleep("20 millis")
    const waiting = conn.drainWaiters.size as number
    assert.isAbove(waiting, 1024, "more senders waiting than one slice")
    return { a, bConn, conn, count, outcomes, ended: () => ended, peer, waiting }
  })
