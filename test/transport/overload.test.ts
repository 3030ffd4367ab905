/**
 * Overload over real TCP: a slow actor flooded by a peer must never wedge the link it shares
 * with other traffic. Each test names the failure it guards against.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import type { DeadLetter } from "../../src/index.ts"
import { Actor } from "../../src/index.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const Slow = Actor.make("Overload/Slow", {
  Work: Actor.tell({ n: Schema.Int }),
  Count: Actor.ask({}, { success: Schema.Int })
})


/** An actor that takes `millis` per `Work`, counting what it handled. */
const slowActor = (millis: number) => {
  let handled = 0
  return {
    handled: () => handled,
    behavior: Slow.behavior(Effect.succeed({
      Work: () => Effect.andThen(Effect.sleep(millis), Effect.sync(() => void handled++)),
      Count: () => Effect.sync(() => handled)
    }))
  }
}

describe("a burst into a small backpressure mailbox", () => {
  it.live("3 000 tells in one write to a capacity-4 mailbox, then an ask: answered, on two connections", () =>
    Effect.gen(function*() {
      const b = yield* startNode("ovb")
      const a = yield* startNode("ova")
      const c = yield* startNode("ovc")
      const slow = slowActor(1)
      yield* b.system.spawn(slow.behavior, { name: "slow", mailbox: { capacity: 4, overflow: "backpressure" } })
      const burst = 3_000
      for (const sender of [a, c]) {
        yield* sender.node.connect({ name: "ovb", host: "127.0.0.1", port: b.node.address.port })
        const ref = yield* sender.node.lookup("ovb", Slow, "slow")
        // one synchronous loop: every tell is queued in the same tick, so they leave in one write
        yield* Effect.sync(() => {
          for (let n = 0; n < burst; n++) ref.tellUnsafe(Slow.Work({ n }))
        })
      }
      const fromA = yield* a.node.lookup("ovb", Slow, "slow")
      const fromC = yield* c.node.lookup("ovb", Slow, "slow")
      const [countA, countC] = yield* Effect.all([
        fromA.ask(Slow.Count(), { timeout: "20 seconds" }),
        fromC.ask(Slow.Count(), { timeout: "20 seconds" })
      ], { concurrency: 2 })
      // per-link FIFO: each ask is handled after that link's whole burst
      assert.isAtLeast(countA, burst)
      assert.isAtLeast(countC, burst)
    }).pipe(Effect.scoped), 30_000)
})

describe("per-destination flow control", () => {
  it.live("a flooded actor holds only its own senders: asks to another actor on its node are answered, nothing is lost", () =>
    Effect.gen(function*() {
      const b = yield* startNode("fcb")
      const a = yield* startNode("fca")
      const gate = yield* Deferred.make<void>()
      let handled = 0
      const slowRef = yield* b.system.spawn(
        Slow.behavior(Effect.succeed({
          Work: () => Effect.andThen(Deferred.await(gate), Effect.sync(() => void handled++)),
          Count: () => Effect.sync(() => handled)
        })),
        { name: "slow", mailbox: { capacity: 64, overflow: "backpressure" } }
      )
      const other = slowActor(0)
      yield* b.system.spawn(other.behavior, { name: "other" })
      const mailbox = (slowRef.target as unknown as { mailbox: { size: number } }).mailbox
      const overloaded: Array<DeadLetter> = []
      yield* a.system.deadLetters.pipe(
        Stream.runForEach((d) => Effect.sync(() => void overloaded.push(d))),
        Effect.forkScoped
      )
      yield* a.node.connect({ name: "fcb", host: "127.0.0.1", port: b.node.address.port })
      const slow = yield* a.node.lookup("fcb", Slow, "slow")
      const fast = yield* a.node.lookup("fcb", Slow, "other")
      const total = 50_000
      const flood = yield* Effect.forkScoped(
        Effect.forEach(Array.from({ length: total }, (_, n) => n), (n) => slow.tell(Slow.Work({ n })), { discard: true })
      )
      for (let i = 0; i < 200 && mailbox.size < 64; i++) yield* Effect.sleep("10 millis")
      assert.isAtLeast(mailbox.size, 64, "the slow actor is full")
      // the flood is held at the sender; asks to another actor on the same node flow past it
      for (let i = 0; i < 20; i++) {
        yield* fast.tell(Slow.Work({ n: i }))
        assert.strictEqual(yield* fast.ask(Slow.Count(), { timeout: "5 seconds" }), i + 1)
      }
      assert.isUndefined(flood.pollUnsafe(), "the flooding tells wait")
      // a tellUnsafe cannot wait: it fails fast into the sender's dead letters, with the reason
      yield* Effect.sync(() => slow.tellUnsafe(Slow.Work({ n: -1 })))
      for (let i = 0; i < 100 && overloaded.length === 0; i++) yield* Effect.sleep("10 millis")
      assert.deepStrictEqual(overloaded.map((d) => [d.reason._tag, (d.message as any).n]), [["Overloaded", -1]])
      // bounded: the capacity plus what was in flight when the hold was sent
      assert.isAtMost(mailbox.size, 64 + 5_000, `mailbox at ${mailbox.size}`)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(flood)
      assert.strictEqual(yield* slow.ask(Slow.Count(), { timeout: "30 seconds" }), total)
    }).pipe(Effect.scoped), 60_000)
})

