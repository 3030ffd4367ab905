/**
 * The supervisor's decision, as a pure function (as in OTP's supervisor.erl): given the child
 * specs, the restart history and one child's exit, which children to stop and start again, after
 * what delay — or give up and escalate. The `Supervisor` actor is a thin effectful shell around
 * `decide`.
 *
 * Rules (OTP):
 * - `permanent` children are always restarted; `transient` ones only after an abnormal exit
 *   (anything but `Normal` or `Shutdown`); `temporary` ones never (their spec is removed).
 * - `one_for_one` restarts the failed child; `one_for_all` stops the others (reverse start
 *   order) and restarts all of them (start order); `rest_for_one` does that for the failed child
 *   and the children started after it. Temporary children stopped by a group restart are removed,
 *   not restarted.
 * - Intensity: more than `intensity` restarts within `period` makes the supervisor give up: it
 *   stops its children and exits, so its own supervisor decides (escalation). A restart exactly
 *   `period` ago still counts (the window is `[now - period, now]`, as OTP's `add_restart`).
 *
 * Backoff (what OTP lacks, from Akka's BackoffSupervisor): consecutive failures of the same child
 * are delayed by `initial × factor^(n-1)` (capped at `max`, ±`jitter`); the first failure
 * after a quiet period of `resetAfter` restarts at once. Intensity counts restarts when they are
 * decided, so a child stuck in a crash loop still escalates once it exceeds the intensity.
 *
 * Defaults (see `defaults`): intensity 10 in 10 s (Proto.Actor's 10/10 s; OTP's 1 in 5 s is too
 * strict for services with flaky dependencies); backoff 10 ms doubling to 1 s with ±20% jitter,
 * reset after 5 s quiet. With these a child that crashes on every start is restarted about 15
 * times in its first 10 s of crash-looping, so it escalates after ~5 s instead of spinning; a
 * one-off crash restarts immediately.
 *
 * @since 0.1.0
 */
import * as ExitReason from "../actors/ExitReason.ts"

export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one"
export type RestartType = "permanent" | "transient" | "temporary"

export interface Backoff {
  readonly initialMillis: number
  readonly maxMillis: number
  readonly factor: number
  /** 0..1: the delay is scaled by a random factor in [1 - jitter, 1 + jitter] */
  readonly jitter: number
  /** a child that has run this long since its last restart starts again without delay */
  readonly resetAfterMillis: number
}

export interface Policy {
  readonly strategy: Strategy
  /** more than this many restarts within `periodMillis` → escalate */
  readonly intensity: number
  readonly periodMillis: number
  readonly backoff: Backoff | undefined
}

export const defaultBackoff: Backoff = {
  initialMillis: 10,
  maxMillis: 1_000,
  factor: 2,
  jitter: 0.2,
  resetAfterMillis: 5_000
}

export const defaults: Policy = {
  strategy: "one_for_one",
  intensity: 10,
  periodMillis: 10_000,
  backoff: defaultBackoff
}

export interface ChildInfo {
  readonly id: string
  readonly restart: RestartType
  /** whether the child is currently running (a child waiting for its restart is not) */
  readonly running: boolean
}

export interface History {
  /** times of restarts decided within the current period, oldest first */
  readonly restarts: ReadonlyArray<number>
  /** per child: consecutive failures and when it was last (re)started */
  readonly streaks: ReadonlyMap<string, { readonly failures: number; readonly restartedAt: number }>
}

export const emptyHistory: History = { restarts: [], streaks: new Map() }

/**
 * The history `decide` returns. Its restart times are the window `[start, end)` of an
 * append-only array shared by successive histories, so a restart costs O(1) amortised instead of
 * a copy of the whole window. `decide` stays pure: it appends only when its history's window ends
 * at the array's end (no later history has appended yet), and copies otherwise; expired times are
 * dropped by moving `start`, and the array is compacted once more than half of it has expired.
 * `sorted` says the times are in order (they are unless a clock went backwards): only then is
 * expiry a prefix.
 */
class Window implements History {
  readonly times: Array<number>
  readonly start: number
  readonly end: number
  readonly sorted: boolean
  readonly streaks: ReadonlyMap<string, { readonly failures: number; readonly restartedAt: number }>
  constructor(times: Array<number>, start: number, end: number, sorted: boolean, streaks: History["streaks"]) {
    this.times = times
    this.start = start
    this.end = end
    this.sorted = sorted
    this.streaks = streaks
  }
  get restarts(): ReadonlyArray<number> {
    return this.times.slice(this.start, this.end)
  }
}

const isSorted = (xs: ReadonlyArray<number>): boolean => {
  for (let i = 1; i < xs.length; i++) if (xs[i - 1]! > xs[i]!) return false
  return true
}

