/**
 * The consumer side of a reliable channel: an actor whose handler sees every message of each
 * producer exactly once and in order, while both processes stay alive, across any number of
 * lost links, partitions and resets (and across its own restarts by a supervisor; across a
 * crash of its process too with a durable store).
 *
 * ```ts
 * const Billing = Reliable.consumer({
 *   id: "billing",                    // keys the de-duplication state in the store
 *   schema: Order,                    // every payload is decoded (validated) with it
 *   handle: (order) => charge(order)  // success = confirmed to the producer
 * })
 * yield* system.spawn(Billing, { name: "billing" })
 * ```
 *
 * How: each `Deliver` carries (channel, session, seq). The consumer keeps, per channel, the
 * session and the last processed sequence number, saved in the store after each message. An
 * older seq is a duplicate (re-acknowledged, not processed); a newer one than expected is a
 * gap (the message is dropped, `SequenceGap` reported and a resend asked for); the expected
 * one is decoded with the schema and handled. A delivery of an older session than the
 * channel's is refused (`UnknownChannel`, "stale session") and answered with an Ack of the
 * channel's session (see the producer's sessions). A payload the schema refuses is skipped and
 * reported to the producer as `MessageRejected` (repeated in every acknowledgement until the
 * producer has seen it), so a bad message never stalls the channel. Acknowledgements are
 * cumulative: one per half window, and one after each burst (a `Flush` the actor sends itself,
 * which queues behind the deliveries already in its mailbox). Each carries the grant
 * `processed + window`: the producer never has more than a window in flight.
 *
 * A handler that fails crashes the actor (as any tell handler); its supervisor restarts it, it
 * reloads its progress from the store, and the producer resends the message — so a handler may
 * run again for a message whose previous attempt failed, never for one it completed. With a
 * durable store, a crash of the process between the handler's completion and the save of the
 * progress (microseconds) means the handler runs once more for that message after the restart:
 * make handlers idempotent where that matters (the same holds for any system that does not put
 * the handler's effects and the progress in one transaction).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Actor from "../actors/Actor.ts"
import { ActorContext } from "../actors/ActorContext.ts"
import type { ActorRef } from "../actors/ActorRef.ts"
import * as Kernel from "../actors/Kernel.ts"
import { decoderFor, issueOf } from "../transport/SchemaCodec.ts"
import type { DeliveryStore } from "./DeliveryStore.ts"
import { storeFor } from "./internal/defaultStore.ts"
import * as P from "./internal/protocol.ts"
import { DEFAULT_WINDOW } from "./internal/protocol.ts"
import { type ConsumerEvent, MessageRejected, SequenceGap, UnknownChannel } from "./ReliableError.ts"

export interface DeliveryInfo {
  /** the producer's channel id */
  readonly channel: string
  readonly seq: number
}

export interface ConsumerOptions<A, E, R> {
  /** Stable id: keys the de-duplication state in the store (and is checked against `Deliver.to`). */
  readonly id: string
  /** The payload schema; payloads are decoded with it. */
  readonly schema: Schema.Codec<A, any>
  /** Processes one message; its success confirms the message to the producer. */
  readonly handle: (message: A, info: DeliveryInfo) => Effect.Effect<unknown, E, R>
  /** Messages the producer may have in flight beyond the last processed one. Default 256 (see `DEFAULT_WINDOW`). */
  readonly window?: number | undefined
  /** Where progress is kept. Default: in the node's memory (survives actor restarts, not a process crash). */
  readonly store?: DeliveryStore | undefined
  /** Reports of gaps, refused payloads and unknown channels (also logged at debug/warning level). */
  readonly onEvent?: ((event: ConsumerEvent) => Effect.Effect<void>) | undefined
}

interface ChannelState {
  readonly channel: string
  session: number
  processed: number
  rejected: Array<P.Rejection>
  lastAcked: number
  replyTo: ActorRef<any> | undefined
  /** the expected seq a resend was last asked for (one request per hole) */
  gapAskedFor: number
}

