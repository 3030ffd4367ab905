/**
 * The actor cell: one actor's mailbox, state machine, links, monitors and children.
 *
 * Life cycle: `Starting` (the behaviour's init is running; messages queue up) → `Running`
 * (drained by the dispatcher, one message at a time) → `Stopping` (the current handler is
 * interrupted, children stop in reverse order, the scope's finalizers run) → `Dead` (queued
 * messages become dead letters, monitors and links are notified — after cleanup, as in Erlang,
 * so a watcher that restarts the actor never races its predecessor's finalizers — and then
 * pending asks, the one whose handler crashed included, fail with `ActorStopped`).
 *
 * The cell is also the `ActorContext` service given to its behaviour: no per-actor closures.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import * as ExitReason from "../ExitReason.ts"
import { Down, ExitSignal, MonitorRef } from "../Signals.ts"
import {
  type AnyProtocol,
  type Behavior,
  DispatchTypeId,
  ForkTypeId,
  GuardTypeId,
  HandlerTypeId,
  type Handlers,
  IncarnationTypeId,
  type MessageDefs
} from "../Actor.ts"
import { ActorContext, type ActorContextShape, type MonitorTarget, type SupervisorCapability } from "../ActorContext.ts"
import { ActorStopped, InvalidMessage, MailboxFull, SpawnError } from "../ActorError.ts"
import { ActorRef } from "../ActorRef.ts"
import type { DeadLetterReason } from "../DeadLetter.ts"
import { type Entry, MessageQueue, type OverflowPolicy } from "../Mailbox.ts"
import type { SpawnOptions } from "../SpawnOptions.ts"
import type { SupervisionEvent } from "../SupervisionEvent.ts"
import type { Activatable } from "./dispatcher.ts"
import { withActorLoggers } from "./logging.ts"
import type { SystemCore } from "./system.ts"
import { Offer, type Reply, type Target } from "./target.ts"
import * as Tracing from "./tracing.ts"
import { exitNow, failureProto, handlerExitNow, successProto, syncProto, syncThunkKey } from "../../internal/effectShape.ts"
import { WaitQueue } from "../../internal/WaitQueue.ts"

export const State = { Starting: 0, Running: 1, Stopping: 2, Dead: 3 } as const

const validators = new WeakMap<object, (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
const validatorFor = (schema: Schema.Top): (u: unknown) => Exit.Exit<unknown, Schema.SchemaError> => {
  let v = validators.get(schema)
  if (v === undefined) {
    v = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>) as any
    validators.set(schema, v!)
  }
  return v!
}

/**
 * A behaviour's optional method, called synchronously when an actor spawned with it begins to
 * stop (for any reason), before its queued messages become dead letters: a runtime that moves
 * an actor's messages to its successor (sharded entities) takes them then (`takeQueued`).
 */
export const StoppingHook: unique symbol = Symbol.for("telex/Kernel/StoppingHook")

export class Cell extends MessageQueue implements Target, ActorContextShape, Activatable {
  // The fields a message reads come first: an object's fields are laid out in the order they
  // are declared, and a message to an actor not used for a while (one of many) then misses the
  // cache on the first two or three lines of it rather than on all six. The mailbox's own fields
  // come before them (the cell is its mailbox: one object per message, not two, each a cache miss
  // for an actor among many not used lately, and one object fewer per actor).
  state: number = State.Starting
  /** what its spawn options decide (its mailbox's bound, ...): shared by the actors spawned alike */
  readonly config: CellConfig
  scheduled = false
  /** messages accepted into the mailbox (the observer's per-actor rate) */
  delivered = 0
  readonly system: SystemCore
  /**
   * `behavior.protocol`, kept here: an inbound message reads it, and the cell is touched anyway
   * (a sharded entity's behaviour is an object of its own, one more cache miss per message)
   */
  readonly protocol: AnyProtocol
  handlers: Handlers<MessageDefs, any> | undefined = undefined
  /** the handlers object a wrapper's `handlers` calls for now, called directly (see `Actor.IncarnationTypeId`) */
  direct: any = undefined
  stopRequested: ExitReason.ExitReason | undefined = undefined
  putWaiters: WaitQueue | undefined = undefined
  /** one-shot callbacks for when the mailbox has drained to half its capacity (remote flow control) */
  lowWater: Array<() => void> | undefined = undefined
  sender: ActorRef<any> | undefined = undefined
  currentReply: Reply | undefined = undefined
  // (read by wrapped actors' messages only: after what every message reads)
  /** the tag of the last message handled through `direct`, and its handler */
  directTag: unknown = undefined
  directHandler: ((message: unknown) => any) | undefined = undefined
  /** the drain fiber (a turn that needs none does not touch this field) */
  fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined

  readonly self: ActorRef<any>
  readonly behavior: Behavior<any, any, any>
  readonly name: string | undefined
  readonly parent: Cell | undefined
  readonly scope: Scope.Closeable

  /** handlers forked with `Actor.fork` still running */
  forked = 0
  /** their fibers (made at the first) */
  forkedFibers: Set<Fiber.Fiber<unknown, unknown>> | undefined = undefined
  /** the asks those handlers still owe a reply, by fiber: failed when the actor is gone */
  forkedAsks: Map<Fiber.Fiber<unknown, unknown>, Reply> | undefined = undefined
  trapping = false
  context: Context.Context<never> | undefined = undefined
  /** the spawner's fiber, while it runs this actor's init */
  initFiber: Fiber.Fiber<unknown, unknown> | undefined = undefined
  exitReason: ExitReason.ExitReason | undefined = undefined

  // allocated on first use: most actors never link, monitor, spawn or use timers
  links: Map<string, ActorRef<any>> | undefined = undefined
  monitors: Map<number, ActorRef<any>> | undefined = undefined
  watching: Map<number, MonitorRef> | undefined = undefined
  /** monitors whose Down is queued here and not yet handled (for `demonitor`'s result) */
  downsQueued: Set<number> | undefined = undefined
  /** cancels the node monitors of this actor, by monitor id */
  nodeWatches: Map<number, () => void> | undefined = undefined
  children: Set<Cell> | undefined = undefined
  exitObservers: Array<(reason: ExitReason.ExitReason) => void> | undefined = undefined
  timers: Map<string, Fiber.Fiber<unknown, unknown>> | undefined = undefined
  /** per timer key, the message of its last fire, which may still be in the mailbox */
  timersFired: Map<string, unknown> | undefined = undefined

  constructor(
    system: SystemCore,
    id: number,
    behavior: Behavior<any, any, any>,
    options: SpawnOptions | undefined,
    parent: Cell | undefined
  ) {
    super()
    this.system = system
    this.behavior = behavior
    this.protocol = behavior.protocol as unknown as AnyProtocol
    this.parent = parent
    this.name = options?.name
    this.config = cellConfig(system, options, behavior.shutdown)
    this.scope = Scope.makeUnsafe()
    this.self = new ActorRef({ node: system.nodeId, id, protocol: behavior.protocol.name }, this, system)
  }

  get capacity(): number {
    return this.config.capacity
  }

  get overflow(): OverflowPolicy {
    return this.config.overflow
  }

  get throughput(): number {
    return this.config.throughput
  }

  get validating(): boolean {
    return this.config.validating
  }

  /** the budget of a stop that comes without one (`SpawnOptions.shutdown`) */
  get stopBudget(): number {
    return this.config.stopBudget
  }

  /** its mailbox: the cell itself */
  get mailbox(): MessageQueue {
    return this
  }

  /** handling messages now: its drain fiber runs (until the turn's last handler has ended) */
  get busy(): boolean {
    return this.fiber !== undefined || syncTurn === this
  }

  runsHandlerIn(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.fiber === fiber || this.initFiber === fiber
  }

  get isAlive(): boolean {
    return this.state < State.Stopping
  }


  // -------------------------------------------------------------------------
  // Target: delivery
  // -------------------------------------------------------------------------

  validate(message: unknown): InvalidMessage | undefined {
    if (!this.validating) return undefined
    const exit = validatorFor(this.behavior.protocol.schema)(message)
    if (Exit.isSuccess(exit)) return undefined
    const error = Cause.findErrorOption(exit.cause)
    const issue = error._tag === "Some" ? error.value.message : Cause.pretty(exit.cause)
    this.system.deadLetter(this.self.key, message, { _tag: "InvalidMessage", issue })
    return new InvalidMessage({ actor: this.self.key, protocol: this.behavior.protocol.name, issue })
  }

