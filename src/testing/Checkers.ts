/**
 * History checkers, Jepsen / Maelstrom style: pure functions from a recorded `History` (see
 * `History.ts`) to a verdict. Each returns `{ valid: true }` or `{ valid: false, violations }`,
 * every violation naming its rule, a human-readable detail and the history entries involved.
 *
 * | checker                | rule                                                                   |
 * |------------------------|------------------------------------------------------------------------|
 * | `noLostAcknowledged`   | every acknowledged (`ok`) send was delivered to each of its receivers  |
 * | `noDuplicates`         | no message id is delivered twice to the same receiver                  |
 * | `perPairFifo`          | per (sender, receiver) pair, delivered sequence numbers increase       |
 * | `noPhantoms`           | every delivery matches a send that was invoked (and not after it)      |
 * | `watchersNotified`     | a watcher of an actor on a lost node gets Down/Exit(NoConnection) in time |
 * | `restartsWithinPolicy` | supervisors' restarts follow their `RestartPolicy` (backoff, intensity) |
 * | `boundedBuffers`       | every buffer-size sample is within its bound                           |
 * | `livenessAfterHeal`    | after the last heal, every link is up and every pending op completed in time |
 * | `reliableDelivery`     | reliable channels: confirmed ⇒ processed once, in order; one outcome each |
 * | `singleActivation`     | sharded entities: no two activations of one key overlap; epochs never go back |
 * | `noLostUpdates`        | counters: every read sees every increment acknowledged before it, no more than were made |
 * | `asksEnd`              | every operation ends (answered or a typed error), within its bound |
 * | `keysAnswerAfterHeal`  | after the last heal, every key answers again within the bound, and keeps answering |
 *
 * Each checker's documentation gives its exact rule. `checkAll` runs the applicable ones,
 * `format` prints a result.
 *
 * What is checked is only what was recorded: a checker never guesses about entries that are not
 * in the history, and a history that stops too early fails the time-bound checkers (record until
 * their deadlines have passed).
 *
 * @since 0.1.0
 */
import * as RestartPolicy from "../supervision/RestartPolicy.ts"
import type { SupervisionEvent } from "../actors/SupervisionEvent.ts"
import * as History from "./History.ts"

type Entry = History.Entry
type HistoryT = History.History

export type Rule =
  | "noLostAcknowledged"
  | "noDuplicates"
  | "perPairFifo"
  | "noPhantoms"
  | "watchersNotified"
  | "restartsWithinPolicy"
  | "boundedBuffers"
  | "livenessAfterHeal"
  | "reliableDelivery"
  | "singleActivation"
  | "noLostUpdates"
  | "asksEnd"
  | "keysAnswerAfterHeal"

export const rules: ReadonlyArray<Rule> = [
  "noLostAcknowledged",
  "noDuplicates",
  "perPairFifo",
  "noPhantoms",
  "watchersNotified",
  "restartsWithinPolicy",
  "boundedBuffers",
  "livenessAfterHeal",
  "reliableDelivery",
  "singleActivation",
  "noLostUpdates",
  "asksEnd",
  "keysAnswerAfterHeal"
]

export interface Violation {
  readonly rule: Rule
  /** what went wrong, in a sentence or two, with times and names */
  readonly detail: string
  /** the history entries involved, in history order */
  readonly ops: ReadonlyArray<Entry>
}

export type Result =
  | { readonly valid: true }
  | { readonly valid: false; readonly violations: ReadonlyArray<Violation> }

const VALID: Result = Object.freeze({ valid: true as const })

const verdict = (violations: ReadonlyArray<Violation>): Result =>
  violations.length === 0 ? VALID : { valid: false, violations }

const violation = (rule: Rule, detail: string, ops: ReadonlyArray<Entry | undefined>): Violation => ({
  rule,
  detail,
  ops: ops.filter((e): e is Entry => e !== undefined).sort((a, b) => a.index - b.index)
})

const key = (...parts: ReadonlyArray<string>) => parts.join("\u0000")

const deliveries = (history: HistoryT): Array<History.DeliverEntry> =>
  history.entries.filter((e): e is History.DeliverEntry => e._tag === "Deliver")

const sends = (history: HistoryT): Array<History.Operation & { readonly message: History.MessageRef }> =>
  history.operations.filter((o): o is History.Operation & { readonly message: History.MessageRef } => o.message !== undefined)

// ---------------------------------------------------------------------------------------------
// 1. noLostAcknowledged
// ---------------------------------------------------------------------------------------------

/**
 * **No acknowledged message is lost.** For every operation with a `message` that completed `ok`
 * (an ask that succeeded, a send that was confirmed), each of the message's receivers has a
 * delivery of that message id somewhere in the history. Operations that failed, ended `info`
 * (unknown outcome) or are still pending are not required to have been delivered.
 */
