/**
 * Typed, location-transparent references to actors.
 *
 * An `ActorRef` is an address — node id (name + incarnation), actor id, protocol name — plus a
 * lazily bound delivery target. Refs are values: they can be stored, compared by address and
 * sent inside messages (`ActorRef.schema` encodes them as their address). A ref to a stopped
 * actor stays a valid value; sending to it produces a dead letter (tell) or `NoProc` (ask).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Tracer from "effect/Tracer"
import type { AskMessage, ErrorOf, Message, MessageDefs, SuccessOf } from "./Actor.ts"
import { type AskError, AskTimeout, CallingSelf, MailboxFull, NoProc, type TellError } from "./ActorError.ts"
import { Offer, type Reply, type Target } from "./internal/target.ts"
import * as Binding from "./internal/binding.ts"
import * as Context from "./internal/currentActor.ts"
import * as Deadlines from "../internal/deadlines.ts"
import * as Tracing from "./internal/tracing.ts"

export const NodeId = Schema.Struct({ name: Schema.String, incarnation: Schema.Number })
export interface NodeId extends Schema.Schema.Type<typeof NodeId> {}

export const ActorAddress = Schema.Struct({
  node: NodeId,
  id: Schema.Number,
  protocol: Schema.String
})
export interface ActorAddress extends Schema.Schema.Type<typeof ActorAddress> {}

export const nodeKey = (node: NodeId): string => `${node.name}#${node.incarnation}`
export const formatAddress = (a: ActorAddress): string => `${a.protocol}@${a.node.name}#${a.node.incarnation}/${a.id}`

/** Resolves addresses to delivery targets; one per actor system (local or routed to other nodes). */
export interface Resolver {
  resolve(address: ActorAddress): Target
}

export const defaultAskTimeout: Duration.Duration = Duration.seconds(5)

// the last timeout given as a string: a loop of asks passes the same literal ("1500 millis")
// each time, and parsing it is a tenth of a burst of asks' set-up
let lastTimeoutText: string | undefined
let lastTimeout: Duration.Duration = defaultAskTimeout

/** @internal An ask's timeout as a Duration; a string is parsed once while it repeats. */
export const askTimeout = (input: Duration.Input): Duration.Duration => {
  if (typeof input !== "string") return Duration.fromInputUnsafe(input)
  if (input !== lastTimeoutText) {
    lastTimeout = Duration.fromInputUnsafe(input)
    lastTimeoutText = input
  }
  return lastTimeout
}

export interface AskOptions {
  /** How long to wait for the reply. Default 5 seconds (as Erlang's `gen_server:call`). */
  readonly timeout?: Duration.Input | undefined
}

export class ActorRef<D extends MessageDefs = any> {
  readonly address: ActorAddress
  /** @internal */
  _target: Target | undefined
  /** @internal */
  _resolver: Resolver | undefined
  /** @internal `key`, formatted once (as `_target` is resolved once): links and supervisors index actors by it */
  _key: string | undefined

  constructor(address: ActorAddress, target: Target | undefined, resolver: Resolver | undefined) {
    this.address = address
    this._target = target
    this._resolver = resolver
    this._key = undefined
  }

  /**
   * Where this ref delivers, resolved once (its system's local actor, or the transport for
   * another node's). Other folders of the runtime reach it through `targetOf` in `Kernel.ts`.
   *
   * @internal
   */
  get target(): Target {
    if (this._target !== undefined) return this._target
    // a ref decoded where no system was known binds to the system of the first fiber that uses it
    const resolver = this._resolver ??= Binding.fiberResolver()
    if (resolver === undefined) throw new Error(`no actor system can resolve ${formatAddress(this.address)}`)
    return (this._target = resolver.resolve(this.address))
  }

  get key(): string {
    return this._key ??= formatAddress(this.address)
  }