  offer(message: unknown, reply: Reply | undefined, sender: ActorRef<any> | undefined, force = false): Offer {
    if (this.state >= State.Stopping) {
      this.system.deadLetter(this.self.key, message, this.stoppedReason())
      return Offer.Dead
    }
    if (!force && this.mailbox.size >= this.capacity) {
      switch (this.overflow) {
        case "backpressure":
          return Offer.Full
        case "fail":
          return Offer.Rejected
        case "dropNewest":
          this.system.deadLetter(this.self.key, message, { _tag: "MailboxFull", capacity: this.capacity })
          if (reply !== undefined) reply(Exit.fail(new MailboxFull({ actor: this.self.key, capacity: this.capacity })))
          return Offer.Dropped
        case "dropOldest":
          if (!this.evictOldest()) {
            this.system.deadLetter(this.self.key, message, { _tag: "MailboxFull", capacity: this.capacity })
            if (reply !== undefined) {
              reply(Exit.fail(new MailboxFull({ actor: this.self.key, capacity: this.capacity })))
            }
            return Offer.Dropped
          }
      }
    }
    this.mailbox.push(message, reply, sender)
    this.system.deliveredCount++
    this.delivered++
    if (!this.scheduled && this.state === State.Running) {
      this.scheduled = true
      this.system.dispatcher.schedule(this)
    }
    return Offer.Ok
  }

  /** Accepts a message regardless of the mailbox bound (signals, timers, `tellUnsafe`). */
  forceOffer(message: unknown): void {
    this.offer(message, undefined, undefined, true)
  }

  private evictOldest(): boolean {
    const head = this.mailbox
    let evicted: { message: unknown; reply: unknown } | undefined
    const first = head.peek()
    if (!(first instanceof Down || first instanceof ExitSignal)) {
      const entry: Entry = { message: undefined, reply: undefined, sender: undefined }
      head.shift(entry)
      evicted = entry
    } else {
      // never drop a signal, nor move one: what an actor receives from another stays in the order
      // it was sent (Erlang's signal order), so the oldest user message is taken from where it is
      // (signals are rare: this walk is too); the newcomer is refused when there are only signals
      head.removeWhere((message, reply) => {
        if (evicted !== undefined || message instanceof Down || message instanceof ExitSignal) return false
        evicted = { message, reply }
        return true
      })
      if (evicted === undefined) return false
    }
    this.system.deadLetter(this.self.key, evicted.message, { _tag: "MailboxFull", capacity: this.capacity })
    if (evicted.reply !== undefined) {
      ;(evicted.reply as Reply)(Exit.fail(new MailboxFull({ actor: this.self.key, capacity: this.capacity })))
    }
    return true
  }

  waitForSpace(wake: () => void): () => void {
    if (this.state >= State.Stopping || this.mailbox.size < this.capacity) {
      queueMicrotask(wake)
      return noop
    }
    return (this.putWaiters ??= new WaitQueue()).add(wake)
  }

  /**
   * Calls `f` once the mailbox holds at most half its capacity, or the actor is stopping. Half,
   * not one free slot: a remote sender released at the first free slot would be held again at
   * once, a control envelope per message.
   */
  onLowWater(f: () => void): void {
    if (this.state >= State.Stopping || this.mailbox.size <= this.capacity >> 1) return f()
    ;(this.lowWater ??= []).push(f)
  }

  /**
   * After a message was taken: wakes as many suspended local senders as there is room for (each
   * retries its offer, and waits again if it lost the race), and the low-water callbacks.
   */
  wakePutters(): void {
    const low = this.lowWater
    if (low !== undefined && this.mailbox.size <= this.capacity >> 1) {
      this.lowWater = undefined
      for (const f of low) f()
    }
    const waiters = this.putWaiters
    if (waiters === undefined || waiters.size === 0) return
    let room = this.capacity - this.mailbox.size
    while (room-- > 0 && waiters.size > 0) waiters.shift()!()
  }

  signal(message: Down | ExitSignal): void {
    if (message instanceof Down && this.watching?.has(message.monitor.id) === true && this.state < State.Stopping) {
      ;(this.downsQueued ??= new Set()).add(message.monitor.id)
    }
    this.offer(message, undefined, undefined, true)
  }

  private stoppedReason(): DeadLetterReason {
    return this.exitReason === undefined
      ? { _tag: "NoSuchActor" }
      : { _tag: "ActorStopped", reason: this.exitReason }
  }

  // -------------------------------------------------------------------------
  // Activatable: running handlers
  // -------------------------------------------------------------------------

