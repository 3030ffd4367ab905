/**
 * Deadlines of pending asks on the live clock, without a Node timer per ask.
 *
 * Asks with the same timeout expire in the order they were made, so each timeout has a FIFO of
 * deadlines and one timer, armed for the oldest. Answering an ask only marks its entry; marked
 * entries are dropped when they reach the head, or by a compaction once they outnumber the live
 * ones (so a busy ask loop with a long timeout does not keep its answered asks around).
 *
 * @internal
 */
import * as Clock from "effect/Clock"


export interface Deadline {
  /** the time (`performance.now()` scale) past which `expire` runs, unless cancelled before */
  readonly at: number
  /** set by `cancel`; the entry is then skipped */
  cancelled: boolean
  /** dropped by `cancel`: an answered ask's entry waits in the queue, and must not keep the ask alive */
  expire: () => void
  readonly queue: Queue
}

export class Queue {
  /**
   * A ring of `mask + 1` slots, from `head` (oldest) for `size` entries. One array for the
   * queue's life, whose slots are cleared as entries leave: an array replaced (by growth or
   * compaction) would be left in old space still pointing at the entries of recent asks, and a
   * scavenge keeps everything an old object points to alive (promoted, until a full GC), however
   * dead the old object itself is.
   */
  // small at first: a queue is made for each timeout in use (the sharding runtime's asks use
  // what is left of theirs, in steps of 50 ms) and dropped once empty
  private ring: Array<Deadline | undefined> = new Array(16).fill(undefined)
  private mask = 15
  private head = 0
  private size = 0
  private live = 0
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /**
   * `fire` is expiring entries. An `add` from an expiry armed a timer of its own, and `fire`
   * then armed another: every slice left one more timer behind, and they fired together, so the
   * asks of a flood to a frozen peer (each timeout starting the next ask) expired several slices
   * per turn, more at each round: seconds without reading, heartbeats included.
   */
  private firing = false
  /** whether the timer keeps the process alive: only while some ask is pending, as a timer per ask would */
  private refed = true
  readonly millis: number
  private readonly queues: Map<number, Queue>

  constructor(millis: number, queues: Map<number, Queue>) {
    this.millis = millis
    this.queues = queues
  }

  add(expire: () => void): Deadline {
    const entry: Deadline = { at: performance.now() + this.millis, cancelled: false, expire, queue: this }
    if (this.size > this.mask) {
      this.compact()
      if (this.size * 2 > this.mask) this.grow()
    }
    this.ring[(this.head + this.size++) & this.mask] = entry
    this.live++
    // an expiry asking again: `fire` arms the timer once it is done
    if (this.firing) return entry
    if (this.timer === undefined) this.arm(this.millis)
    else if (!this.refed) {
      this.refed = true
      this.timer.ref()
    }
    return entry
  }

  cancel(entry: Deadline): void {
    if (entry.cancelled) return
    entry.cancelled = true
    // an answered ask's entry may wait in the ring: it must not keep the ask alive
    entry.expire = noop
    if (--this.live === 0 && this.timer !== undefined) {
      this.refed = false
      this.timer.unref()
    }
    // answered asks at the head leave at once; the others when they outnumber the live ones
    this.dropCancelled()
    if (this.size > 1024 && this.size > 4 * this.live) this.compact()
  }

  private dropCancelled(): void {
    const ring = this.ring
    const mask = this.mask
    while (this.size > 0) {
      const i = this.head
      if (!ring[i]!.cancelled) return
      ring[i] = undefined
      this.head = (i + 1) & mask
      this.size--
    }
  }

