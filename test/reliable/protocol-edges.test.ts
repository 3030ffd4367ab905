/**
 * Edge cases of the reliable-delivery protocol, one by one: messages whose deadline passed
 * while no producer ran, the end of a burst acknowledged through a bounded consumer mailbox,
 * and the de-duplication of `DeliverBatch`. One actor system, raw protocol messages where the
 * timing must be exact.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Option, Schema } from "effect"
import { Actor, ActorSystem, Reliable } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const startSystem = (name: string) =>
  Effect.map(TestNode.startNode(name, { heartbeatInterval: "100 millis", acceptablePause: "400 millis" }), (n) => n.system)

const Order = Schema.Struct({ n: Schema.Int })

/** stands in for a producer's endpoint: records what the consumer sends back */
const ProducerProbe = Actor.make("test/ReviewProducerProbe", {
  Ack: Actor.tell({
    channel: Schema.String,
    consumer: Schema.String,
    session: Schema.Number,
    processed: Schema.Number,
    grant: Schema.Number,
    rejected: Schema.Array(Schema.Any)
  }),
  Resend: Actor.tell({ channel: Schema.String, session: Schema.Number, from: Schema.Number }),
  Tick: Actor.tell({})
})

const until = (check: () => boolean, what: string, millis = 5_000) =>
  Effect.gen(function*() {
    const start = Date.now()
    while (!check()) {
      if (Date.now() - start > millis) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("5 millis")
    }
  })

