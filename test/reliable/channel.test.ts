/**
 * Reliable channels across two nodes over loopback TCP: exactly-once in-order processing across
 * link losses, flow control, outcomes, consumer restarts by a supervisor, bad input.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Redacted, Schema } from "effect"
import { ActorSystem, Reliable } from "../../src/index.ts"
import { Node } from "../../src/transport/Node.ts"

const secret = Redacted.make("reliable")

const startNode = (name: string) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(Node.layerWithSystem({
      name,
      cluster: "reliable",
      secret,
      heartbeatInterval: "100 millis",
      acceptablePause: "400 millis"
    }))
    return { node: ctx.mapUnsafe.get(Node.key) as Node["Service"], system: ctx.mapUnsafe.get(ActorSystem.key) as ActorSystem["Service"] }
  })

const Order = Schema.Struct({ n: Schema.Int })

const until = (check: () => boolean, what: string, millis = 10_000) =>
  Effect.gen(function*() {
    const start = Date.now()
    while (!check()) {
      if (Date.now() - start > millis) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("5 millis")
    }
  })

const twoNodes = Effect.gen(function*() {
  const b = yield* startNode("b")
  const a = yield* startNode("a")
  yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port })
  return { a, b }
})

describe("reliable channel", () => {
  it.live("every message processed exactly once, in order, across repeated link losses", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      yield* b.system.spawn(
        Reliable.consumer({ id: "billing", schema: Order, handle: ({ n }) => Effect.sync(() => void seen.push(n)) }),
        { name: "billing" }
      )
      const outcomes: Array<Reliable.Outcome> = []
      const producer = yield* Reliable.producer({
        id: "shop->billing",
        schema: Order,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "billing"),
        resendInterval: "100 millis",
        resendIntervalMax: "400 millis",
        onOutcome: (o) => void outcomes.push(o)
      }).pipe(Effect.provideService(ActorSystem, a.system))
      const N = 3000
      const sending = yield* Effect.forkChild(Effect.gen(function*() {
        for (let n = 1; n <= N; n++) yield* producer.offer({ n })
      }))
      for (let cut = 0; cut < 5; cut++) {
        yield* Effect.sleep(Duration.millis(30))
        yield* a.node.disconnect("b", "test cut")
      }
      yield* Fiber.join(sending)
      yield* until(() => outcomes.length === N, `${N} outcomes (have ${outcomes.length})`, 30_000)
      assert.deepStrictEqual(seen, Array.from({ length: N }, (_, i) => i + 1))
      assert.isTrue(outcomes.every((o) => o._tag === "Confirmed"))
      assert.deepStrictEqual(outcomes.map((o) => o.seq), Array.from({ length: N }, (_, i) => i + 1))
      const stats = producer.stats()
      assert.strictEqual(stats.unconfirmed, 0)
      assert.strictEqual(stats.confirmed, N)
    }).pipe(Effect.scoped))

  it.live("send waits for the confirmation; an invalid payload is refused at once", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      yield* b.system.spawn(
        Reliable.consumer({ id: "c", schema: Order, handle: ({ n }) => Effect.sync(() => void seen.push(n)) }),
        { name: "c" }
      )
      const producer = yield* Reliable.producer({
        id: "p",
        schema: Order,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "c")
      }).pipe(Effect.provideService(ActorSystem, a.system))
      assert.strictEqual(yield* producer.send({ n: 7 }), 1)
      assert.deepStrictEqual(seen, [7])
      const bad = yield* Effect.flip(producer.send({ n: 1.5 }))
      assert.strictEqual(bad._tag, "InvalidPayload")
      assert.strictEqual(yield* producer.send({ n: 8 }), 2)
    }).pipe(Effect.scoped))
})
void Exit