  activate(): void {
    if (this.state !== State.Running) {
      this.scheduled = false
      return
    }
    // A turn starts without a fiber: handlers whose effect is an Exit or an `Effect.sync` run
    // here; at the first that needs the fiber (or a signal, or an unknown tag), the rest of the
    // turn goes to a drain fiber. Waking an idle actor for one message then costs no fiber.
    const handoff = this.syncTurn()
    if (handoff === undefined) return
    const fiber = Effect.runForkWith(this.context!)(drain)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) {
      this.fiber = undefined
      this.afterDrain(exit)
    } else {
      fiber.addObserver((exit) => {
        this.fiber = undefined
        this.afterDrain(exit)
      })
    }
  }

  /**
   * The fiberless part of a turn. Returns the hand-off for a drain fiber (also left in
   * `handoff`), or undefined when the turn is over (and its end handled).
   */
  private syncTurn(): Handoff | undefined {
    const handlers = this.handlers as any
    const direct = this.direct
    const mailbox = this.mailbox
    const entry = turnEntry
    let budget = this.throughput
    let failure: Cause.Cause<unknown> | undefined = undefined
    let pending: Handoff | undefined = undefined
    syncTurn = this
    try {
      while (budget > 0 && this.state === State.Running && this.stopRequested === undefined && mailbox.size > 0) {
        const message = mailbox.peek() as any
        if (message instanceof Down || message instanceof ExitSignal) {
          pending = { budget, message: undefined, reply: undefined, sender: undefined, effect: undefined }
          break
        }
        // a wrapper's inner handler is called directly (see Actor.IncarnationTypeId), and the last
        // one kept here; a tag it lacks goes through the wrapper
        let inner: any = undefined
        if (direct !== undefined) {
          const tag = message?._tag
          if (tag === this.directTag && tag !== undefined) inner = this.directHandler
          else if ((inner = handlers[HandlerTypeId](handlers, tag)) !== undefined) {
            this.directTag = tag
            this.directHandler = inner
          }
        }
        const handler = inner ?? handlers[message?._tag]
        if (handler === undefined) {
          pending = { budget, message: undefined, reply: undefined, sender: undefined, effect: undefined }
          break
        }
        mailbox.shift(entry)
        budget--
        if (this.putWaiters !== undefined || this.lowWater !== undefined) this.wakePutters()
        const reply = entry.reply as Reply | undefined
        const sender = entry.sender as ActorRef<any> | undefined
        entry.message = entry.reply = entry.sender = undefined
        this.sender = sender
        // a traced ask carries its span on the reply: its handler runs in the drain fiber, in the span
        const untraced = reply?.span === undefined
        const effect = inner === undefined ? handle(handlers, handler, message, untraced) : handleInner(handlers, direct, inner, message, untraced)
        if (effect[ForkTypeId] === true || !untraced) {
          pending = { budget, message, reply, sender, effect }
          break
        }
        if (reply === undefined) {
          const done = runNow(effect)
          if (done === undefined) {
            pending = { budget, message, reply, sender, effect }
            break
          }
          if (done !== true) {
            failure = (done as Exit.Failure<unknown, unknown>).cause
            break
          }
          continue
        }
        this.currentReply = reply
        const exit = exitNow(effect)
        if (exit === undefined) {
          pending = { budget, message, reply, sender, effect }
          break
        }
        // stopped by its own handler: the ask fails with ActorStopped when the actor is finalized
        if (this.state !== State.Running) break
        this.currentReply = undefined
        failure = this.answer(reply, exit)
        if (failure !== undefined) break
      }
    } catch (defect) {
      // a handler (or a reply) threw: a defect, as in the drain fiber
      failure = Cause.die(defect)
      pending = undefined
    } finally {
      syncTurn = undefined
    }
    if (syncStop) {
      // stopped from within a handler: finish the stop now that it has returned
      syncStop = false
      const timeout = syncStopTimeout
      syncStopTimeout = undefined
      if (pending?.reply !== undefined) this.currentReply = pending.reply
      this.scheduled = false
      this.stopNow(this.exitReason!, timeout)
      return undefined
    }
    if (pending !== undefined) {
      handoff = pending
      return pending
    }
    this.afterDrain(failure === undefined ? Exit.void : Exit.failCause(failure))
    return undefined
  }

  /** The end of a turn (its drain fiber, if it had one, is gone). */
  private afterDrain(exit: Exit.Exit<unknown, unknown>): void {
    if (this.state !== State.Running) {
      this.scheduled = false
      return
    }
    if (Exit.isFailure(exit)) {
      this.scheduled = false
      this.terminate(ExitReason.fromCause(exit.cause))
    } else if (this.stopRequested !== undefined) {
      this.scheduled = false
      this.terminate(this.stopRequested, undefined, true)
    } else if (this.mailbox.size > 0) {
      this.system.dispatcher.schedule(this)
    } else {
      this.scheduled = false
    }
  }

  /**
   * Answers an ask with its handler's exit. A crash (a defect or an interruption) is returned: it
   * ends the actor, and the ask fails with ActorStopped once the actor is gone (with its links and
   * monitors signalled, as for the asks still queued).
   */
  answer(reply: Reply | undefined, exit: Exit.Exit<unknown, unknown>): Cause.Cause<unknown> | undefined {
    if (Exit.isSuccess(exit) || !isCrash(exit.cause)) {
      reply?.(exit)
      return undefined
    }
    if (reply !== undefined) this.onExit((reason) => this.failReply(reply, reason))
    return exit.cause
  }

  /**
   * Runs a handler marked with `Actor.fork` in its own fiber in the actor's scope: one finalizer
   * (added at the first) interrupts those still running, so an ended one leaves nothing behind
   * (a finalizer per handler, holding its fiber and result, would grow the scope of a long-lived
   * actor that forks one per message).
   */
  forkHandler(effect: Effect.Effect<unknown, unknown>, reply: Reply | undefined): void {
    this.forked++
    const handler: ForkedHandlerState = { cell: this, stop: undefined, ended: false }
    // (in its context, not found by fiber: the fiber runs as it is forked, before it is known)
    const fiber = Effect.runForkWith(Context.add(this.context!, ForkedHandler, handler))(Effect.exit(effect))
    let running = this.forkedFibers
    if (running === undefined) {
      const fibers = running = this.forkedFibers = new Set()
      Effect.runFork(Scope.addFinalizer(this.scope, Effect.suspend(() => Fiber.interruptAll(Array.from(fibers)))))
    }
    running.add(fiber)
    if (reply !== undefined) (this.forkedAsks ??= new Map()).set(fiber, reply)
    fiber.addObserver((result) => {
      running.delete(fiber)
      this.forked--
      // not owed once the actor is gone: its end failed the ask (a dead actor does not reply)
      const owed = reply !== undefined && this.forkedAsks?.delete(fiber) === true ? reply : undefined
      handler.ended = true
      const stop = handler.stop
      if (result._tag !== "Success") {
        // interrupted because the actor is stopping: the ask must not wait for its timeout, and
        // fails once the actor is gone (as the asks still queued)
        if (owed !== undefined) this.onExit((reason) => this.failReply(owed, reason))
        return
      }
      const exit = result.value
      const crash = this.answer(owed, exit)
      if (crash !== undefined) this.terminate(ExitReason.fromCause(crash))
      else if (stop !== undefined) this.requestStop(stop)
    })
  }

  // -------------------------------------------------------------------------
  // links, monitors, exit signals
  // -------------------------------------------------------------------------

  /**
   * An exit signal: from a linked actor's exit, or (`direct`) sent by `system.exit` as Erlang's
   * `exit/2`, which leaves links alone and stops the sender itself on a `Normal` exit to self.
   */
  exitSignal(from: ActorRef<any>, reason: ExitReason.ExitReason, untrappable = false, direct = false): void {
    if (this.state >= State.Stopping) {
      if (this.state === State.Stopping) this.exitSignalStopping(from, reason, untrappable, direct)
      return
    }
    if (!direct) this.links?.delete(from.key)
    if (untrappable) return this.terminate(ExitReason.killed)
    if (this.trapping) return this.signal(new ExitSignal(from, reason))
    if (ExitReason.isNormal(reason) && !(direct && from.key === this.self.key)) return
    endedBySignal.add(this)
    // its cleanup has its stop budget, as a stop's (OTP's process is dead at once)
    this.terminate(reason, this.stopBudget)
  }

  /**
   * An exit signal to an actor that is stopping, which is alive until it is gone (a process in
   * its terminate/2): the kill signal, and an abnormal signal when it does not trap exits (and
   * is not stopping because an earlier signal ended it: that one's reason stands, as a process
   * is dead after the first), end it at once with that reason — nobody waits for its cleanup any longer, and the children it is
   * still stopping are killed with it. The signals of its own children, which its stop is
   * stopping, do not.
   */
  private exitSignalStopping(from: ActorRef<any>, reason: ExitReason.ExitReason, untrappable: boolean, direct: boolean): void {
    if (untrappable) return this.shutdown(ExitReason.killed, undefined, 0)
    if (!direct) this.links?.delete(from.key)
    if (this.trapping || endedBySignal.has(this)) return
    if (ExitReason.isNormal(reason) && !(direct && from.key === this.self.key)) return
    const sender = from._target
    if (!direct && sender instanceof Cell && sender.parent === this) return
    // stopped during its init: ended as a kill past the budget ends it (killStartingAfter); once
    // the init has ended, it is in its finalizers as any stopping actor
    if (this.initFiber !== undefined) return this.killStartingAfter(0, reason)
    this.exitReason = reason
    orderlyKilled.delete(this)
    this.killChildren()
    finalizeSoon(this)
  }

  addLink(from: ActorRef<any>): void {
    if (this.state === State.Dead) return from.target.exitSignal(this.self, ExitReason.noproc)
    ;(this.links ??= new Map()).set(from.key, from)
  }

  removeLink(from: ActorRef<any>): void {
    this.links?.delete(from.key)
  }

  addMonitor(id: number, watcher: ActorRef<any>): void {
    if (this.state === State.Dead) {
      return watcher.target.signal(new Down(new MonitorRef(id, this.self), this.self, ExitReason.noproc))
    }
    ;(this.monitors ??= new Map()).set(id, watcher)
  }

  removeMonitor(id: number): void {
    this.monitors?.delete(id)
  }

  onExit(f: (reason: ExitReason.ExitReason) => void): () => void {
    if (this.state === State.Dead) {
      f(this.exitReason!)
      return noop
    }
    const observers = (this.exitObservers ??= [])
    observers.push(f)
    return () => {
      const i = observers.indexOf(f)
      if (i >= 0) observers.splice(i, 1)
    }
  }

  shutdown(
    reason: ExitReason.ExitReason,
    onExit?: (reason: ExitReason.ExitReason) => void,
    timeoutMillis?: number
  ): void {
    if (onExit !== undefined) this.onExit(onExit)
    if (timeoutMillis === undefined) {
      timeoutMillis = this.stopBudget
      if (this.config.brutalStop) reason = ExitReason.killed
    }
    // already stopping by itself (its own stop, a crash): the budget still holds, and past it the
    // actor is killed, as OTP's supervisor kills a child that has not exited within its shutdown
    if (this.state === State.Stopping && timeoutMillis !== undefined && Number.isFinite(timeoutMillis)) {
      if (this.initFiber !== undefined) return this.killStartingAfter(timeoutMillis)
      // running its finalizers: after its handlers, or after an init that ended while it stopped
      return this.killAfter(timeoutMillis)
    }
    this.terminate(reason, timeoutMillis)
  }

  /** Stopping (or gone) because it was killed: brutally or past a budget, not by an orderly stop with reason `Killed`. */
  get killedBrutally(): boolean {
    return this.exitReason?._tag === "Killed" && !orderlyKilled.has(this)
  }

  private killAfter(millis: number): void {
    if (millis <= 0) return this.kill()
    const timer = Effect.runForkWith(this.context ?? Context.empty())(Effect.sleep(millis))
    timer.addObserver((exit) => {
      if (Exit.isSuccess(exit)) this.kill()
    })
    this.onExit(() => timer.interruptUnsafe())
  }

  // -------------------------------------------------------------------------
  // termination
  // -------------------------------------------------------------------------

  /**
   * Starts stopping this actor. `timeoutMillis` bounds the orderly part (children and
   * finalizers); past it the actor is considered killed (OTP's shutdown timeout). `Killed` is a
   * kill, unless `orderly`: a stop the actor asked itself (`ctx.stop`, or a trapped exit signal
   * from its parent), which is an ordinary stop with that reason, as a process whose
   * terminate/2 runs with reason `killed`.
   */
  terminate(reason: ExitReason.ExitReason, timeoutMillis?: number, orderly = false): void {
    if (this.state >= State.Stopping) return
    const wasStarting = this.state === State.Starting
    this.state = State.Stopping
    this.exitReason = reason
    if (orderly && reason._tag === "Killed") orderlyKilled.add(this)
    const hook = (this.behavior as { [StoppingHook]?: (cell: Cell) => void })[StoppingHook]
    if (hook !== undefined) hook.call(this.behavior, this)
    // a stopping actor takes no more messages: its suspended senders fail (an ask with NoProc) or
    // dead-letter (a tell) now, not once its children and finalizers are done; the tells queued
    // before theirs become dead letters first, so they come in the order they were sent (the
    // queued asks fail when the actor is gone, after its monitors and links, as always)
    if (this.putWaiters !== undefined && this.putWaiters.size > 0) {
      const self = this.self.key
      this.mailbox.removeWhere((message, reply) => {
        if (reply !== undefined || message instanceof Down || message instanceof ExitSignal) return false
        this.system.deadLetter(self, message, { _tag: "ActorStopped", reason })
        return true
      })
    }
    this.releaseSenders()
    // init runs in the spawner's fiber, which is not ours to interrupt: initCell finishes the job,
    // or, when the init outlasts the stop's budget, killStarting
    if (wasStarting) {
      // a kill does not wait; any other stop waits within its budget (the actor's own if none)
      const budget = this.killedBrutally ? 0 : timeoutMillis ?? this.stopBudget
      if (Number.isFinite(budget)) this.killStartingAfter(budget)
      return
    }
    // stopped from within a handler of a fiberless turn: the turn finishes the stop once that
    // handler has returned, as a drain fiber would be awaited
    if (syncTurn === this) {
      syncStop = true
      syncStopTimeout = timeoutMillis
      return
    }
    this.stopNow(reason, timeoutMillis)
  }

  /**
   * A stop with a budget asked while the init runs: past the budget, if the init is still running
   * (an init that never ends would hold the stop, and its system's stop, for ever), the actor
   * counts as killed — gone, its monitors told, its asks failed, its children stopped — and the
   * spawn fails once the init ends (initCell), which then closes its scope. As for a failed
   * start, its links are not signalled: its spawner learns it from the spawn.
   */
  private killStartingAfter(millis: number, reason: ExitReason.ExitReason = ExitReason.killed): void {
    const timer = Effect.runForkWith(this.context ?? Context.empty())(Effect.sleep(Math.max(0, millis)))
    timer.addObserver((exit) => {
      if (Exit.isFailure(exit) || this.state !== State.Stopping) return
      orderlyKilled.delete(this)
      if (this.initFiber === undefined) {
        // the init ended within the budget, and the actor runs its finalizers (a failed start's):
        // the budget, counted from the stop, holds for them too, as for any stop
        this.exitReason = reason
        this.killChildren()
        return finalizeSoon(this)
      }
      unlinkSpawner(this)
      this.exitReason = reason
      const children = this.children
      this.children = undefined
      if (children !== undefined) for (const child of children) child.shutdown(ExitReason.shutdown)
      this.finalize()
    })
    this.onExit(() => timer.interruptUnsafe())
  }

  private stopNow(reason: ExitReason.ExitReason, timeoutMillis: number | undefined): void {
    const fiber = this.fiber
    fiber?.interruptUnsafe()
    // An idle actor without children or finalizers (most of them) has nothing to wait for: no
    // fiber to start, it is gone at once (through the trampoline, so a chain of links dying does
    // not recurse).
    if (fiber === undefined && (this.children === undefined || this.children.size === 0)) {
      const closing = Scope.closeUnsafe(this.scope, Exit.void)
      if (closing === undefined) return finalizeSoon(this)
      // finalizers to run: the orderly path below, with the scope already marked closed
      return this.stopWith(reason, Effect.uninterruptible(closing), timeoutMillis)
    }
    const orderly = Effect.gen({ self: this }, function*() {
      if (fiber !== undefined) yield* Fiber.await(fiber)
      yield* this.stopChildren()
      yield* Scope.close(this.scope, Exit.void)
    })
    this.stopWith(reason, orderly, timeoutMillis)
  }

  /** Runs the orderly part of a stop (bounded by `timeoutMillis`), then finalizes. */
  private stopWith(reason: ExitReason.ExitReason, orderly: Effect.Effect<void>, timeoutMillis: number | undefined): void {
    const brutal = this.killedBrutally
    // with the actor's context, so the shutdown budget is measured on Effect's Clock (TestClock in tests)
    const run = Effect.runForkWith(this.context ?? Context.empty())
    if (brutal) {
      // finalizers still run, but nobody waits for them; its children are killed with it (as
      // OTP's linked children see `killed`), so a child that hangs does not hold its finalizers
      this.killChildren()
      run(orderly)
      finalizeSoon(this)
      return
    }
    if (timeoutMillis === 0) {
      // a budget of 0 (OTP's `shutdown` 0 to a process that does not trap exits): gone at once
      // with its reason, as the process would be; its cleanup (the running handler's end, its
      // finalizers) still runs, but nobody waits for it. Its children are told to stop now,
      // each within its own budget, not once a handler that may never end has ended.
      const children = this.children
      if (children !== undefined) for (const child of Array.from(children).reverse()) child.shutdown(ExitReason.shutdown)
      run(orderly)
      finalizeSoon(this)
      return
    }
    const runner = run(orderly)
    if (timeoutMillis === undefined || !Number.isFinite(timeoutMillis)) {
      runner.addObserver((exit) => {
        this.cleanupCrashed(exit)
        this.finalize()
      })
      return
    }
    // Past the budget the actor counts as killed and, as for a brutal kill, nobody waits for its
    // cleanup any longer. (Not `Effect.timeout`: it would wait for the interrupted cleanup, and
    // finalizers are uninterruptible, so a finalizer that hangs would hang the stop forever.)
    const timer = run(Effect.sleep(timeoutMillis))
    runner.addObserver((exit) => {
      timer.interruptUnsafe()
      this.cleanupCrashed(exit)
      this.finalize()
    })
    timer.addObserver((exit) => {
      if (Exit.isFailure(exit) || this.state === State.Dead) return
      this.exitReason = ExitReason.killed
      orderlyKilled.delete(this)
      // the children still stopping are killed too: the orderly part, waiting for them, then
      // goes on to this actor's own finalizers (which nobody waits for any longer)
      this.killChildren()
      this.finalize()
    })
  }

  /**
   * A finalizer that died makes the crash the exit reason (as a crash in OTP's `terminate/2`),
   * unless the actor was killed meanwhile (past its budget: nobody waited for the cleanup).
   */
  private cleanupCrashed(exit: Exit.Exit<unknown, unknown>): void {
    if (Exit.isFailure(exit) && this.state === State.Stopping && !this.killedBrutally) {
      this.exitReason = ExitReason.fromCause(exit.cause)
    }
  }

  /** Kills the children still running or stopping, newest first. */
  private killChildren(): void {
    const children = this.children
    if (children === undefined || children.size === 0) return
    for (const child of Array.from(children).reverse()) child.kill()
  }

  /** Children stop in reverse spawn order, each awaited (its own finalizers first). */
  private stopChildren(): Effect.Effect<void> {
    const children = this.children
    if (children === undefined || children.size === 0) return Effect.void
    const ordered = Array.from(children).reverse()
    return Effect.forEach(ordered, (child) => awaitStop(child, ExitReason.shutdown), { discard: true })
  }

  /** The cell is gone: deliver what is owed (dead letters, replies, Down, exit signals). */
  finalize(): void {
    if (this.state === State.Dead) return
    this.state = State.Dead
    const reason = this.exitReason!
    const self = this.self
    this.system.unregister(this)
    this.parent?.children?.delete(this)
    // the asks to fail: after the monitors and links below have their signals, since a failed ask
    // resumes its asker at once, which must then find them signalled (a supervisor's mailbox
    // holding its child's exit) as a caller that got its DOWN would in Erlang
    let replies: Array<Reply> | undefined = this.currentReply === undefined ? undefined : [this.currentReply]
    this.currentReply = undefined
    // the asks of forked handlers still running (the actor killed, or gone past its budget, before
    // their fibers were interrupted): they fail now, and the handlers' late results go nowhere
    if (this.forkedAsks !== undefined) {
      for (const reply of this.forkedAsks.values()) (replies ??= []).push(reply)
      this.forkedAsks = undefined
    }
    const entry: Entry = { message: undefined, reply: undefined, sender: undefined }
    while (this.mailbox.shift(entry)) {
      if (entry.message instanceof Down || entry.message instanceof ExitSignal) continue
      if (entry.reply !== undefined) (replies ??= []).push(entry.reply as Reply)
      else this.system.deadLetter(self.key, entry.message, { _tag: "ActorStopped", reason })
    }
    if (this.watching !== undefined) {
      const watching = this.watching
      this.watching = undefined
      for (const monitor of watching.values()) this.cancelMonitor(monitor)
    }
    this.downsQueued = undefined
    if (this.monitors !== undefined) {
      const monitors = this.monitors
      this.monitors = undefined
      for (const [id, watcher] of monitors) watcher.target.signal(new Down(new MonitorRef(id, self), self, reason))
    }
    if (this.links !== undefined) {
      const links = this.links
      this.links = undefined
      for (const linked of links.values()) linked.target.exitSignal(self, reason)
    }
    if (replies !== undefined) for (const reply of replies) this.failReply(reply, reason)
    this.releaseSenders()
    const observers = this.exitObservers
    this.exitObservers = undefined
    if (observers !== undefined) for (const f of observers) f(reason)
    // let the behaviour's state be collected even if someone keeps the ref
    this.handlers = undefined
    this.direct = this.directHandler = this.directTag = undefined
    this.context = undefined
    this.timers = undefined
  }

  /**
   * Takes the messages queued in the mailbox, oldest first, but for signals and those the actor
   * sent itself (its timers'): they stay, and go with it.
   */
  takeQueued(): Array<{ readonly message: unknown; readonly reply: Reply | undefined; readonly sender: ActorRef<any> | undefined }> {
    const taken: Array<{ readonly message: unknown; readonly reply: Reply | undefined; readonly sender: ActorRef<any> | undefined }> = []
    const self = this.self
    this.mailbox.removeWhere((message, reply, sender) => {
      if (message instanceof Down || message instanceof ExitSignal || sender === self) return false
      taken.push({ message, reply: reply as Reply | undefined, sender: sender as ActorRef<any> | undefined })
      return true
    })
    return taken
  }

  /** Wakes the suspended senders and the low-water callbacks: they find the actor stopping (or gone). */
  private releaseSenders(): void {
    const waiters = this.putWaiters
    this.putWaiters = undefined
    waiters?.wakeAll()
    const low = this.lowWater
    this.lowWater = undefined
    if (low !== undefined) for (const f of low) f()
  }

  /**
   * Kills the actor now, even while it runs its finalizers (past a shutdown budget); the children
   * it is still stopping are killed with it.
   */
  kill(): void {
    if (this.state === State.Dead) return
    if (this.state < State.Stopping) return this.terminate(ExitReason.killed)
    this.exitReason = ExitReason.killed
    orderlyKilled.delete(this)
    this.killChildren()
    finalizeSoon(this)
  }

  private failReply(reply: Reply | undefined, reason: ExitReason.ExitReason): void {
    if (reply !== undefined) reply(Exit.fail(new ActorStopped({ actor: this.self.key, reason })))
  }

  // -------------------------------------------------------------------------
  // ActorContextShape
  // -------------------------------------------------------------------------

  spawn<D extends MessageDefs, E, R>(
    behavior: Behavior<D, E, R>,
    options?: SpawnOptions
  ): Effect.Effect<ActorRef<D>, SpawnError, R> {
    return this.system.spawn(behavior, options, this)
  }

  stop(reason: ExitReason.ExitReason = ExitReason.normal): Effect.Effect<void> {
    return Effect.withFiber((fiber) => {
      // from a handler marked with Actor.fork (or a fiber it forked): once that handler has
      // ended (its ask answered), as from any handler, not at once (which would interrupt the
      // handler asking for it)
      const forked = Context.getOrUndefined(fiber.context, ForkedHandler)
      if (forked !== undefined && forked.cell === this && !forked.ended) forked.stop ??= reason
      else this.requestStop(reason)
      return Effect.void
    })
  }

  /** A stop asked from within the actor: after the current message if it is handling one. */
  private requestStop(reason: ExitReason.ExitReason): void {
    if (this.busy || this.state === State.Starting) this.stopRequested ??= reason
    else this.terminate(reason, undefined, true)
  }

  link(ref: ActorRef<any>): Effect.Effect<void> {
    return Effect.suspend(() => {
      // resolve (and check) the other side before recording anything: a bad argument leaves no trace
      const target = targetOf(ref, "link")
      if (target instanceof Error) return Effect.die(target)
      // gone (a forked handler still running after its actor was killed): a dead process links to
      // nothing, and the other side would hold a link whose exit signal never comes
      if (ref.key === this.self.key || this.state === State.Dead) return Effect.void
      ;(this.links ??= new Map()).set(ref.key, ref)
      target.addLink(this.self)
      return Effect.void
    })
  }

  unlink(ref: ActorRef<any>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const target = targetOf(ref, "unlink")
      if (target instanceof Error) return Effect.die(target)
      this.links?.delete(ref.key)
      target.removeLink(this.self)
      return Effect.void
    })
  }

  monitor(what: MonitorTarget): Effect.Effect<MonitorRef> {
    return Effect.suspend(() => {
      if (typeof what === "string") return Effect.succeed(this.monitorName(what))
      if (isNamed(what)) {
        if (what.node === this.system.nodeId.name) return Effect.succeed(this.monitorName(what.name))
        return this.monitorRemoteName(what.name, what.node)
      }
      const target = targetOf(what, "monitor")
      if (target instanceof Error) return Effect.die(target)
      return Effect.succeed(this.monitorTarget(what, target, undefined))
    })
  }

  private monitorTarget(ref: ActorRef<any>, target: Target, name: string | undefined): MonitorRef {
    const monitor = new MonitorRef(this.system.nextMonitorId++, ref, name)
    // a monitor on oneself never fires: none is made (as `monitor(process, self())`); nor by an
    // actor that is gone (a forked handler still running): its Down would reach nobody
    if (target === this || this.state === State.Dead) return monitor
    ;(this.watching ??= new Map()).set(monitor.id, monitor)
    target.addMonitor(monitor.id, this.self)
    return monitor
  }

  /**
   * A monitor on whatever is registered as `name` here now — an actor that is stopping too (its
   * name is held until it is gone, and the Down carries the reason it ends with, as by ref);
   * `Down(NoProc)` at once if nothing is.
   */
  private monitorName(name: string): MonitorRef {
    const cell = this.system.names.get(name)
    if (cell !== undefined && cell.state !== State.Dead) return this.monitorTarget(cell.self, cell, name)
    return this.firedMonitor(this.system.refFor(unknownAddress(this.system.nodeId)), name, undefined, ExitReason.noproc)
  }

  /** The name is resolved on its node, then the actor found is monitored (it may die between: NoProc). */
  private monitorRemoteName(name: string, node: string): Effect.Effect<MonitorRef> {
    const placeholder = () => this.system.refFor(unknownAddress({ name: node, incarnation: 0 }))
    const remote = this.system.remote
    if (remote?.whereis === undefined) return Effect.succeed(this.firedMonitor(placeholder(), name, undefined, ExitReason.noconnection(node)))
    return remote.whereis(node, name).pipe(
      Effect.map((address) => {
        if (address === undefined) return this.firedMonitor(placeholder(), name, undefined, ExitReason.noproc)
        const ref = this.system.refFor(address)
        return this.monitorTarget(ref, ref.target, name)
      }),
      Effect.catch(() => Effect.succeed(this.firedMonitor(placeholder(), name, undefined, ExitReason.noconnection(node))))
    )
  }

  /** A monitor whose Down is queued at once. */
  private firedMonitor(ref: ActorRef<any>, name: string | undefined, node: string | undefined, reason: ExitReason.ExitReason) {
    const monitor = new MonitorRef(this.system.nextMonitorId++, ref, name, node)
    ;(this.watching ??= new Map()).set(monitor.id, monitor)
    this.signal(new Down(monitor, ref, reason))
    return monitor
  }

  monitorNode(node: string): Effect.Effect<MonitorRef> {
    return Effect.suspend(() => {
      if (typeof node !== "string" || node.length === 0) {
        return Effect.die(new TypeError(`monitorNode: expected a node name, got ${String(node)}`))
      }
      const placeholder = this.system.refFor(unknownAddress({ name: node, incarnation: 0 }))
      const remote = this.system.remote
      if (node !== this.system.nodeId.name && remote?.watchNode === undefined) {
        return Effect.succeed(this.firedMonitor(placeholder, undefined, node, ExitReason.noconnection(node)))
      }
      const monitor = new MonitorRef(this.system.nextMonitorId++, placeholder, undefined, node)
      ;(this.watching ??= new Map()).set(monitor.id, monitor)
      // this node never goes down for itself (as `monitor_node(node(), true)`)
      if (node === this.system.nodeId.name) return Effect.succeed(monitor)
      const cancel = remote!.watchNode!(node, () => {
        this.nodeWatches?.delete(monitor.id)
        this.signal(new Down(monitor, placeholder, ExitReason.noconnection(node)))
      })
      if (this.watching?.has(monitor.id) === true && this.downsQueued?.has(monitor.id) !== true) {
        ;(this.nodeWatches ??= new Map()).set(monitor.id, cancel)
      }
      return Effect.succeed(monitor)
    })
  }

  private cancelMonitor(monitor: MonitorRef): void {
    if (monitor.node !== undefined) {
      const cancel = this.nodeWatches?.get(monitor.id)
      this.nodeWatches?.delete(monitor.id)
      cancel?.()
      return
    }
    monitor.target.target.removeMonitor(monitor.id)
  }

  demonitor(monitor: MonitorRef): Effect.Effect<boolean> {
    return Effect.sync(() => {
      // only the owner can cancel a monitor: another actor handed this MonitorRef finds nothing here
      const mine = this.watching?.get(monitor?.id)
      if (mine === undefined || mine !== monitor && mine.target.key !== monitor.target?.key) return false
      // a Down already queued for it is skipped when dequeued (Erlang's demonitor + flush)
      this.watching!.delete(mine.id)
      const fired = this.downsQueued?.delete(mine.id) === true
      if (!fired) this.cancelMonitor(mine)
      return !fired
    })
  }

  trapExit(enabled: boolean): Effect.Effect<void> {
    return Effect.sync(() => {
      this.trapping = enabled
    })
  }

  startTimer(key: string, message: unknown, delay: Duration.Input): Effect.Effect<void> {
    return this.setTimer(key, Effect.sleep(delay).pipe(Effect.andThen(this.fireTimer(key, message))))
  }

  startPeriodicTimer(key: string, message: unknown, interval: Duration.Input): Effect.Effect<void> {
    const fire = Effect.sleep(interval).pipe(Effect.andThen(this.fireTimer(key, message)))
    return this.setTimer(key, Effect.forever(fire))
  }

  cancelTimer(key: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.dropFired(key)
      const fiber = this.timers?.get(key)
      if (fiber === undefined) return Effect.void
      this.timers!.delete(key)
      return Fiber.interrupt(fiber)
    })
  }

  /**
   * A timer's message, sent to self by the timer that is `key`'s now (one cancelled or replaced
   * meanwhile sends nothing). Its sender is the actor itself, which tells it apart in the
   * mailbox from a message told (no sender) or asked.
   */
  private fireTimer(key: string, message: unknown): Effect.Effect<void> {
    return Effect.withFiber((fiber) => {
      if (this.timers?.get(key) === fiber) {
        ;(this.timersFired ??= new Map()).set(key, message)
        this.offer(message, undefined, this.self, true)
      }
      return Effect.void
    })
  }

  /**
   * A cancelled or replaced timer's messages still in the mailbox are dropped (Pekko's
   * TimerScheduler: no message of a cancelled timer is received). Scans the mailbox only when
   * that timer has fired since it was started.
   */
  dropFired(key: string): void {
    const message = this.timersFired?.get(key)
    if (message === undefined) return
    this.timersFired!.delete(key)
    const self = this.self
    this.mailbox.removeWhere((m, reply, sender) => m === message && reply === undefined && sender === self)
  }

  get supervision(): SupervisorCapability {
    return new CellSupervision(this)
  }

  private setTimer(key: string, effect: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (this.state >= State.Stopping) return
      yield* this.cancelTimer(key)
      const timers = (this.timers ??= new Map())
      const fiber = yield* Effect.forkIn(
        effect.pipe(Effect.ensuring(Effect.sync(() => {
          if (timers.get(key) === fiber) timers.delete(key)
        }))),
        this.scope
      )
      timers.set(key, fiber)
    })
  }
}

