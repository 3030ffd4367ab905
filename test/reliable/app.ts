/**
 * The cluster app behind `reliable-processes.test.ts`: a reliable channel between two real
 * processes, with stats actors the test asks through the cluster registry.
 *
 * - `consumer`: a `Reliable.consumer` registered as `reliable-consumer`. Its handler counts, per
 *   message `n`, how often it ran, and `reliable-consumer-stats` reports processed / distinct /
 *   duplicates / out-of-order / highest n. Its de-duplication state is in the node's memory
 *   (`DeliveryStore.memory`, the default): this process is never killed in the test, and the
 *   counts the test checks live in its memory anyway. `TELEX_RELIABLE_CONSUMER_STORE=sqlite`
 *   switches it to a `SqliteStore` (same directory) for a run with durable stores on both sides.
 * - `producer`: a `Reliable.producer` whose outbox is a `SqliteStore` in
 *   `$TELEX_RELIABLE_DIR/<node name>.db`, offering `{ n }` with n = its sequence number, paced at
 *   `$TELEX_RELIABLE_RATE` messages per second, up to `$TELEX_RELIABLE_TOTAL`. It continues from
 *   `stats().nextSeq`, so a restarted process does not offer again what its outbox already holds
 *   (it resends that). `reliable-producer-stats` reports this incarnation's progress and what it
 *   found in the store at start.
 */
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { Actor, ActorSystem, ClusterApp, Registry, Reliable, Supervisor } from "../../src/index.ts"
import { SqliteStore } from "../../src/sqlite.ts"
import { Node } from "../../src/transport/Node.ts"


/**
 * A small window (Akka's 50, not the default 256): with the test's 100 ms latency the channel then
 * carries at most ~250 msg/s, below the 500 msg/s production, so a backlog builds before the
 * SIGKILL — the outbox the restarted producer must recover.
 */
const WINDOW = 50

export const Message = Schema.Struct({ n: Schema.Int })

export const CONSUMER = "reliable-consumer"
export const CHANNEL = "producer->consumer"

export const ConsumerStatsReply = Schema.Struct({
  pid: Schema.Int,
  /** handler runs */
  processed: Schema.Int,
  /** distinct n processed */
  distinct: Schema.Int,
  /** handler runs for an n already processed */
  duplicates: Schema.Int,
  /** handler runs whose n was not the previous one + 1 */
  outOfOrder: Schema.Int,
  /** handler runs whose payload n differed from the delivery's seq */
  seqMismatches: Schema.Int,
  highest: Schema.Int
})
export type ConsumerStatsReply = typeof ConsumerStatsReply.Type

export const ConsumerStats = Actor.make("test/ReliableConsumerStats", {
  GetStats: Actor.ask({}, { success: ConsumerStatsReply })
})

export const ProducerStatsReply = Schema.Struct({
  pid: Schema.Int,
  session: Schema.Number,
  /** what the store held when this incarnation started */
  nextSeqAtStart: Schema.Int,
  recovered: Schema.Int,
  /** this incarnation's counters (Reliable's ProducerStats) */
  accepted: Schema.Int,
  confirmed: Schema.Int,
  failed: Schema.Int,
  unconfirmed: Schema.Int,
  resends: Schema.Int,
  nextSeq: Schema.Int,
  /** the last outcome's seq, and outcomes that did not follow the previous one */
  lastOutcome: Schema.Int,
  outcomeOrderErrors: Schema.Int,
  /** offers whose returned seq was not the payload's n */
  seqMismatches: Schema.Int,
  /** the offering loop reached the total */
  done: Schema.Boolean
})
export type ProducerStatsReply = typeof ProducerStatsReply.Type

export const ProducerStats = Actor.make("test/ReliableProducerStats", {
  GetStats: Actor.ask({}, { success: ProducerStatsReply })
})

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}
const total = () => Number(process.env.TELEX_RELIABLE_TOTAL ?? 10_000)

