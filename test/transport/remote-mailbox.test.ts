import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { Actor } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const Slow = Actor.make("RemoteMailbox/Slow", {
  Hold: Actor.tell({ n: Schema.Int }),
  Count: Actor.ask({}, { success: Schema.Int })
})

describe("remote sends into a full mailbox", () => {
  it.live("under the `fail` policy, a remote tell that does not fit becomes a MailboxFull dead letter (never silently lost)", () =>
    Effect.gen(function*() {
      const b = yield* startNode("rmb")
      const a = yield* startNode("rma")
      const gate = yield* Deferred.make<void>()
      let handled = 0
      yield* b.system.spawn(
        Slow.behavior(Effect.succeed({
          Hold: () => Effect.andThen(Deferred.await(gate), Effect.sync(() => void handled++)),
          Count: () => Effect.sync(() => handled)
        })),
        { name: "slow", mailbox: { capacity: 2, overflow: "fail" } }
      )
      const dropped: Array<number> = []
      yield* b.system.deadLetters.pipe(
        Stream.filter((d) => d.reason._tag === "MailboxFull"),
        Stream.runForEach((d) => Effect.sync(() => void dropped.push((d.message as any).n))),
        Effect.forkScoped
      )
      yield* Effect.yieldNow
      yield* a.node.connect({ name: "rmb", host: "127.0.0.1", port: b.node.address.port })
      const slow = yield* a.node.lookup("rmb", Slow, "slow")
      // at most 1 is being handled (blocked) and 2 wait in the mailbox: the rest do not fit
      for (let n = 1; n <= 6; n++) yield* slow.tell(Slow.Hold({ n }))
      for (let i = 0; i < 200 && dropped.length < 3; i++) yield* Effect.sleep("10 millis")
      yield* Deferred.succeed(gate, undefined)
      const done = yield* slow.ask(Slow.Count())
      // every tell is accounted for: handled, or a MailboxFull dead letter — the newest ones
      assert.isAtLeast(done, 2)
      assert.isAtMost(done, 3)
      assert.deepStrictEqual(dropped, Array.from({ length: 6 - done }, (_, i) => done + 1 + i))
    }).pipe(Effect.scoped))
})

describe("a slow consumer on another node", () => {
  it.live("under `backpressure`, the receiving node holds the sender's tells to that actor: the mailbox stays bounded, nothing is lost", () =>
    Effect.gen(function*() {
      const b = yield* startNode("slb")
      const a = yield* startNode("sla")
      const gate = yield* Deferred.make<void>()
      let handled = 0
      const ref = yield* b.system.spawn(
        Slow.behavior(Effect.succeed({
          Hold: () => Effect.andThen(Deferred.await(gate), Effect.sync(() => void handled++)),
          Count: () => Effect.sync(() => handled)
        })),
        { name: "slow", mailbox: { capacity: 100, overflow: "backpressure" } }
      )
      const cell = ref.target as unknown as { mailbox: { size: number } }
      yield* a.node.connect({ name: "slb", host: "127.0.0.1", port: b.node.address.port })
      const slow = yield* a.node.lookup("slb", Slow, "slow")
      const total = 200_000 // more than the outbound buffer and both kernel socket buffers hold
      // the sender's tells suspend once its link's outbound buffer is full
      const sender = yield* Effect.forkScoped(
        Effect.forEach(Array.from({ length: total }, (_, n) => n), (n) => slow.tell(Slow.Hold({ n })), { discard: true })
      )
      let max = 0
      for (let i = 0; i < 100; i++) {
        max = Math.max(max, cell.mailbox.size)
        yield* Effect.sleep("10 millis")
      }
      // bounded by the capacity plus what one read of the socket had already delivered
      console.log(`slow consumer: mailbox peaked at ${max} (capacity 100)`)
      assert.isAtMost(max, 100 + 5_000, `mailbox grew to ${max}`)
      assert.isAbove(max, 100, "the consumer really was behind")
      assert.isUndefined(sender.pollUnsafe(), "the sender is held back")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(sender)
      for (let i = 0; i < 500 && handled < total; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual(yield* slow.ask(Slow.Count()), total) // every tell arrived, in spite of the pauses
      assert.isTrue(a.node.peers().some((p) => p.name === "slb" && p.up), "the link stayed up")
    }).pipe(Effect.scoped), 60_000)
})
