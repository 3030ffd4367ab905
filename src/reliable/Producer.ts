/**
 * The producer side of a reliable channel: accepts messages, numbers them, keeps them in an
 * outbox until the consumer confirms them, resends after lost links, and reports the outcome of
 * every message it accepted.
 *
 * ```ts
 * const orders = yield* Reliable.producer({
 *   id: "shop->billing",                  // the channel id: stable across restarts
 *   schema: Order,
 *   consumer: registry.lookup(Reliable.ConsumerProtocol, "billing"),  // re-resolved after a loss
 *   onOutcome: (o) => ...                 // Confirmed | Failed(DeliveryTimeout | MessageRejected | ProducerClosed)
 * })
 * yield* orders.offer(order)   // accepted (stored): suspends while `bufferSize` are unconfirmed
 * yield* orders.send(order)    // accepted and confirmed, or a typed failure
 * yield* orders.drain          // before closing: every accepted message has its outcome
 * ```
 *
 * Closing (the scope ends) with messages still unconfirmed: each gets the outcome
 * `Failed(ProducerClosed)` (through `onOutcome`, and as the failure of its `send`). They stay
 * in the store: a producer started later on the same channel and store resends them and reports
 * their outcome again. To close only once everything is settled, `drain` first (bounded by the
 * messages' `deadline`).
 *
 * Flow control: the producer sends no further than the consumer's grant (a window of 256
 * messages past the last processed one, by default), and accepts no more than `bufferSize`
 * unconfirmed messages: `offer` suspends beyond that, so a slow or unreachable consumer slows
 * its producers instead of growing memory.
 *
 * Resend (go-back-N, as TCP before SACK): when the consumer reports a gap, from the first
 * missing message; when nothing was confirmed for `resendInterval` (doubling up to
 * `resendIntervalMax` while it stays silent, reset by progress), from the first unconfirmed one,
 * after resolving the consumer again (a restarted consumer is a new actor). A message still
 * unconfirmed at its deadline is reported (`DeliveryTimeout`) and skipped: the next deliveries
 * carry the producer's floor, and the consumer never processes a skipped message afterwards.
 *
 * Sessions: a producer starting on an empty store opens a new session; the consumer then
 * forgets the previous session's progress for this channel (which ended with the process that
 * held it). With a store that has the channel (a restarted producer actor on the same node's
 * memory store, or a restarted process on a `SqliteStore`), the producer continues the stored
 * session and resends its outbox: the consumer de-duplicates. Sessions are numbered from the
 * wall clock; a new one numbered below the consumer's session of the channel (this process's
 * clock is behind the one that numbered the previous session) is refused by the consumer, which
 * answers with an Ack of its own session: a session this producer opened and that has had no
 * Ack of its own yet then moves to the one after the consumer's, and resends from its floor. So
 * does a session continued from the store in which no message was settled yet (a process killed
 * before the consumer could be reached).
 *
 * One producer per channel id at a time.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import { ActorContext, type ActorContextShape } from "../actors/ActorContext.ts"
import { ActorRef } from "../actors/ActorRef.ts"
import * as Kernel from "../actors/Kernel.ts"
import { ActorSystem, kernelOf } from "../system/ActorSystem.ts"
import { encoderFor, issueOf } from "../transport/SchemaCodec.ts"
import type { DeliveryStore } from "./DeliveryStore.ts"
import { storeFor } from "./internal/defaultStore.ts"
import * as P from "./internal/protocol.ts"
import { WaitQueue } from "../internal/WaitQueue.ts"
import { DEFAULT_WINDOW } from "./internal/protocol.ts"
import { DeliveryTimeout, InvalidPayload, MessageRejected, ProducerClosed, type Undelivered } from "./ReliableError.ts"
import type * as Schema from "effect/Schema"
import * as ExitReason from "../actors/ExitReason.ts"
import type { Down, MonitorRef } from "../actors/Signals.ts"

export type Outcome =
  | { readonly _tag: "Confirmed"; readonly channel: string; readonly seq: number }
  | { readonly _tag: "Failed"; readonly channel: string; readonly seq: number; readonly error: Undelivered }

export type ConsumerRef = ActorRef<typeof P.Consumer.defs>

export interface ProducerOptions<A> {
  /** The channel id: keys the outbox in the store and the consumer's de-duplication state. */
  readonly id: string
  readonly schema: Schema.Codec<A, any>
  /**
   * The consumer: a ref, or an effect that finds it (a registry or name lookup), run again when
   * the consumer stays silent — a consumer restarted by its supervisor is a new actor.
   */
  readonly consumer:
    | ActorRef<any>
    | Effect.Effect<ActorRef<any> | Option.Option<ActorRef<any>>, unknown>
  /** The consumer's id, checked by the consumer (a message for another consumer is refused). Optional. */
  readonly consumerId?: string | undefined
  /** Messages sent before the consumer's first grant. Default 256 (see `DEFAULT_WINDOW`). */
  readonly window?: number | undefined
  /** Unconfirmed messages accepted before `offer` suspends. Default 1000. */
  readonly bufferSize?: number | undefined
  /** Resend after this long without progress. Default 1 second. */
  readonly resendInterval?: Duration.Input | undefined
  /** The resend interval doubles while the consumer is silent, up to this. Default 10 seconds. */
  readonly resendIntervalMax?: Duration.Input | undefined
  /** A message not confirmed this long after it was accepted is reported undeliverable. Default 1 minute. */
  readonly deadline?: Duration.Input | undefined
  /** Where the outbox is kept. Default: the node's memory (survives actor restarts, not a process crash). */
  readonly store?: DeliveryStore | undefined
  /**
   * Called with the outcome of every accepted message (including those recovered from the
   * store); those still unconfirmed when the producer closes get `Failed(ProducerClosed)`.
   */
  readonly onOutcome?: ((outcome: Outcome) => void) | undefined
}