const consumer = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry
  const node = yield* Node
  const n = total()
  const counts = new Uint8Array(n + 2)
  const s = { processed: 0, distinct: 0, duplicates: 0, outOfOrder: 0, seqMismatches: 0, highest: 0, last: 0 }
  const store = process.env.TELEX_RELIABLE_CONSUMER_STORE === "sqlite"
    ? SqliteStore.make(join(env("TELEX_RELIABLE_DIR"), `${node.nodeId.name}.db`))
    : undefined
  if (store !== undefined) yield* Effect.addFinalizer(() => Effect.sync(() => store.close()))
  const Consumer = Reliable.consumer({
    id: CONSUMER,
    schema: Message,
    window: WINDOW,
    store,
    handle: (m, info) =>
      Effect.sync(() => {
        s.processed++
        if (m.n !== info.seq) s.seqMismatches++
        if (m.n !== s.last + 1) s.outOfOrder++
        s.last = m.n
        if (m.n > s.highest) s.highest = m.n
        const i = Math.min(Math.max(m.n, 0), n + 1)
        if (counts[i]! > 0) s.duplicates++
        else s.distinct++
        if (counts[i]! < 255) counts[i]!++
      })
  })
  const ref = yield* Supervisor.startChild(system.root, Supervisor.child(CONSUMER, Consumer))
  yield* registry.register(CONSUMER, ref)
  const stats = yield* system.spawn(ConsumerStats.behavior(Effect.succeed({
    GetStats: () =>
      Effect.sync(() => ({
        pid: process.pid,
        processed: s.processed,
        distinct: s.distinct,
        duplicates: s.duplicates,
        outOfOrder: s.outOfOrder,
        seqMismatches: s.seqMismatches,
        highest: s.highest
      }))
  })))
  yield* registry.register(`${CONSUMER}-stats`, stats)
})

const producer = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry
  const node = yield* Node
  const n = total()
  const rate = Number(process.env.TELEX_RELIABLE_RATE ?? 500)
  const store = SqliteStore.make(join(env("TELEX_RELIABLE_DIR"), `${node.nodeId.name}.db`))
  const o = { lastOutcome: 0, outcomeOrderErrors: 0, seqMismatches: 0, done: false }
  const p = yield* Reliable.producer({
    id: CHANNEL,
    schema: Message,
    consumer: registry.lookup(Reliable.ConsumerProtocol, CONSUMER),
    consumerId: CONSUMER,
    store,
    window: WINDOW,
    resendInterval: "200 millis",
    resendIntervalMax: "1 second",
    // no deadline within the test: every message must be confirmed, however long the faults last
    deadline: "10 minutes",
    onOutcome: (outcome) => {
      if (o.lastOutcome !== 0 && outcome.seq !== o.lastOutcome + 1) o.outcomeOrderErrors++
      o.lastOutcome = outcome.seq
    }
  })
  // the producer's finalizer runs first (scopes close in reverse), then the file is closed
  yield* Effect.addFinalizer(() => Effect.sync(() => store.close()))
  const atStart = p.stats()
  const stats = yield* system.spawn(ProducerStats.behavior(Effect.succeed({
    GetStats: () =>
      Effect.sync(() => {
        const st = p.stats()
        return {
          pid: process.pid,
          session: st.session,
          nextSeqAtStart: atStart.nextSeq,
          recovered: atStart.unconfirmed,
          accepted: st.accepted,
          confirmed: st.confirmed,
          failed: st.failed,
          unconfirmed: st.unconfirmed,
          resends: st.resends,
          nextSeq: st.nextSeq,
          lastOutcome: o.lastOutcome,
          outcomeOrderErrors: o.outcomeOrderErrors,
          seqMismatches: o.seqMismatches,
          done: o.done
        }
      })
  })))
  yield* registry.register("reliable-producer-stats", stats)

  // offer n = nextSeq .. total, paced: by t ms after the start, about rate * t / 1000 offered
  const offerAll = Effect.gen(function*() {
    const t0 = Date.now()
    const first = p.stats().nextSeq
    let next = first
    while (next <= n) {
      const due = Math.min(n, first - 1 + Math.floor((rate * (Date.now() - t0)) / 1000))
      while (next <= due) {
        const seq = yield* p.offer({ n: next })
        if (seq !== next) o.seqMismatches++
        next++
      }
      yield* Effect.sleep("10 millis")
    }
    o.done = true
  })
  yield* Effect.forkScoped(Effect.orDie(offerAll))
})

export default ClusterApp.make({ modules: { consumer, producer } })
