/**
 * The messages of the reliable-delivery protocol, as actor protocols (so they cross nodes like
 * any message, validated at the boundary). The user's payload travels as its schema's encoded
 * form inside `Deliver` and is decoded by the consumer with its own schema, so a payload that
 * does not match is reported per message instead of being a dead letter that would stall the
 * channel.
 *
 * @internal
 */
import { Schema } from "effect"
import * as Actor from "../../actors/Actor.ts"
import * as ActorRef from "../../actors/ActorRef.ts"

const Seq = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const Rejection = Schema.Struct({ seq: Seq, issue: Schema.String })
export type Rejection = typeof Rejection.Type

/** Sent to the consumer. */
export const Consumer = Actor.make("telex/ReliableConsumer", {
  Deliver: Actor.tell({
    /** the producer's channel id */
    channel: Schema.String,
    /** the consumer id the producer means (empty: any) */
    to: Schema.String,
    session: Schema.Number,
    seq: Seq,
    /** every message up to `floor` is confirmed or was reported undeliverable: skip to it */
    floor: Seq,
    payload: Schema.Unknown,
    /** where acknowledgements go */
    replyTo: ActorRef.schema
  }),
  /**
   * Consecutive messages `seq`, `seq + 1`, … in one envelope: what a producer sends when more
   * than one message can go at once (the header is paid once; measured ~2× less CPU per message).
   */
  DeliverBatch: Actor.tell({
    channel: Schema.String,
    to: Schema.String,
    session: Schema.Number,
    /** sequence number of the first payload */
    seq: Seq,
    floor: Seq,
    payloads: Schema.Array(Schema.Unknown),
    replyTo: ActorRef.schema
  }),
  /** internal: sent to self after a burst of deliveries, so one Ack covers the burst */
  Flush: Actor.tell({})
})

/** Sent to the producer's endpoint. */
export const Producer = Actor.make("telex/ReliableProducer", {
  Ack: Actor.tell({
    channel: Schema.String,
    consumer: Schema.String,
    session: Schema.Number,
    /** every message up to here was processed (or rejected, see `rejected`) */
    processed: Seq,
    /** the producer may send up to this sequence number (flow control) */
    grant: Seq,
    /** messages the consumer's schema refused (repeated until the producer's floor passes them) */
    rejected: Schema.Array(Rejection)
  }),
  Resend: Actor.tell({ channel: Schema.String, session: Schema.Number, from: Seq }),
  /** internal: the producer's timer (resends, deadlines) */
  Tick: Actor.tell({})
})
