/**
 * A history of what happened during a test, Jepsen style, for the checkers in `Checkers.ts`.
 *
 * A `Recorder` is appended to while the test runs — from Effect code or from plain callbacks
 * (every method is synchronous and never fails on valid input) — and `snapshot()` returns an
 * immutable `History` to check:
 *
 * ```ts
 * const history = yield* History.makeEffect        // timestamps from Effect's Clock (TestClock in tests)
 * const op = history.invoke("client-1", { f: "send", message: { id: "m1", to: "counter", seq: 1 } })
 * // ... in the receiver's handler:
 * history.deliver("counter", "m1", "client-1", 1)
 * history.ok(op)
 * const result = Checkers.checkAll(history.snapshot(), {})
 * ```
 *
 * What is recorded (every entry gets an `index`, its position in the history, and `at`, epoch
 * millis from the recorder's `now`):
 *
 * - **Operations**: `invoke(process, op)` returns an id; `ok(id)`, `fail(id)` or `info(id)`
 *   completes it. As in Jepsen, `fail` means the operation certainly did not happen and `info`
 *   that its outcome is unknown (a timeout, a crash): it may or may not have happened. A `process`
 *   is whoever performs the operation (a client, an actor). An operation that sends a message
 *   names it in `op.message` (`id`, receiver(s) `to`, optional `from` — default the process —
 *   and per-pair sequence number `seq`), which ties it to the deliveries of that message.
 * - **Deliveries**: `deliver(receiver, messageId, from, seq)` when a receiver processes a message.
 * - **Node events**: `nodeEvent(observer, event)` with an event of `Node.events` (`NodeUp` /
 *   `NodeDown`; other events are ignored), or `nodeUp` / `nodeDown` directly (the observer may be
 *   left out for a ground truth such as "the test killed this node").
 * - **Watches**: `watch(watcher, target, targetNode)` when a watcher starts monitoring (or links
 *   to) an actor on another node, `unwatch` when it stops, and `notified(watcher, target, "Down"
 *   | "Exit", reason)` when the `Down` / `ExitSignal` arrives.
 * - **Supervision events** (`system.supervisionEvents`), stamped with their own `at`.
 * - **Buffer samples**: `sample(buffer, size, bound?)` (a mailbox, an outbound queue, ...).
 * - **Nemesis**: `fault(name)` when the test injects a fault, `heal()` when it removes them all.
 * - **Entity activations** (sharding): `activated(node, entity, key, { epoch })` when an entity
 *   starts on a node under the lease of that epoch, `deactivated(...)` when it has stopped
 *   (passivated, handed off, its lease lost), and `crashed(node)` when a node's process dies with
 *   everything on it.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { ExitReason } from "../actors/ExitReason.ts"
import type { SupervisionEvent } from "../actors/SupervisionEvent.ts"

// ---------------------------------------------------------------------------------------------
// entries
// ---------------------------------------------------------------------------------------------

/** The message an operation sends. */
export interface MessageRef {
  readonly id: string
  /** the receiver, or every receiver (a broadcast) */
  readonly to: string | ReadonlyArray<string>
  /** the sender as deliveries name it; default: the operation's process */
  readonly from?: string
  /** sequence number on the (from, to) pair, for FIFO checks */
  readonly seq?: number
}

export interface OpInput {
  /** the operation's function, e.g. "send", "ask", "submit" */
  readonly f: string
  readonly value?: unknown
  readonly message?: MessageRef
}

export type OpType = "invoke" | "ok" | "fail" | "info"

interface Base {
  /** position in the history */
  readonly index: number
  /** epoch millis */
  readonly at: number
}

/** One operation event: its invocation or its completion (which repeats `f` and `message`). */
export interface OpEntry extends Base {
  readonly _tag: "Op"
  readonly type: OpType
  readonly id: number
  readonly process: string
  readonly f: string
  /** the input for `invoke`, the result for `ok`, the error for `fail`, what is known for `info` */
  readonly value: unknown
  readonly message: MessageRef | undefined
}

export interface DeliverEntry extends Base {
  readonly _tag: "Deliver"
  readonly receiver: string
  readonly messageId: string
  readonly from: string
  readonly seq: number | undefined
}

export interface NodeEntry extends Base {
  readonly _tag: "Node"
  readonly event: "NodeUp" | "NodeDown"
  readonly node: string
  /** the node that saw the event; undefined for a ground truth recorded by the test */
  readonly observer: string | undefined
  readonly reason: string | undefined
}

