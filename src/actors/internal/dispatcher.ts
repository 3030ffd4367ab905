/**
 * Runs actors that have messages. An idle actor has no fiber at all (that is what keeps an
 * idle actor small and a spawn cheap); when its mailbox goes from empty to non-empty it is
 * put on the ready list, and the dispatcher starts one fiber that drains up to `throughput`
 * messages, then either re-queues the actor or leaves it idle.
 *
 * Activations start from a microtask, never inside the sender's call stack, so a `tell` never
 * runs the receiver's handler re-entrantly. A flush that runs longer than a few milliseconds
 * continues in `setImmediate` so timers and sockets are not starved. With virtual time
 * (TestClock) a slice is a number of activations instead: where a slice ends decides what runs
 * together in one tick, which must not depend on how fast the machine is for a run to replay.
 *
 * @internal
 */

export interface Activatable {
  activate(): void
}

const SLICE_MILLIS = 4
/** the activations in one slice with virtual time */
const SLICE_ACTIVATIONS = 1024

export class Dispatcher {
  private ready: Array<Activatable> = []
  private scheduled = false
  private readonly virtualTime: boolean

  constructor(virtualTime = false) {
    this.virtualTime = virtualTime
  }

  schedule(actor: Activatable): void {
    this.ready.push(actor)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flush)
    }
  }

  private flush = (): void => {
    const start = performance.now()
    let i = 0
    while (i < this.ready.length) {
      const actor = this.ready[i++]!
      actor.activate()
      if ((i & 63) === 0 && (this.virtualTime ? i >= SLICE_ACTIVATIONS : performance.now() - start > SLICE_MILLIS)) {
        this.ready = this.ready.slice(i)
        setImmediate(this.flush)
        return
      }
    }
    this.ready.length = 0
    this.scheduled = false
  }
}
