/**
 * Reliable delivery: effectively-once, in-order messaging from a producer to a consumer actor
 * across lost links, partitions and resets, with flow control, typed outcomes and an optional
 * durable outbox (`SqliteStore`). Plain tells stay at-most-once; this is the opt-in channel for
 * messages that must arrive (jobs, orders, payments).
 *
 * - `Reliable.producer(options)`: `offer` / `send` (see `Producer.ts`)
 * - `Reliable.consumer(options)`: the consumer actor's behaviour (see `Consumer.ts`)
 *
 * What is guaranteed, without a durable store: while both processes stay alive, the consumer's
 * handler completes every message of a channel exactly once and in order, and the producer
 * learns each message's outcome (confirmed, or `DeliveryTimeout` / `MessageRejected`). Restarts
 * of the producer or consumer actors by their supervisors keep this (progress and outbox live in
 * the node's memory store). If the producer's process dies, its unconfirmed messages are gone
 * (their callers were never told they were confirmed); if the consumer's process dies, messages
 * it processed but had not yet acknowledged (at most a window) are processed again by its next
 * incarnation. With `SqliteStore` on both sides, both crashes keep the guarantee (see
 * `Consumer.ts` for the one window where a handler's completion is not atomic with its record).
 *
 * @since 0.1.0
 */
export { consumer, type ConsumerOptions, type DeliveryInfo } from "./Consumer.ts"
export { type ConsumerRef, type Outcome, producer, type ProducerOptions, type ProducerStats, type ReliableProducer } from "./Producer.ts"
export * from "./ReliableError.ts"
import * as P from "./internal/protocol.ts"

/** The consumer actor's protocol, for typed lookups (`registry.lookup(Reliable.ConsumerProtocol, name)`). */
export const ConsumerProtocol = P.Consumer
