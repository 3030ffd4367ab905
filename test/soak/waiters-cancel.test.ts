/**
 * Senders that give up while they wait for room: 100 000 waits behind a full `backpressure`
 * mailbox, here and held by another node, cancelled oldest first (as asks with one timeout
 * expire) in a few milliseconds: the bound, 500 ms, is far above that and far below what a
 * scan and a splice per cancel cost (2 s here for these cancels; 100 000 asks timing out
 * together behind one full actor kept the event loop busy for 10 s, heartbeats included). The
 * waiters left are still woken in order, the cancelled ones never.
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

const WAITS = 100_000

/** `WAITS` waits on `target` cancelled oldest first, then three more with the middle one cancelled */
const cancelMany = (target: Kernel.Target) => {
  const woken: Array<number> = []
  const cancels: Array<() => void> = []
  for (let i = 0; i < WAITS; i++) cancels.push(target.waitForSpace(() => woken.push(i)))
  const started = performance.now()
  for (const cancel of cancels) cancel()
  const millis = performance.now() - started
  const kept = [1, 2, 3].map((i) => target.waitForSpace(() => woken.push(WAITS + i)))
  kept[1]!()
  return { millis, woken }
}

describe("soak: many senders give up waiting for room", () => {
  it.live("a local full mailbox and a remote held one: cancels are cheap, the rest still woken in order", () =>
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
      assert.isBelow(local.millis, 500, `local: ${local.millis} ms`)

      // on node a, the same actor held by b (its mailbox is full)
      const remote = yield* a.node.lookup("b", Stuck, "stuck")
      yield* remote.tell(Stuck.Work({ n: 3 })).pipe(Effect.forkScoped)
      const held = () => routerOf(a.node).peers.get("b")?.flow.held.get(remote.address.id)
      yield* Effect.gen(function*() {
        while (held()?.credit !== 0) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      const far = cancelMany(Kernel.targetOf(remote))
      assert.isBelow(far.millis, 500, `remote: ${far.millis} ms`)

      yield* Deferred.succeed(gate, undefined)
      yield* Effect.gen(function*() {
        while (local.woken.length < 2 || far.woken.length < 2) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(local.woken, [WAITS + 1, WAITS + 3])
      assert.deepStrictEqual(far.woken, [WAITS + 1, WAITS + 3])
      assert.strictEqual(yield* remote.ask(Stuck.Ping()), "pong")
    }).pipe(Effect.scoped), 30_000)
})