const noop = () => {}

/**
 * Actors stopping because an exit signal ended them: gone for the later signals but the kill.
 * (A set rather than a field: few actors are ever in it, and a field would cost every actor.)
 */
const endedBySignal = new WeakSet<Cell>()

/**
 * Actors stopping with `Killed` in an orderly way (see `terminate`): their children are stopped
 * in order, each within its budget, and their finalizers awaited. A kill that comes later takes
 * them out (`killedBrutally`).
 */
const orderlyKilled = new WeakSet<Cell>()

/**
 * Cells to finalize, when finalizing one leads synchronously to others (exit signals over links
 * of actors that stop at once): handled in a loop instead of a recursion.
 */
let finalizing: Array<Cell> | undefined = undefined

const finalizeSoon = (cell: Cell): void => {
  if (finalizing !== undefined) {
    finalizing.push(cell)
    return
  }
  const queue = (finalizing = [cell])
  try {
    for (let i = 0; i < queue.length; i++) queue[i]!.finalize()
  } finally {
    finalizing = undefined
  }
}

const isNamed = (u: unknown): u is { readonly name: string; readonly node: string } =>
  typeof u === "object" && u !== null && !(u instanceof ActorRef) && typeof (u as any).name === "string" &&
  typeof (u as any).node === "string"