const Blob = Actor.make("Overload/Blob", {
  Put: Actor.tell({ data: Schema.String })
})

describe("outbound queues are bounded", () => {
  it.live("a flood of remote tellUnsafe is queued up to an eighth of the queue limit, the rest are Overloaded dead letters", () =>
    Effect.gen(function*() {
      const maxQueuedBytes = 8 * 1024 * 1024
      const b = yield* startNode("obb")
      const a = yield* startNode("oba", { maxQueuedBytes })
      let received = 0
      yield* b.system.spawn(Blob.behavior(Effect.succeed({ Put: () => Effect.sync(() => void received++) })), { name: "blob" })
      let overloaded = 0
      yield* a.system.deadLetters.pipe(
        Stream.runForEach((d) => Effect.sync(() => d.reason._tag === "Overloaded" && overloaded++)),
        Effect.forkScoped
      )
      yield* a.node.connect({ name: "obb", host: "127.0.0.1", port: b.node.address.port })
      const blob = yield* a.node.lookup("obb", Blob, "blob")
      const conn = routerOf(a.node).peers.get("obb")!.conn!
      const data = "x".repeat(1024)
      const total = 20_000 // 20 MiB if nothing were bounded
      let peak = 0
      yield* Effect.sync(() => {
        for (let n = 0; n < total; n++) {
          blob.tellUnsafe(Blob.Put({ data }))
          peak = Math.max(peak, conn.queuedBytes)
        }
      })
      assert.isAtMost(peak, maxQueuedBytes / 8 + 2048, `queued ${peak} bytes`)
      for (let i = 0; i < 200 && overloaded + received < total; i++) yield* Effect.sleep("20 millis")
      assert.isAbove(overloaded, 0)
      assert.strictEqual(overloaded + received, total, "every message delivered or a dead letter")
    }).pipe(Effect.scoped), 30_000)
})