  /**
   * Sends a one-way message. Succeeds once the message is in the mailbox (or has become a dead
   * letter because the actor is gone). Suspends while the mailbox is full under the
   * `backpressure` policy; fails with `MailboxFull` under the `fail` policy.
   */
  tell(message: Message<D>): Effect.Effect<void, TellError> {
    if (TellEffect === undefined) return Effect.suspend(() => send(this, message))
    return new TellEffect(this, message)
  }

  /**
   * Sends without an Effect, for code outside fibers (socket handlers, callbacks). Never
   * suspends: under the `backpressure` policy a full local mailbox accepts the message anyway
   * (the caller cannot wait); under `fail` it throws `MailboxFull`. To an actor on another node
   * it is bounded: while that node holds the actor (its mailbox is full), or while too much is
   * queued for that node, the message becomes a dead letter with reason `Overloaded`.
   */
  tellUnsafe(message: Message<D>): void {
    const target = this.target
    const invalid = target.validate(message)
    if (invalid !== undefined) throw invalid
    const result = target.offer(message, undefined, undefined)
    if (result === Offer.Full) {
      target.offer(message, undefined, undefined, true)
    } else if (result === Offer.Rejected) {
      throw this.mailboxFull(target)
    } else if (typeof result === "object") {
      throw result
    }
  }

  /** Sends a request and waits for the reply. */
  ask<M extends AskMessage<D>>(
    message: M,
    options?: AskOptions
  ): Effect.Effect<SuccessOf<D, M["_tag"]>, ErrorOf<D, M["_tag"]> | AskError> {
    const timeout = options?.timeout === undefined ? defaultAskTimeout : askTimeout(options.timeout)
    return Effect.withFiber((fiber) => askIn(this, fiber, message, timeout))
  }

  /** @internal */
  mailboxFull(target: Target): MailboxFull {
    return new MailboxFull({ actor: this.key, capacity: target.capacity })
  }

  equals(that: ActorRef<any>): boolean {
    return this.key === that.key
  }

  toString(): string {
    return `ActorRef(${this.key})`
  }