export const noLostAcknowledged = (history: HistoryT): Result => {
  const delivered = new Set(deliveries(history).map((d) => key(d.receiver, d.messageId)))
  const violations: Array<Violation> = []
  for (const op of sends(history)) {
    if (op.completion?.type !== "ok") continue
    for (const receiver of History.receivers(op.message)) {
      if (delivered.has(key(receiver, op.message.id))) continue
      violations.push(violation(
        "noLostAcknowledged",
        `message ${op.message.id} from ${History.senderOf(op)} to ${receiver} was acknowledged ` +
          `(op ${op.id} ok at t=${op.completion.at}) but never delivered`,
        [op.invoke, op.completion]
      ))
    }
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 2. noDuplicates
// ---------------------------------------------------------------------------------------------

/**
 * **No duplicates** (at-most-once / effectively-once): no receiver has two deliveries of the same
 * message id. One violation per (receiver, message id) delivered more than once.
 */
export const noDuplicates = (history: HistoryT): Result => {
  const seen = new Map<string, Array<History.DeliverEntry>>()
  for (const d of deliveries(history)) {
    const k = key(d.receiver, d.messageId)
    const list = seen.get(k)
    if (list === undefined) seen.set(k, [d])
    else list.push(d)
  }
  const violations: Array<Violation> = []
  for (const list of seen.values()) {
    if (list.length < 2) continue
    const first = list[0]!
    violations.push(violation(
      "noDuplicates",
      `message ${first.messageId} from ${first.from} delivered ${list.length} times to ${first.receiver} ` +
        `(at t=${list.map((d) => d.at).join(", t=")})`,
      list
    ))
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 3. perPairFifo
// ---------------------------------------------------------------------------------------------

export interface PerPairFifoOptions {
  /**
   * Whether sequence numbers may be skipped (at-most-once: lost messages leave gaps). Default
   * true. With false, each delivery's seq is the previous one + 1, and the first delivery on a
   * pair is the lowest seq sent on it (as far as sends with a `seq` were recorded).
   */
  readonly allowGaps?: boolean
}

/**
 * **Per-pair FIFO.** For each (sender, receiver) pair, the sequence numbers of its deliveries, in
 * history order, are strictly increasing: a delivery whose seq is not above the previous one on
 * its pair is a reordering (or, equal, a duplicate). With `allowGaps: false`, skipped sequence
 * numbers are violations too. Deliveries without a seq are ignored.
 */
export const perPairFifo = (history: HistoryT, options: PerPairFifoOptions = {}): Result => {
  const allowGaps = options.allowGaps ?? true
  const last = new Map<string, History.DeliverEntry>()
  const lowestSent = new Map<string, { seq: number; entry: Entry }>()
  if (!allowGaps) {
    for (const op of sends(history)) {
      if (op.message.seq === undefined) continue
      for (const receiver of History.receivers(op.message)) {
        const k = key(History.senderOf(op), receiver)
        const current = lowestSent.get(k)
        if (current === undefined || op.message.seq < current.seq) lowestSent.set(k, { seq: op.message.seq, entry: op.invoke })
      }
    }
  }
  const violations: Array<Violation> = []
  for (const d of deliveries(history)) {
    if (d.seq === undefined) continue
    const k = key(d.from, d.receiver)
    const prev = last.get(k)
    const pair = `${d.from} → ${d.receiver}`
    if (prev === undefined) {
      const lowest = lowestSent.get(k)
      if (lowest !== undefined && d.seq > lowest.seq) {
        violations.push(violation(
          "perPairFifo",
          `${pair}: first delivery is seq ${d.seq} (message ${d.messageId}), but seq ${lowest.seq} was sent first ` +
            `and never delivered before it (gap: ${gapText(lowest.seq - 1, d.seq)})`,
          [lowest.entry, d]
        ))
      }
      last.set(k, d)
      continue
    }
    if (prev.seq === undefined) continue
    if (d.seq === prev.seq) {
      violations.push(violation(
        "perPairFifo",
        `${pair}: seq ${d.seq} delivered again (message ${d.messageId} at t=${d.at}, after message ${prev.messageId} at t=${prev.at})`,
        [prev, d]
      ))
    } else if (d.seq < prev.seq) {
      violations.push(violation(
        "perPairFifo",
        `${pair}: reordered: seq ${d.seq} (message ${d.messageId}) delivered at t=${d.at} after seq ${prev.seq} ` +
          `(message ${prev.messageId}, t=${prev.at})`,
        [prev, d]
      ))
    } else if (!allowGaps && d.seq !== prev.seq + 1) {
      violations.push(violation(
        "perPairFifo",
        `${pair}: gap: seq ${d.seq} (message ${d.messageId}) delivered right after seq ${prev.seq} ` +
          `(missing ${gapText(prev.seq, d.seq)})`,
        [prev, d]
      ))
    }
    last.set(k, d)
  }
  return verdict(violations)
}

const gapText = (after: number, before: number): string =>
  before - after === 2 ? `seq ${after + 1}` : `seq ${after + 1}..${before - 1}`

// ---------------------------------------------------------------------------------------------
// 4. noPhantoms
// ---------------------------------------------------------------------------------------------

/**
 * **No phantoms.** Every delivery corresponds to an invoked send: an operation whose `message`
 * has the delivered id, whose receivers include the delivery's receiver, whose sender is the
 * delivery's `from`, whose `seq` (when both have one) is the delivery's seq, and which was invoked
 * no later than the delivery (`at`). Catches corruption, misrouting and dedup bugs — and
 * deliveries of messages that were never sent.
 */
export const noPhantoms = (history: HistoryT): Result => {
  const byId = new Map<string, Array<History.Operation & { readonly message: History.MessageRef }>>()
  for (const op of sends(history)) {
    const list = byId.get(op.message.id)
    if (list === undefined) byId.set(op.message.id, [op])
    else list.push(op)
  }
  const violations: Array<Violation> = []
  for (const d of deliveries(history)) {
    const what = `delivery of ${d.messageId} from ${d.from} to ${d.receiver}${d.seq === undefined ? "" : ` (seq ${d.seq})`} at t=${d.at}`
    const candidates = byId.get(d.messageId)
    if (candidates === undefined) {
      violations.push(violation("noPhantoms", `${what}: no operation sent a message ${d.messageId}`, [d]))
      continue
    }
    // the best match: the first candidate failing the fewest tests
    let best: { problems: Array<string>; op: History.Operation } | undefined
    for (const op of candidates) {
      const problems: Array<string> = []
      const to = History.receivers(op.message)
      if (!to.includes(d.receiver)) problems.push(`it was sent to ${to.join(", ")}`)
      const sender = History.senderOf(op)
      if (sender !== d.from) problems.push(`it was sent by ${sender}`)
      if (op.message.seq !== undefined && d.seq !== undefined && op.message.seq !== d.seq) {
        problems.push(`it was sent with seq ${op.message.seq}`)
      }
      if (d.at < op.invoke.at) problems.push(`it was sent only at t=${op.invoke.at}, after this delivery`)
      if (best === undefined || problems.length < best.problems.length) best = { problems, op }
      if (problems.length === 0) break
    }
    if (best !== undefined && best.problems.length > 0) {
      violations.push(violation(
        "noPhantoms",
        `${what} does not match its send (op ${best.op.id} by ${best.op.process}): ${best.problems.join("; ")}`,
        [best.op.invoke, d]
      ))
    }
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 5. watchersNotified
// ---------------------------------------------------------------------------------------------

export interface WatchersOptions {
  /** how long after a node is lost its watchers may wait, e.g. acceptable pause + heartbeat interval */
  readonly deadlineMillis: number
  /** exit reasons that count as "lost with its node"; default `["NoConnection"]` */
  readonly reasons?: ReadonlyArray<string>
}

/**
 * **Watchers are notified of lost nodes.** A watch (`Watch` entry) lasts until its notification
 * (`Down` or `Exit`) or an `Unwatch` of its (watcher, target) pair; a pair watched twice gets two
 * notifications, matched oldest watch first. When a `NodeDown` of the watched actor's
 * node is recorded at `t` while the watch lasts — seen by the watcher's node, or by anyone when
 * either side is not given — the watcher's next notification must arrive no later than
 * `t + deadlineMillis` and carry one of `reasons` (NoConnection). A notification that comes
 * before any `NodeDown` ends the watch with nothing to check (whatever its reason, and also when
 * the failure detector told the watcher before the test recorded the loss). A watch of a lost node
 * still waiting when it is unwatched after its deadline, or when the history ends, is a violation:
 * record until the deadlines have passed.
 */
export const watchersNotified = (history: HistoryT, options: WatchersOptions): Result => {
  const reasons = options.reasons ?? ["NoConnection"]
  /** per (watcher, target): the watches that last, oldest first (each gets its own notification) */
  const active = new Map<string, Array<{ watch: History.WatchEntry; lost: History.NodeEntry | undefined }>>()
  const violations: Array<Violation> = []
  const deadlineOf = (lost: History.NodeEntry) => lost.at + options.deadlineMillis
  for (const e of history.entries) {
    switch (e._tag) {
      case "Watch": {
        const k = key(e.watcher, e.target)
        const list = active.get(k)
        if (list === undefined) active.set(k, [{ watch: e, lost: undefined }])
        else list.push({ watch: e, lost: undefined })
        break
      }
      case "Unwatch": {
        // ends every watch of the pair; one whose node was lost must have been notified by now
        const k = key(e.watcher, e.target)
        for (const w of active.get(k) ?? []) {
          if (w.lost === undefined || e.at <= deadlineOf(w.lost)) continue
          violations.push(violation(
            "watchersNotified",
            `${e.watcher} watching ${e.target} on ${w.watch.node}: node lost at t=${w.lost.at}, ` +
              `no Down/Exit by the deadline (t=${deadlineOf(w.lost)}) before the watch ended at t=${e.at}`,
            [w.watch, w.lost, e]
          ))
        }
        active.delete(k)
        break
      }
      case "Node": {
        if (e.event !== "NodeDown") break
        for (const list of active.values()) {
          for (const w of list) {
            if (w.lost !== undefined || w.watch.node !== e.node) continue
            if (e.observer !== undefined && w.watch.watcherNode !== undefined && e.observer !== w.watch.watcherNode) continue
            w.lost = e
          }
        }
        break
      }
      case "Notify": {
        const k = key(e.watcher, e.target)
        const list = active.get(k)
        const w = list?.shift()
        if (w === undefined) break
        if (list!.length === 0) active.delete(k)
        if (w.lost === undefined) break
        const deadline = deadlineOf(w.lost)
        const about = `${e.watcher} watching ${e.target} on ${w.watch.node} (node lost at t=${w.lost.at})`
        if (e.at > deadline) {
          violations.push(violation(
            "watchersNotified",
            `${about}: late ${e.kind}: it arrived at t=${e.at}, ${e.at - w.lost.at} ms after the loss, ` +
              `later than the deadline of ${options.deadlineMillis} ms (t=${deadline})`,
            [w.watch, w.lost, e]
          ))
        }
        if (!reasons.includes(e.reason._tag)) {
          violations.push(violation(
            "watchersNotified",
            `${about}: ${e.kind} carried reason ${e.reason._tag}, expected ${reasons.join(" or ")}`,
            [w.watch, w.lost, e]
          ))
        }
        break
      }
      default:
        break
    }
  }
  for (const list of active.values()) {
    for (const w of list) {
      if (w.lost === undefined) continue
      const deadline = deadlineOf(w.lost)
      violations.push(violation(
        "watchersNotified",
        `${w.watch.watcher} watching ${w.watch.target} on ${w.watch.node}: node lost at t=${w.lost.at}, ` +
          `no Down/Exit by the end of the history (t=${history.end}; deadline t=${deadline}` +
          `${history.end < deadline ? ", not reached yet: record longer" : ""})`,
        [w.watch, w.lost]
      ))
    }
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 6. restartsWithinPolicy
// ---------------------------------------------------------------------------------------------

export interface RestartsOptions {
  /** every supervisor's policy, or a policy per supervisor address (undefined: not checked) */
  readonly policy: RestartPolicy.Policy | ((supervisor: string) => RestartPolicy.Policy | undefined)
  /** restart type of a child (by id, or per supervisor and id); default `permanent` */
  readonly restartTypes?:
    | Readonly<Record<string, RestartPolicy.RestartType>>
    | ((supervisor: string, childId: string) => RestartPolicy.RestartType | undefined)
  /**
   * Slack on times and delays, in ms (default 2): a supervisor reads the clock a little after the
   * exit it reacts to, and timers fire on whole milliseconds.
   */
  readonly toleranceMillis?: number
}

interface ChildState {
  readonly id: string
  readonly restart: RestartPolicy.RestartType
  running: boolean
}

/** A restart decided for a group of children: due at once, or when its timer fires. */
interface Timer {
  readonly due: number
  /** the children it restarts (the failed child leaves older timers: its new failure sets its backoff) */
  readonly ids: Set<string>
  /** the group in start order */
  readonly order: ReadonlyArray<string>
  readonly failedAt: number
  readonly delay: number
  readonly entries: ReadonlyArray<Entry>
}

interface Expectation {
  readonly trigger: History.SupervisionEntry
  readonly childId: string
  readonly at: number
  readonly reason: string
  readonly outcomes: ReadonlyArray<readonly [RestartPolicy.Decision, RestartPolicy.History]>
}

interface SupervisorState {
  readonly policy: RestartPolicy.Policy
  children: Array<ChildState>
  history: RestartPolicy.History
  timers: Array<Timer>
  /** children waiting for a restart, since when */
  readonly waiting: Map<string, number>
  readonly attempting: Set<string>
  expectation: Expectation | undefined
}

const policyText = (p: RestartPolicy.Policy): string =>
  `${p.strategy}, intensity ${p.intensity} in ${p.periodMillis} ms, ` +
  (p.backoff === undefined
    ? "no backoff"
    : `backoff ${p.backoff.initialMillis} ms ×${p.backoff.factor} up to ${p.backoff.maxMillis} ms ±${Math.round(p.backoff.jitter * 100)}%, reset after ${p.backoff.resetAfterMillis} ms`)

/**
 * **Restarts follow the policy.** Replays each supervisor's events through `RestartPolicy.decide`
 * (the supervisor's own decision function), child exits in order, and checks:
 *
 * - **Intensity**: a child exit (`ChildExited`, or `ChildStartFailed` of a restart) is followed by
 *   `IntensityExceeded` iff the replay counts more than `intensity` restarts within `periodMillis`
 *   (this one included); `IntensityExceeded` anywhere else is a violation.
 * - **Backoff**: the restart delay the supervisor chose (`RestartScheduled.delayMillis`, or 0 for
 *   an immediate restart) lies within the policy's range for this failure — the backoff delay for
 *   the child's streak of consecutive failures, with the jitter at either extreme, ± tolerance.
 *   A shorter delay is a restart before its backoff; a longer one exceeds the policy.
 * - **Timers honoured**: a restarted child starts again (`ChildStarted` / `ChildRestarted` /
 *   `ChildStartFailed`) no earlier than its exit time + the scheduled delay − tolerance. The child
 *   whose exit was decided on waits for that decision's delay, whatever earlier decision was still
 *   pending for it (its new failure sets its backoff); the other children of a group restart may
 *   also be started by an earlier group decision still pending for them (a group restart that
 *   stops at a failed start no longer counts for the children after it).
 * - **Nothing else restarts**: `ChildRestarted` or `RestartScheduled` without an exit that the
 *   policy restarts (a temporary child, a transient one that exited normally) is a violation.
 *
 * Children are taken in order of first appearance (their start order) and are `permanent` unless
 * `restartTypes` says otherwise. Decisions near a boundary (within the tolerance of the period
 * or the backoff reset) accept either outcome. After `IntensityExceeded` / `Escalated` the
 * supervisor's replay starts afresh.
 */
export const restartsWithinPolicy = (history: HistoryT, options: RestartsOptions): Result => {
  const tol = options.toleranceMillis ?? 2
  const policyOf = typeof options.policy === "function" ? options.policy : () => options.policy as RestartPolicy.Policy
  const restartType = (supervisor: string, childId: string): RestartPolicy.RestartType =>
    (typeof options.restartTypes === "function"
      ? options.restartTypes(supervisor, childId)
      : options.restartTypes?.[childId]) ?? "permanent"
  const states = new Map<string, SupervisorState>()
  const violations: Array<Violation> = []
  const report = (detail: string, ops: ReadonlyArray<Entry | undefined>) => violations.push(violation("restartsWithinPolicy", detail, ops))

  const fresh = (policy: RestartPolicy.Policy): SupervisorState => ({
    policy,
    children: [],
    history: RestartPolicy.emptyHistory,
    timers: [],
    waiting: new Map(),
    attempting: new Set(),
    expectation: undefined
  })

  const child = (s: SupervisorState, supervisor: string, id: string): ChildState => {
    let c = s.children.find((x) => x.id === id)
    if (c === undefined) {
      c = { id, restart: restartType(supervisor, id), running: false }
      s.children.push(c)
    }
    return c
  }

  const expect = (s: SupervisorState, entry: History.SupervisionEntry, childId: string, reason: Parameters<typeof RestartPolicy.decide>[3]) => {
    const at = entry.event.at
    const infos = s.children.map((c) => ({ id: c.id, restart: c.restart, running: c.running }))
    const times = tol === 0 ? [at] : [at, at - tol, at + tol]
    const outcomes = times.flatMap((now) =>
      [0, 1].map((random) => RestartPolicy.decide(s.policy, infos, childId, reason, now, s.history, random))
    )
    s.expectation = { trigger: entry, childId, at, reason: reason._tag, outcomes }
  }

  /**
   * A restart attempt of `id` at `t` (ChildStarted, ChildStartFailed, or a lone ChildRestarted):
   * some restart decided for the child since it began waiting must be due by `t`. Returns false
   * when the child was not waiting for a restart, else the restart that (most likely) ran it.
   */
  const attempt = (supervisor: string, s: SupervisorState, id: string, e: History.SupervisionEntry): false | { readonly timer: Timer | undefined } => {
    const since = s.waiting.get(id)
    if (since === undefined) return false
    s.waiting.delete(id)
    const t = e.event.at
    const candidates = s.timers.filter((timer) => timer.ids.has(id) && timer.due >= since - tol)
    // the restart running now: the last one due by `t` (timers fire in due order), else the first
    // one due within the tolerance
    const latest = candidates.filter((timer) => timer.due <= t).reduce<Timer | undefined>(
      (a, b) => (a === undefined || b.due >= a.due ? b : a),
      undefined
    )
    const running = latest ?? candidates.filter((timer) => timer.due <= t + tol).reduce<Timer | undefined>(
      (a, b) => (a === undefined || b.due < a.due ? b : a),
      undefined
    )
    if (candidates.length === 0 || running !== undefined) {
      // a restart runs once; and the timers that have fired by now will not restart this child again
      running?.ids.delete(id)
      for (const timer of candidates) if (timer.due <= t) timer.ids.delete(id)
      s.timers = s.timers.filter((timer) => timer.ids.size > 0)
      return { timer: running }
    }
    const first = candidates.reduce((a, b) => (b.due < a.due ? b : a))
    report(
      `${supervisor}: child ${id} restarted at t=${t}, ${t - first.failedAt} ms after the exit at ` +
        `t=${first.failedAt}, before its backoff of ${first.delay} ms was over (due at t=${first.due})`,
      [...first.entries, e]
    )
    return { timer: undefined }
  }

  /** Resolves an expectation with the supervisor's next event; returns whether the event was consumed. */
  const resolve = (supervisor: string, s: SupervisorState, x: Expectation, e: History.SupervisionEntry | undefined): boolean => {
    s.expectation = undefined
    const escalate = x.outcomes.filter(([d]) => d._tag === "Escalate")
    const restart = x.outcomes.filter(([d]) => d._tag === "Restart")
    const none = x.outcomes.filter(([d]) => d._tag === "NoRestart")
    const failure = `child ${x.childId}'s exit (${x.reason}) at t=${x.at}`
    const next = e === undefined ? "the history ends" : `its next event is ${History.describe(e)}`

    if (e?.event._tag === "IntensityExceeded") {
      if (escalate.length === 0) {
        const counted = restart[0]?.[1].restarts.length
        report(
          `${supervisor} gave up (IntensityExceeded, ${e.event.restarts} restarts) after ${failure}, but the policy ` +
            (counted === undefined
              ? `would not restart that child at all (restart type ${child(s, supervisor, x.childId).restart})`
              : `allows it: the replay counts ${counted} restart(s) within ${s.policy.periodMillis} ms, intensity is ${s.policy.intensity}`) +
            ` (${policyText(s.policy)})`,
          [x.trigger, e]
        )
      }
      return false // processed again below: resets the supervisor
    }

    if (restart.length === 0 && none.length === 0) {
      const count = (escalate[0]![0] as Extract<RestartPolicy.Decision, { _tag: "Escalate" }>).restarts
      report(
        `${supervisor}: missing IntensityExceeded: ${failure} makes ${count} restarts within ${s.policy.periodMillis} ms, ` +
          `more than the intensity ${s.policy.intensity}, so the supervisor should have given up — but ${next}`,
        [x.trigger, e]
      )
      // carry on as if it restarted: its later restarts are not "unexpected"
      s.history = escalate[0]![1]
      s.timers.push({ due: x.at, ids: new Set([x.childId]), order: [x.childId], failedAt: x.at, delay: 0, entries: [x.trigger] })
      s.waiting.set(x.childId, x.at)
      return e?.event._tag === "RestartScheduled"
    }

    if (restart.length === 0) {
      // the policy does not restart this child
      const remove = (none[0]![0] as Extract<RestartPolicy.Decision, { _tag: "NoRestart" }>).remove
      s.children = s.children.filter((c) => !remove.includes(c.id))
      if (e?.event._tag === "RestartScheduled") {
        report(
          `${supervisor}: restart scheduled after ${failure}, but the policy does not restart it ` +
            `(restart type ${child(s, supervisor, x.childId).restart})`,
          [x.trigger, e]
        )
        return true
      }
      return false
    }

    // the policy restarts: which delay did the supervisor choose?
    const scheduled = e?.event._tag === "RestartScheduled" ? e.event : undefined
    const delay = scheduled?.delayMillis ?? 0
    const delays = restart.map(([d]) => (d as Extract<RestartPolicy.Decision, { _tag: "Restart" }>).delayMillis)
    const lo = Math.min(...delays)
    const hi = Math.max(...delays)
    const chosen = scheduled === undefined ? "restarted it at once" : `scheduled its restart in ${delay} ms`
    if (delay < lo - tol) {
      report(
        `${supervisor}: restart before its backoff: after ${failure} the supervisor ${chosen}, but the policy ` +
          `requires a delay of ${lo === hi ? `${lo}` : `${lo}..${hi}`} ms (${policyText(s.policy)})`,
        [x.trigger, e]
      )
    } else if (delay > hi + tol) {
      report(
        `${supervisor}: after ${failure} the supervisor ${chosen}, longer than the policy's ` +
          `${lo === hi ? `${hi}` : `${lo}..${hi}`} ms (${policyText(s.policy)})`,
        [x.trigger, e]
      )
    }
    const [decision, next0] = restart.find(([, h]) => h.restarts[h.restarts.length - 1] === x.at) ?? restart[0]!
    const d = decision as Extract<RestartPolicy.Decision, { _tag: "Restart" }>
    const streaks = new Map(next0.streaks)
    const streak = streaks.get(x.childId)
    if (streak !== undefined) streaks.set(x.childId, { failures: streak.failures, restartedAt: x.at + delay })
    s.history = { restarts: next0.restarts, streaks }
    for (const id of d.stop) {
      const c = s.children.find((c) => c.id === id)
      if (c !== undefined) c.running = false
    }
    s.children = s.children.filter((c) => !d.remove.includes(c.id))
    const group = scheduled?.childIds ?? d.start
    // The failed child waits for its new backoff, whatever was pending for it before. Other
    // children of the group may be restarted by this decision or by an earlier one still pending.
    for (const timer of s.timers) timer.ids.delete(x.childId)
    s.timers.push({
      due: x.at + delay,
      ids: new Set(group),
      order: group,
      failedAt: x.at,
      delay,
      entries: scheduled === undefined ? [x.trigger] : [x.trigger, e!]
    })
    s.waiting.set(x.childId, x.at)
    for (const id of group) {
      if (!s.waiting.has(id)) s.waiting.set(id, x.at)
      s.attempting.delete(id)
    }
    return scheduled !== undefined
  }

  const apply = (supervisor: string, s: SupervisorState, e: History.SupervisionEntry, event: SupervisionEvent) => {
    switch (event._tag) {
      case "ChildStarted": {
        const c = child(s, supervisor, event.childId)
        c.running = true
        if (attempt(supervisor, s, event.childId, e) !== false) s.attempting.add(event.childId)
        return
      }
      case "ChildRestarted": {
        const c = child(s, supervisor, event.childId)
        c.running = true
        if (s.attempting.delete(event.childId) || attempt(supervisor, s, event.childId, e) !== false) return
        report(
          `${supervisor}: unexpected restart of child ${event.childId} at t=${event.at}: no exit that the policy ` +
            `restarts preceded it (restart type ${c.restart})`,
          [e]
        )
        return
      }
      case "ChildExited": {
        const c = child(s, supervisor, event.childId)
        c.running = false
        s.attempting.delete(event.childId)
        s.waiting.delete(event.childId)
        expect(s, e, event.childId, event.reason)
        return
      }
      case "ChildStartFailed": {
        const attempting = s.attempting.delete(event.childId)
        const attempted = attempt(supervisor, s, event.childId, e)
        if (attempted === false && !attempting) {
          // a first start that failed: the spec is dropped (dynamic) or the supervisor fails
          s.children = s.children.filter((c) => c.id !== event.childId)
          return
        }
        // the group restart stops at the failure: the children after it were not restarted by it
        const timer = attempted === false ? undefined : attempted.timer
        if (timer !== undefined) {
          for (const id of timer.order.slice(timer.order.indexOf(event.childId) + 1)) timer.ids.delete(id)
        }
        child(s, supervisor, event.childId).running = false
        expect(s, e, event.childId, { _tag: "Error", message: event.message })
        return
      }
      case "RestartScheduled":
        report(`${supervisor}: RestartScheduled at t=${event.at} without a preceding child exit that the policy restarts`, [e])
        return
      case "IntensityExceeded":
      case "Escalated":
        states.set(supervisor, fresh(s.policy))
        return
    }
  }

  for (const e of history.entries) {
    if (e._tag !== "Supervision") continue
    const supervisor = e.event.supervisor
    let s = states.get(supervisor)
    if (s === undefined) {
      const policy = policyOf(supervisor)
      if (policy === undefined) continue
      s = fresh(policy)
      states.set(supervisor, s)
    }
    if (e.event._tag === "IntensityExceeded" && s.expectation === undefined) {
      report(
        `${supervisor} gave up (IntensityExceeded, ${e.event.restarts} restarts) at t=${e.event.at} without a ` +
          `preceding child exit (${policyText(s.policy)})`,
        [e]
      )
    }
    if (s.expectation !== undefined && resolve(supervisor, s, s.expectation, e)) continue
    apply(supervisor, states.get(supervisor)!, e, e.event)
  }
  for (const [supervisor, s] of states) {
    if (s.expectation !== undefined) resolve(supervisor, s, s.expectation, undefined)
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 7. boundedBuffers
// ---------------------------------------------------------------------------------------------

export interface BoundedBuffersOptions {
  /** bounds by buffer name, for samples recorded without one */
  readonly bounds?: Readonly<Record<string, number>>
}

/**
 * **Buffers stay bounded.** Every `Sample` has `size ≤ bound`, the bound being the one recorded
 * with the sample, else `options.bounds[buffer]`; samples of buffers without a bound are not
 * checked. One violation per buffer, with the number of samples over the bound and the largest.
 */
export const boundedBuffers = (history: HistoryT, options: BoundedBuffersOptions = {}): Result => {
  const over = new Map<string, Array<History.SampleEntry>>()
  const total = new Map<string, number>()
  for (const e of history.entries) {
    if (e._tag !== "Sample") continue
    const bound = e.bound ?? options.bounds?.[e.buffer]
    if (bound === undefined) continue
    total.set(e.buffer, (total.get(e.buffer) ?? 0) + 1)
    if (e.size <= bound) continue
    const list = over.get(e.buffer)
    if (list === undefined) over.set(e.buffer, [e])
    else list.push(e)
  }
  const violations: Array<Violation> = []
  for (const [buffer, list] of over) {
    const worst = list.reduce((a, b) => (b.size > a.size ? b : a))
    const bound = worst.bound ?? options.bounds?.[buffer]
    const shown = list.slice(0, 5)
    if (!shown.includes(worst)) shown.push(worst)
    violations.push(violation(
      "boundedBuffers",
      `buffer ${buffer} exceeded its bound of ${bound}: ${list.length} of ${total.get(buffer)} samples over it, ` +
        `first at t=${list[0]!.at} (size ${list[0]!.size}), largest ${worst.size} at t=${worst.at}`,
      shown
    ))
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 8. livenessAfterHeal
// ---------------------------------------------------------------------------------------------

export interface LivenessOptions {
  /** how long recovery may take after the heal, e.g. reconnect backoff max + 2 heartbeat intervals */
  readonly withinMillis: number
  /** the heal time; default: the last `Heal` entry */
  readonly healAt?: number
  /**
   * the links that must be up (an observer's view of a node; observer undefined for facts
   * recorded by the test); default: every link with a NodeUp / NodeDown in the history
   */
  readonly links?: ReadonlyArray<{ readonly observer?: string; readonly node: string }>
  /** nodes whose links are not required (a node the test stopped for good) */
  readonly ignoreNodes?: ReadonlyArray<string>
}

/**
 * **Liveness after heal.** With `H` the last heal and `D = H + withinMillis`:
 *
 * - every link is up at `D`: its last `NodeUp` / `NodeDown` at or before `D` is a `NodeUp`;
 * - every operation pending at `H` (invoked at or before `H`, not completed by then) completes —
 *   `ok`, `fail` or `info`, it no longer hangs — at or before `D`.
 *
 * A history without a heal is a violation when this checker is called (`checkAll` skips it).
 */
export const livenessAfterHeal = (history: HistoryT, options: LivenessOptions): Result => {
  let heal: History.HealEntry | undefined
  for (const e of history.entries) if (e._tag === "Heal" && (heal === undefined || e.at >= heal.at)) heal = e
  const H = options.healAt ?? heal?.at
  if (H === undefined) {
    return verdict([violation("livenessAfterHeal", "no heal in the history: nothing to measure recovery from", [])])
  }
  const D = H + options.withinMillis
  const ignored = new Set(options.ignoreNodes ?? [])
  const violations: Array<Violation> = []
  const endNote = history.end < D ? ` (the history ends at t=${history.end}, before the deadline: record longer)` : ""

  // links
  const nodeEvents = history.entries.filter((e): e is History.NodeEntry => e._tag === "Node")
  const linkKey = (observer: string | undefined, node: string) => key(observer ?? "", node)
  const links = new Map<string, { observer: string | undefined; node: string }>()
  for (const l of options.links ?? nodeEvents) links.set(linkKey(l.observer, l.node), { observer: l.observer, node: l.node })
  for (const { observer, node } of links.values()) {
    if (ignored.has(node) || (observer !== undefined && ignored.has(observer))) continue
    const events = nodeEvents.filter((e) => e.node === node && e.observer === observer)
    const name = observer === undefined ? `node ${node}` : `link ${observer} → ${node}`
    const before = events.filter((e) => e.at <= D)
    const last = before[before.length - 1]
    if (last?.event === "NodeUp") continue
    const laterUp = events.find((e) => e.at > D && e.event === "NodeUp")
    violations.push(violation(
      "livenessAfterHeal",
      last === undefined
        ? `${name} never seen up by t=${D} (heal at t=${H} + ${options.withinMillis} ms)` +
          (laterUp === undefined ? endNote : `: up only at t=${laterUp.at}`)
        : `${name} still down at t=${D} (heal at t=${H} + ${options.withinMillis} ms): NodeDown at t=${last.at}, ` +
          (laterUp === undefined ? `never up again${endNote}` : `up again only at t=${laterUp.at}, ${laterUp.at - H} ms after the heal`),
      [last, heal, laterUp]
    ))
  }

  // operations pending at the heal
  for (const op of history.operations) {
    if (op.invoke.at > H) continue
    const c = op.completion
    if (c !== undefined && c.at <= H) continue
    if (c !== undefined && c.at <= D) continue
    violations.push(violation(
      "livenessAfterHeal",
      `op ${op.id} (${op.process} ${op.f}${op.message === undefined ? "" : ` ${op.message.id}`}, invoked at t=${op.invoke.at}) ` +
        `was pending at the heal (t=${H}) and ` +
        (c === undefined
          ? `never completed${endNote}`
          : `completed (${c.type}) only at t=${c.at}, ${c.at - H} ms after the heal, later than ${options.withinMillis} ms`),
      [op.invoke, heal, c]
    ))
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 9. reliableDelivery
// ---------------------------------------------------------------------------------------------

export interface ReliableDeliveryOptions {
  /**
   * How long after its `info` outcome (a `DeliveryTimeout` report) a message may still be
   * processed: copies of it already on their way when the producer gave up (a link that held
   * them, a duplicating network) are processed if the consumer has not heard of the skip yet.
   * Later processing is a violation. Default: not checked (only at most once, in order).
   */
  readonly unknownSettleMillis?: number
  /**
   * Liveness after the last heal: every message pending at the heal (or offered after it) has its
   * outcome within `withinMillis` of the heal (of its offer). A message whose deadline is later
   * than that cannot be reported undeliverable in time, so this says: confirmed.
   */
  readonly liveness?: {
    readonly withinMillis: number
    /** default: the last `Heal` entry */
    readonly healAt?: number
    /**
     * The channels' deadline: a message pending at the heal (or offered after it) whose deadline
     * (offer + `deadlineMillis`) is later than the recovery point (heal + `withinMillis`) must be
     * confirmed (or rejected), not reported undeliverable — the channel works again by then.
     */
    readonly deadlineMillis?: number
  }
}

/**
 * **Reliable delivery** (effectively-once, in-order channels: `Reliable.producer` /
 * `Reliable.consumer`). Record it this way:
 *
 * - each accepted message as an operation whose `message` is `{ id, to: consumer, from: channel,
 *   seq }` (ids unique; a producer that starts a new session should use a new channel name in
 *   the history, its sequence numbers start again);
 * - its outcome as the operation's completion: `ok` for `Confirmed`, `fail` for
 *   `MessageRejected` (the handler never ran), `info` for `DeliveryTimeout` / `ProducerClosed`
 *   (it may or may not have been processed);
 * - a `Deliver(consumer, id, channel, seq)` each time the consumer's handler *completes* a
 *   message (a run that crashed before completing is not recorded).
 *
 * Every delivery in the history is taken as a delivery of a reliable channel. Violations, all of
 * rule `reliableDelivery`, their detail starting with the property broken:
 *
 * - `phantom`: a delivery that matches no offered message (id, channel, consumer, seq), or comes
 *   before its offer;
 * - `duplicate`: a message processed more than once (whatever its outcome);
 * - `reorder`: per (channel, consumer), a message processed after one with a higher seq (the
 *   processed messages are a subsequence of the offered ones, in seq order);
 * - `lost`: a confirmed message never processed; `confirmed early`: confirmed before its
 *   processing completed; `processed rejected`: processed although reported rejected;
 * - `unreported`: an offered message without an outcome at the end of the history (every
 *   message gets exactly one outcome: the recorder refuses a second completion);
 * - `processed after timeout`: see `unknownSettleMillis`;
 * - `late`, `not confirmed`: see `liveness`.
 */
export const reliableDelivery = (history: HistoryT, options: ReliableDeliveryOptions = {}): Result => {
  const violations: Array<Violation> = []
  const report = (kind: string, detail: string, ops: ReadonlyArray<Entry | undefined>) =>
    violations.push(violation("reliableDelivery", `${kind}: ${detail}`, ops))
  const offered = new Map<string, History.Operation & { readonly message: History.MessageRef }>()
  for (const op of sends(history)) if (!offered.has(op.message.id)) offered.set(op.message.id, op)
  const name = (op: History.Operation & { readonly message: History.MessageRef }) =>
    `${History.senderOf(op)}#${op.message.seq ?? "?"} (message ${op.message.id})`

  // deliveries: phantoms, duplicates, order
  const processed = new Map<string, Array<History.DeliverEntry>>()
  const lastOnPair = new Map<string, History.DeliverEntry>()
  for (const d of deliveries(history)) {
    const what = `${d.messageId} from ${d.from} processed by ${d.receiver}${d.seq === undefined ? "" : ` as seq ${d.seq}`} at t=${d.at}`
    const op = offered.get(d.messageId)
    if (op === undefined) {
      report("phantom", `${what}: never offered`, [d])
    } else {
      const problems: Array<string> = []
      const to = History.receivers(op.message)
      if (!to.includes(d.receiver)) problems.push(`it was offered to ${to.join(", ")}`)
      if (History.senderOf(op) !== d.from) problems.push(`it was offered on channel ${History.senderOf(op)}`)
      if (op.message.seq !== d.seq) problems.push(`it was offered as seq ${op.message.seq}`)
      if (d.at < op.invoke.at) problems.push(`it was offered only at t=${op.invoke.at}`)
      if (problems.length > 0) report("phantom", `${what}, but ${problems.join("; ")}`, [op.invoke, d])
    }
    const k = key(d.receiver, d.messageId)
    const list = processed.get(k)
    if (list === undefined) processed.set(k, [d])
    else list.push(d)
    // a repeat is a duplicate (reported below), not also a reorder
    if (d.seq === undefined || list !== undefined) continue
    const pair = key(d.from, d.receiver)
    const prev = lastOnPair.get(pair)
    if (prev?.seq !== undefined && d.seq < prev.seq) {
      report(
        "reorder",
        `${d.from} → ${d.receiver}: seq ${d.seq} (${d.messageId}) processed at t=${d.at} after seq ${prev.seq} (${prev.messageId}, t=${prev.at})`,
        [prev, d]
      )
    }
    if (prev?.seq === undefined || d.seq > prev.seq) lastOnPair.set(pair, d)
  }

  for (const list of processed.values()) {
    if (list.length < 2) continue
    const d = list[0]!
    report(
      "duplicate",
      `${d.messageId} from ${d.from} processed ${list.length} times by ${d.receiver} (at t=${list.map((x) => x.at).join(", t=")})`,
      [offered.get(d.messageId)?.invoke, ...list]
    )
  }

  // outcomes
  let heal: History.HealEntry | undefined
  for (const e of history.entries) if (e._tag === "Heal" && (heal === undefined || e.at >= heal.at)) heal = e
  const H = options.liveness?.healAt ?? heal?.at
  for (const op of offered.values()) {
    const c = op.completion
    const runs = History.receivers(op.message).map((r) => ({ receiver: r, runs: processed.get(key(r, op.message.id)) ?? [] }))
    if (c === undefined) {
      report("unreported", `${name(op)}, offered at t=${op.invoke.at}, has no outcome by the end of the history (t=${history.end})`, [op.invoke])
    } else if (c.type === "ok") {
      for (const { receiver, runs: list } of runs) {
        if (list.length === 0) {
          report("lost", `${name(op)} was confirmed at t=${c.at} but never processed by ${receiver}`, [op.invoke, c])
        } else if (list[0]!.index > c.index) {
          report("confirmed early", `${name(op)} was confirmed at t=${c.at}, before ${receiver} processed it (t=${list[0]!.at})`, [op.invoke, c, list[0]])
        }
      }
    } else if (c.type === "fail") {
      for (const { receiver, runs: list } of runs) {
        if (list.length > 0) {
          report("processed rejected", `${name(op)} was reported rejected at t=${c.at} but ${receiver} processed it at t=${list[0]!.at}`, [op.invoke, c, list[0]])
        }
      }
    } else if (c.type === "info" && options.unknownSettleMillis !== undefined) {
      const limit = c.at + options.unknownSettleMillis
      for (const { receiver, runs: list } of runs) {
        const late = list.find((d) => d.at > limit)
        if (late === undefined) continue
        report(
          "processed after timeout",
          `${name(op)} was reported undeliverable at t=${c.at} but ${receiver} processed it at t=${late.at}, ` +
            `${late.at - c.at} ms later (allowed: ${options.unknownSettleMillis} ms for copies in flight)`,
          [op.invoke, c, late]
        )
      }
    }
    if (options.liveness !== undefined && H !== undefined) {
      if (c !== undefined && c.at <= H) continue
      const from = Math.max(H, op.invoke.at)
      const due = from + options.liveness.withinMillis
      const recovered = H + options.liveness.withinMillis
      const deadline = options.liveness.deadlineMillis === undefined ? undefined : op.invoke.at + options.liveness.deadlineMillis
      if (c?.type === "info" && deadline !== undefined && deadline > recovered) {
        report(
          "not confirmed",
          `${name(op)}, offered at t=${op.invoke.at}, was reported undeliverable at t=${c.at} (${String(c.value)}), ` +
            `but its deadline (t=${deadline}) is after the recovery bound (heal at t=${H} + ${options.liveness.withinMillis} ms)`,
          [op.invoke, heal, c]
        )
        continue
      }
      if (c !== undefined && c.at <= due) continue
      report(
        "late",
        `${name(op)}, offered at t=${op.invoke.at}, pending at the heal (t=${H}), ` +
          (c === undefined ? `has no outcome by t=${due}` : `got its outcome (${c.type}) only at t=${c.at}, ${c.at - from} ms later`) +
          ` (bound: ${options.liveness.withinMillis} ms)`,
        [op.invoke, heal, c]
      )
    }
  }
  if (options.liveness !== undefined && H === undefined) {
    report("late", "no heal in the history: nothing to measure recovery from", [])
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 10. singleActivation
// ---------------------------------------------------------------------------------------------

export interface SingleActivationOptions {
  /**
   * Overlaps no longer than this are not reported (default 0): slack for histories merged from
   * the logs of several processes, whose clocks are read at slightly different moments.
   */
  readonly toleranceMillis?: number
}

/**
 * **At most one activation per key** (sharded entities). From `Activation` and `Crash` entries,
 * taken in time order (at one instant, in history order): an activation lasts from its
 * `activated` until the `deactivated` of the same entity and key on the same node, or until its
 * node's `Crash`; one still running at the end of the history lasts until then. Violations:
 *
 * - `overlap`: an activation of a key starts while another one of the same key is running — on
 *   another node, or a second one on the same node — for longer than `toleranceMillis` (one that
 *   ends at the instant the next starts does not overlap it);
 * - `epoch`: an activation whose lease epoch is lower than an earlier activation's of the same
 *   key (leases only move forward), or equal to the epoch of an activation on another node (one
 *   acquisition, one owner);
 * - `unmatched`: a `deactivated` with no running activation of that key on that node (one whose
 *   node crashed while it ran may still record its stop: it is ignored).
 */
export const singleActivation = (history: HistoryT, options: SingleActivationOptions = {}): Result => {
  const tol = options.toleranceMillis ?? 0
  const events = history.entries
    .filter((e): e is History.ActivationEntry | History.CrashEntry => e._tag === "Activation" || e._tag === "Crash")
    .sort((a, b) => a.at - b.at || a.index - b.index)
  const violations: Array<Violation> = []
  const report = (kind: string, detail: string, ops: ReadonlyArray<Entry | undefined>) =>
    violations.push(violation("singleActivation", `${kind}: ${detail}`, ops))
  /** running activations per entity key */
  const running = new Map<string, Array<History.ActivationEntry>>()
  /** per entity key: the highest epoch seen, and the node of each epoch */
  const highest = new Map<string, History.ActivationEntry>()
  const epochNode = new Map<string, History.ActivationEntry>()
  /** overlaps found when the later activation started, judged when the earlier one ends */
  const overlaps: Array<{ readonly first: History.ActivationEntry; readonly second: History.ActivationEntry }> = []
  /** activations ended by their node's crash, by entity key, node and epoch */
  const crashed = new Set<string>()
  const name = (e: History.ActivationEntry) => `${e.entity}/${e.key}`
  const ended = (first: History.ActivationEntry, end: Entry | undefined, at: number) => {
    for (let i = overlaps.length - 1; i >= 0; i--) {
      const o = overlaps[i]!
      if (o.first !== first) continue
      overlaps.splice(i, 1)
      const length = at - o.second.at
      if (length <= tol) continue
      report(
        "overlap",
        `${name(first)} activated on ${o.second.node} (epoch ${o.second.epoch}) at t=${o.second.at} while its activation on ` +
          `${first.node} (epoch ${first.epoch}, since t=${first.at}) was still running` +
          (end === undefined ? ` (until the end of the history, t=${at})` : ` until t=${at}: ${length} ms of two activations`),
        [first, o.second, end]
      )
    }
  }
  for (const e of events) {
    if (e._tag === "Crash") {
      for (const [k, list] of running) {
        const left = list.filter((a) => {
          if (a.node !== e.node) return true
          ended(a, e, e.at)
          crashed.add(key(k, a.node, String(a.epoch)))
          return false
        })
        if (left.length === 0) running.delete(k)
        else running.set(k, left)
      }
      continue
    }
    const k = key(e.entity, e.key)
    const list = running.get(k) ?? []
    if (e.event === "deactivated") {
      const i = list.findIndex((a) => a.node === e.node && a.epoch === e.epoch)
      const j = i >= 0 ? i : list.findIndex((a) => a.node === e.node)
      if (j < 0) {
        // the stop of an activation its node's crash already ended (an in-process simulation's
        // finalizers may still run and record it)
        if (crashed.delete(key(k, e.node, String(e.epoch)))) continue
        report("unmatched", `${name(e)} deactivated on ${e.node} at t=${e.at} without a running activation there`, [e])
        continue
      }
      const [a] = list.splice(j, 1)
      ended(a!, e, e.at)
      if (list.length === 0) running.delete(k)
      continue
    }
    for (const other of list) overlaps.push({ first: other, second: e })
    const top = highest.get(k)
    if (top !== undefined && e.epoch < top.epoch) {
      report(
        "epoch",
        `${name(e)} activated on ${e.node} at t=${e.at} with epoch ${e.epoch}, lower than epoch ${top.epoch} of its ` +
          `activation on ${top.node} at t=${top.at}`,
        [top, e]
      )
    }
    if (top === undefined || e.epoch >= top.epoch) highest.set(k, e)
    const ek = key(k, String(e.epoch))
    const owner = epochNode.get(ek)
    if (owner === undefined) epochNode.set(ek, e)
    else if (owner.node !== e.node) {
      report(
        "epoch",
        `${name(e)} activated on ${e.node} at t=${e.at} with epoch ${e.epoch}, the epoch it already ran under on ` +
          `${owner.node} (t=${owner.at}): one lease acquisition, two owners`,
        [owner, e]
      )
    }
    list.push(e)
    running.set(k, list)
  }
  for (const list of running.values()) for (const a of list) ended(a, undefined, history.end)
  return verdict(violations)
}

/** The key an operation is about: its invocation value's `key` field, by default. */
export type KeyOf = (op: History.Operation) => string | undefined

const defaultKeyOf: KeyOf = (op) => {
  const v = op.invoke.value as { readonly key?: unknown } | null | undefined
  return typeof v === "object" && v !== null && typeof v.key === "string" ? v.key : undefined
}

// ---------------------------------------------------------------------------------------------
// 11. noLostUpdates
// ---------------------------------------------------------------------------------------------

export interface NoLostUpdatesOptions {
  /** the `f` of increments (default `"increment"`); the invocation value's `by` (default 1) is added */
  readonly increment?: string
  /** the `f` of reads (default `"read"`), whose `ok` value is the counter */
  readonly read?: string
  /** the key of an operation (default: its invocation value's `key`) */
  readonly keyOf?: KeyOf
  /**
   * Also check that reads of a key never go backwards: a read that began after another ended
   * returns at least its value (default false: a value read but never made durable may vanish
   * in a crash; only acknowledged increments must not).
   */
  readonly monotonic?: boolean
}

/**
 * **No acknowledged update is lost** (counters with durable state). Per key, each `read` that
 * completed `ok` with a number `v` — and each `increment` whose `ok` value is a number, the
 * counter after it — is checked against the increments, ordered by the history (its entries'
 * order is real time):
 *
 * - `lost`: `v` is below the sum of the increments acknowledged (`ok`) before the read was
 *   invoked (for an increment's own value: plus itself);
 * - `phantom`: `v` is above the sum of every increment invoked before the read completed and not
 *   known to have failed (`ok`, `info` or still pending: those may have happened);
 * - `backwards` (with `monotonic`): `v` is below a read of the same key that completed before it
 *   was invoked.
 */
export const noLostUpdates = (history: HistoryT, options: NoLostUpdatesOptions = {}): Result => {
  const inc = options.increment ?? "increment"
  const read = options.read ?? "read"
  const keyOf = options.keyOf ?? defaultKeyOf
  const byKey = new Map<string, { incs: Array<History.Operation>; reads: Array<History.Operation> }>()
  for (const op of history.operations) {
    if (op.f !== inc && op.f !== read) continue
    const k = keyOf(op)
    if (k === undefined) continue
    let g = byKey.get(k)
    if (g === undefined) byKey.set(k, g = { incs: [], reads: [] })
    if (op.f === inc) g.incs.push(op)
    if (op.completion?.type === "ok" && typeof op.completion.value === "number") g.reads.push(op)
  }
  const amount = (op: History.Operation) => {
    const by = (op.invoke.value as { readonly by?: unknown } | null | undefined)?.by
    return typeof by === "number" ? by : 1
  }
  const violations: Array<Violation> = []
  const report = (kind: string, detail: string, ops: ReadonlyArray<Entry | undefined>) =>
    violations.push(violation("noLostUpdates", `${kind}: ${detail}`, ops))
  for (const [k, { incs, reads }] of byKey) {
    let best: { readonly value: number; readonly op: History.Operation } | undefined
    for (const r of [...reads].sort((a, b) => a.completion!.index - b.completion!.index)) {
      const c = r.completion!
      const v = c.value as number
      let lower = 0
      let upper = 0
      let lastAcked: History.Operation | undefined
      for (const i of incs) {
        const done = i.completion
        if (i === r || (done?.type === "ok" && done.index < r.invoke.index)) {
          lower += amount(i)
          if (i !== r && (lastAcked === undefined || done!.index > lastAcked.completion!.index)) lastAcked = i
        }
        if (i.invoke.index < c.index && done?.type !== "fail") upper += amount(i)
      }
      const what = `${r.f} of ${k} (op ${r.id}, invoked at t=${r.invoke.at}) returned ${v} at t=${c.at}`
      if (v < lower) {
        report(
          "lost",
          `${what}, but increments acknowledged before it add up to ${lower}: ${lower - v} lost` +
            (lastAcked === undefined ? "" : ` (the last acknowledged: op ${lastAcked.id} at t=${lastAcked.completion!.at})`),
          [lastAcked?.invoke, lastAcked?.completion, r.invoke, c]
        )
      } else if (v > upper) {
        report("phantom", `${what}, but only ${upper} can have been added by then`, [r.invoke, c])
      }
      if (options.monotonic === true && best !== undefined && best.op.completion!.index < r.invoke.index && v < best.value) {
        report(
          "backwards",
          `${what}, below ${best.value} read by op ${best.op.id} (ended at t=${best.op.completion!.at}, before this one began)`,
          [best.op.invoke, best.op.completion, r.invoke, c]
        )
      }
      if (best === undefined || v > best.value) best = { value: v, op: r }
    }
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 12. asksEnd
// ---------------------------------------------------------------------------------------------

export interface AsksEndOptions {
  /** the operations checked, by `f` (default: every operation) */
  readonly fs?: ReadonlyArray<string>
  /** each must complete within this many ms of its invocation (e.g. the ask timeout + slack) */
  readonly withinMillis?: number
  /**
   * Whether a `fail` / `info` completion is a typed error (its `value`); one that is not (a
   * defect, an interruption) is a violation. Default: any completion counts.
   */
  readonly typed?: (completion: History.OpEntry) => boolean
}

/**
 * **Every ask ends.** Each operation (of `fs`) completes — answered (`ok`) or with a typed error
 * (`fail`, `info`) — by the end of the history, and with `withinMillis` no later than that after
 * its invocation: an ask never hangs. With `typed`, an error completion it refuses is a
 * violation too.
 */
export const asksEnd = (history: HistoryT, options: AsksEndOptions = {}): Result => {
  const fs = options.fs === undefined ? undefined : new Set(options.fs)
  const violations: Array<Violation> = []
  for (const op of history.operations) {
    if (fs !== undefined && !fs.has(op.f)) continue
    const c = op.completion
    const what = `op ${op.id} (${op.process} ${op.f}${op.message === undefined ? "" : ` ${op.message.id}`}, invoked at t=${op.invoke.at})`
    const due = options.withinMillis === undefined ? undefined : op.invoke.at + options.withinMillis
    if (c === undefined) {
      violations.push(violation(
        "asksEnd",
        `${what} never ended (history ends at t=${history.end}` +
          (due !== undefined && history.end < due ? `, before its bound t=${due}: record longer)` : ")"),
        [op.invoke]
      ))
      continue
    }
    if (due !== undefined && c.at > due) {
      violations.push(violation(
        "asksEnd",
        `${what} ended (${c.type}) only at t=${c.at}, ${c.at - op.invoke.at} ms later (bound ${options.withinMillis} ms)`,
        [op.invoke, c]
      ))
    }
    if (c.type !== "ok" && options.typed !== undefined && !options.typed(c)) {
      violations.push(violation("asksEnd", `${what} ended (${c.type}) at t=${c.at} without a typed error: ${String(c.value).split("\n")[0]}`, [op.invoke, c]))
    }
  }
  return verdict(violations)
}

// ---------------------------------------------------------------------------------------------
// 13. keysAnswerAfterHeal
// ---------------------------------------------------------------------------------------------

export interface KeysAnswerOptions {
  /** the recovery bound after the heal, e.g. lease TTL + failure detection + a retry interval */
  readonly withinMillis: number
  /** the heal time; default: the last `Heal` entry */
  readonly healAt?: number
  /** the keys that must answer (default: every key with an operation of `fs`) */
  readonly keys?: ReadonlyArray<string>
  /** the operations that count, by `f` (default: every operation with a key) */
  readonly fs?: ReadonlyArray<string>
  /** the key of an operation (default: its invocation value's `key`) */
  readonly keyOf?: KeyOf
}

/**
 * **Liveness after heal, per key** (sharded entities). With `H` the last heal and
 * `D = H + withinMillis`, for every key:
 *
 * - it answers again: some operation on it invoked at or after `H` completes `ok` no later than
 *   `D` (a test probes every key after the heal until it answers);
 * - it keeps answering: no operation on it invoked at or after `H` ends without an answer
 *   (`fail`, `info`, or pending at the end of the history) later than `D`.
 *
 * A history without a heal is a violation when this checker is called (`checkAll` skips it).
 */
export const keysAnswerAfterHeal = (history: HistoryT, options: KeysAnswerOptions): Result => {
  let heal: History.HealEntry | undefined
  for (const e of history.entries) if (e._tag === "Heal" && (heal === undefined || e.at >= heal.at)) heal = e
  const H = options.healAt ?? heal?.at
  if (H === undefined) {
    return verdict([violation("keysAnswerAfterHeal", "no heal in the history: nothing to measure recovery from", [])])
  }
  const D = H + options.withinMillis
  const keyOf = options.keyOf ?? defaultKeyOf
  const fs = options.fs === undefined ? undefined : new Set(options.fs)
  const byKey = new Map<string, Array<History.Operation>>()
  for (const k of options.keys ?? []) byKey.set(k, [])
  for (const op of history.operations) {
    if (fs !== undefined && !fs.has(op.f)) continue
    const k = keyOf(op)
    if (k === undefined || (options.keys !== undefined && !byKey.has(k))) continue
    const list = byKey.get(k)
    if (list === undefined) byKey.set(k, [op])
    else list.push(op)
  }
  const violations: Array<Violation> = []
  const bound = `heal at t=${H} + ${options.withinMillis} ms`
  for (const [k, ops] of byKey) {
    const after = ops.filter((op) => op.invoke.at >= H)
    const answered = after.filter((op) => op.completion?.type === "ok").sort((a, b) => a.completion!.at - b.completion!.at)[0]
    if (answered === undefined) {
      violations.push(violation(
        "keysAnswerAfterHeal",
        `key ${k} never answered after the heal (${after.length} operation(s) on it since t=${H}` +
          (history.end < D ? `; the history ends at t=${history.end}, before t=${D}: record longer)` : ")"),
        [heal, ...after.slice(-3).flatMap((op) => [op.invoke, op.completion])]
      ))
      continue
    }
    if (answered.completion!.at > D) {
      violations.push(violation(
        "keysAnswerAfterHeal",
        `key ${k} answered again only at t=${answered.completion!.at}, ${answered.completion!.at - H} ms after the heal (${bound})`,
        [heal, answered.invoke, answered.completion]
      ))
    }
    for (const op of after) {
      const c = op.completion
      if (c?.type === "ok") continue
      const endAt = c?.at ?? history.end
      if (endAt <= D) continue
      violations.push(violation(
        "keysAnswerAfterHeal",
        `key ${k}: op ${op.id} (${op.process} ${op.f}, invoked at t=${op.invoke.at}) ` +
          (c === undefined ? "never ended" : `ended without an answer (${c.type}: ${String(showValue(c.value))}) at t=${c.at}`) +
          `, after the recovery bound t=${D} (${bound})`,
        [heal, op.invoke, c]
      ))
    }
  }
  return verdict(violations)
}

const showValue = (v: unknown): string => {
  if (typeof v === "object" && v !== null && "_tag" in v) return String((v as { readonly _tag: unknown })._tag)
  return String(v).split("\n")[0]!
}

// ---------------------------------------------------------------------------------------------
// all of them
// ---------------------------------------------------------------------------------------------

export interface CheckAllOptions {
  /** run perPairFifo (default: yes, with gaps allowed, when deliveries carry seq numbers) */
  readonly fifo?: false | PerPairFifoOptions
  /** run noDuplicates (default true; set false for at-least-once delivery) */
  readonly duplicates?: boolean
  /** run watchersNotified (when watches were recorded) */
  readonly watchers?: WatchersOptions
  /** run restartsWithinPolicy (when supervision events were recorded) */
  readonly restarts?: RestartsOptions
  /** options of boundedBuffers (run when samples were recorded) */
  readonly buffers?: BoundedBuffersOptions
  /** run livenessAfterHeal (when a heal was recorded, or `healAt` given) */
  readonly liveness?: LivenessOptions
  /** options of singleActivation (run when activations were recorded) */
  readonly activations?: SingleActivationOptions
  /** run noLostUpdates */
  readonly updates?: NoLostUpdatesOptions
  /** run asksEnd */
  readonly asks?: AsksEndOptions
  /** run keysAnswerAfterHeal (when a heal was recorded, or `healAt` given) */
  readonly keysAfterHeal?: KeysAnswerOptions
  /**
   * run reliableDelivery (when sends or deliveries were recorded): for a history whose every
   * delivery is of a reliable channel (it requires an outcome for every offered message)
   */
  readonly reliable?: ReliableDeliveryOptions
  /** rules not to run */
  readonly skip?: ReadonlyArray<Rule>
}

export type CheckAllResult = Result & {
  /** the rules that ran */
  readonly checked: ReadonlyArray<Rule>
  /** per rule that ran, its own result */
  readonly results: Readonly<Partial<Record<Rule, Result>>>
}

/**
 * Runs every applicable checker: the message checkers when sends or deliveries were recorded
 * (`noPhantoms` only when sends were), `perPairFifo` when deliveries carry seq numbers,
 * `singleActivation` when activations were recorded, and each of the others when its entries
 * were recorded and its options given (`reliableDelivery` with `reliable`: it holds every
 * delivery to the rules of a reliable channel, which plain tells do not follow).
 */
export const checkAll = (history: HistoryT, options: CheckAllOptions = {}): CheckAllResult => {
  const has = (tag: Entry["_tag"]) => history.entries.some((e) => e._tag === tag)
  const anySends = history.operations.some((o) => o.message !== undefined)
  const anyDeliveries = has("Deliver")
  const skip = new Set(options.skip ?? [])
  const runs: Array<readonly [Rule, () => Result]> = []
  if (anySends) runs.push(["noLostAcknowledged", () => noLostAcknowledged(history)])
  if (anyDeliveries && options.duplicates !== false) runs.push(["noDuplicates", () => noDuplicates(history)])
  if (options.fifo !== false && history.entries.some((e) => e._tag === "Deliver" && e.seq !== undefined)) {
    const fifo = options.fifo === undefined ? {} : options.fifo
    runs.push(["perPairFifo", () => perPairFifo(history, fifo)])
  }
  if (anySends) runs.push(["noPhantoms", () => noPhantoms(history)])
  if (options.watchers !== undefined && has("Watch")) {
    const watchers = options.watchers
    runs.push(["watchersNotified", () => watchersNotified(history, watchers)])
  }
  if (options.restarts !== undefined && has("Supervision")) {
    const restarts = options.restarts
    runs.push(["restartsWithinPolicy", () => restartsWithinPolicy(history, restarts)])
  }
  if (has("Sample")) runs.push(["boundedBuffers", () => boundedBuffers(history, options.buffers)])
  if (options.liveness !== undefined && (options.liveness.healAt !== undefined || has("Heal"))) {
    const liveness = options.liveness
    runs.push(["livenessAfterHeal", () => livenessAfterHeal(history, liveness)])
  }
  if (has("Activation")) runs.push(["singleActivation", () => singleActivation(history, options.activations)])
  if (options.updates !== undefined) {
    const updates = options.updates
    runs.push(["noLostUpdates", () => noLostUpdates(history, updates)])
  }
  if (options.asks !== undefined) {
    const asks = options.asks
    runs.push(["asksEnd", () => asksEnd(history, asks)])
  }
  if (options.keysAfterHeal !== undefined && (options.keysAfterHeal.healAt !== undefined || has("Heal"))) {
    const keys = options.keysAfterHeal
    runs.push(["keysAnswerAfterHeal", () => keysAnswerAfterHeal(history, keys)])
  }
  if (options.reliable !== undefined && (anySends || anyDeliveries)) {
    const reliable = options.reliable
    runs.push(["reliableDelivery", () => reliableDelivery(history, reliable)])
  }
  const results: Partial<Record<Rule, Result>> = {}
  const checked: Array<Rule> = []
  const violations: Array<Violation> = []
  for (const [rule, run] of runs) {
    if (skip.has(rule)) continue
    const r = run()
    results[rule] = r
    checked.push(rule)
    if (!r.valid) violations.push(...r.violations)
  }
  return violations.length === 0
    ? { valid: true, checked, results }
    : { valid: false, violations, checked, results }
}

/**
 * A result as text: `valid` (with the rules checked), or every violation numbered, with its rule,
 * its detail and the entries involved, one per line.
 */
export const format = (result: Result | CheckAllResult, options: { readonly maxViolations?: number } = {}): string => {
  const checked = "checked" in result ? ` (${result.checked.length === 0 ? "nothing applicable" : result.checked.join(", ")})` : ""
  if (result.valid) return `valid${checked}`
  const max = options.maxViolations ?? 50
  const n = result.violations.length
  const lines = [`INVALID: ${n} violation${n === 1 ? "" : "s"}${checked}`]
  result.violations.slice(0, max).forEach((v, i) => {
    lines.push(`  ${i + 1}. [${v.rule}] ${v.detail}`)
    for (const e of v.ops) lines.push(`       ${History.describe(e)}`)
  })
  if (n > max) lines.push(`  ... and ${n - max} more`)
  return lines.join("\n")
}