/** The restart times within the period ending at `now` (from `now - period` on), with `now` appended (as `filter` + `push`). */
const recordRestart = (history: History, now: number, periodMillis: number): Window => {
  const since = now - periodMillis
  if (history instanceof Window && history.sorted) {
    const { end, times } = history
    let start = history.start
    while (start < end && times[start]! < since) start++
    const sorted = end === start || times[end - 1]! <= now
    if (end === times.length && 2 * start <= times.length) {
      times.push(now)
      return new Window(times, start, end + 1, sorted, history.streaks)
    }
    const copy = times.slice(start, end)
    copy.push(now)
    return new Window(copy, 0, copy.length, sorted, history.streaks)
  }
  const times = history.restarts.filter((t) => t >= since)
  times.push(now)
  return new Window(times, 0, times.length, isSorted(times), history.streaks)
}

export type Decision =
  /** nothing to restart; `remove` lists specs to delete (temporary children) */
  | { readonly _tag: "NoRestart"; readonly remove: ReadonlyArray<string> }
  /**
   * stop `stop` (already in reverse start order), delete the specs in `remove`, then after
   * `delayMillis` start `start` (in start order)
   */
  | {
    readonly _tag: "Restart"
    readonly stop: ReadonlyArray<string>
    readonly remove: ReadonlyArray<string>
    readonly start: ReadonlyArray<string>
    readonly delayMillis: number
  }
  /** too many restarts: stop everything and exit */
  | { readonly _tag: "Escalate"; readonly restarts: number }

const none: ReadonlyArray<string> = []

/** Whether a child that exited with `reason` should be restarted, by its restart type. */
export const shouldRestart = (restart: RestartType, reason: ExitReason.ExitReason): boolean =>
  restart === "permanent" || (restart === "transient" && !ExitReason.isNormalOrShutdown(reason))

/**
 * Decides what to do about child `failedId` exiting with `reason` at `now`.
 * `children` are all child specs in start order; `random` is in [0, 1) (for jitter).
 */
export const decide = (
  policy: Policy,
  children: ReadonlyArray<ChildInfo>,
  failedId: string,
  reason: ExitReason.ExitReason,
  now: number,
  history: History,
  random: number
): readonly [Decision, History] => {
  const index = children.findIndex((c) => c.id === failedId)
  if (index < 0) return [{ _tag: "NoRestart", remove: [] }, history]
  const failed = children[index]!
  if (!shouldRestart(failed.restart, reason)) {
    return [{ _tag: "NoRestart", remove: failed.restart === "temporary" ? [failed.id] : [] }, history]
  }

  // intensity: count this restart among those within the period
  const window = recordRestart(history, now, policy.periodMillis)
  const count = window.end - window.start
  if (count > policy.intensity) {
    return [{ _tag: "Escalate", restarts: count }, window]
  }

  if (policy.strategy === "one_for_one" && policy.backoff === undefined) {
    // the failed child alone (the common case): nothing to list or filter
    return [{ _tag: "Restart", stop: none, remove: none, start: [failed.id], delayMillis: 0 }, window]
  }

  // which children the strategy touches, in start order
  const group = policy.strategy === "one_for_one"
    ? [failed]
    : policy.strategy === "one_for_all"
    ? children
    : children.slice(index)
  const others = group.filter((c) => c.id !== failed.id)
  const stop = others.filter((c) => c.running).map((c) => c.id).reverse()
  const remove = others.filter((c) => c.restart === "temporary").map((c) => c.id)
  const start = group.filter((c) => c.restart !== "temporary").map((c) => c.id)

  // backoff for the failed child (streaks matter only with a backoff: without one, none are kept)
  if (policy.backoff === undefined) return [{ _tag: "Restart", stop, remove, start, delayMillis: 0 }, window]
  const streaks = new Map(history.streaks)
  const previous = streaks.get(failed.id)
  const quiet = previous === undefined || now - previous.restartedAt >= policy.backoff.resetAfterMillis
  const failures = quiet ? 0 : previous.failures
  const delayMillis = backoffDelay(policy.backoff, failures, random)
  streaks.set(failed.id, { failures: failures + 1, restartedAt: now + delayMillis })

  return [
    { _tag: "Restart", stop, remove, start, delayMillis },
    new Window(window.times, window.start, window.end, window.sorted, streaks)
  ]
}

/** Delay before the restart that follows `failures` consecutive earlier failures (0 → immediate). */
export const backoffDelay = (backoff: Backoff, failures: number, random: number): number => {
  if (failures <= 0) return 0
  const base = Math.min(backoff.maxMillis, backoff.initialMillis * Math.pow(backoff.factor, failures - 1))
  const scale = 1 + backoff.jitter * (2 * random - 1)
  return Math.max(0, Math.round(Math.min(backoff.maxMillis * (1 + backoff.jitter), base * scale)))
}
