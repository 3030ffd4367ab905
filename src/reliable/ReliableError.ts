/**
 * Typed outcomes and events of reliable channels.
 *
 * A producer learns the fate of every message it accepted: confirmed (the consumer's handler
 * completed it), or one of the failures below — never silence.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The message was not confirmed before its deadline; the producer stopped resending it. It may
 * or may not have been processed: a confirmation can be lost after the consumer processed it,
 * and a copy already on its way when the report was made (held by a partitioned link, queued
 * while a link reconnects) can still be processed — but never once the consumer has received a
 * later message of the channel, which carries the producer's floor and makes it skip the message.
 */
export class DeliveryTimeout extends Schema.TaggedError<DeliveryTimeout>()("DeliveryTimeout", {
  channel: Schema.String,
  seq: Schema.Number,
  deadlineMillis: Schema.Number
}) {}

/** The consumer's schema rejected the message (producer and consumer disagree on the protocol). */
export class MessageRejected extends Schema.TaggedError<MessageRejected>()("MessageRejected", {
  channel: Schema.String,
  seq: Schema.Number,
  issue: Schema.String
}) {}

/** The message does not match the producer's own schema: it was not accepted. */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  channel: Schema.String,
  issue: Schema.String
}) {}

/** The producer was closed (its scope ended) before the message's outcome was known. */
export class ProducerClosed extends Schema.TaggedError<ProducerClosed>()("ProducerClosed", {
  channel: Schema.String
}) {}

/** Why a `send` did not end with a confirmation. */
export type Undelivered = DeliveryTimeout | MessageRejected | ProducerClosed

// -- consumer-side reports ------------------------------------------------------------------

/**
 * Messages arrived with a hole in their sequence (lost with a broken link). The consumer
 * dropped the early arrival and asked the producer to resend from `expected`: nothing is
 * processed out of order.
 */
export class SequenceGap extends Schema.TaggedError<SequenceGap>()("SequenceGap", {
  consumer: Schema.String,
  channel: Schema.String,
  expected: Schema.Number,
  received: Schema.Number
}) {}

/** A message for another consumer id, or from a producer session older than the current one. */
export class UnknownChannel extends Schema.TaggedError<UnknownChannel>()("UnknownChannel", {
  consumer: Schema.String,
  channel: Schema.String,
  reason: Schema.String
}) {}

/** What a consumer reports (to `onEvent` and the log) while keeping the channel consistent. */
export type ConsumerEvent = SequenceGap | UnknownChannel | MessageRejected