export interface WatchEntry extends Base {
  readonly _tag: "Watch"
  readonly watcher: string
  readonly target: string
  /** the node hosting `target` */
  readonly node: string
  /** the node hosting `watcher`, when known (matched against `NodeDown` observers) */
  readonly watcherNode: string | undefined
}

export interface UnwatchEntry extends Base {
  readonly _tag: "Unwatch"
  readonly watcher: string
  readonly target: string
}

export interface NotifyEntry extends Base {
  readonly _tag: "Notify"
  readonly watcher: string
  readonly target: string
  readonly kind: "Down" | "Exit"
  readonly reason: ExitReason
}

export interface SupervisionEntry extends Base {
  readonly _tag: "Supervision"
  readonly event: SupervisionEvent
}

export interface SampleEntry extends Base {
  readonly _tag: "Sample"
  readonly buffer: string
  readonly size: number
  readonly bound: number | undefined
}

export interface FaultEntry extends Base {
  readonly _tag: "Fault"
  readonly name: string
  readonly detail: unknown
}

export interface HealEntry extends Base {
  readonly _tag: "Heal"
}

/** An entity began (`activated`) or finished stopping (`deactivated`) on a node. */
export interface ActivationEntry extends Base {
  readonly _tag: "Activation"
  readonly event: "activated" | "deactivated"
  readonly node: string
  /** the entity type */
  readonly entity: string
  readonly key: string
  /** the epoch of the shard lease it ran under */
  readonly epoch: number
  readonly shard: number | undefined
  /** why it stopped (passivated, handoff, lease lost, ...) */
  readonly reason: string | undefined
}

/** A node's process died: everything that ran on it stopped at this instant. */
export interface CrashEntry extends Base {
  readonly _tag: "Crash"
  readonly node: string
}

export type Entry =
  | OpEntry
  | DeliverEntry
  | NodeEntry
  | WatchEntry
  | UnwatchEntry
  | NotifyEntry
  | SupervisionEntry
  | SampleEntry
  | FaultEntry
  | HealEntry
  | ActivationEntry
  | CrashEntry

/** An entry before it is placed in a history (no `index`). */
export type EntryInput = Entry extends infer E ? E extends Entry ? Omit<E, "index"> : never : never

/** An operation with its invocation and completion paired. */
export interface Operation {
  readonly id: number
  readonly process: string
  readonly f: string
  readonly message: MessageRef | undefined
  readonly invoke: OpEntry
  /** undefined while pending */
  readonly completion: OpEntry | undefined
}

/** An immutable history. */
export interface History {
  readonly entries: ReadonlyArray<Entry>
  /** every invoked operation, in invocation order */
  readonly operations: ReadonlyArray<Operation>
  /** when the history was taken (at least the time of its last entry) */
  readonly end: number
}

/** The receivers of a message. */
export const receivers = (message: MessageRef): ReadonlyArray<string> =>
  typeof message.to === "string" ? [message.to] : message.to

/** The sender of a message, as deliveries name it. */
export const senderOf = (op: { readonly process: string; readonly message: MessageRef | undefined }): string =>
  op.message?.from ?? op.process

/**
 * Builds a history from entries (handcrafted, or parsed from JSON). Entries are re-indexed in
 * the given order; an operation's completion must follow its invocation.
 */
export const fromEntries = (entries: ReadonlyArray<EntryInput | Entry>, end?: number): History => {
  const indexed = entries.map((e, index) => Object.freeze({ ...e, index }) as Entry)
  const operations: Array<Operation> = []
  const byId = new Map<number, { op: Operation; i: number }>()
  for (const e of indexed) {
    if (e._tag !== "Op") continue
    if (e.type === "invoke") {
      if (byId.has(e.id)) throw new Error(`History: operation ${e.id} invoked twice`)
      const op: Operation = { id: e.id, process: e.process, f: e.f, message: e.message, invoke: e, completion: undefined }
      byId.set(e.id, { op, i: operations.length })
      operations.push(op)
    } else {
      const found = byId.get(e.id)
      if (found === undefined) throw new Error(`History: operation ${e.id} completed (${e.type}) but never invoked`)
      if (found.op.completion !== undefined) throw new Error(`History: operation ${e.id} completed twice`)
      const op: Operation = { ...found.op, completion: e }
      found.op = op
      operations[found.i] = op
    }
  }
  const last = indexed.reduce((m, e) => Math.max(m, e.at), Number.NEGATIVE_INFINITY)
  const lastAt = last === Number.NEGATIVE_INFINITY ? undefined : last
  return Object.freeze({
    entries: Object.freeze(indexed),
    operations: Object.freeze(operations.map((o) => Object.freeze(o))),
    end: Math.max(end ?? lastAt ?? 0, lastAt ?? Number.NEGATIVE_INFINITY)
  })
}