describe("reliable delivery: protocol edge cases", () => {
  it.live("a producer restarted on its store reports messages whose deadline passed meanwhile, and does not deliver them", () =>
    Effect.gen(function*() {
      const system = yield* startSystem("restart-expired")
      // first incarnation: the consumer cannot be found, the messages stay in the (memory) store
      yield* Effect.scoped(Effect.gen(function*() {
        const p = yield* Reliable.producer({
          id: "expiring",
          schema: Order,
          deadline: "150 millis",
          consumer: Effect.succeed(Option.none())
        }).pipe(Effect.provideService(ActorSystem, system))
        for (let n = 1; n <= 3; n++) yield* p.offer({ n })
      }))
      yield* Effect.sleep("300 millis") // their deadlines pass while no producer runs
      const seen: Array<number> = []
      const consumer = yield* system.spawn(
        Reliable.consumer({ id: "expiring-consumer", schema: Order, handle: ({ n }) => Effect.sync(() => void seen.push(n)) })
      )
      const outcomes: Array<Reliable.Outcome> = []
      const p = yield* Reliable.producer({
        id: "expiring",
        schema: Order,
        consumer,
        onOutcome: (o) => void outcomes.push(o)
      }).pipe(Effect.provideService(ActorSystem, system))
      yield* until(() => outcomes.length === 3, "3 outcomes")
      assert.deepStrictEqual(
        outcomes.map((o) => [o.seq, o._tag === "Failed" ? o.error._tag : o._tag]),
        [[1, "DeliveryTimeout"], [2, "DeliveryTimeout"], [3, "DeliveryTimeout"]]
      )
      assert.strictEqual(yield* p.send({ n: 4 }), 4)
      assert.deepStrictEqual(seen, [4]) // the expired ones were never delivered
    }).pipe(Effect.scoped))

  for (const overflow of ["dropNewest", "dropOldest", "fail"] as const) {
    it.live(`a consumer with a bounded '${overflow}' mailbox still acknowledges the end of a burst`, () =>
      Effect.gen(function*() {
        const system = yield* startSystem(`flush-${overflow}`)
        // dropOldest evicts a queued Flush: block on 2 with the Flush queued behind it; dropNewest and
        // fail refuse a Flush offered to a full mailbox: block on 1 and fill the mailbox meanwhile
        const blockAt = overflow === "dropOldest" ? 2 : 1
        const seen: Array<number> = []
        const entered = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const consumer = yield* system.spawn(
          Reliable.consumer({
            id: "bounded",
            schema: Order,
            handle: ({ n }) =>
              Effect.gen(function*() {
                if (n === blockAt) {
                  yield* Deferred.succeed(entered, void 0)
                  yield* Deferred.await(release)
                }
                seen.push(n)
              })
          }),
          { mailbox: { capacity: 2, overflow } }
        )
        const acks: Array<number> = []
        const probe = yield* system.spawn(ProducerProbe.behavior(Effect.succeed({
          Ack: (m) => Effect.sync(() => void acks.push(m.processed)),
          Resend: () => Effect.void,
          Tick: () => Effect.void
        })))
        const deliver = (seq: number) =>
          Reliable.ConsumerProtocol.Deliver({
            channel: "raw",
            to: "",
            session: 1,
            seq,
            floor: 0,
            payload: { n: seq },
            replyTo: probe
          })
        // (dropOldest) 1 and 2 are queued together: the consumer's Flush (after 1) queues behind 2
        for (let seq = 1; seq <= blockAt; seq++) consumer.tellUnsafe(deliver(seq))
        yield* Deferred.await(entered)
        // the mailbox fills up while the handler is blocked
        for (const seq of [blockAt + 1, blockAt + 2, blockAt + 3]) {
          try {
            consumer.tellUnsafe(deliver(seq))
          } catch {
            // refused by a full `fail` mailbox: a producer would resend it
          }
        }
        yield* Deferred.succeed(release, void 0)
        const last = () => seen[seen.length - 1] ?? 0
        yield* until(() => seen.length >= 2, "2 processed")
        yield* Effect.sleep("50 millis")
        // whatever got in was processed, in order, and acknowledged without waiting for a resend
        assert.deepStrictEqual(seen, Array.from({ length: last() }, (_, i) => i + 1))
        yield* until(() => acks.includes(last()), `an ack of ${last()} (acks: ${acks})`, 1_000)
        // and the consumer still runs: a redelivery is acknowledged
        consumer.tellUnsafe(deliver(last()))
        const n = acks.length
        yield* until(() => acks.length > n, "a further ack", 1_000)
      }).pipe(Effect.scoped))
  }
  it.live("DeliverBatch: duplicates then new messages, a floor beyond the batch, a new session, a batch past a hole", () =>
    Effect.gen(function*() {
      const system = yield* startSystem("batches")
      const seen: Array<[number, number]> = []
      const consumer = yield* system.spawn(Reliable.consumer({
        id: "batches",
        schema: Order,
        handle: ({ n }, info) => Effect.sync(() => void seen.push([info.seq, n]))
      }))
      const received: Array<any> = []
      const probe = yield* system.spawn(ProducerProbe.behavior(Effect.succeed({
        Ack: (m) => Effect.sync(() => void received.push(m)),
        Resend: (m) => Effect.sync(() => void received.push(m)),
        Tick: () => Effect.void
      })))
      const batch = (session: number, seq: number, count: number, floor = 0) =>
        consumer.tell(Reliable.ConsumerProtocol.DeliverBatch({
          channel: "raw",
          to: "",
          session,
          seq,
          floor,
          payloads: Array.from({ length: count }, (_, i) => ({ n: 100 * session + seq + i })),
          replyTo: probe
        }))
      const acked = (session: number, processed: number) =>
        until(
          () => received.some((m) => m._tag === "Ack" && m.session === session && m.processed === processed),
          `ack of ${session}/${processed}`
        )
      yield* batch(1, 1, 3)
      yield* batch(1, 2, 4) // 2, 3 again, then 4, 5
      yield* acked(1, 5)
      yield* batch(1, 6, 3, 10) // the producer skipped to 10: 6..8 are not processed
      yield* acked(1, 10)
      yield* batch(1, 11, 1, 10)
      yield* acked(1, 11)
      assert.deepStrictEqual(seen.map(([seq]) => seq), [1, 2, 3, 4, 5, 11])
      // a new session starts from its floor
      yield* batch(2, 3, 2, 2)
      yield* acked(2, 4)
      // a batch past a hole is dropped whole, and a resend asked for from the hole
      yield* batch(2, 7, 2, 2)
      yield* until(() => received.some((m) => m._tag === "Resend" && m.session === 2 && m.from === 5), "a resend from 5")
      // an old session's batch is refused
      yield* batch(1, 12, 2, 11)
      yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(seen, [[1, 101], [2, 102], [3, 103], [4, 104], [5, 105], [11, 111], [3, 203], [4, 204]])
    }).pipe(Effect.scoped))
})