/** The delivery target of `ref`, or the error to die with when `ref` is no ActorRef (or cannot be resolved). */
const targetOf = (ref: unknown, what: string): Target | Error => {
  if (!(ref instanceof ActorRef)) {
    return new TypeError(`${what}: expected an ActorRef, got ${ref === null ? "null" : typeof ref}`)
  }
  try {
    return ref.target
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e))
  }
}

/** The address of "no actor" on a node: a name that resolved to nothing, or a node placeholder. */
const unknownAddress = (node: { readonly name: string; readonly incarnation: number }) => ({
  node,
  id: 0,
  protocol: "telex/unknown"
})

/** A cell's supervisor capability (made on demand: only supervisors ask for it, once). */
class CellSupervision implements SupervisorCapability {
  private readonly cell: Cell
  constructor(cell: Cell) {
    this.cell = cell
  }

  publish(event: SupervisionEvent): void {
    this.cell.system.publishEvent(event)
  }

  adopt(child: ActorRef<any>): void {
    const cell = this.cell.system.cells.get(child.address.id)
    if (cell !== undefined && cell.parent === this.cell) this.cell.children?.delete(cell)
  }

  get parent(): ActorRef<any> | undefined {
    return this.cell.parent?.self
  }

  cancelTimers(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const cell = this.cell
      if (cell.timersFired !== undefined) for (const key of [...cell.timersFired.keys()]) cell.dropFired(key)
      const timers = cell.timers
      if (timers === undefined || timers.size === 0) return Effect.void
      const fibers = [...timers.values()]
      timers.clear()
      return Fiber.interruptAll(fibers)
    })
  }

  stopChild(child: ActorRef<any>, budget: number | "brutal_kill"): Effect.Effect<void> {
    const target = child.target
    // a supervisor killed while it waits for a child (past its own stop budget, or brutally)
    // kills that child, as OTP's children see their supervisor's `killed`: the child's budget
    // does not outlive its supervisor (nobody would kill it past that budget)
    const parent = this.cell
    return Effect.acquireUseRelease(
      Effect.sync(() => parent.onExit(() => target instanceof Cell ? target.kill() : target.exitSignal(parent.self, ExitReason.killed, true))),
      () => budget === "brutal_kill" ? awaitStop(target, ExitReason.killed, 0) : this.stopChildWithin(target, budget),
      (cancel) => Effect.sync(cancel)
    )
  }

  private stopChildWithin(target: Target, budgetMillis: number): Effect.Effect<void> {
    if (target instanceof Cell && target.trapping && target.state === State.Running) {
      // OTP's shutdown 0: the `shutdown` signal, then at once the kill, before a trapping child
      // could handle the signal
      if (budgetMillis === 0) return awaitStop(target, ExitReason.killed, 0)
      // OTP's exit(Child, shutdown): a trapping child gets it as an ExitSignal after its current
      // message, handles it, and exits (with its own reason if it chooses); past the budget it
      // is killed
      const self = this.cell.self
      return Effect.gen(function*() {
        target.exitSignal(self, ExitReason.shutdown, false, true)
        const exited = yield* Effect.callback<boolean>((resume) => {
          const cancel = target.onExit(() => resume(Effect.succeed(true)))
          return Effect.sync(cancel)
        }).pipe(Number.isFinite(budgetMillis) ? Effect.timeoutOption(budgetMillis) : Effect.asSome)
        if (exited._tag === "None") {
          yield* Effect.callback<void>((resume) => {
            target.onExit(() => resume(Effect.void))
            target.kill()
          })
        }
      })
    }
    // not trapping: it ends with `Shutdown` (at once with a budget of 0, its cleanup not waited
    // for); already stopping: killed past the budget (at once with 0)
    return awaitStop(target, ExitReason.shutdown, budgetMillis)
  }
}

