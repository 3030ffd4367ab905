/**
 * Pacing of failed secret proofs per remote address: a peer guessing the cluster secret is
 * slowed (docs/protocol.md 3.6), a peer at another address never is. The handshake asks its
 * connection's `AuthGate` when to verify an AUTH and tells it the outcome.
 *
 * @since 0.1.0
 */
import type { Timers } from "./Network.ts"

/** One connection's view of the `AuthThrottle` (its remote address). */
export interface AuthGate {
  /** ms to wait before verifying this AUTH (its turn); reserves the turn */
  delay(): number
  failed(): void
  succeeded(): void
}

/**
 * What the `AuthThrottle` counts failures by: an IPv4 address (also when mapped into IPv6), or
 * the /64 prefix of an IPv6 address (one host commonly has a whole /64 to pick addresses from).
 */
export const addressKey = (address: string): string => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (!address.includes(":")) return address
  const [head = "", tail] = address.split("%")[0]!.split("::")
  const left = head === "" ? [] : head.split(":")
  const right = tail === undefined || tail === "" ? [] : tail.split(":")
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`
}

/**
 * Paces the proofs of a remote address that keeps failing them (a peer guessing the secret):
 * after `free` failed AUTHs, each AUTH from that address is verified only at its turn, the turns
 * `step` apart, doubling with each further failure up to `maxStep` (a guesser with many
 * connections gets no more turns than with one). An AUTH whose turn would come after its
 * handshake's timeout is refused at once (`auth`), unverified. Per address (`addressKey`): a
 * peer at another address is never slowed, and a success from the address forgets its failures, as does a
 * minute without one. At most `capacity` addresses are remembered (the oldest is forgotten
 * first), so a flood of addresses costs bounded memory.
 */
export class AuthThrottle {
  private readonly entries = new Map<string, { failures: number; next: number; last: number }>()
  private readonly timers: Timers
  private readonly options: { free: number; step: number; maxStep: number; forgetMillis: number; capacity: number }

  constructor(timers: Timers, options?: Partial<AuthThrottle["options"]>) {
    this.timers = timers
    this.options = { free: 3, step: 100, maxStep: 1000, forgetMillis: 60_000, capacity: 4096, ...options }
  }

  private entry(address: string) {
    const e = this.entries.get(address)
    if (e !== undefined && this.timers.now() - e.last > this.options.forgetMillis) {
      this.entries.delete(address)
      return undefined
    }
    return e
  }

  gate(remoteAddress: string): AuthGate {
    const address = addressKey(remoteAddress)
    return {
      delay: () => {
        const e = this.entry(address)
        if (e === undefined || e.failures < this.options.free) return 0
        const now = this.timers.now()
        const turn = Math.max(now, e.next)
        e.next = turn + Math.min(this.options.maxStep, this.options.step * 2 ** (e.failures - this.options.free))
        return turn - now
      },
      failed: () => {
        const now = this.timers.now()
        const e = this.entry(address)
        if (e !== undefined) {
          e.failures++
          e.last = now
          return
        }
        if (this.entries.size >= this.options.capacity) this.entries.delete(this.entries.keys().next().value!)
        this.entries.set(address, { failures: 1, next: now, last: now })
      },
      succeeded: () => void this.entries.delete(address)
    }
  }
}