/** The behaviour of a consumer actor: spawn it (named, supervised) like any actor. */
export const consumer = <A, E = never, R = never>(
  options: ConsumerOptions<A, E, R>
): Actor.Behavior<typeof P.Consumer.defs, never, R> =>
  P.Consumer.behavior<never, any>(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const id = options.id
    const window = Math.max(1, options.window ?? DEFAULT_WINDOW)
    const ackEvery = Math.max(1, window >> 1)
    const me = Kernel.localOf(ctx)
    if (me === undefined) return yield* Effect.die(new Error("Reliable.consumer runs as an actor (spawn its behaviour)"))
    const store = yield* storeFor(options.store, Kernel.ofContext(ctx)!)
    const decode = decoderFor(options.schema)
    const channels = new Map<string, ChannelState>()
    for (const p of store.loadConsumer(id)) {
      channels.set(p.producer, {
        channel: p.producer,
        session: p.session,
        processed: p.processed,
        rejected: p.rejected === undefined ? [] : p.rejected.slice(),
        lastAcked: -1,
        replyTo: undefined,
        gapAskedFor: 0
      })
    }
    const dirty = new Set<ChannelState>()
    let flushPending = false

    const report = (event: ConsumerEvent): Effect.Effect<void> => {
      const log = event._tag === "SequenceGap" ? Effect.logDebug : Effect.logWarning
      const line = log(`reliable consumer ${id}: ${event._tag}`, event)
      return options.onEvent === undefined ? line : Effect.andThen(line, options.onEvent(event))
    }

    const save = (st: ChannelState) =>
      store.saveProgress(id, {
        producer: st.channel,
        session: st.session,
        processed: st.processed,
        ...(st.rejected.length > 0 ? { rejected: st.rejected.slice() } : {})
      })

    const ack = (st: ChannelState) => {
      st.lastAcked = st.processed
      dirty.delete(st)
      try {
        st.replyTo?.tellUnsafe(P.Producer.Ack({
          channel: st.channel,
          consumer: id,
          session: st.session,
          processed: st.processed,
          grant: st.processed + window,
          rejected: st.rejected
        }))
      } catch {
        // the producer's endpoint refused (full `fail` mailbox): its resend timer recovers
      }
    }

    // The Flush is offered past the mailbox's bound (as a timer's message): a full `fail` or
    // `dropNewest` mailbox would refuse it (a crash, or no acknowledgement of a burst's end ever
    // again). A `dropOldest` mailbox can still evict it once queued: the mailbox is FIFO, so once
    // more deliveries were handled than were queued ahead of it, it is gone and another is sent.
    let aheadOfFlush = 0
    const sendFlush = () => {
      flushPending = true
      aheadOfFlush = me.mailbox.size
      me.offer(P.Consumer.Flush(), undefined, undefined, true)
    }
    const ackLater = (st: ChannelState) => {
      dirty.add(st)
      if (!flushPending) sendFlush()
    }
    /** At each delivery: a pending Flush that should have come before it was evicted. */
    const lostFlush = () => {
      if (flushPending && aheadOfFlush-- === 0) sendFlush()
    }

    interface Header {
      readonly channel: string
      readonly to: string
      readonly session: number
      readonly floor: number
      readonly replyTo: ActorRef<any>
    }

    /** The channel's state for a delivery, or the report of why it is refused. */
    const admit = (m: Header): ChannelState | Effect.Effect<void> => {
      if (m.to !== "" && m.to !== id) {
        return report(new UnknownChannel({ consumer: id, channel: m.channel, reason: `addressed to consumer "${m.to}"` }))
      }
      let st = channels.get(m.channel)
      if (st === undefined || m.session > st.session) {
        // first contact, or a new session (the producer restarted without a durable outbox):
        // everything up to its floor is settled on the producer's side
        st = {
          channel: m.channel,
          session: m.session,
          processed: m.floor,
          rejected: [],
          lastAcked: -1,
          replyTo: undefined,
          gapAskedFor: 0
        }
        channels.set(m.channel, st)
      } else if (m.session < st.session) {
        // An Ack of our session tells the producer why nothing it sends is processed: one whose
        // session is new (its clock numbered it below ours) moves past ours (see the producer)
        try {
          m.replyTo.tellUnsafe(P.Producer.Ack({
            channel: m.channel,
            consumer: id,
            session: st.session,
            processed: st.processed,
            grant: st.processed,
            rejected: []
          }))
        } catch {
          // refused: the producer's next resend brings another one
        }
        return report(
          new UnknownChannel({ consumer: id, channel: m.channel, reason: `stale session ${m.session} < ${st.session}` })
        )
      }
      st.replyTo = m.replyTo
      if (st.rejected.length > 0 && st.rejected[0]!.seq <= m.floor) {
        st.rejected = st.rejected.filter((r) => r.seq > m.floor)
      }
      if (m.floor > st.processed) {
        // the producer gave up on messages up to its floor (reported there as DeliveryTimeout)
        st.processed = m.floor
        save(st)
      }
      return st
    }

    // when this incarnation ends (a handler crashed, the actor is stopped), tell the producers how
    // far it got: otherwise they wait for a resend to learn it
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const st of channels.values()) if (st.processed > st.lastAcked) ack(st)
      })
    )

    const GAP = Symbol("gap")

    /**
     * One message: `undefined` when done synchronously (a duplicate), `GAP` when it is ahead of
     * the expected one (dropped; a resend was asked for), else the effect that processes it.
     */
    const one = (st: ChannelState, seq: number, payload: unknown): Effect.Effect<void, E, R> | undefined | typeof GAP => {
      if (seq <= st.processed) return undefined // a duplicate (a resend): confirmed again below, not processed
      if (seq > st.processed + 1) return GAP
      const decoded = decode(payload)
      if (Exit.isFailure(decoded)) {
        const issue = issueOf(decoded)
        st.rejected.push({ seq, issue })
        st.processed = seq
        save(st)
        return report(new MessageRejected({ channel: st.channel, seq, issue }))
      }
      return Effect.map(options.handle(decoded.value as A, { channel: st.channel, seq }), () => {
        st.processed = seq
        save(st)
        // inside a batch too: a crash later in the batch must not hold back what is done
        if (seq - st.lastAcked >= ackEvery) ack(st)
      })
    }

    const gap = (st: ChannelState, received: number): Effect.Effect<void> => {
      if (st.gapAskedFor === st.processed + 1) return Effect.void // one request per hole
      st.gapAskedFor = st.processed + 1
      try {
        st.replyTo!.tellUnsafe(P.Producer.Resend({ channel: st.channel, session: st.session, from: st.processed + 1 }))
      } catch {
        // the producer's resend timer recovers
      }
      return report(new SequenceGap({ consumer: id, channel: st.channel, expected: st.processed + 1, received }))
    }

    /** After a delivery: acknowledge now if half a window was processed, else at the end of the burst. */
    const settle = (st: ChannelState) => {
      if (st.processed - st.lastAcked >= ackEvery) ack(st)
      else ackLater(st)
    }

    return {
      Deliver: (m) => {
        lostFlush()
        const st = admit(m)
        if (Effect.isEffect(st)) return st
        const r = one(st, m.seq, m.payload)
        if (r === undefined) return Effect.sync(() => settle(st))
        if (r === GAP) return gap(st, m.seq)
        return Effect.andThen(r, Effect.sync(() => settle(st)))
      },
      DeliverBatch: (m) => {
        lostFlush()
        const st = admit(m)
        if (Effect.isEffect(st)) return st
        let i = 0
        const rest = (): Effect.Effect<void, E, R> => {
          while (i < m.payloads.length) {
            const seq = m.seq + i
            const r = one(st, seq, m.payloads[i++])
            if (r === undefined) continue
            // the rest of the batch is behind the hole too: dropped with it
            if (r === GAP) return Effect.andThen(gap(st, seq), Effect.sync(() => settle(st)))
            return Effect.flatMap(r, rest)
          }
          settle(st)
          return Effect.void
        }
        return Effect.suspend(rest)
      },
      Flush: () =>
        Effect.sync(() => {
          flushPending = false
          for (const st of dirty) ack(st)
          dirty.clear()
        })
    }
  })) as any