/**
 * What an actor's spawn options decide. Actors spawned alike share one (the cell holds one
 * field instead of five: most actors are spawned with a system's defaults).
 */
export interface CellConfig {
  readonly capacity: number
  readonly overflow: OverflowPolicy
  readonly throughput: number
  /** a local send checks its message against the protocol */
  readonly validating: boolean
  readonly stopBudget: number
  /** its `shutdown` is `"brutal_kill"`: a stop that comes without a budget kills it */
  readonly brutalStop: boolean
}

/** distinct configs a system keeps for reuse; past that each spawn with another makes its own */
const MAX_CONFIGS = 256

const cellConfig = (system: SystemCore, options: SpawnOptions | undefined, shutdown: Behavior<any, any, any>["shutdown"]): CellConfig => {
  // (most spawns: no option that changes it, and no key to build)
  const plain = shutdown === undefined &&
    (options === undefined ||
      (options.mailbox === undefined && options.throughput === undefined && options.validateLocal === undefined && options.shutdown === undefined))
  if (plain && system.defaultCellConfig !== undefined) return system.defaultCellConfig
  const defaults = system.defaults
  const capacity = options?.mailbox?.capacity ?? defaults.capacity
  const overflow = options?.mailbox?.overflow ?? defaults.overflow
  const throughput = options?.throughput ?? defaults.throughput
  const validating = options?.validateLocal ?? defaults.validateLocal
  const stopBudget = stopBudgetMillis(options?.shutdown ?? shutdown)
  const brutalStop = (options?.shutdown ?? shutdown) === "brutal_kill"
  const configs = system.cellConfigs
  const key = `${capacity}/${overflow}/${throughput}/${validating}/${stopBudget}/${brutalStop}`
  let config = configs.get(key)
  if (config === undefined) {
    config = { capacity, overflow, throughput, validating, stopBudget, brutalStop }
    if (configs.size < MAX_CONFIGS) configs.set(key, config)
  }
  if (plain) system.defaultCellConfig = config
  return config
}

