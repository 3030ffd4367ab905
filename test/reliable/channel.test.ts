/**
 * Reliable channels across two nodes over loopback TCP: exactly-once in-order processing across
 * link losses, flow control, outcomes, consumer restarts by a supervisor, bad input.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorSystem, DeliveryStore, Reliable, Supervisor } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const startNode = (name: string) =>
  TestNode.startNode(name, { heartbeatInterval: "100 millis", acceptablePause: "400 millis" })

const Order = Schema.Struct({ n: Schema.Int })

/** stands in for a producer's endpoint: records what the consumer sends back */
const ProducerProbe = Actor.make("test/ProducerProbe", {
  Ack: Actor.tell({ channel: Schema.String, consumer: Schema.String, session: Schema.Number, processed: Schema.Number, grant: Schema.Number, rejected: Schema.Array(Schema.Any) }),
  Resend: Actor.tell({ channel: Schema.String, session: Schema.Number, from: Schema.Number }),
  Tick: Actor.tell({})
})

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
      let cuts = 0
      for (let n = 1; n <= N; n++) {
        yield* producer.offer({ n })
        // cut the link while messages are in flight (the consumer is behind the producer)
        if (n % 600 === 0 && producer.stats().unconfirmed > 0) {
          cuts++
          yield* a.node.disconnect("b", "test cut")
        }
      }
      const t0 = Date.now()
      yield* until(() => outcomes.length === N, `${N} outcomes (have ${outcomes.length})`, 30_000)
      if (process.env.DEBUG_RELIABLE) console.log("drain ms", Date.now() - t0, producer.stats())
      assert.deepStrictEqual(seen, Array.from({ length: N }, (_, i) => i + 1))
      assert.isTrue(outcomes.every((o) => o._tag === "Confirmed"))
      assert.deepStrictEqual(outcomes.map((o) => o.seq), Array.from({ length: N }, (_, i) => i + 1))
      const stats = producer.stats()
      assert.strictEqual(stats.unconfirmed, 0)
      assert.strictEqual(stats.confirmed, N)
      // the cuts lost messages in flight: they were resent (and de-duplicated where needed)
      assert.isAtLeast(cuts, 3)
      assert.isAbove(stats.resends, 0)
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

const Strict = Schema.Struct({ n: Schema.Int.check(Schema.isLessThanOrEqualTo(100)) })