  toJSON(): unknown {
    return { _id: "ActorRef", ...this.address }
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}

/**
 * What the caller of `askIn` does with the ask's failure before its fiber gets it (an entity ref
 * routes the ask again when the actor it asked had stopped): the effect the fiber goes on with
 * instead, or undefined for the failure as it is. Called at most once per ask, where the failure
 * is known (in a socket's or a mailbox's callback): it decides, and leaves any work to the effect
 * it returns. `elapsedMillis`: since the ask was made, on the asker's clock; `message`: the one
 * asked; `arg`: what the caller of `askIn` gave with it (so that one function made once serves
 * every ask, where a closure per ask would hold the same). Not called for an interruption, nor for
 * the timeout of an ask timed by `Effect.timeoutOrElse`.
 * @internal
 */
export type AskFailed = (
  exit: Exit.Failure<unknown, unknown>,
  elapsedMillis: number,
  message: { readonly _tag: string },
  arg: any
) => Effect.Effect<any, any> | undefined

/**
 * An ask of `ref` as it runs in `fiber` (the body of `ActorRef.ask`): for a caller already
 * running in a fiber — an entity ref's ask — without a second `withFiber`; `failed`, if given,
 * sees its failure first (in place of an `Effect.catchCause` around it: no primitive, closure or
 * stack frame more on the way of a reply); `known`: `ref.target`, if the caller keeps it (one
 * object fewer read per ask); `failedArg`: the `arg` `failed` is called with.
 * @internal
 */
export const askIn = (
  ref: ActorRef<any>,
  fiber: Fiber.Fiber<unknown, unknown>,
  message: { readonly _tag: string },
  timeout: Duration.Duration,
  failed?: AskFailed,
  known?: Target,
  failedArg?: unknown
): Effect.Effect<any, any> => {
  const target = known ?? ref.target
  const invalid = target.validate(message)
  if (invalid !== undefined) return refused(invalid, failed, message, failedArg)
  if (fiber.context !== askerContext) learnAsker(fiber)
  const sender = askerSelf
  // OTP's calling_self: the handler would wait for its own reply until the timeout
  if (sender !== undefined && sender._target === target && target.runsHandlerIn?.(fiber) === true) {
    return refused(new CallingSelf({ actor: ref.key, message: message._tag }), failed, message, failedArg)
  }
  const liveClock = askerLiveClock
  if (!Tracing.isTraced(fiber)) return askEffect(ref, target, message, sender, timeout, liveClock, undefined, failed, failedArg, fiber)
  // traced: a client span around the ask; the handler's span (here or on the remote node)
  // is its child (and what `failed` goes on with is not)
  const protocol = ref.address.protocol
  const traced = Effect.useSpan(
    `telex.ask ${protocol}.${message._tag}`,
    { kind: "client", attributes: Tracing.askAttributes(ref.key, protocol, message._tag, sender?.key) },
    (span) =>
      askEffect(ref, target, message, sender, timeout, liveClock, Tracing.propagationDisabled(fiber) ? undefined : span, undefined, undefined, fiber)
  )
  if (failed === undefined) return traced
  const clock = fiber.getRef(Clock.Clock)
  const started = clock.currentTimeMillisUnsafe()
  return Effect.catchCause(traced, (cause) => {
    const exit = Exit.failCause(cause) as Exit.Failure<unknown, unknown>
    return Cause.hasInterruptsOnly(cause) ? exit : failed(exit, clock.currentTimeMillisUnsafe() - started, message, failedArg) ?? exit
  })
}

/** An ask refused before it was sent, as its caller's `failed` sees it. */
const refused = (
  error: unknown,
  failed: AskFailed | undefined,
  message: { readonly _tag: string },
  failedArg: unknown
): Effect.Effect<any, any> => {
  const exit = Exit.fail(error) as Exit.Failure<unknown, unknown>
  return failed === undefined ? exit : failed(exit, 0, message, failedArg) ?? exit
}

/**
 * What an ask needs from its fiber's context — the asking actor, if any, and whether the clock
 * is the live one — kept for the last context seen: contexts are immutable, and a loop of asks
 * (or an actor's handler) asks from the same one each time. Looking both up in the context was
 * ~10 % of a local ask. (This holds on to that one context until an ask from another.)
 */
let askerContext: unknown = undefined
let askerSelf: ActorRef<any> | undefined = undefined
let askerLiveClock = false

const learnAsker = (fiber: Fiber.Fiber<unknown, unknown>): void => {
  askerContext = fiber.context
  askerSelf = Context.currentSelf(fiber)
  askerLiveClock = Deadlines.isLiveClock(fiber.getRef(Clock.Clock))
}

const askEffect = (
  ref: ActorRef<any>,
  target: Target,
  message: { readonly _tag: string },
  sender: ActorRef<any> | undefined,
  timeout: Duration.Duration,
  liveClock: boolean,
  span: Tracer.AnySpan | undefined,
  failed: AskFailed | undefined,
  failedArg: unknown,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<any, any> => {
  const timeoutMillis = Duration.toMillis(timeout)
  const timedOut = () => new AskTimeout({ actor: ref.key, message: message._tag, timeoutMillis })
  // With the live clock, the deadline is an entry in a queue shared by the asks with the same
  // timeout (internal/deadlines.ts), not a timer per ask: `timeoutOrElse` would race two forked
  // fibers per ask (measured: most of the ask's own CPU cost). Any other clock (TestClock)
  // keeps `timeoutOrElse`, which sleeps on that clock.
  const direct = Deadlines.fits(timeoutMillis) && liveClock
  // with a deadline, the time an ask was made is its deadline's less the timeout: no clock is
  // read for `failed` until it is called
  const clock = failed !== undefined && !direct ? fiber.getRef(Clock.Clock) : undefined
  const request = Effect.callback<any, any>((resume) => {
    let done = false
    let sending = true
    let cancelWait: (() => void) | undefined
    let timer: Deadlines.Deadline | undefined
    const started = clock?.currentTimeMillisUnsafe() ?? 0
    const reply: Reply = (result) => {
      if (done) return
      done = true
      if (timer !== undefined) Deadlines.cancel(timer)
      let exit: Effect.Effect<any, any> = result
      if (failed !== undefined && result._tag === "Failure") {
        const elapsed = timer !== undefined ? Deadlines.elapsed(timer) : clock!.currentTimeMillisUnsafe() - started
        exit = failed(result, elapsed, message, failedArg) ?? result
      }
      // An ask refused while it is being sent (NoProc, NodeDown, MailboxFull...) completes its
      // fiber without suspending it; a loop of such asks (`Effect.forEach` with concurrency
      // forks each one and goes on while they end at once) would never yield, and a node
      // sending to a peer that just went down would starve its own timers and sockets for as
      // long as the loop lasts — its heartbeats with them. The refusal resumes after I/O.
      if (sending) afterIo(() => resume(exit))
      else resume(exit)
    }
    if (span !== undefined) reply.span = span
    const attempt = () => {
      cancelWait = undefined
      if (done) return
      const result = target.offer(message, reply, sender)
      if (typeof result === "object") return reply(Effect.fail(result) as any)
      switch (result) {
        case Offer.Ok:
          return
        case Offer.Full:
          cancelWait = target.waitForSpace(attempt)
          return
        case Offer.Dead:
          // a remote target has answered already (NodeDown, NoProc): build no error for nothing
          return done ? undefined : reply(Effect.fail(new NoProc({ actor: ref.key })) as any)
        default:
          return reply(Effect.fail(ref.mailboxFull(target)) as any)
      }
    }
    const cancel = () => {
      done = true
      if (timer !== undefined) Deadlines.cancel(timer)
      cancelWait?.()
      target.cancelAsk?.(reply)
    }
    if (direct) {
      timer = Deadlines.after(timeoutMillis, () => {
        if (done) return
        cancel()
        resume(Effect.fail(timedOut()))
      })
    }
    attempt()
    sending = false
    return Effect.sync(cancel)
  })
  if (direct || timeoutMillis === Infinity) return request
  return request.pipe(Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(timedOut()) }))
}