/** The default stop budget of an actor (OTP's default `shutdown` for a worker). */
const DEFAULT_STOP_BUDGET_MILLIS = 5000

const stopBudgetMillis = (shutdown: Duration.Input | "brutal_kill" | "infinity" | undefined): number => {
  if (shutdown === undefined) return DEFAULT_STOP_BUDGET_MILLIS
  if (shutdown === "infinity") return Infinity
  if (shutdown === "brutal_kill") return 0
  const d = Duration.fromInput(shutdown)
  if (d._tag === "None" || !(Duration.toMillis(d.value) >= 0)) {
    throw new TypeError(`spawn: shutdown must be "brutal_kill", "infinity" or a duration, got ${String(shutdown)}`)
  }
  return Duration.toMillis(d.value)
}

/** A defect or an interruption ends the actor; a typed failure of an ask goes back to the asker. */
const isCrash = (cause: Cause.Cause<unknown>): boolean => Cause.hasDies(cause) || Cause.hasInterrupts(cause)

/** A handler running in its own fiber (`Actor.fork`): the stop it asked for, made when it ends. */
interface ForkedHandlerState {
  readonly cell: Cell
  stop: ExitReason.ExitReason | undefined
  ended: boolean
}

/** Set in the context of a forked handler's fiber (and so of the fibers it forks). */
class ForkedHandler extends Context.Service<ForkedHandler, ForkedHandlerState>()("telex/ForkedHandler") {}

/** Stops a cell and waits until it is dead. */
export const awaitStop = (target: Target, reason: ExitReason.ExitReason, timeoutMillis?: number) =>
  Effect.callback<void>((resume) => {
    target.shutdown(reason, () => resume(Effect.void), timeoutMillis)
  })

/**
 * One turn of an actor: handle up to `throughput` messages. Shared by every actor: the cell is
 * read from the fiber's context, so an activation allocates no closure.
 */
const drain: Effect.Effect<void, unknown> = Effect.withFiber((fiber) => {
  const cell = Context.getUnsafe(fiber.context, ActorContext) as unknown as Cell
  cell.fiber = fiber
  // (the fiber's first step runs synchronously in `activate`, right after its fiberless part)
  const from = handoff!
  handoff = undefined
  return drainLoop(cell, from)
})

/**
 * The effect of `handler` for `message`. A handler that throws instead of returning an effect
 * gives a defect, handled as any other: the actor crashes, and the ask it was handling fails
 * with `ActorStopped` once the actor is gone (a throw past this point lost the ask: its asker
 * waited for its timeout).
 */
const handle = (handlers: any, handler: (message: unknown) => any, message: unknown, untraced: boolean): any => {
  try {
    const dispatch = handlers[DispatchTypeId]
    return dispatch === undefined ? handler(message) : dispatch(handlers, message, untraced)
  } catch (defect) {
    return Effect.die(defect)
  }
}

/**
 * As `handle`, for a wrapper's inner handler (see `Actor.IncarnationTypeId`): the wrapper's guard
 * gets what may fail — a throw, and any effect but a successful Exit or (`untraced`) an
 * `Effect.sync` whose body returned, which is run here.
 */
const handleInner = (handlers: any, direct: any, handler: (message: unknown) => any, message: unknown, untraced: boolean): any => {
  try {
    let effect: any
    try {
      effect = handler.call(direct, message)
    } catch (defect) {
      effect = Effect.die(defect)
    }
    const exit = handlerExitNow(effect, untraced)
    return exit?._tag === "Success" ? exit : handlers[GuardTypeId](handlers, exit ?? effect, message, untraced)
  } catch (defect) {
    return Effect.die(defect)
  }
}

/** Where a turn's fiberless part stopped: the budget left, and the handler effect it built, if any. */
interface Handoff {
  readonly budget: number
  readonly message: any
  readonly reply: Reply | undefined
  readonly sender: ActorRef<any> | undefined
  readonly effect: any
}

/** the turn running without a fiber, its hand-off to the drain fiber, and a stop deferred until its handler returns */
let syncTurn: Cell | undefined = undefined
let handoff: Handoff | undefined = undefined
let syncStop = false
let syncStopTimeout: number | undefined = undefined
const turnEntry: Entry = { message: undefined, reply: undefined, sender: undefined }

