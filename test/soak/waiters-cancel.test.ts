/**
 * Senders that give up while they wait for room: many waits behind a full `backpressure`
 * mailbox, here and held by another node, cancelled oldest first (as asks with one timeout
 * expire). The waiters left are still woken in order, the cancelled ones never. What a cancel
 * costs (constant time, against a start of a wait) is the `teardown` benchmark's
 * `waiterCancelRatio`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import { Actor } from "../../src/index.ts"
import * as Kernel from "../../src/actors/Kernel.ts"
import { connect, startNode } from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"

const Stuck = Actor.make("soak/WaitersCancel", {
  Work: Actor.tell({ n: Schema.Int }),
  Ping: Actor.ask({}, { success: Schema.String })
})

const WAITS = 10_000

/** `WAITS` waits on `target` cancelled oldest first, then three more with the middle one cancelled */
const cancelMany = (target: Kernel.Target) => {
  const woken: Array<number> = []
  const cancels: Array<() => void> = []
  for (let i = 0; i < WAITS; i++) cancels.push(target.waitForSpace(() => woken.push(i)))
  for (const cancel of cancels) cancel()
  const kept = [1, 2, 3].map((i) => target.waitForSpace(() => woken.push(WAITS + i)))
  kept[1]!()
  return { woken }
}

describe("soak: many senders give up waiting for room", () => {
  it.live("a local full mailbox and a remote held one: the cancelled never woken, the rest woken in order", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* connect(a, b)
      const gate = yield* Deferred.make<void>()
      const stuck = yield* b.system.spawn(
        Stuck.behavior(Effect.succeed({ Work: () => Deferred.await(gate), Ping: () => Effect.succeed("pong") })),
        { name: "stuck", mailbox: { capacity: 2, overflow: "backpressure" } }
      )
      // one message in the handler, two in the mailbox: full
      for (let n = 0; n < 3; n++) yield* stuck.tell(Stuck.Work({ n }))
      const local = cancelMany(Kernel.targetOf(stuck))

      // on node a, the same actor held by b (its mailbox is full)
      const remote = yield* a.node.lookup("b", Stuck, "stuck")
      yield* remote.tell(Stuck.Work({ n: 3 })).pipe(Effect.forkScoped)
      const held = () => routerOf(a.node).peers.get("b")?.flow.held.get(remote.address.id)
      yield* Effect.gen(function*() {
        while (held()?.credit !== 0) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      const far = cancelMany(Kernel.targetOf(remote))

      yield* Deferred.succeed(gate, undefined)
      yield* Effect.gen(function*() {
        while (local.woken.length < 2 || far.woken.length < 2) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(local.woken, [WAITS + 1, WAITS + 3])
      assert.deepStrictEqual(far.woken, [WAITS + 1, WAITS + 3])
      assert.strictEqual(yield* remote.ask(Stuck.Ping()), "pong")
    }).pipe(Effect.scoped), 30_000)
})