/** The events of `Node.events` the recorder keeps (the router's `NodeEvent` fits). */
export interface NodeEventLike {
  readonly _tag: string
  readonly node?: string
  readonly reason?: string
}

export interface RecorderOptions {
  /** epoch millis; default `Date.now` */
  readonly now?: () => number
}

export interface TrackOptions<A, E> {
  /** typed failures whose outcome is unknown (a timeout): recorded as `info`, not `fail` */
  readonly unknown?: (error: E) => boolean
  /** what to record as the `ok` value (default: the success value) */
  readonly value?: (a: A) => unknown
}

/** Appends to a history; `snapshot()` returns an immutable copy. Not for concurrent threads (JS has none). */
export class Recorder {
  readonly now: () => number
  private readonly log: Array<Entry> = []
  private readonly pending = new Map<number, OpEntry>()
  private readonly completed = new Set<number>()
  private nextId = 0

  constructor(options: RecorderOptions = {}) {
    this.now = options.now ?? Date.now
  }

  private push<E extends Entry>(entry: Omit<E, "index" | "at"> & { readonly at?: number }): E {
    const full = Object.freeze({ ...entry, at: entry.at ?? this.now(), index: this.log.length }) as unknown as E
    this.log.push(full)
    return full
  }

  /** Starts an operation; returns its id for `ok` / `fail` / `info`. */
  invoke(process: string, op: OpInput): number {
    const id = this.nextId++
    const entry = this.push<OpEntry>({
      _tag: "Op",
      type: "invoke",
      id,
      process,
      f: op.f,
      value: op.value,
      message: op.message === undefined ? undefined : Object.freeze({ ...op.message })
    })
    this.pending.set(id, entry)
    return id
  }

  private complete(type: "ok" | "fail" | "info", id: number, value: unknown): void {
    const invoked = this.pending.get(id)
    if (invoked === undefined) {
      throw new Error(
        this.completed.has(id) ? `History: operation ${id} is already complete` : `History: no operation ${id} was invoked`
      )
    }
    this.pending.delete(id)
    this.completed.add(id)
    this.push<OpEntry>({ _tag: "Op", type, id, process: invoked.process, f: invoked.f, value, message: invoked.message })
  }

  /** The operation happened (an ask that succeeded, a send that was confirmed). */
  ok(id: number, value?: unknown): void {
    this.complete("ok", id, value)
  }

  /** The operation certainly did not happen. */
  fail(id: number, error?: unknown): void {
    this.complete("fail", id, error)
  }

  /** The outcome is unknown (a timeout, a crash): it may or may not have happened. */
  info(id: number, detail?: unknown): void {
    this.complete("info", id, detail)
  }

  /** `receiver` processed message `messageId` from `from` (with its per-pair sequence number). */
  deliver(receiver: string, messageId: string, from: string, seq?: number): void {
    this.push<DeliverEntry>({ _tag: "Deliver", receiver, messageId, from, seq })
  }

  /** An event of `observer`'s `Node.events`; only NodeUp and NodeDown are kept. */
  nodeEvent(observer: string, event: NodeEventLike): void {
    if ((event._tag === "NodeUp" || event._tag === "NodeDown") && event.node !== undefined) {
      this.push<NodeEntry>({ _tag: "Node", event: event._tag, node: event.node, observer, reason: event.reason })
    }
  }

  /** `node` is up (as seen by `observer`, or as a fact when the observer is left out). */
  nodeUp(node: string, observer?: string): void {
    this.push<NodeEntry>({ _tag: "Node", event: "NodeUp", node, observer, reason: undefined })
  }

  /** `node` is down / lost (as seen by `observer`, or as a fact when the observer is left out). */
  nodeDown(node: string, observer?: string, reason?: string): void {
    this.push<NodeEntry>({ _tag: "Node", event: "NodeDown", node, observer, reason })
  }