describe("load shed at the sender", () => {
  it.live("under dropNewest, a flooded actor's node asks the sender to hold it: the sender drops before encoding, the receiver decodes little", () =>
    Effect.gen(function*() {
      const b = yield* startNode("sdb")
      const a = yield* startNode("sda")
      const slow = slowActor(1)
      yield* b.system.spawn(slow.behavior, { name: "slow", mailbox: { capacity: 16, overflow: "dropNewest" } })
      let atSender = 0
      let atReceiver = 0
      yield* a.system.deadLetters.pipe(
        Stream.runForEach((d) => Effect.sync(() => d.reason._tag === "MailboxFull" && (d.message as any)._tag === "Work" && atSender++)),
        Effect.forkScoped
      )
      yield* b.system.deadLetters.pipe(
        Stream.runForEach((d) => Effect.sync(() => d.reason._tag === "MailboxFull" && (d.message as any)._tag === "Work" && atReceiver++)),
        Effect.forkScoped
      )
      yield* a.node.connect({ name: "sdb", host: "127.0.0.1", port: b.node.address.port })
      const ref = yield* a.node.lookup("sdb", Slow, "slow")
      const total = 20_000
      for (let n = 0; n < total; n++) {
        yield* ref.tell(Slow.Work({ n }))
        if (n % 500 === 0) yield* Effect.sleep("1 millis")
      }
      // an ask is refused at once while the actor is held, or answered
      const handled = yield* ref.ask(Slow.Count(), { timeout: "10 seconds" }).pipe(Effect.orElseSucceed(() => -1))
      for (let i = 0; i < 500 && atSender + atReceiver + slow.handled() < total; i++) yield* Effect.sleep("20 millis")
      yield* Effect.logInfo(`dropNewest flood: ${atSender} dropped at the sender, ${atReceiver} at the receiver, ${slow.handled()} handled`)
      assert.isAtLeast(handled, -1)
      assert.strictEqual(atSender + atReceiver + slow.handled(), total, "every tell handled or a dead letter")
      assert.isAbove(atSender, total / 2, "most of the overload is shed at the sender")
      assert.isBelow(atReceiver, atSender, "the receiver decodes less than is dropped at the sender")
    }).pipe(Effect.scoped), 60_000)
})

describe("a held destination under `fail`", () => {
  it.live("once the node holds a full `fail` mailbox, remote tells and asks to it fail with MailboxFull at the sender; other actors answer", () =>
    Effect.gen(function*() {
      const b = yield* startNode("ffb")
      const a = yield* startNode("ffa")
      const gate = yield* Deferred.make<void>()
      yield* b.system.spawn(
        Slow.behavior(Effect.succeed({ Work: () => Deferred.await(gate), Count: () => Effect.succeed(0) })),
        { name: "stuck", mailbox: { capacity: 4, overflow: "fail" } }
      )
      const other = slowActor(0)
      yield* b.system.spawn(other.behavior, { name: "other" })
      yield* a.node.connect({ name: "ffb", host: "127.0.0.1", port: b.node.address.port })
      const stuck = yield* a.node.lookup("ffb", Slow, "stuck")
      const fast = yield* a.node.lookup("ffb", Slow, "other")
      // fill it (one in the handler, four queued), then wait for the Hold to arrive
      for (let n = 0; n < 5; n++) yield* stuck.tell(Slow.Work({ n }))
      const peer = routerOf(a.node).peers.get("ffb")!
      for (let i = 0; i < 200 && peer.flow.held.size === 0; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual(peer.flow.held.size, 1, "the sender was asked to hold the full actor")
      const tell = yield* Effect.flip(stuck.tell(Slow.Work({ n: 99 })))
      assert.strictEqual(tell._tag, "MailboxFull")
      assert.strictEqual((tell as any).capacity, 4)
      const ask = yield* Effect.flip(stuck.ask(Slow.Count(), { timeout: "5 seconds" }))
      assert.strictEqual(ask._tag, "MailboxFull")
      assert.strictEqual(yield* fast.ask(Slow.Count(), { timeout: "5 seconds" }), 0)
      // released once it drains: sends to it work again
      yield* Deferred.succeed(gate, undefined)
      // (released with a credit of what fits, or without one)
      const held = () => peer.flow.held.get(stuck.address.id)?.credit === 0
      for (let i = 0; i < 200 && held(); i++) yield* Effect.sleep("10 millis")
      assert.isFalse(held(), "released")
      assert.strictEqual(yield* stuck.ask(Slow.Count(), { timeout: "5 seconds" }), 0)
    }).pipe(Effect.scoped), 30_000)
})