export interface ProducerStats {
  readonly session: number
  readonly accepted: number
  readonly confirmed: number
  readonly failed: number
  readonly unconfirmed: number
  readonly resends: number
  /** sequence number the next accepted message gets */
  readonly nextSeq: number
}

export interface ReliableProducer<A> {
  readonly id: string
  /** Accepts (and stores) a message; suspends while `bufferSize` messages are unconfirmed. Returns its sequence number. */
  offer(message: A): Effect.Effect<number, InvalidPayload | ProducerClosed>
  /**
   * Accepts several messages, in order: all are validated first (one invalid: none accepted),
   * then stored in one transaction per part that fits in the buffer (on a durable store, one
   * commit for many messages instead of one each). Returns their sequence numbers.
   */
  offerAll(messages: Iterable<A>): Effect.Effect<ReadonlyArray<number>, InvalidPayload | ProducerClosed>
  /** Accepts a message and waits until it is confirmed (processed by the consumer) or reported undeliverable. */
  send(message: A): Effect.Effect<number, InvalidPayload | Undelivered>
  /**
   * Waits until every message accepted so far has its outcome (confirmed, or reported
   * undeliverable at the latest at its `deadline`); fails with `ProducerClosed` if the producer
   * closes first. Run it before closing the producer's scope so that nothing is left unconfirmed.
   */
  readonly drain: Effect.Effect<void, ProducerClosed>
  stats(): ProducerStats
}

interface Entry {
  readonly seq: number
  readonly payload: unknown
  readonly deadline: number
  rejected?: string
  /** set once the outcome is known */
  settled?: boolean
  error?: Undelivered
  waiter?: (exit: Exit.Exit<number, Undelivered>) => void
}

/** Most messages in one `DeliverBatch`. */
const MAX_BATCH = 512

const toMillis = (d: Duration.Input | undefined, fallback: number): number =>
  d === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(d))

/**
 * Starts a producer in the current scope (an actor's, when called from inside one: its endpoint
 * actor is then a child of that actor) on the `ActorSystem` of the context.
 */