const drainLoop: (cell: Cell, from: Handoff) => Effect.Effect<void, unknown> = Effect.fnUntraced(function*(cell: Cell, from: Handoff) {
  const handlers = cell.handlers as any
  const mailbox = cell.mailbox
  const entry: Entry = { message: undefined, reply: undefined, sender: undefined }
  let pending = from.effect !== undefined
  let budget = from.budget + (pending ? 1 : 0)
  while (budget-- > 0 && cell.state === State.Running && cell.stopRequested === undefined) {
    let message: any
    let reply: Reply | undefined
    let effect: any
    if (pending) {
      // the message whose handler effect the fiberless part built: run it here
      pending = false
      message = from.message
      reply = from.reply
      cell.sender = from.sender
      effect = from.effect
    } else {
      if (!mailbox.shift(entry)) break
      if (cell.putWaiters !== undefined || cell.lowWater !== undefined) cell.wakePutters()
      message = entry.message as any
      if (message instanceof Down) {
        // skip a Down whose monitor was cancelled after it was queued; hand over the watcher's own
        // MonitorRef (the one `monitor` returned, with its name or node)
        const id = message.monitor.id
        const mine = cell.watching?.get(id)
        if (mine === undefined) continue
        cell.watching!.delete(id)
        cell.downsQueued?.delete(id)
        if (handlers.onDown !== undefined) {
          yield* handlers.onDown(mine === message.monitor ? message : new Down(mine, message.actor, message.reason))
        }
        continue
      }
      if (message instanceof ExitSignal) {
        if (handlers.onExit !== undefined) yield* handlers.onExit(message)
        // as a gen_server: an exit signal from the parent (its supervisor's shutdown), whatever its
        // reason (`Normal` too), ends the actor once handled, with that reason unless the handler
        // chose its own (`ctx.stop`)
        if (cell.parent !== undefined && message.from.key === cell.parent.self.key) {
          cell.stopRequested ??= message.reason
        }
        continue
      }
      reply = entry.reply as Reply | undefined
      const handler = handlers[message?._tag]
      if (handler === undefined) {
        const issue = `no handler for message tag ${JSON.stringify(message?._tag)}`
        cell.system.deadLetter(cell.self.key, message, { _tag: "InvalidMessage", issue })
        reply?.(Exit.fail(new InvalidMessage({ actor: cell.self.key, protocol: cell.behavior.protocol.name, issue })))
        continue
      }
      cell.sender = entry.sender as ActorRef<any> | undefined
      effect = handle(handlers, handler, message, reply?.span === undefined)
    }
    // a traced ask carries its span on the reply (see internal/tracing.ts)
    const span = reply?.span
    if (effect[ForkTypeId] === true) {
      cell.forkHandler(span === undefined ? effect : handlerSpan(cell, message._tag, span, effect), reply)
      continue
    }
    if (reply === undefined) {
      const done = runNow(effect)
      if (done === undefined) yield* effect
      else if (done !== true) return yield* done
      continue
    }
    cell.currentReply = reply
    let exit: Exit.Exit<unknown, unknown> | undefined = span === undefined ? exitNow(effect) : undefined
    if (exit === undefined) {
      exit = yield* Effect.exit(span === undefined ? effect : handlerSpan(cell, message._tag, span, effect))
    } else if (cell.state !== State.Running) {
      // stopped by its own handler: the ask fails with ActorStopped when the actor is finalized,
      // as it would have after the interrupt of a handler run by the fiber
      return
    }
    cell.currentReply = undefined
    const crash = cell.answer(reply, exit)
    if (crash !== undefined) return yield* Effect.failCause(crash)
  }
}) as any

// Most handlers return `Effect.sync(...)`, `Effect.succeed(...)` or `Effect.void`: those run here,
// in the drain's own step, rather than as a step of the fiber each (which costs about as much as
// the rest of a message's handling); see effectShape.ts.

/** Runs `effect` now if it is an Exit or an `Effect.sync`: true on success, the failure, or undefined (the fiber must run it). */
const runNow = (effect: any): true | Exit.Exit<unknown, unknown> | undefined => {
  const proto = Object.getPrototypeOf(effect)
  if (proto === syncProto && syncThunkKey !== undefined) {
    try {
      effect[syncThunkKey]()
      return true
    } catch (defect) {
      return Exit.die(defect)
    }
  }
  if (proto === successProto) return true
  if (proto === failureProto) return effect
  return undefined
}

const handlerSpan = (cell: Cell, tag: string, parent: Tracer.AnySpan, effect: Effect.Effect<unknown, unknown>) =>
  Tracing.withHandlerSpan(effect, parent, {
    key: cell.self.key,
    name: cell.name,
    node: cell.system.nodeId.name,
    protocol: cell.behavior.protocol.name
  }, tag)

/** Runs a behaviour's init for a new cell in the caller's fiber (like OTP's synchronous start); `ref` on success. */
export const initCell = <A>(cell: Cell, caller: Fiber.Fiber<unknown, unknown>, ref: A): Effect.Effect<A, SpawnError> => {
  const callerContext = caller.context as Context.Context<never>
  cell.initFiber = caller
  // (withActorLoggers: logs from the actor carry actor= and node=, at no cost per actor)
  const context = Context.add(
    Context.add(withActorLoggers(callerContext), ActorContext, cell as ActorContextShape),
    Scope.Scope,
    cell.scope
  )
  cell.context = context
  // the context already holds the caller's services: replace rather than merge (provideContext
  // would copy the service map twice per spawn and keep one copy per actor — measured 1055 → 871
  // bytes per idle actor and ~+40 % spawns/s)
  const init = Effect.updateContext(cell.behavior.init as Effect.Effect<any, unknown>, () => context) as Effect.Effect<any, unknown>
  // two frames around the init (every spawn's path): one settles the start, one catches an
  // interruption of the spawner, which skips the first
  let settled = false
  return Effect.onExit(
    Effect.matchCauseEffect(init, {
      onSuccess: (handlers): Effect.Effect<A, SpawnError> => {
        settled = true
        cell.initFiber = undefined
        if (cell.state === State.Dead) return killedDuringInit(cell)
        // an init that returns anything but the handlers object fails to start (a JS caller's
        // mistake, typically)
        if (typeof handlers !== "object" || handlers === null) {
          return failStart(cell, Cause.die(new TypeError(`the behaviour's init must return its handlers (an object), got ${handlers === null ? "null" : typeof handlers}`)))
        }
        // stopped while initialising
        if (cell.state !== State.Starting) return failStart(cell, undefined)
        cell.handlers = handlers
        cell.direct = (handlers as any)[IncarnationTypeId]
        cell.state = State.Running
        if (cell.stopRequested !== undefined) {
          // ctx.stop() during init: the actor has started, and stops at once
          cell.terminate(cell.stopRequested, undefined, true)
        } else if (cell.mailbox.size > 0 && !cell.scheduled) {
          cell.scheduled = true
          cell.system.dispatcher.schedule(cell)
        }
        return Effect.succeed(ref)
      },
      onFailure: (cause) => {
        settled = true
        cell.initFiber = undefined
        if (cell.state === State.Dead) return killedDuringInit(cell)
        return failStart(cell, cause)
      }
    }),
    // The spawner's fiber was interrupted during the init (e.g. the spawning actor was stopped):
    // neither branch above ran, and a stop asked of the cell meanwhile waits for it (terminate
    // leaves a starting cell to this function). Stop it here, or it and its spawner never end.
    () => {
      cell.initFiber = undefined
      if (settled || (cell.state !== State.Starting && cell.state !== State.Stopping)) return Effect.void
      unlinkSpawner(cell)
      // a spawner that is killed kills the child it was starting, as its other children
      const reason = cell.exitReason ??
        (cell.parent?.killedBrutally === true ? ExitReason.killed : ExitReason.shutdownWith("its spawner was interrupted during its init"))
      cell.state = State.Running
      cell.terminate(reason)
      return Effect.void
    }
  )
}

/**
 * The init ended after the actor was killed past a stop's budget, or ended by an exit signal
 * while it stopped (killStartingAfter): close its scope, fail the spawn.
 */
const killedDuringInit = (cell: Cell): Effect.Effect<never, SpawnError> => {
  Effect.runFork(Scope.close(cell.scope, Exit.void))
  const reason = cell.exitReason!
  return Effect.fail(
    new SpawnError({
      protocol: cell.behavior.protocol.name,
      message: reason._tag === "Killed"
        ? "killed during initialisation: its init outlasted a stop's budget"
        : `ended during initialisation by an exit signal (${ExitReason.format(reason)})`
    })
  )
}

/**
 * A start that fails is reported to the spawner by the spawn's error, not by an exit signal over
 * the link `spawn({ link: true })` made (which would end a spawner that does not trap exits): that
 * link goes. The actors the init linked to itself see the exit, as a process's links do when its
 * `init/1` fails.
 */
const unlinkSpawner = (cell: Cell): void => {
  const parent = cell.parent
  if (parent === undefined || cell.links?.delete(parent.self.key) !== true) return
  parent.removeLink(cell.self)
}

/** The init failed (`cause`), or the actor was stopped while initialising (no cause): stop it, fail the spawn. */
const failStart = (cell: Cell, cause: Cause.Cause<unknown> | undefined): Effect.Effect<never, SpawnError> => {
  const reason = cause === undefined
    ? cell.exitReason!
    : ExitReason.isNotStarted(cause)
    ? ExitReason.normal
    : ExitReason.fromCause(cause)
  const message = cause !== undefined
    ? Cause.pretty(cause)
    : `stopped during initialisation (${ExitReason.format(reason)})`
  unlinkSpawner(cell)
  cell.state = State.Running // let terminate() run the full path (children, scope, notifications)
  cell.terminate(reason)
  return Effect.fail(new SpawnError({ protocol: cell.behavior.protocol.name, message }))
}