describe("reliable channel: flow control, restarts, deadlines, bad input", () => {
  it.live("a slow consumer bounds the producer: offer suspends at bufferSize, never more in flight", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      let producerRef: Reliable.ReliableProducer<{ n: number }> | undefined
      let maxUnconfirmed = 0
      yield* b.system.spawn(
        Reliable.consumer({
          id: "slow",
          schema: Order,
          window: 8,
          handle: ({ n }) =>
            Effect.sync(() => {
              seen.push(n)
              maxUnconfirmed = Math.max(maxUnconfirmed, producerRef!.stats().unconfirmed)
            }).pipe(Effect.andThen(Effect.sleep("1 millis")))
        }),
        { name: "slow" }
      )
      const producer = yield* Reliable.producer({
        id: "fast",
        schema: Order,
        bufferSize: 20,
        window: 8,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "slow")
      }).pipe(Effect.provideService(ActorSystem, a.system))
      producerRef = producer
      let suspended = 0
      for (let n = 1; n <= 200; n++) {
        const before = Date.now()
        yield* producer.offer({ n })
        if (Date.now() - before >= 1) suspended++
        assert.isAtMost(producer.stats().unconfirmed, 20)
      }
      yield* until(() => seen.length === 200, "all processed")
      assert.deepStrictEqual(seen, Array.from({ length: 200 }, (_, i) => i + 1))
      assert.isAtMost(maxUnconfirmed, 20)
      assert.isAbove(suspended, 10) // offer waited for confirmations
    }).pipe(Effect.scoped))

  it.live("a consumer restarted by its supervisor resumes from its processed sequence number", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const completed: Array<number> = []
      const crashed = new Set<number>()
      const consumer = Reliable.consumer({
        id: "flaky",
        schema: Order,
        handle: ({ n }) =>
          Effect.suspend(() => {
            if (n % 250 === 0 && !crashed.has(n)) {
              crashed.add(n)
              return Effect.die(new Error(`crash on ${n}`))
            }
            completed.push(n)
            return Effect.void
          })
      })
      yield* b.system.spawn(Supervisor.make({
        children: [Supervisor.child("flaky", consumer, { options: { name: "flaky" } })]
      }))
      const outcomes: Array<Reliable.Outcome> = []
      const producer = yield* Reliable.producer({
        id: "to-flaky",
        schema: Order,
        resendInterval: "50 millis",
        resendIntervalMax: "200 millis",
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "flaky"),
        onOutcome: (o) => void outcomes.push(o)
      }).pipe(Effect.provideService(ActorSystem, a.system))
      for (let n = 1; n <= 1000; n++) yield* producer.offer({ n })
      yield* until(() => outcomes.length === 1000, "all outcomes", 20_000)
      assert.strictEqual(crashed.size, 4)
      assert.deepStrictEqual(completed, Array.from({ length: 1000 }, (_, i) => i + 1))
      assert.isTrue(outcomes.every((o) => o._tag === "Confirmed"))
    }).pipe(Effect.scoped))

  it.live("messages not confirmed by their deadline are reported, and never processed afterwards", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      const outcomes: Array<Reliable.Outcome> = []
      // the consumer does not exist yet: the lookup fails, nothing can be delivered
      const producer = yield* Reliable.producer({
        id: "late",
        schema: Order,
        deadline: "300 millis",
        resendInterval: "50 millis",
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "late-consumer"),
        onOutcome: (o) => void outcomes.push(o)
      }).pipe(Effect.provideService(ActorSystem, a.system))
      for (let n = 1; n <= 5; n++) yield* producer.offer({ n })
      const err = yield* Effect.flip(producer.send({ n: 6 }))
      assert.strictEqual(err._tag, "DeliveryTimeout")
      assert.deepStrictEqual(outcomes.map((o) => [o.seq, o._tag]), [1, 2, 3, 4, 5, 6].map((s) => [s, "Failed"]))
      assert.isTrue(outcomes.every((o) => o._tag === "Failed" && o.error._tag === "DeliveryTimeout"))
      // now the consumer appears: new messages go through, the expired ones are skipped
      yield* b.system.spawn(
        Reliable.consumer({ id: "late-consumer", schema: Order, handle: ({ n }) => Effect.sync(() => void seen.push(n)) }),
        { name: "late-consumer" }
      )
      assert.strictEqual(yield* producer.send({ n: 7 }), 7)
      assert.deepStrictEqual(seen, [7])
    }).pipe(Effect.scoped))

  it.live("a payload the consumer's schema refuses is reported as MessageRejected; the channel goes on", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      const events: Array<string> = []
      yield* b.system.spawn(
        Reliable.consumer({
          id: "strict",
          schema: Strict,
          handle: ({ n }) => Effect.sync(() => void seen.push(n)),
          onEvent: (e) => Effect.sync(() => void events.push(e._tag))
        }),
        { name: "strict" }
      )
      const producer = yield* Reliable.producer({
        id: "lax",
        schema: Order,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "strict")
      }).pipe(Effect.provideService(ActorSystem, a.system))
      assert.strictEqual(yield* producer.send({ n: 99 }), 1)
      const rejected = yield* Effect.flip(producer.send({ n: 150 }))
      assert.strictEqual(rejected._tag, "MessageRejected")
      assert.strictEqual((rejected as Reliable.MessageRejected).seq, 2)
      assert.match((rejected as Reliable.MessageRejected).issue, /100/)
      assert.strictEqual(yield* producer.send({ n: 100 }), 3)
      assert.deepStrictEqual(seen, [99, 100])
      assert.deepStrictEqual(events, ["MessageRejected"])
    }).pipe(Effect.scoped))

  it.live("a sequence gap, a message for another consumer and a stale session are reported; the channel stays consistent", () =>
    Effect.gen(function*() {
      const { system } = yield* Effect.map(startNode("solo"), (n) => n)
      const seen: Array<number> = []
      const events: Array<Reliable.ConsumerEvent> = []
      const consumer = yield* system.spawn(Reliable.consumer({
        id: "c",
        schema: Order,
        handle: ({ n }) => Effect.sync(() => void seen.push(n)),
        onEvent: (e) => Effect.sync(() => void events.push(e))
      }))
      const received: Array<unknown> = []
      const probe = yield* system.spawn(ProducerProbe.behavior(Effect.succeed({
        Ack: (m) => Effect.sync(() => void received.push(m)),
        Resend: (m) => Effect.sync(() => void received.push(m)),
        Tick: () => Effect.void
      })))
      const deliver = (fields: { seq: number; session?: number; to?: string; floor?: number }) =>
        consumer.tell(Reliable.ConsumerProtocol.Deliver({
          channel: "raw",
          to: fields.to ?? "",
          session: fields.session ?? 10,
          seq: fields.seq,
          floor: fields.floor ?? 0,
          payload: { n: fields.seq },
          replyTo: probe
        }))
      yield* deliver({ seq: 1 })
      yield* deliver({ seq: 3 }) // 2 is missing
      yield* deliver({ seq: 2, to: "someone-else" })
      yield* deliver({ seq: 2, session: 9 }) // an older session
      yield* until(() => events.length === 3, "three reports")
      assert.deepStrictEqual(events.map((e) => e._tag), ["SequenceGap", "UnknownChannel", "UnknownChannel"])
      assert.include(events[0] as any, { expected: 2, received: 3 })
      assert.deepStrictEqual(seen, [1]) // nothing processed out of order
      yield* until(() => received.some((m: any) => m._tag === "Resend"), "a resend request")
      assert.include(received.find((m: any) => m._tag === "Resend") as any, { from: 2, session: 10 })
      yield* deliver({ seq: 2 })
      yield* deliver({ seq: 3 })
      yield* deliver({ seq: 3 }) // a duplicate: acknowledged, not processed
      yield* until(() => received.some((m: any) => m._tag === "Ack" && m.processed === 3), "ack of 3")
      assert.deepStrictEqual(seen, [1, 2, 3])
    }).pipe(Effect.scoped))

  it.live("a producer started again with the same id (same node) resends its outbox; the consumer de-duplicates", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      const first = yield* Effect.scoped(Effect.gen(function*() {
        // unreachable consumer: everything stays unconfirmed in the outbox
        const p = yield* Reliable.producer({
          id: "again",
          schema: Order,
          consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "again-consumer")
        }).pipe(Effect.provideService(ActorSystem, a.system))
        for (let n = 1; n <= 10; n++) yield* p.offer({ n })
        return p.stats()
      }))
      assert.strictEqual(first.unconfirmed, 10)
      yield* b.system.spawn(
        Reliable.consumer({ id: "again-consumer", schema: Order, handle: ({ n }) => Effect.sync(() => void seen.push(n)) }),
        { name: "again-consumer" }
      )
      const outcomes: Array<Reliable.Outcome> = []
      const second = yield* Reliable.producer({
        id: "again",
        schema: Order,
        resendInterval: "50 millis",
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "again-consumer"),
        onOutcome: (o) => void outcomes.push(o)
      }).pipe(Effect.provideService(ActorSystem, a.system))
      assert.strictEqual(second.stats().session, first.session)
      assert.strictEqual(yield* second.send({ n: 11 }), 11)
      yield* until(() => outcomes.length === 11, "11 outcomes")
      assert.deepStrictEqual(seen, Array.from({ length: 11 }, (_, i) => i + 1))
    }).pipe(Effect.scoped))
})

