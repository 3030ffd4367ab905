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

export interface Deadline {
  /** the time (`Date.now()` scale) past which `expire` runs, unless cancelled before */
  readonly at: number
  /** set by `cancel`; the entry is then skipped */
  cancelled: boolean
  readonly expire: () => void
  readonly queue: Queue
}

export class Queue {
  private entries: Array<Deadline> = []
  private head = 0
  private live = 0
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** whether the timer keeps the process alive: only while some ask is pending, as a timer per ask would */
  private refed = true
  private readonly millis: number
  private readonly queues: Map<number, Queue>

  constructor(millis: number, queues: Map<number, Queue>) {
    this.millis = millis
    this.queues = queues
  }

  add(expire: () => void): Deadline {
    const entry: Deadline = { at: Date.now() + this.millis, cancelled: false, expire, queue: this }
    this.entries.push(entry)
    this.live++
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
    if (--this.live === 0 && this.timer !== undefined) {
      this.refed = false
      this.timer.unref()
    }
    const pending = this.entries.length - this.head
    if (pending > 1024 && pending > 4 * this.live) this.compact()
  }

  private compact(): void {
    const kept: Array<Deadline> = []
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!
      if (!e.cancelled) kept.push(e)
    }
    this.entries = kept
    this.head = 0
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, delay))
    this.refed = this.live > 0
    if (!this.refed) this.timer.unref()
  }

  private fire = (): void => {
    this.timer = undefined
    const now = Date.now()
    const entries = this.entries
    while (this.head < entries.length) {
      const e = entries[this.head]!
      if (!e.cancelled && e.at > now) break
      entries[this.head++] = undefined as unknown as Deadline
      if (e.cancelled) continue
      e.cancelled = true
      this.live--
      e.expire()
    }
    if (this.head >= entries.length) {
      this.entries = []
      this.head = 0
      // nothing pending: forget this timeout's queue
      if (this.queues.get(this.millis) === this) this.queues.delete(this.millis)
      return
    }
    if (this.head > 1024 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head)
      this.head = 0
    }
    this.arm(this.entries[this.head]!.at - now)
  }
}

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
