/**
 * Mailboxes: bounded FIFO queues with an explicit overflow policy per actor.
 *
 * The default capacity is 4096 messages (as Effect cluster's `entityMailboxCapacity`). When a
 * mailbox is full, the actor's policy decides:
 *
 * - `backpressure` (default): `tell`/`ask` suspend the sender until there is room, or until the
 *   actor starts stopping: the suspended tell's message then becomes a dead letter, the ask fails
 *   with `NoProc` (at once, not once the actor's finalizers have run).
 * - `dropNewest`: the incoming message becomes a dead letter (`MailboxFull` reason); an ask
 *   fails with `MailboxFull`.
 * - `dropOldest`: the oldest queued message becomes a dead letter to make room; if it was an
 *   ask, that ask fails with `MailboxFull`.
 * - `fail`: the send fails with `MailboxFull`.
 *
 * Signals (`Down`, `Exit`) and timer messages are never refused: bounds apply to user sends.
 *
 * The queue is a ring buffer of (message, reply, sender) triples: enqueueing is a few array
 * writes with no allocation, and the actor drains it in batches (see `internal/cell.ts`).
 *
 * @since 0.1.0
 */

export type OverflowPolicy = "backpressure" | "dropNewest" | "dropOldest" | "fail"

export interface MailboxOptions {
  /** Maximum number of queued user messages. Default 4096. */
  readonly capacity?: number | undefined
  /** What happens to a send when the mailbox is full. Default `backpressure`. */
  readonly overflow?: OverflowPolicy | undefined
}

export const defaultCapacity = 4096

/** @internal A growable ring buffer of triples. */
export class MessageQueue {
  /** number of triples */
  size = 0
  /**
   * The one triple of a queue that was empty (an idle actor woken for one message: the common
   * case with many actors) is kept in the fields below, not in the ring: the ring is two more
   * objects (the array and its backing store) to reach per message, each a cache miss when the
   * actor was not used for a while. A second push moves it into the ring.
   */
  private single = false
  private m: unknown = undefined
  private r: unknown = undefined
  private s: unknown = undefined
  private buf: Array<unknown>
  private head = 0

  constructor() {
    this.buf = EMPTY
  }

  push(message: unknown, reply: unknown, sender: unknown): void {
    if (this.size === 0) {
      this.m = message
      this.r = reply
      this.s = sender
      this.single = true
      this.size = 1
      return
    }
    if (this.single) this.unsingle()
    this.ringPush(message, reply, sender)
  }

  /** Moves the single triple into the (empty) ring. */
  private unsingle(): void {
    const message = this.m, reply = this.r, sender = this.s
    this.m = this.r = this.s = undefined
    this.single = false
    this.size = 0
    this.ringPush(message, reply, sender)
  }

  private ringPush(message: unknown, reply: unknown, sender: unknown): void {
    let buf = this.buf
    const cap = buf.length / 3
    if (this.size === cap) buf = this.grow()
    let i = (this.head + this.size * 3) % buf.length
    buf[i] = message
    buf[i + 1] = reply
    buf[i + 2] = sender
    this.size++
  }

  /** The oldest message, left in place (undefined when empty). */
  peek(): unknown {
    return this.size === 0 ? undefined : this.single ? this.m : this.buf[this.head]
  }

  /** Removes the oldest triple into `out` (message, reply, sender); false when empty. */
  shift(out: Entry): boolean {
    if (this.size === 0) return false
    if (this.single) {
      out.message = this.m
      out.reply = this.r
      out.sender = this.s
      this.m = this.r = this.s = undefined
      this.single = false
      this.size = 0
      return true
    }
    const buf = this.buf
    const i = this.head
    out.message = buf[i]
    out.reply = buf[i + 1]
    out.sender = buf[i + 2]
    buf[i] = buf[i + 1] = buf[i + 2] = undefined
    this.head = (i + 3) % buf.length
    this.size--
    if (this.size === 0) {
      this.head = 0
      // give back large buffers once drained, so a burst does not pin memory on an idle actor;
      // the next burst starts at half this size rather than from nothing (see emptyOfSize)
      if (buf.length > 3 * 64) this.buf = emptyOfSize(buf.length >> 1)
    }
    return true
  }

  /** Removes every triple for which `drop` holds, keeping the others in order. O(size). */
  removeWhere(drop: (message: unknown, reply: unknown, sender: unknown) => boolean): void {
    if (this.single) {
      if (drop(this.m, this.r, this.s)) {
        this.m = this.r = this.s = undefined
        this.single = false
        this.size = 0
      }
      return
    }
    const buf = this.buf
    const len = buf.length
    let kept = 0
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k * 3) % len
      const message = buf[i], reply = buf[i + 1], sender = buf[i + 2]
      if (drop(message, reply, sender)) continue
      const j = (this.head + kept * 3) % len
      buf[j] = message
      buf[j + 1] = reply
      buf[j + 2] = sender
      kept++
    }
    for (let k = kept; k < this.size; k++) {
      const i = (this.head + k * 3) % len
      buf[i] = buf[i + 1] = buf[i + 2] = undefined
    }
    this.size = kept
    if (kept === 0) this.head = 0
  }

  private grow(): Array<unknown> {
    const old = this.buf
    const next = new Array<unknown>(old.length === 0 ? (old as SizedEmpty).next : old.length * 2)
    for (let k = 0; k < this.size * 3; k++) next[k] = old[(this.head + k) % old.length]
    this.head = 0
    this.buf = next
    return next
  }
}

/** A shared empty buffer that says what size to allocate first. */
type SizedEmpty = Array<unknown> & { next: number }

const sizedEmpties = new Map<number, SizedEmpty>()

/**
 * An actor that drains a burst gives its buffer back but keeps, in which shared empty buffer it
 * holds, half the burst's size: a steady stream of bursts then costs one allocation and one
 * copy per burst instead of a doubling from 4 slots each time, and an actor whose bursts end
 * shrinks back to a small kept buffer in a few bursts. No field per actor.
 */
const emptyOfSize = (slots: number): SizedEmpty => {
  let empty = sizedEmpties.get(slots)
  if (empty === undefined) {
    empty = Object.assign([] as Array<unknown>, { next: slots })
    sizedEmpties.set(slots, empty)
  }
  return empty
}

const EMPTY: Array<unknown> = emptyOfSize(3 * 4)

/** @internal */
export interface Entry {
  message: unknown
  reply: unknown
  sender: unknown
}
