/**
 * Where a reliable channel keeps what must outlive an actor incarnation: the producer's outbox
 * (messages accepted but not yet confirmed, with their sequence numbers and session) and the
 * consumer's de-duplication state (per producer: session and last processed sequence number).
 *
 * Two implementations ship:
 *
 * - `DeliveryStore.memory()` — in the node's memory. Survives restarts of the producer and
 *   consumer actors by their supervisors (a restarted consumer resumes from its processed
 *   sequence number), not a crash of the process.
 * - `SqliteStore.make(path)` (`src/reliable/SqliteStore.ts`) — a SQLite file (WAL). Messages
 *   accepted by a producer survive a crash of its process and are delivered after restart; a
 *   consumer's de-duplication state survives its own process crash.
 *
 * Every method is synchronous: the channel calls them from its actor's handler, one at a time,
 * and SQLite (better-sqlite3) is synchronous too. Payloads are the user schema's *encoded* form.
 *
 * A channel uses the store in its options, else the `DeliveryStore.Service` of its context
 * (`Effect.provideService(DeliveryStore.Service, SqliteStore.make(path))`), else the actor
 * system's own memory store (one per system).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/** One accepted, not yet confirmed message of a producer's outbox. */
export interface StoredMessage {
  readonly seq: number
  /** the payload in its schema's encoded form (what crosses the wire) */
  readonly payload: unknown
  /** wall-clock milliseconds after which the message is reported undeliverable */
  readonly deadline: number
}

/** What a producer finds when it starts: its session and the messages still to deliver. */
export interface ProducerSnapshot {
  readonly session: number
  /** the sequence number the next accepted message gets */
  readonly nextSeq: number
  /** unconfirmed messages in sequence order */
  readonly messages: ReadonlyArray<StoredMessage>
}

/** A consumer's de-duplication state for one producer. */
export interface ConsumerProgress {
  readonly producer: string
  readonly session: number
  /** every sequence number up to this one was processed (or skipped by the producer) */
  readonly processed: number
  /** messages the consumer's schema refused and the producer may not have heard of yet */
  readonly rejected?: ReadonlyArray<{ readonly seq: number; readonly issue: string }> | undefined
}

export interface DeliveryStore {
  /** true when the store survives a process crash */
  readonly durable: boolean

  // -- producer side (keyed by the producer's channel id) ---------------------------------

  /** The producer's snapshot, or undefined for a channel never seen. */
  loadProducer(channel: string): ProducerSnapshot | undefined
  /** Starts (or restarts) a channel's session; the next accepted message gets `nextSeq`. */
  startSession(channel: string, session: number, nextSeq: number): void
  /** Records an accepted message; it must be durable when this returns (for durable stores). */
  append(channel: string, message: StoredMessage): void
  /**
   * Records consecutive accepted messages all or none (one transaction: one commit for all,
   * which is what makes `offerAll` cheaper than as many `offer`s on a durable store).
   */
  appendAll(channel: string, messages: ReadonlyArray<StoredMessage>): void
  /** Forgets every message with `seq <= upTo` (confirmed, or reported undeliverable). */
  removeUpTo(channel: string, upTo: number): void

  // -- consumer side (keyed by the consumer's id) -----------------------------------------

  /** Every producer's progress as last saved, for a consumer id. */
  loadConsumer(consumer: string): ReadonlyArray<ConsumerProgress>
  /** Saves one producer's progress (called after each processed message). */
  saveProgress(consumer: string, progress: ConsumerProgress): void

  /** Releases resources (closes the file). */
  close(): void
}

/** The store of the channels started where it is provided (a channel's `store` option wins). */
export class Service extends Context.Service<Service, DeliveryStore>()("telex/DeliveryStore") {
  static readonly layer = (store: DeliveryStore): Layer.Layer<Service> => Layer.succeed(Service, store)
}

/** An in-memory store (survives actor restarts, not process crashes). */
export const memory = (): DeliveryStore => {
  const producers = new Map<string, { session: number; nextSeq: number; messages: Array<StoredMessage> }>()
  const consumers = new Map<string, Map<string, ConsumerProgress>>()
  return {
    durable: false,
    loadProducer: (channel) => {
      const p = producers.get(channel)
      return p === undefined ? undefined : { session: p.session, nextSeq: p.nextSeq, messages: p.messages.slice() }
    },
    startSession: (channel, session, nextSeq) => {
      const p = producers.get(channel)
      if (p === undefined) producers.set(channel, { session, nextSeq, messages: [] })
      else {
        p.session = session
        p.nextSeq = nextSeq
      }
    },
    append: (channel, message) => {
      const p = producers.get(channel)
      if (p === undefined) throw new Error(`DeliveryStore: no session started for channel ${channel}`)
      p.messages.push(message)
      p.nextSeq = message.seq + 1
    },
    appendAll: (channel, messages) => {
      const p = producers.get(channel)
      if (p === undefined) throw new Error(`DeliveryStore: no session started for channel ${channel}`)
      for (const m of messages) p.messages.push(m)
      if (messages.length > 0) p.nextSeq = messages[messages.length - 1]!.seq + 1
    },
    removeUpTo: (channel, upTo) => {
      const p = producers.get(channel)
      if (p === undefined) return
      let i = 0
      while (i < p.messages.length && p.messages[i]!.seq <= upTo) i++
      if (i > 0) p.messages.splice(0, i)
    },
    loadConsumer: (consumer) => Array.from(consumers.get(consumer)?.values() ?? []),
    saveProgress: (consumer, progress) => {
      let m = consumers.get(consumer)
      if (m === undefined) consumers.set(consumer, m = new Map())
      m.set(progress.producer, progress)
    },
    close: () => {}
  }
}
