/**
 * Where a connection keeps its encoded envelopes from `send` until the write that carries them
 * has completed: large reused slabs instead of a fresh buffer per envelope. At 64 KiB messages
 * the fresh buffers (from the encoder, one per message) made V8 run a full collection every few
 * hundred milliseconds on external-memory pressure; reused slabs allocate nothing once warm.
 *
 * Envelopes are copied in at `send`, in queue order; the connection counts the queue entries
 * whose write has completed (`release`), and a slab whose last entry is among them is reused.
 *
 * @internal
 */

/** size of one slab; an envelope larger than this gets a buffer of its own (not reused) */
export const SLAB_SIZE = 1024 * 1024

interface Filled {
  readonly buf: Buffer
  /** the queue entry count once its last envelope was queued */
  readonly lastEntry: number
}

export class Slabs {
  private current: Buffer | undefined = undefined
  private offset = 0
  /** slabs taken out of use, oldest first, waiting for their entries to be written */
  private filled: Array<Filled> = []
  private spare: Buffer | undefined = undefined

  /**
   * A copy of `bytes` that stays valid until `release` has been called with an entry count past
   * `entry` (the queue entry count including this envelope's entries).
   */
  copy(bytes: Uint8Array, entry: number): Uint8Array {
    const n = bytes.length
    if (n > SLAB_SIZE >>> 2) {
      // large: a buffer of its own, unless it fits in what is left of the current slab
      if (this.current === undefined || SLAB_SIZE - this.offset < n) {
        const own = Buffer.allocUnsafe(n)
        own.set(bytes)
        return own
      }
    } else if (this.current === undefined || SLAB_SIZE - this.offset < n) {
      this.next()
    }
    this.used = true
    const slab = this.current!
    const start = this.offset
    slab.set(bytes, start)
    // word-aligned starts make the copies out of the slab faster
    this.offset = (start + n + 7) & ~7
    this.lastEntry = entry
    return slab.subarray(start, start + n)
  }

  private lastEntry = 0

  private next(): void {
    if (this.current !== undefined) this.filled.push({ buf: this.current, lastEntry: this.lastEntry })
    const spare = this.spare
    this.spare = undefined
    this.current = spare ?? Buffer.allocUnsafeSlow(SLAB_SIZE)
    this.offset = 0
  }

  /** The queue entries up to `written` (a count) have been written: their slabs may be reused. */
  release(written: number): void {
    const filled = this.filled
    let k = 0
    while (k < filled.length && filled[k]!.lastEntry <= written) k++
    if (k === 0) return
    if (this.spare === undefined) this.spare = filled[k - 1]!.buf
    this.filled = k === filled.length ? [] : filled.slice(k)
  }

  /** Everything queued is written (or dropped): the current slab may be reused from its start. */
  rewind(written: number): void {
    this.release(written)
    if (this.filled.length === 0 && written >= this.lastEntry) this.offset = 0
  }

  /** a slab was taken or used since the last `trim` */
  private used = false

  /**
   * Called now and then (the heartbeat): slabs not used since the last call are let go, so a
   * connection that carried large messages once does not keep its slabs for good.
   */
  trim(): void {
    if (this.used) {
      this.used = false
      return
    }
    if (this.filled.length > 0) return
    this.current = undefined
    this.spare = undefined
    this.offset = 0
  }

  /** The connection closed: nothing is kept. */
  clear(): void {
    this.current = undefined
    this.spare = undefined
    this.filled = []
    this.offset = 0
  }
}