export const producer = <A>(
  options: ProducerOptions<A>
): Effect.Effect<ReliableProducer<A>, never, Scope.Scope | ActorSystem> =>
  Effect.gen(function*() {
    const ctx = yield* Effect.serviceOption(ActorContext)
    const system = yield* ActorSystem
    const core = (Option.isSome(ctx) ? Kernel.ofContext(ctx.value) : undefined) ?? kernelOf(system)

    const id = options.id
    // forks (the consumer lookups) run with the caller's services, clock and random
    const context = yield* Effect.context<never>()
    const store = yield* storeFor(options.store, core)
    const encode = encoderFor(options.schema)
    const bufferSize = Math.max(1, options.bufferSize ?? 1000)
    const resendMin = Math.max(1, toMillis(options.resendInterval, 1000))
    const resendMax = Math.max(resendMin, toMillis(options.resendIntervalMax, 10_000))
    const deadlineMillis = toMillis(options.deadline, 60_000)
    const consumerId = options.consumerId ?? ""
    const resolver = options.consumer instanceof ActorRef ? undefined : options.consumer
    let consumer: ActorRef<any> | undefined = options.consumer instanceof ActorRef ? options.consumer : undefined

    // -- state -------------------------------------------------------------------------------
    const now0 = yield* Clock.currentTimeMillis
    // resends after silence are timed on the monotonic clock (deadlines, which are persisted, on
    // the wall clock): a step of the wall clock back would hold them back for as long as the step
    const monoMillis = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos / 1_000_000n))
    const mono0 = yield* monoMillis
    const snapshot = store.loadProducer(id)
    let session: number
    let nextSeq: number
    // unconfirmed entries, contiguous: entries[head + i].seq === floor + 1 + i
    let entries: Array<Entry> = []
    let head = 0
    if (snapshot !== undefined) {
      session = snapshot.session
      nextSeq = snapshot.nextSeq
      entries = snapshot.messages.map((m) => ({ seq: m.seq, payload: m.payload, deadline: m.deadline }))
    } else {
      // sessions grow with time so a consumer can tell a newer session from a stale one
      session = now0 * 1000 + Math.floor((yield* Random.next) * 1000)
      nextSeq = 1
      store.startSession(id, session, 1)
    }
    let floor = entries.length > 0 ? entries[0]!.seq - 1 : nextSeq - 1
    /**
     * the session was opened by this channel's producer (here, or by a process that ended before
     * any of its messages was settled: numbered from 1, its floor is still 0) and nothing was
     * acknowledged in it yet: it may be renumbered. A consumer whose session is newer never
     * processed a message of it (a consumer's session only grows).
     */
    let opened = snapshot === undefined || floor === 0
    let sentUpTo = floor
    let granted = floor + Math.max(1, options.window ?? DEFAULT_WINDOW)
    /** monotonic ms */
    let lastProgressAt = mono0
    let interval = resendMin
    let closed = false
    const stats = { accepted: 0, confirmed: 0, failed: 0, resends: 0 }
    /**
     * offers waiting for room, oldest first, and how many of them were woken for room that they
     * have not taken yet (their fibers resume later): a wake-up resumes only as many as there is
     * room for. Waking every waiter whenever a confirmation made room had them all resume, all
     * but a few only to wait again, at each confirmation: 20 000 offers waiting on a 16-message
     * buffer got 1 168 messages accepted in 3 s (5 000: 2 416), and their timeouts, each removed
     * from an array by indexOf + splice, held the event loop for 1.25 s.
     */
    const waiters = new WaitQueue()
    let wokenForRoom = 0

    const unconfirmed = () => entries.length - head
    const entryAt = (seq: number): Entry | undefined => entries[head + (seq - floor - 1)]

    const drainWaiters: Array<(exit: Exit.Exit<void, ProducerClosed>) => void> = []

    /** whether an offer may take room now (room promised to woken waiters is theirs) */
    const hasRoom = () => unconfirmed() + wokenForRoom < bufferSize

    const wake = () => {
      while (waiters.size > 0 && hasRoom()) waiters.shift()?.()
      if (unconfirmed() === 0) for (const w of drainWaiters.splice(0)) w(Exit.void)
    }

    // A throw of the caller's `onOutcome` is its own bug: caught, so that it cannot leave the
    // channel half-updated (nor reach the pump's microtask as an uncaught exception, which ends
    // the process), and logged by the handler that reported the outcome. The outcome stands.
    let thrown: Array<unknown> = []
    const notify = (outcome: Outcome) => {
      if (options.onOutcome === undefined) return
      try {
        options.onOutcome(outcome)
      } catch (defect) {
        thrown.push(defect)
      }
    }
    const logThrown = Effect.suspend(() => {
      if (thrown.length === 0) return Effect.void
      const defects = thrown
      thrown = []
      return Effect.logError(`reliable producer ${id}: onOutcome threw ${defects.length} time(s); the outcomes stand`, ...defects)
    })

    const confirm = (e: Entry) => {
      e.settled = true
      stats.confirmed++
      notify({ _tag: "Confirmed", channel: id, seq: e.seq })
      e.waiter?.(Exit.succeed(e.seq))
    }

    const fail = (e: Entry, error: Undelivered) => {
      e.settled = true
      e.error = error
      stats.failed++
      notify({ _tag: "Failed", channel: id, seq: e.seq, error })
      e.waiter?.(Exit.fail(error))
    }

    /** Drops entries up to `seq` (settled), moving the floor. */
    const advanceFloor = (seq: number, settleOne: (e: Entry) => void) => {
      while (head < entries.length && entries[head]!.seq <= seq) {
        const e = entries[head++]!
        settleOne(e)
      }
      if (head > 1024 && head * 2 > entries.length) {
        entries = entries.slice(head)
        head = 0
      }
      floor = Math.max(floor, seq)
      if (sentUpTo < floor) sentUpTo = floor
      // Messages skipped at their deadline can move the floor past the consumer's last grant
      // (`processed + window` as it last knew it): nothing would be sent again, so no
      // acknowledgement would ever bring a new grant. The next message may go: it carries the
      // floor (the consumer skips to it) and its acknowledgement carries the new grant.
      if (granted <= floor) granted = floor + 1
      store.removeUpTo(id, floor)
      wake()
    }

    let endpoint: ActorRef<typeof P.Producer.defs> | undefined

    /** false when the message was refused as invalid (too large for one envelope, unencodable) */
    const tellConsumer = (message: P.ConsumerMessage): boolean => {
      try {
        consumer!.tellUnsafe(message)
      } catch (e) {
        // refused (a full `fail` mailbox, an unreachable node): the resend timer recovers
        return !Predicate.isTagged(e, "InvalidMessage")
      }
      return true
    }

    /**
     * Most messages in one batch. A node does not send an envelope larger than the largest
     * message a node accepts: a batch refused as invalid is sent again in halves, and later
     * batches keep the smaller size (else every resend would bring the same refused batch, and
     * every message would end in `DeliveryTimeout`). A single message refused is left to its
     * deadline.
     */
    let maxBatch = MAX_BATCH

    /** Sends what the grant allows: consecutive messages go in batches (one header, one envelope). */
    const pump = () => {
      if (consumer === undefined || endpoint === undefined || closed) return
      const limit = Math.min(granted, nextSeq - 1)
      while (sentUpTo < limit) {
        const first = sentUpTo + 1
        const n = Math.min(limit - sentUpTo, maxBatch)
        const header = { channel: id, to: consumerId, session, seq: first, floor, replyTo: endpoint }
        if (n === 1) {
          tellConsumer(P.Consumer.Deliver({ ...header, payload: entryAt(first)!.payload }))
        } else {
          const payloads = new Array<unknown>(n)
          for (let i = 0; i < n; i++) payloads[i] = entryAt(first + i)!.payload
          if (!tellConsumer(P.Consumer.DeliverBatch({ ...header, payloads }))) {
            maxBatch = n >> 1
            continue
          }
        }
        sentUpTo += n
      }
    }

    // offers schedule one pump per burst (a microtask): the messages accepted in one run of the
    // producer's fiber leave together
    let pumpScheduled = false
    const runScheduledPump = () => {
      pumpScheduled = false
      pump()
    }
    const schedulePump = () => {
      if (pumpScheduled) return
      pumpScheduled = true
      queueMicrotask(runScheduledPump)
    }

    // Finding the consumer again runs in its own fiber: a lookup across a partition can take
    // seconds, and acknowledgements must not wait behind it.
    let resolving = false
    /** the watched consumer stopped or its node was lost: what was sent to it may be gone */
    let lost = false
    const resolve: Effect.Effect<void> = resolver === undefined ? Effect.void : resolver.pipe(
      Effect.map((found) => {
        const ref = found instanceof ActorRef ? found : Option.getOrUndefined(found as Option.Option<ActorRef<any>>)
        if (ref === undefined || closed) return
        if (consumer === undefined || consumer.key !== ref.key || lost) {
          // a new consumer, or the old one after a loss: it gets everything unconfirmed
          if (sentUpTo > floor) stats.resends += sentUpTo - floor
          sentUpTo = floor
          lost = false
        }
        consumer = ref
        pump()
      }),
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => {
        resolving = false
      }))
    )
    let resolveFiber: Fiber.Fiber<void> | undefined
    const startResolve = () => {
      if (resolver === undefined || resolving || closed) return
      resolving = true
      resolveFiber = Effect.runForkWith(context)(resolve)
    }

    // The consumer is monitored (when it can be found again): a consumer that stops, or whose node
    // is lost, is looked up again at the next tick instead of after a resend interval of silence
    // (messages sent meanwhile to the stopped actor would wait for that interval).
    let watched: { readonly key: string; readonly monitor: MonitorRef } | undefined
    const watch = (self: ActorContextShape): Effect.Effect<void> => {
      if (resolver === undefined || consumer === undefined || watched?.key === consumer.key) return Effect.void
      const ref = consumer
      const previous = watched
      return Effect.map(
        Effect.andThen(previous === undefined ? Effect.void : self.demonitor(previous.monitor), self.monitor(ref)),
        (monitor) => {
          watched = { key: ref.key, monitor }
        }
      )
    }
    const onDown = (down: Down) =>
      Effect.sync(() => {
        if (watched === undefined || down.actor.key !== watched.key) return
        watched = undefined
        lost = true
        interval = resendMin
        startResolve()
      })

    // -- the endpoint: acknowledgements and the timer ------------------------------------------
    const onAck = (a: typeof P.Producer.messages.Ack.Type, monoNow: number) => {
      if (a.channel !== id) return
      if (a.session !== session) {
        // the consumer refused our session as older than its own: move past it, and resend
        if (opened && a.session > session) {
          session = a.session + 1
          store.startSession(id, session, nextSeq)
          sentUpTo = floor
          pump()
        }
        return
      }
      opened = false
      for (const r of a.rejected) {
        const e = r.seq > floor ? entryAt(r.seq) : undefined
        if (e !== undefined) e.rejected = r.issue
      }
      const processed = Math.min(a.processed, nextSeq - 1)
      if (processed > floor) {
        advanceFloor(processed, (e) =>
          e.rejected === undefined ? confirm(e) : fail(e, new MessageRejected({ channel: id, seq: e.seq, issue: e.rejected })))
        lastProgressAt = monoNow
        interval = resendMin
      }
      if (a.grant > granted) granted = a.grant
      pump()
    }

    const onResend = (r: typeof P.Producer.messages.Resend.Type) => {
      if (r.channel !== id || r.session !== session) return
      const from = Math.max(r.from, floor + 1)
      if (from - 1 < sentUpTo) {
        stats.resends += sentUpTo - (from - 1)
        sentUpTo = from - 1
      }
      pump()
    }

    /** Reports (and skips) the messages whose deadline has passed. */
    const expire = (now: number) => {
      // entries are in acceptance order, so the expired ones are a prefix
      let expired = floor
      for (let i = head; i < entries.length && entries[i]!.deadline <= now; i++) expired = entries[i]!.seq
      if (expired > floor) {
        advanceFloor(expired, (e) => fail(e, new DeliveryTimeout({ channel: id, seq: e.seq, deadlineMillis })))
      }
    }

    const onTick = (now: number, monoNow: number) => {
      expire(now)
      if (consumer === undefined) return startResolve()
      if (lost) startResolve() // meanwhile the old ref keeps getting resends: its node may be back
      if (unconfirmed() === 0) {
        lastProgressAt = monoNow
        interval = resendMin
        return
      }
      if (monoNow - lastProgressAt < interval) return
      // silence: go back to the floor, and find the consumer again (it may have been restarted)
      lastProgressAt = monoNow
      interval = Math.min(interval * 2, resendMax)
      stats.resends += sentUpTo - floor
      sentUpTo = floor
      pump()
      startResolve()
    }

    const tickMillis = Math.max(5, Math.min(resendMin, deadlineMillis) / 4)
    const Endpoint = P.Producer.behavior(Effect.gen(function*() {
      const self = yield* ActorContext
      yield* self.startPeriodicTimer("tick", P.Producer.Tick(), Duration.millis(tickMillis))
      return {
        Ack: (a) => Effect.andThen(Effect.map(monoMillis, (now) => onAck(a, now)), logThrown),
        Resend: (r) => Effect.sync(() => onResend(r)),
        Tick: () =>
          Effect.andThen(
            Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(monoMillis, (mono) => onTick(now, mono))),
            Effect.andThen(logThrown, Effect.suspend(() => watch(self)))
          ),
        onDown
      }
    }))
    endpoint = Option.isSome(ctx)
      ? yield* Effect.orDie(ctx.value.spawn(Endpoint))
      : yield* Effect.orDie(system.spawn(Endpoint))

    // messages recovered from the store whose deadline passed while no producer ran: reported
    // now, before anything is sent (the first tick would come after they were delivered)
    expire(now0)
    yield* logThrown
    if (consumer === undefined) startResolve()
    pump()

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        // every unconfirmed message learns it has no outcome from this producer; the outbox
        // stays in the store: the next producer of this channel continues it
        const closedError = new ProducerClosed({ channel: id })
        const error = Exit.fail(closedError)
        for (let i = head; i < entries.length; i++) {
          const e = entries[i]!
          if (e.settled === true) continue
          notify({ _tag: "Failed", channel: id, seq: e.seq, error: closedError })
          e.waiter?.(error)
        }
        waiters.wakeAll()
        for (const w of drainWaiters.splice(0)) w(error)
      }).pipe(
        Effect.andThen(logThrown),
        Effect.andThen(Effect.sync(() => Kernel.targetOf(endpoint!).shutdown(ExitReason.normal))),
        Effect.andThen(Effect.suspend(() => resolveFiber === undefined ? Effect.void : Fiber.interrupt(resolveFiber)))
      )
    )

    const add = (payload: unknown, clock: Clock.Clock): Entry => {
      const e: Entry = { seq: nextSeq++, payload, deadline: clock.currentTimeMillisUnsafe() + deadlineMillis }
      store.append(id, e) // an Entry is a StoredMessage: no copy per message
      entries.push(e)
      stats.accepted++
      schedulePump()
      return e
    }

    /** Accepts encoded payloads that fit in the buffer now, with one store transaction. */
    const addAll = (payloads: ReadonlyArray<unknown>, clock: Clock.Clock): Array<number> => {
      const deadline = clock.currentTimeMillisUnsafe() + deadlineMillis
      const added: Array<Entry> = payloads.map((payload, i) => ({ seq: nextSeq + i, payload, deadline }))
      store.appendAll(id, added)
      nextSeq += added.length
      for (const e of added) entries.push(e)
      stats.accepted += added.length
      schedulePump()
      return added.map((e) => e.seq)
    }

    const waitForSpace: Effect.Effect<void, ProducerClosed> = Effect.suspend(() => {
      if (closed) return Effect.fail(new ProducerClosed({ channel: id }))
      if (hasRoom()) return Effect.void
      let woken = false
      return Effect.andThen(
        Effect.callback<void>((resume) => {
          // checked again here: the fiber may have been suspended since the check above
          if (closed || hasRoom()) return resume(Effect.void)
          const cancel = waiters.add(() => {
            woken = true
            wokenForRoom++
            resume(Effect.void)
          })
          return Effect.sync(cancel)
        }).pipe(Effect.onExit((exit) =>
          Effect.sync(() => {
            if (!woken) return
            woken = false
            wokenForRoom--
            // interrupted after it was woken: the room it was woken for goes to the next one
            if (Exit.isFailure(exit)) wake()
          })
        )),
        waitForSpace
      )
    })

    // one step when there is room (the common case): measured to let a producer loop accept
    // several hundred messages per turn instead of ~200
    const accept = (message: A): Effect.Effect<Entry, InvalidPayload | ProducerClosed> =>
      Effect.withFiber((fiber): Effect.Effect<Entry, InvalidPayload | ProducerClosed> => {
        if (closed) return Effect.fail(new ProducerClosed({ channel: id }))
        const encoded = encode(message)
        if (Exit.isFailure(encoded)) return Effect.fail(new InvalidPayload({ channel: id, issue: issueOf(encoded) }))
        if (hasRoom()) return Effect.succeed(add(encoded.value, fiber.getRef(Clock.Clock)))
        return Effect.andThen(
          waitForSpace,
          Effect.withFiber((f) => Effect.succeed(add(encoded.value, f.getRef(Clock.Clock))))
        )
      })

    const handle: ReliableProducer<A> = {
      id,
      offer: (message) => Effect.map(accept(message), (e) => e.seq),
      offerAll: (messages) =>
        Effect.suspend((): Effect.Effect<ReadonlyArray<number>, InvalidPayload | ProducerClosed> => {
          const payloads: Array<unknown> = []
          for (const message of messages) {
            const encoded = encode(message)
            if (Exit.isFailure(encoded)) return Effect.fail(new InvalidPayload({ channel: id, issue: issueOf(encoded) }))
            payloads.push(encoded.value)
          }
          const seqs: Array<number> = []
          let next = 0
          const loop: Effect.Effect<ReadonlyArray<number>, ProducerClosed> = Effect.suspend(() => {
            if (next >= payloads.length) return Effect.succeed(seqs)
            return Effect.andThen(
              waitForSpace,
              Effect.withFiber((fiber) => {
                const room = Math.max(1, bufferSize - unconfirmed() - wokenForRoom)
                const part = payloads.slice(next, next + room)
                next += part.length
                for (const seq of addAll(part, fiber.getRef(Clock.Clock))) seqs.push(seq)
                return loop
              })
            )
          })
          return loop
        }),
      send: (message) =>
        Effect.flatMap(accept(message), (e) =>
          Effect.callback<number, Undelivered>((resume) => {
            if (e.settled) return resume(e.error === undefined ? Exit.succeed(e.seq) : Exit.fail(e.error))
            // closed between the acceptance and now: the close has already woken the waiters
            if (closed) return resume(Exit.fail(new ProducerClosed({ channel: id })))
            e.waiter = resume
          })),
      drain: Effect.callback<void, ProducerClosed>((resume) => {
        if (unconfirmed() === 0) return resume(Exit.void)
        if (closed) return resume(Exit.fail(new ProducerClosed({ channel: id })))
        drainWaiters.push(resume)
        return Effect.sync(() => {
          const i = drainWaiters.indexOf(resume)
          if (i >= 0) drainWaiters.splice(i, 1)
        })
      }),
      stats: () => ({ session, ...stats, unconfirmed: unconfirmed(), nextSeq })
    }
    return handle
  })