  /** Keeps the live entries, in order, from the head; the slots they leave are cleared. */
  private compact(): void {
    const ring = this.ring
    const mask = this.mask
    let kept = 0
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask
      const e = ring[i]!
      ring[i] = undefined
      if (!e.cancelled) ring[(this.head + kept++) & mask] = e
    }
    this.size = kept
  }

  private grow(): void {
    const old = this.ring
    const next: Array<Deadline | undefined> = new Array(old.length * 2).fill(undefined)
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & this.mask
      next[k] = old[i]
      old[i] = undefined
    }
    this.ring = next
    this.mask = next.length - 1
    this.head = 0
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, delay))
    this.refed = this.live > 0
    if (!this.refed) this.timer.unref()
  }

  private fire = (): void => {
    this.timer = undefined
    // the monotonic clock, as the timers: a step of the wall clock (NTP, a VM resumed) would
    // keep asks waiting for as long as it went back
    const now = performance.now()
    // at most EXPIRE_SLICE asks fail per turn, the rest at the next one: the asks to a peer that
    // froze expire together, and failing 50 000 of them at once (each builds its AskTimeout) held
    // the event loop, its reads and heartbeats included, for ~0.7 s
    this.firing = true
    try {
      this.expireDue(now, this.queues.size > 1 ? this.expireEarlierFirst(now) : EXPIRE_SLICE)
    } finally {
      this.firing = false
    }
    if (this.size === 0) {
      this.head = 0
      // nothing pending: forget this timeout's queue
      if (this.queues.get(this.millis) === this) this.queues.delete(this.millis)
      return
    }
    this.arm(this.ring[this.head]!.at - now)
  }

  /**
   * Expires the due entries of other timeouts that are older than this queue's oldest (at most
   * `EXPIRE_SLICE`), oldest first; the budget left. After a stall several timeouts' timers are
   * due in one turn, and Node runs them in the order of its loop clock, which lags
   * `performance.now()` (a timer can fire before its entry is due and be armed again, behind a
   * later one): entries then still expire in deadline order across timeouts.
   */
  private expireEarlierFirst(now: number): number {
    let budget = EXPIRE_SLICE
    while (budget > 0) {
      const own = this.peek()
      let at = own !== undefined && own.at < now ? own.at : now
      let first: Queue | undefined
      for (const q of this.queues.values()) {
        if (q === this) continue
        const head = q.peek()
        if (head !== undefined && head.at < at) {
          at = head.at
          first = q
        }
      }
      if (first === undefined) break
      first.expireHead()
      budget--
    }
    return budget
  }

  /** The oldest entry not cancelled (those before it dropped). */
  private peek(): Deadline | undefined {
    this.dropCancelled()
    return this.size > 0 ? this.ring[this.head] : undefined
  }

  /** Expires the oldest entry (not cancelled: see `peek`); its queue's own timer comes later and finds it gone. */
  private expireHead(): void {
    const i = this.head
    const e = this.ring[i]!
    this.ring[i] = undefined
    this.head = (i + 1) & this.mask
    this.size--
    e.cancelled = true
    this.live--
    e.expire()
  }

  /** Expires the due entries, at most `budget`. */
  private expireDue(now: number, budget: number): void {
    // (`peek` reads the ring as it is now: an expiry that asks again may have grown it, a new array)
    for (let e = this.peek(); e !== undefined && e.at <= now && budget > 0; e = this.peek()) {
      this.expireHead()
      budget--
    }
  }
}

const noop = (): void => {}

/** how many asks one turn of a queue's timer fails at most */
const EXPIRE_SLICE = 1024

const queues = new Map<number, Queue>()

/** Runs `expire` once `millis` have passed, unless `cancel` is called on the result before. */
export const after = (millis: number, expire: () => void): Deadline => {
  let q = queues.get(millis)
  if (q === undefined) {
    q = new Queue(millis, queues)
    queues.set(millis, q)
  }
  return q.add(expire)
}

export const cancel = (entry: Deadline): void => entry.queue.cancel(entry)

/** the class of Effect's default (live) clock */
const LiveClock = (Clock.Clock.defaultValue() as object).constructor as new() => Clock.Clock

/**
 * Whether `clock` is Effect's live clock. Under any other (`TestClock`) time is virtual: what
 * the runtime does must not depend on the wall clock (so deadlines sleep on that clock instead).
 */
export const isLiveClock = (clock: Clock.Clock): boolean => clock instanceof LiveClock

/** Whether a wait of `millis` can be a deadline here (a Node timer takes up to 2^31 - 1 ms). */
export const fits = (millis: number): boolean => millis > 0 && millis <= 2 ** 31 - 1

/** Milliseconds since `entry` was added, on the clock of `at`. */
export const elapsed = (entry: Deadline): number => performance.now() - (entry.at - entry.queue.millis)