/**
 * Runs `f` after pending I/O, in the order given, at most `AFTER_IO_SLICE` per turn: a
 * `setImmediate` each let every refusal queued in one turn run in the next one together, and a
 * loop of 50 000 asks to a node that went down (each refused, then asking again) held every
 * turn of the event loop for a second or more, heartbeats with it.
 */
const afterIo = (f: () => void): void => {
  if (afterIoQueue.push(f) === 1) setImmediate(runAfterIo)
}

const AFTER_IO_SLICE = 1024
let afterIoQueue: Array<(() => void) | undefined> = []
let afterIoHead = 0

const runAfterIo = (): void => {
  const queue = afterIoQueue
  const end = Math.min(queue.length, afterIoHead + AFTER_IO_SLICE)
  try {
    while (afterIoHead < end) {
      const f = queue[afterIoHead]!
      queue[afterIoHead++] = undefined
      f()
    }
  } finally {
    if (afterIoHead < queue.length) {
      setImmediate(runAfterIo)
    } else {
      afterIoQueue = []
      afterIoHead = 0
    }
  }
}

/** What `tell` does when it runs: the send, then `Effect.void` or what is left to do (wait for room, or fail). */
const send = (ref: ActorRef<any>, message: unknown): Effect.Effect<void, TellError> => {
  const target = ref.target
  const invalid = target.validate(message)
  if (invalid !== undefined) return Effect.fail(invalid)
  const result = target.offer(message, undefined, undefined)
  if (result === Offer.Full) return offerWhenSpace(ref, target, message)
  if (result === Offer.Rejected) return Effect.fail(ref.mailboxFull(target))
  if (typeof result === "object") return Effect.fail(result)
  return Effect.void
}

