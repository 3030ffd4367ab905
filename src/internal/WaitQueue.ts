/**
 * Callbacks of suspended senders (a full mailbox, a held remote actor, a connection's full
 * buffer), woken in the order they came, and each removable in constant time when its sender
 * gives up (an ask's timeout, an interrupted tell). An array with `indexOf` + `splice` made the
 * removal linear: 100 000 asks timing out together behind a full mailbox kept the event loop
 * busy for seconds (heartbeats and timers with it).
 *
 * @internal
 */

interface Waiter {
  /** undefined once woken or cancelled */
  wake: (() => void) | undefined
  prev: Waiter | undefined
  /** kept when the waiter leaves the list: a `wakeAll` walking a detached chain goes on from it */
  next: Waiter | undefined
  /** the list it is linked in; undefined once detached by `wakeAll` */
  list: WaitQueue | undefined
}

export class WaitQueue {
  private head: Waiter | undefined = undefined
  private tail: Waiter | undefined = undefined
  size = 0

  /** Adds `wake` at the end; the result removes it (nothing once it was woken). */
  add(wake: () => void): () => void {
    const w: Waiter = { wake, prev: this.tail, next: undefined, list: this }
    if (this.tail === undefined) this.head = w
    else this.tail.next = w
    this.tail = w
    this.size++
    return () => {
      if (w.wake === undefined) return
      w.wake = undefined
      if (w.list === this) this.unlink(w)
    }
  }

  /** Removes the oldest waiter and returns its callback (not called). */
  shift(): (() => void) | undefined {
    const w = this.head
    if (w === undefined) return undefined
    this.unlink(w)
    const wake = w.wake
    w.wake = undefined
    return wake
  }

  /**
   * Wakes every waiter, oldest first. Those added meanwhile (a woken sender waiting again) wait
   * for the next wake; one removed meanwhile is not called.
   */
  wakeAll(): void {
    const first = this.head
    if (first === undefined) return
    this.head = this.tail = undefined
    this.size = 0
    for (let w: Waiter | undefined = first; w !== undefined; w = w.next) w.list = undefined
    for (let w: Waiter | undefined = first; w !== undefined; w = w.next) {
      const wake = w.wake
      w.wake = undefined
      wake?.()
    }
  }

  private unlink(w: Waiter): void {
    if (w.prev === undefined) this.head = w.next
    else w.prev.next = w.next
    if (w.next === undefined) this.tail = w.prev
    else w.next.prev = w.prev
    w.list = undefined
    this.size--
  }
}
