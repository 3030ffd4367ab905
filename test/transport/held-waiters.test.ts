/**
 * Many senders waiting on one remote actor its node holds (a full `backpressure` mailbox): a
 * `Release` with a credit lets as many of them send as the credit allows, in the order they
 * came, without making every other one try again (and encode its message) only to wait again;
 * a lost connection wakes them a slice per turn, so the node's event loop keeps turning.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, SchemaGetter } from "effect"
import { Actor } from "../../src/index.ts"
import { startNode, type TestNode } from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"

/** how many times a message's `n` was encoded (each encode is one send attempt on a remote ref) */
let encodes = 0
const CountedInt = Schema.Int.pipe(
  Schema.encode({
    decode: SchemaGetter.passthrough(),
    encode: SchemaGetter.transform((n: number) => {
      encodes++
      return n
    })
  })
)

const Slow = Actor.make("HeldWaiters/Slow", {
  Work: Actor.tell({ n: CountedInt }),
  Count: Actor.ask({}, { success: Schema.Int })
})

const SENDERS = 500

/** Waits until `a` holds its sends to an actor of `peer` (a Hold came). */
const held = (a: TestNode, peer: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if ((routerOf(a.node).peers.get(peer)?.flow.held.size ?? 0) > 0) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`no Hold from ${peer}`)
  })

describe("senders waiting on a held remote actor", () => {
  it.live("a Release with a credit wakes as many as it allows: each message is encoded about once", () =>
    Effect.gen(function*() {
      const b = yield* startNode("hwb")
      const a = yield* startNode("hwa")
      const gate = yield* Deferred.make<void>()
      let handled = 0
      yield* b.system.spawn(
        Slow.behavior(Effect.succeed({
          Work: () => Effect.andThen(Deferred.await(gate), Effect.sleep("1 millis")).pipe(Effect.andThen(Effect.sync(() => void handled++))),
          Count: () => Effect.sync(() => handled)
        })),
        { name: "slow", mailbox: { capacity: 16, overflow: "backpressure" } }
      )
      yield* a.node.connect({ name: "hwb", host: "127.0.0.1", port: b.node.address.port })
      const slow = yield* a.node.lookup("hwb", Slow, "slow")
      // the mailbox filled (one message handled, blocked; 16 waiting): the sender is held
      for (let n = 0; n < 17; n++) yield* slow.tell(Slow.Work({ n }))
      yield* held(a, "hwb")
      encodes = 0
      const senders = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: SENDERS }, (_, n) => n), (n) => slow.tell(Slow.Work({ n })), {
          concurrency: "unbounded",
          discard: true
        })
      )
      yield* Effect.sleep("100 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(senders)
      for (let i = 0; i < 1000 && handled < SENDERS + 17; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual(handled, SENDERS + 17)
      // each sender encodes once, and once more when it was woken and found the actor held again
      // (and a few more: a woken sender that finds the connection full waits for it instead)
      console.log(`held-waiters: ${encodes} encodes for ${SENDERS} messages`)
      assert.isAtMost(encodes, 2 * SENDERS + 100, `${encodes} encodes for ${SENDERS} messages`)
    }).pipe(Effect.scoped), 30_000)

  it.live("a lost connection wakes its held senders a slice per turn", () =>
    Effect.gen(function*() {
      const b = yield* startNode("hwlb")
      // a does not dial b again while its senders are woken: a sender that retries while the link
      // dials waits for the new connection (which holds the actor again, for ever here) instead of
      // learning that the node is down, and the slices of a loaded event loop outlast the 100 ms
      // default backoff
      const a = yield* startNode("hwla", { reconnect: { initial: "1 hour" } })
      const gate = yield* Deferred.make<void>()
      yield* b.system.spawn(
        Slow.behavior(Effect.succeed({
          Work: () => Deferred.await(gate),
          Count: () => Effect.succeed(0)
        })),
        { name: "slow", mailbox: { capacity: 4, overflow: "backpressure" } }
      )
      yield* a.node.connect({ name: "hwlb", host: "127.0.0.1", port: b.node.address.port })
      const slow = yield* a.node.lookup("hwlb", Slow, "slow")
      for (let n = 0; n < 5; n++) yield* slow.tell(Slow.Work({ n }))
      yield* held(a, "hwlb")
      encodes = 0
      const waiting = 5_000
      const senders = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: waiting }, (_, n) => n), (n) => Effect.exit(slow.tell(Slow.Work({ n }))), {
          concurrency: "unbounded"
        })
      )
      // every sender has tried once, and all but the few in flight before the Hold wait
      for (let i = 0; i < 500 && encodes < waiting; i++) yield* Effect.sleep("10 millis")
      yield* Effect.sleep("100 millis")
      const before = encodes
      const perTurn: Array<number> = []
      let seen = before
      let counting = true
      const turn = () => {
        if (encodes > seen) perTurn.push(encodes - seen)
        seen = encodes
        if (counting) setImmediate(turn)
      }
      setImmediate(turn)
      yield* b.node.disconnect("hwla")
      const exits = yield* Fiber.join(senders)
      // every waiting sender tried again once (and learnt that the node is down)
      for (let i = 0; i < 100 && seen - before < waiting; i++) yield* Effect.sleep("10 millis")
      counting = false
      assert.strictEqual(exits.length, waiting, "every sender ended")
      assert.strictEqual(seen - before, waiting, "each waiting sender tried again")
      assert.isAtMost(Math.max(...perTurn), 1100, `senders retrying per turn: ${perTurn.join(" ")}`)
    }).pipe(Effect.scoped), 30_000)
})