/**
 * The effect `tell` returns. To the fiber it is an `Effect.suspend` of `send` (its thunk made only
 * when the fiber runs it). Under `yield*` in a generator it sends at that point, as the fiber
 * would have, and when the message is in the mailbox the generator goes on without a fiber step
 * at all (about half the cost of a `yield* ref.tell` was those steps); what is left to do (waiting
 * for room, a failure, a throw as a defect) goes to the fiber as usual. One such send in
 * `INLINE_SENDS` yields to the scheduler first, so a loop of sends still lets other fibers run
 * about as often as Effect's own op budget did.
 *
 * Built on `Effect.suspend`'s prototype, whose thunk slot is found by probing; when that fails
 * (another Effect version), `tell` is a plain `Effect.suspend`.
 */
const INLINE_SENDS = 1024
let inlineSends = INLINE_SENDS
const sent: IteratorResult<never, void> = { done: true, value: undefined }
const sentIterator: Iterator<never, void, unknown> = { next: () => sent }

const TellEffect: (new(ref: ActorRef<any>, message: unknown) => Effect.Effect<void, TellError>) | undefined = (() => {
  const probeThunk = () => Effect.void
  const probe = Effect.suspend(probeThunk) as any
  const thunkKey = Object.keys(probe).find((k) => probe[k] === probeThunk)
  if (thunkKey === undefined) return undefined
  function TellEffect(this: any, ref: ActorRef<any>, message: unknown) {
    this.ref = ref
    this.message = message
  }
  TellEffect.prototype = Object.create(Object.getPrototypeOf(probe), {
    [thunkKey]: {
      get(this: { ref: ActorRef<any>; message: unknown }) {
        const ref = this.ref
        const message = this.message
        return () => send(ref, message)
      }
    },
    [Symbol.iterator]: {
      value(this: { ref: ActorRef<any>; message: unknown } & Effect.Effect<void, TellError>) {
        if (--inlineSends <= 0) {
          inlineSends = INLINE_SENDS
          return Effect.andThen(Effect.yieldNow, this)[Symbol.iterator]()
        }
        let rest: Effect.Effect<void, TellError>
        try {
          rest = send(this.ref, this.message)
        } catch (defect) {
          return Effect.die(defect)[Symbol.iterator]()
        }
        return rest === Effect.void ? sentIterator : rest[Symbol.iterator]()
      }
    }
  })
  const check = new (TellEffect as any)(undefined, undefined)
  return typeof check[thunkKey] === "function" ? TellEffect as any : undefined
})()

const offerWhenSpace = (ref: ActorRef<any>, target: Target, message: unknown): Effect.Effect<void, TellError> =>
  Effect.callback<void, TellError>((resume) => {
    let cancel: (() => void) | undefined
    const attempt = () => {
      const result = target.offer(message, undefined, undefined)
      if (result === Offer.Full) {
        cancel = target.waitForSpace(attempt)
      } else {
        cancel = undefined
        resume(
          result === Offer.Rejected
            ? Effect.fail(ref.mailboxFull(target))
            : typeof result === "object"
            ? Effect.fail(result)
            : Effect.void
        )
      }
    }
    cancel = target.waitForSpace(attempt)
    return Effect.sync(() => cancel?.())
  })

/** Refs are values: in messages they are encoded as their address and bound again on decode. */
export const schema: Schema.Codec<ActorRef<any>, typeof ActorAddress.Encoded> = ActorAddress.pipe(
  Schema.decodeTo(
    Schema.instanceOf(ActorRef),
    SchemaTransformation.transform({
      decode: (address: ActorAddress) => new ActorRef(address, undefined, Binding.decodingResolver() ?? Binding.fiberResolver()),
      encode: (ref: ActorRef<any>) => ref.address
    })
  )
) as any

/** A Schema for refs of one protocol (the type parameter documents what the ref accepts). */
export const schemaFor = <D extends MessageDefs>(_protocol: { readonly defs: D }): Schema.Codec<
  ActorRef<D>,
  typeof ActorAddress.Encoded
> => schema as any