  /** `watcher` monitors (or is linked to) `target`, which runs on `targetNode`. */
  watch(watcher: string, target: string, targetNode: string, options: { readonly watcherNode?: string } = {}): void {
    this.push<WatchEntry>({ _tag: "Watch", watcher, target, node: targetNode, watcherNode: options.watcherNode })
  }

  unwatch(watcher: string, target: string): void {
    this.push<UnwatchEntry>({ _tag: "Unwatch", watcher, target })
  }

  /** `watcher` received a `Down` (monitor) or an `ExitSignal` (link) about `target`. */
  notified(watcher: string, target: string, kind: "Down" | "Exit", reason: ExitReason): void {
    this.push<NotifyEntry>({ _tag: "Notify", watcher, target, kind, reason })
  }

  /** A supervision event; stamped with the event's own `at`. */
  supervision(event: SupervisionEvent): void {
    this.push<SupervisionEntry>({ _tag: "Supervision", event, at: event.at })
  }

  /** The size of a buffer now, with its bound if the buffer declares one. */
  sample(buffer: string, size: number, bound?: number): void {
    this.push<SampleEntry>({ _tag: "Sample", buffer, size, bound })
  }

  /** The test injected a fault. */
  fault(name: string, detail?: unknown): void {
    this.push<FaultEntry>({ _tag: "Fault", name, detail })
  }

  /** The test removed every fault. */
  heal(): void {
    this.push<HealEntry>({ _tag: "Heal" })
  }

  /** Entity `entity`/`key` started on `node` under the shard lease of `epoch`. */
  activated(node: string, entity: string, key: string, lease: { readonly epoch: number; readonly shard?: number }): void {
    this.push<ActivationEntry>({ _tag: "Activation", event: "activated", node, entity, key, epoch: lease.epoch, shard: lease.shard, reason: undefined })
  }

  /** Entity `entity`/`key` on `node` has stopped (record it once its stop is complete). */
  deactivated(
    node: string,
    entity: string,
    key: string,
    lease: { readonly epoch: number; readonly shard?: number },
    reason?: string
  ): void {
    this.push<ActivationEntry>({ _tag: "Activation", event: "deactivated", node, entity, key, epoch: lease.epoch, shard: lease.shard, reason })
  }

  /** `node`'s process died (a kill): whatever ran there stopped now. */
  crashed(node: string): void {
    this.push<CrashEntry>({ _tag: "Crash", node })
  }

  /**
   * Runs `effect` as operation `op` of `process`: invoke before, then `ok` with its value, `fail`
   * with its typed error (`info` when `options.unknown` says the outcome is unknown, e.g. an
   * `AskTimeout`), `info` when it dies or is interrupted.
   */
  track<A, E, R>(process: string, op: OpInput, effect: Effect.Effect<A, E, R>, options: TrackOptions<A, E> = {}): Effect.Effect<A, E, R> {
    return Effect.suspend(() => {
      const id = this.invoke(process, op)
      return Effect.onExit(effect, (exit) =>
        Effect.sync(() => {
          if (Exit.isSuccess(exit)) {
            this.ok(id, options.value === undefined ? exit.value : options.value(exit.value))
            return
          }
          const error = Cause.findErrorOption(exit.cause)
          if (error._tag === "Some" && !Cause.hasDies(exit.cause) && !Cause.hasInterrupts(exit.cause)) {
            if (options.unknown?.(error.value) === true) this.info(id, error.value)
            else this.fail(id, error.value)
          } else {
            this.info(id, Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : Cause.pretty(exit.cause))
          }
        }))
    })
  }

  /** Ids of the operations invoked and not completed yet. */
  pendingOperations(): ReadonlyArray<number> {
    return Array.from(this.pending.keys())
  }

  /** An immutable copy of the history so far (`end` is now). */
  snapshot(): History {
    return fromEntries(this.log.slice(), this.now())
  }
}

/** A recorder whose timestamps come from `options.now` (default `Date.now`). */
export const make = (options: RecorderOptions = {}): Recorder => new Recorder(options)

/**
 * A recorder whose timestamps come from the current Effect `Clock` (so `TestClock` drives them),
 * also when its methods are called from plain callbacks.
 */
export const makeEffect: Effect.Effect<Recorder> = Clock.clockWith((clock) =>
  Effect.sync(() => new Recorder({ now: () => clock.currentTimeMillisUnsafe() }))
)