describe("reliable channel: offerAll", () => {
  it.live("offerAll validates everything first, stores in one transaction per part that fits, and delivers in order", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const seen: Array<number> = []
      yield* b.system.spawn(
        Reliable.consumer({ id: "bulk", schema: Order, handle: ({ n }) => Effect.sync(() => void seen.push(n)) }),
        { name: "bulk" }
      )
      const appended: Array<number> = []
      const memory = DeliveryStore.memory()
      const store: DeliveryStore.DeliveryStore = {
        ...memory,
        append: (channel, m) => {
          appended.push(1)
          memory.append(channel, m)
        },
        appendAll: (channel, ms) => {
          appended.push(ms.length)
          memory.appendAll(channel, ms)
        }
      }
      const outcomes: Array<Reliable.Outcome> = []
      const producer = yield* Reliable.producer({
        id: "bulk-producer",
        schema: Order,
        bufferSize: 100,
        store,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "bulk"),
        onOutcome: (o) => void outcomes.push(o)
      }).pipe(Effect.provideService(ActorSystem, a.system))
      // one invalid message: nothing is accepted
      const bad = yield* Effect.flip(producer.offerAll([{ n: 1 }, { n: 2.5 }]))
      assert.strictEqual(bad._tag, "InvalidPayload")
      assert.strictEqual(producer.stats().accepted, 0)
      const seqs = yield* producer.offerAll(Array.from({ length: 250 }, (_, i) => ({ n: i + 1 })))
      assert.deepStrictEqual(seqs, Array.from({ length: 250 }, (_, i) => i + 1))
      // 250 messages through a buffer of 100: parts of at most 100, each one store transaction
      assert.isAtMost(Math.max(...appended), 100)
      assert.strictEqual(appended.reduce((x, y) => x + y, 0), 250)
      assert.isBelow(appended.length, 250)
      yield* until(() => outcomes.length === 250, "250 outcomes")
      assert.deepStrictEqual(seen, Array.from({ length: 250 }, (_, i) => i + 1))
    }).pipe(Effect.scoped))

  it.live("a channel without a store option uses the DeliveryStore.Service of its context", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const consumerStore = DeliveryStore.memory()
      const producerStore = DeliveryStore.memory()
      yield* b.system.spawn(
        Reliable.consumer({ id: "provided", schema: Order, handle: () => Effect.void }),
        { name: "provided" }
      ).pipe(Effect.provideService(DeliveryStore.Service, consumerStore))
      const producer = yield* Reliable.producer({
        id: "shop->provided",
        schema: Order,
        consumer: a.node.lookup("b", Reliable.ConsumerProtocol, "provided")
      }).pipe(Effect.provideService(ActorSystem, a.system), Effect.provideService(DeliveryStore.Service, producerStore))
      yield* producer.send({ n: 1 })
      assert.strictEqual(producerStore.loadProducer("shop->provided")?.nextSeq, 2)
      yield* until(() => consumerStore.loadConsumer("provided").some((p) => p.processed === 1), "the consumer's progress")
    }).pipe(Effect.scoped))
})