/** A clock for handcrafted histories: `const clock = manualClock(); make({ now: clock.now })`. */
export const manualClock = (start = 0) => {
  let t = start
  return {
    now: (): number => t,
    set: (millis: number): void => {
      t = millis
    },
    advance: (millis: number): number => (t += millis)
  }
}

// ---------------------------------------------------------------------------------------------
// display
// ---------------------------------------------------------------------------------------------

const show = (value: unknown): string => {
  if (value === undefined) return ""
  if (typeof value === "string") return JSON.stringify(value)
  if (value instanceof Error) return `${value.name}: ${value.message}`
  try {
    const s = JSON.stringify(value)
    return s === undefined ? String(value) : s.length > 120 ? `${s.slice(0, 117)}...` : s
  } catch {
    return String(value)
  }
}

const showReason = (reason: ExitReason): string => {
  switch (reason._tag) {
    case "Error":
      return `Error(${reason.message.split("\n")[0]})`
    case "NoConnection":
      return reason.node === undefined ? "NoConnection" : `NoConnection(${reason.node})`
    case "Shutdown":
      return reason.detail === undefined ? "Shutdown" : `Shutdown(${reason.detail})`
    default:
      return reason._tag
  }
}

const showSupervision = (e: SupervisionEvent): string => {
  switch (e._tag) {
    case "ChildStarted":
      return `ChildStarted ${e.childId} (${e.actor})`
    case "ChildExited":
      return `ChildExited ${e.childId} ${showReason(e.reason)}`
    case "RestartScheduled":
      return `RestartScheduled [${e.childIds.join(", ")}] in ${e.delayMillis} ms`
    case "ChildRestarted":
      return `ChildRestarted ${e.childId} (restart #${e.restarts})`
    case "ChildStartFailed":
      return `ChildStartFailed ${e.childId}: ${e.message.split("\n")[0]}`
    case "IntensityExceeded":
      return `IntensityExceeded ${e.restarts} restarts within ${e.periodMillis} ms`
    case "Escalated":
      return `Escalated ${showReason(e.reason)}`
  }
}

/** One line for an entry: `#index t=at ...`. */
export const describe = (entry: Entry): string => {
  const head = `#${entry.index} t=${entry.at}`
  switch (entry._tag) {
    case "Op": {
      const msg = entry.message === undefined
        ? ""
        : ` [message ${entry.message.id} → ${receivers(entry.message).join(",")}${entry.message.seq === undefined ? "" : ` seq ${entry.message.seq}`}]`
      const value = show(entry.value)
      return `${head} ${entry.process} :${entry.type} ${entry.f}${value === "" ? "" : ` ${value}`} (op ${entry.id})${msg}`
    }
    case "Deliver":
      return `${head} deliver ${entry.messageId} ${entry.from} → ${entry.receiver}${entry.seq === undefined ? "" : ` seq ${entry.seq}`}`
    case "Node":
      return `${head} ${entry.event} ${entry.node}${entry.observer === undefined ? "" : ` (seen by ${entry.observer})`}${entry.reason === undefined ? "" : `: ${entry.reason}`}`
    case "Watch":
      return `${head} watch ${entry.watcher} → ${entry.target} on ${entry.node}`
    case "Unwatch":
      return `${head} unwatch ${entry.watcher} → ${entry.target}`
    case "Notify":
      return `${head} ${entry.kind}(${showReason(entry.reason)}) of ${entry.target} → ${entry.watcher}`
    case "Supervision":
      return `${head} ${entry.event.supervisor}: ${showSupervision(entry.event)}`
    case "Sample":
      return `${head} buffer ${entry.buffer} size ${entry.size}${entry.bound === undefined ? "" : ` (bound ${entry.bound})`}`
    case "Fault":
      return `${head} fault ${entry.name}${entry.detail === undefined ? "" : ` ${show(entry.detail)}`}`
    case "Heal":
      return `${head} heal`
    case "Activation":
      return `${head} ${entry.event} ${entry.entity}/${entry.key} on ${entry.node} epoch ${entry.epoch}` +
        `${entry.shard === undefined ? "" : ` shard ${entry.shard}`}${entry.reason === undefined ? "" : ` (${entry.reason})`}`
    case "Crash":
      return `${head} crash ${entry.node}`
  }
}
