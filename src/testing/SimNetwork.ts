/**
 * An in-memory network for in-process nodes, behind the same `Network` interface as TCP: the
 * transport, handshake and actors run unchanged on it. Every fault comes from one seed, and
 * time comes from Effect's `Clock`, so a whole cluster runs on `TestClock` and a failing seed
 * replays exactly.
 *
 * Each host (node) gets `network.host(name)`: listen on any port, dial `name:port` of another
 * host. Links between two hosts are byte streams with TCP's promises — in order, no loss, no
 * duplication — and these faults:
 *
 * - `delay` (fixed + jitter, order preserved), and `loss` as TCP shows it: a lost segment is
 *   retransmitted after an RTO, delaying it and everything behind it;
 * - `partition(a, b)` (both ways) or `partition(a, b, { oneWay: true })`: bytes are held (TCP
 *   retransmits them after the heal, if the connection is still alive), connects get no answer;
 * - `reset(a, b)`: every connection between them is reset mid-stream: of the bytes in flight
 *   (written successfully, not yet delivered) a prefix cut at a random byte arrives — so often in
 *   the middle of a frame — and the rest is lost, as on real sockets; `clog`/`unclog` (hold
 *   without partitioning new connects);
 * - `pause(host)` / `resume(host)`: a stopped process — nothing is delivered to or sent from it;
 * - `crash(host)`: its listeners close, its connections reset and its connects in progress fail
 *   (its node should be stopped and started again by the test as a new incarnation). The
 *   `Network`s `host(name)` gave out before the crash are the dead process's: what its node still
 *   does with them (finalizers run in-process after the crash) never reaches the network — a
 *   connect fails, a listen is refused, closing its listener leaves the port to the new one.
 *
 * Reading is a Node socket's: a `data` event carries at most `readBytes` (64 KiB by default; a
 * small value splits frames across reads), `pause()` in a handler holds everything after that
 * read (how a full mailbox holds a link), and `resume()` reads again on a later tick. Writing is
 * flow-controlled as TCP's: once `windowBytes` (256 KiB by default) written on a link are unread
 * by the peer — in flight, held by a fault, or left in its buffer by a paused reader — a write
 * completes only when the peer has read enough, so a sender's own outbound buffer fills up.
 * The window bounds the bytes in flight, not the rate: a link without delay (no faults, or after
 * `clearFaults`) moves any number of bytes in no virtual time, so a sender that floods over one
 * while the reply that would stop it (a `Hold`) waits behind a retransmission on the other
 * direction never lets TestClock reach that reply (the clock gives up on it after its warning
 * delay). Keep a delay on links that carry floods.
 *
 * Duplication and reordering do not exist on a TCP stream, so this network does not invent
 * them: the promises under test are the runtime's, over TCP-like links.
 *
 * @since 0.1.0
 */
import { EventEmitter } from "node:events"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { prng } from "./FaultProxy.ts"
import type { Cancel, Listener, Network, Socket, Timers } from "../transport/Network.ts"

export interface LinkFaults {
  readonly delayMillis?: number
  readonly jitterMillis?: number
  /** probability that a chunk is "lost" and retransmitted after `rtoMillis` */
  readonly loss?: number
  readonly rtoMillis?: number
}

/** Timers on Effect's Clock, run with the given context (TestClock in tests). */
export const effectTimers = (context: Context.Context<never>): Timers => {
  const run = Effect.runForkWith(context)
  const clock = Context.get(context, Clock.Clock)
  return {
    now: () => clock.currentTimeMillisUnsafe(),
    setTimeout: (f, millis) => {
      const fiber = run(Effect.sleep(Math.max(0, millis)).pipe(Effect.andThen(Effect.sync(f))))
      return () => fiber.interruptUnsafe()
    },
    setInterval: (f, millis) => {
      const fiber = run(Effect.forever(Effect.sleep(Math.max(1, millis)).pipe(Effect.andThen(Effect.sync(f)))))
      return () => fiber.interruptUnsafe()
    },
    // the simulated network delivers bytes in microtasks and timers: nothing is pending "in the kernel"
    afterIo: (f) => queueMicrotask(f)
  }
}

class SimSocket extends EventEmitter implements Socket {
  destroyed = false
  paused = false
  remoteAddress: string
  remotePort: number
  peer: SimSocket | undefined = undefined
  readonly local: string
  private buffered: Array<Buffer> = []
  private readonly net: SimNetworkImpl

  constructor(net: SimNetworkImpl, local: string, remote: string, remotePort: number) {
    super()
    this.net = net
    this.local = local
    this.remoteAddress = remote
    this.remotePort = remotePort
  }

  /** bytes written here that the peer has not read yet (on the wire, held, or in its buffer) */
  unread = 0
  private waitingWrites: Array<(error?: Error | null) => void> = []

  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean {
    if (this.destroyed) {
      queueMicrotask(() => callback?.(new Error("write after destroy")))
      return false
    }
    const bytes = Buffer.from(chunk)
    this.net.transmit(this, bytes)
    this.unread += bytes.length
    if (this.unread <= this.net.windowBytes) {
      // the kernel accepted it: that says nothing about delivery
      queueMicrotask(() => callback?.(null))
      return true
    }
    // the socket buffers and the peer's window are full: TCP's flow control holds the write
    // until the peer has read enough
    this.waitingWrites.push(callback ?? (() => {}))
    return false
  }

  /** the peer has read `n` of the bytes written here */
  private acknowledge(n: number): void {
    this.unread -= n
    while (this.waitingWrites.length > 0 && this.unread <= this.net.windowBytes) {
      const done = this.waitingWrites.shift()!
      queueMicrotask(() => done(null))
    }
  }

  /** called by the network when bytes arrive: read at once unless reading is paused */
  receive(chunk: Buffer): void {
    if (this.destroyed) return
    this.buffered.push(chunk)
    this.read()
  }

  private reading = false

  /**
   * Emits what has arrived, at most `readBytes` per `data` event, in order, and stops as soon as
   * a handler pauses the socket (as a Node socket does: the rest waits in its buffer, so a
   * `pause()` in a handler holds everything after that read).
   */
  private read(): void {
    if (this.reading) return // a handler's pause/resume inside a read: the loop goes on
    this.reading = true
    try {
      while (this.buffered.length > 0 && !this.paused && !this.destroyed && this.listenerCount("data") > 0) {
        const head = this.buffered[0]!
        const max = this.net.readBytes
        let chunk: Buffer
        if (head.length <= max) {
          chunk = head
          this.buffered.shift()
        } else {
          chunk = head.subarray(0, max)
          this.buffered[0] = head.subarray(max)
        }
        this.emit("data", chunk)
        this.peer?.acknowledge(chunk.length)
      }
    } finally {
      this.reading = false
    }
  }

  pause(): this {
    this.paused = true
    return this
  }

  /** As Node's: reading resumes on a later tick, never inside the caller. */
  resume(): this {
    this.paused = false
    if (this.buffered.length > 0) queueMicrotask(() => this.read())
    return this
  }

  override on(event: string, listener: (...args: Array<any>) => void): this {
    super.on(event, listener)
    if (event === "data" && !this.paused && this.buffered.length > 0) queueMicrotask(() => this.read())
    return this
  }

  destroy(): this {
    this.close(undefined)
    return this
  }

  /** closes this end; the peer sees `reset` (error) or a clean end */
  close(error: Error | undefined, notifyPeer = true): void {
    if (this.destroyed) return
    this.destroyed = true
    this.net.forget(this)
    const writes = this.waitingWrites
    this.waitingWrites = []
    for (const done of writes) queueMicrotask(() => done(new Error("socket destroyed before the write completed")))
    const peer = this.peer
    // A real socket reports a reset from an I/O callback, never in the synchronous (or microtask)
    // hand-over from the handshake's listeners to the connection's, where none is attached; a
    // fault injected by a test fiber can land exactly there. Unlistened, the error is dropped —
    // the close event, which the owner's cleanup relies on, always follows.
    if (error !== undefined && this.listenerCount("error") > 0) this.emit("error", error)
    this.emit("close")
    if (notifyPeer && peer !== undefined && !peer.destroyed) {
      this.net.deliverClose(this, peer)
    }
  }

  setNoDelay(): this {
    return this
  }

  setKeepAlive(): this {
    return this
  }
}

interface Direction {
  /** when the last chunk in this direction is delivered (keeps order) */
  lastAt: number
  held: Array<() => void>
  /** what is on the wire in this direction, in order, with its delivery instant */
  queue: Array<InFlight>
  /** a timer (or microtask) is set for the head of `queue` */
  armed: boolean
}

interface InFlight {
  readonly at: number
  readonly action: () => void
  /** the bytes of a data chunk and its sending socket (not for a FIN or a SYN) */
  readonly chunk?: Buffer
  readonly from?: SimSocket
}

const newDirection = (): Direction => ({ lastAt: 0, held: [], queue: [], armed: false })

class SimNetworkImpl {
  readonly timers: Timers
  readonly random: () => number
  readonly readBytes: number
  readonly windowBytes: number
  private readonly listeners = new Map<string, (socket: SimSocket) => void>()
  private readonly sockets = new Set<SimSocket>()
  private readonly faults = new Map<string, LinkFaults>()
  private readonly cut = new Set<string>() // "a→b": bytes from a to b are held
  private readonly clogged = new Set<string>()
  private readonly paused = new Set<string>()
  private readonly directions = new Map<string, Direction>()
  private nextPort = 40000
  /** crashes per host: a `Network` given out before a crash is dead, and so is a connect it began */
  private readonly crashes = new Map<string, number>()
  /** connects whose SYN is held by a partition or a pause; `abort` ends one whose host crashed */
  private heldConnects: Array<{ readonly from: string; readonly to: string; readonly attempt: () => void; readonly abort: () => void }> = []

  constructor(seed: number, timers: Timers, readBytes: number, windowBytes: number) {
    this.random = prng(seed)
    this.timers = timers
    this.readBytes = readBytes
    this.windowBytes = windowBytes
  }

  private direction(from: SimSocket, to: SimSocket): Direction {
    const key = `${from.local}:${from.remotePort}|${to.local}`
    let d = this.directions.get(key)
    if (d === undefined) this.directions.set(key, d = newDirection())
    return d
  }

  private blocked(from: string, to: string): boolean {
    return this.cut.has(`${from}→${to}`) || this.clogged.has(`${from}→${to}`) || this.paused.has(from) || this.paused.has(to)
  }

  transmit(from: SimSocket, chunk: Buffer): void {
    const to = from.peer
    if (to === undefined) return
    const d = this.direction(from, to)
    const deliver = () => {
      if (from.destroyed && to.destroyed) return
      to.receive(chunk)
    }
    this.schedule(from.local, to.local, d, deliver, chunk, from)
  }

  deliverClose(from: SimSocket, to: SimSocket): void {
    const d = this.direction(from, to)
    this.schedule(from.local, to.local, d, () => {
      to.emit("end")
      to.close(undefined, false)
    })
  }

  private schedule(from: string, to: string, d: Direction, action: () => void, chunk?: Buffer, socket?: SimSocket): void {
    if (this.blocked(from, to)) {
      d.held.push(() => this.schedule(from, to, d, action, chunk, socket))
      return
    }
    const f = this.faults.get(`${from}→${to}`) ?? this.faults.get(`*`)
    let delay = (f?.delayMillis ?? 0) + (f?.jitterMillis ?? 0) * (2 * this.random() - 1)
    if (f?.loss !== undefined && this.random() < f.loss) delay += f.rtoMillis ?? 200
    const now = this.timers.now()
    const at = Math.max(d.lastAt, now + Math.max(0, delay))
    d.lastAt = at
    // One queue and one timer per direction, never a timer per chunk: the order on the wire is
    // the queue's. (With a timer per chunk, chunks due at the same instant — all those queued
    // behind a retransmitted one — could fire in any order: `Effect.sleep` rounds fractional
    // millis to whole nanoseconds, so `now + (at - now)` lands a little before or after `at`
    // depending on `now`, which breaks per-pair FIFO.)
    d.queue.push(chunk === undefined ? { at, action } : { at, action, chunk, from: socket })
    if (!d.armed) this.arm(d)
  }

  /** Sets the timer for the head of the direction's queue (a microtask if it is due now). */
  private arm(d: Direction): void {
    d.armed = true
    const wait = d.queue[0]!.at - this.timers.now()
    if (wait <= 0) queueMicrotask(() => this.fire(d))
    else this.timers.setTimeout(() => this.fire(d), wait)
  }

  /** The head is due: it arrives, with everything behind it due by then, in queue order. */
  private fire(d: Direction): void {
    const due = Math.max(this.timers.now(), d.queue[0]!.at)
    // stays armed while delivering: a chunk scheduled meanwhile queues behind, no second timer
    while (d.queue.length > 0 && d.queue[0]!.at <= due) d.queue.shift()!.action()
    d.armed = false
    if (d.queue.length > 0) this.arm(d)
  }

  private releaseConnects(): void {
    const still: typeof this.heldConnects = []
    const go: Array<() => void> = []
    for (const c of this.heldConnects) {
      const blocked = this.cut.has(`${c.from}→${c.to}`) || this.cut.has(`${c.to}→${c.from}`) ||
        this.paused.has(c.from) || this.paused.has(c.to)
      if (blocked) still.push(c)
      else go.push(c.attempt)
    }
    this.heldConnects = still
    for (const attempt of go) attempt()
  }

  private release(from: string, to: string): void {
    for (const [key, d] of this.directions) {
      const [src, dst] = key.split("|") as [string, string]
      if (src.split(":")[0] !== from || dst !== to || this.blocked(from, to)) continue
      const held = d.held
      d.held = []
      for (const reschedule of held) reschedule()
    }
  }

  forget(socket: SimSocket): void {
    this.sockets.delete(socket)
  }

  host(name: string): Network {
    // the process this network belongs to: it dies at the host's next crash
    const crashes = this.crashes.get(name) ?? 0
    const dead = () => (this.crashes.get(name) ?? 0) !== crashes
    return {
      timers: this.timers,
      listen: (_host, port, onConnection) => {
        if (dead()) return Promise.reject(Object.assign(new Error(`${name} crashed`), { code: "ECONNABORTED" }))
        const p = port === 0 ? this.nextPort++ : port
        const key = `${name}:${p}`
        if (this.listeners.has(key)) {
          return Promise.reject(Object.assign(new Error(`address in use ${key}`), { code: "EADDRINUSE" }))
        }
        const accept = (socket: SimSocket) => onConnection(socket)
        this.listeners.set(key, accept)
        const listener: Listener = {
          port: p,
          // only its own: after a crash the port may be the next incarnation's
          close: () => {
            if (this.listeners.get(key) === accept) this.listeners.delete(key)
          }
        }
        return Promise.resolve(listener)
      },
      connect: (host, port, timeoutMillis) =>
        new Promise((resolve, reject) => {
          if (dead()) return reject(Object.assign(new Error("connect aborted: the host crashed"), { code: "ECONNABORTED" }))
          let settled = false
          const cancel: Cancel = this.timers.setTimeout(() => {
            if (settled) return
            settled = true
            reject(new Error(`connect timeout after ${timeoutMillis} ms`))
          }, timeoutMillis)
          const attempt = () => {
            if (settled) return
            if (dead()) {
              // the dialling host crashed since: its SYN died with it
              settled = true
              cancel()
              return reject(Object.assign(new Error("connect aborted: the host crashed"), { code: "ECONNABORTED" }))
            }
            const accept = this.listeners.get(`${host}:${port}`)
            if (accept === undefined) {
              settled = true
              cancel()
              return reject(Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), { code: "ECONNREFUSED" }))
            }
            const localPort = this.nextPort++
            const client = new SimSocket(this, name, host, port)
            const server = new SimSocket(this, host, name, localPort)
            ;(client as any).remotePort = port
            client.peer = server
            server.peer = client
            this.sockets.add(client)
            this.sockets.add(server)
            settled = true
            cancel()
            accept(server)
            resolve(client)
          }
          // the SYN crosses the link like data: during a partition (or a pause) it gets no answer
          // and is retried, so the connect completes after the heal unless it timed out first
          const d = newDirection()
          if (this.cut.has(`${name}→${host}`) || this.cut.has(`${host}→${name}`) || this.paused.has(host) || this.paused.has(name)) {
            this.heldConnects.push({ from: name, to: host, attempt: () => this.schedule(name, host, d, attempt), abort: attempt })
            return
          }
          this.schedule(name, host, d, attempt)
        })
    }
  }

  partition(a: string, b: string, oneWay: boolean): void {
    this.cut.add(`${a}→${b}`)
    if (!oneWay) this.cut.add(`${b}→${a}`)
  }

  heal(a?: string, b?: string): void {
    const pairs = a === undefined ? Array.from(this.cut) : [`${a}→${b}`, `${b}→${a}`]
    for (const p of pairs) this.cut.delete(p)
    if (a === undefined) this.clogged.clear()
    for (const p of pairs) {
      const [x, y] = p.split("→") as [string, string]
      this.release(x, y)
    }
    this.releaseConnects()
  }

  clog(a: string, b: string): void {
    this.clogged.add(`${a}→${b}`)
  }

  unclog(a: string, b: string): void {
    this.clogged.delete(`${a}→${b}`)
    this.release(a, b)
  }

  setFaults(a: string, b: string, faults: LinkFaults): void {
    this.faults.set(`${a}→${b}`, faults)
    this.faults.set(`${b}→${a}`, faults)
  }

  setDefaultFaults(faults: LinkFaults): void {
    this.faults.set("*", faults)
  }

  clearFaults(): void {
    this.faults.clear()
  }

  reset(a: string, b: string, cutAt?: number): void {
    const sockets = Array.from(this.sockets).filter((s) =>
      (s.local === a && s.remoteAddress === b) || (s.local === b && s.remoteAddress === a)
    )
    // what is on the wire arrives up to the cut, then the RST: both ends are closed
    for (const s of sockets) if (s.peer !== undefined) this.cutInFlight(s, s.peer, cutAt)
    for (const s of sockets) s.close(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), false)
  }

  /**
   * Delivers now the bytes in flight from `from` to `to` up to the cut (`cutAt`, else a random
   * byte offset from the seed), in order; whatever is still queued for them after that is lost
   * with the connection (deliveries to a destroyed socket do nothing).
   */
  private cutInFlight(from: SimSocket, to: SimSocket, cutAt: number | undefined): void {
    if (to.destroyed) return
    const chunks: Array<Buffer> = []
    for (const entry of this.direction(from, to).queue) {
      if (entry.from === from && entry.chunk !== undefined) chunks.push(entry.chunk)
    }
    if (chunks.length === 0) return
    const bytes = Buffer.concat(chunks)
    const n = Math.min(bytes.length, Math.max(0, cutAt ?? Math.floor(this.random() * (bytes.length + 1))))
    if (n > 0) to.receive(bytes.subarray(0, n))
  }

  pause(host: string): void {
    this.paused.add(host)
  }

  resume(host: string): void {
    this.paused.delete(host)
    for (const other of this.hosts()) {
      this.release(host, other)
      this.release(other, host)
    }
    this.releaseConnects()
  }

  crash(host: string): void {
    this.crashes.set(host, (this.crashes.get(host) ?? 0) + 1)
    // its held connects end now (their attempts see the crash), not at the next heal
    const held = this.heldConnects.filter((c) => c.from === host)
    this.heldConnects = this.heldConnects.filter((c) => c.from !== host)
    for (const c of held) c.abort()
    for (const key of Array.from(this.listeners.keys())) if (key.startsWith(`${host}:`)) this.listeners.delete(key)
    for (const s of Array.from(this.sockets)) {
      if (s.local === host || s.remoteAddress === host) {
        s.close(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), false)
      }
    }
  }

  private hosts(): Set<string> {
    const out = new Set<string>()
    for (const s of this.sockets) out.add(s.local)
    for (const key of this.listeners.keys()) out.add(key.split(":")[0]!)
    return out
  }
}

export interface SimNetwork {
  readonly seed: number
  readonly timers: Timers
  /** the `Network` a node named `name` uses (pass it as `network` to `Node.layer`) */
  host(name: string): Network
  partition(a: string, b: string, options?: { readonly oneWay?: boolean }): void
  /** heals one pair, or everything (partitions and clogs) */
  heal(a?: string, b?: string): void
  clog(a: string, b: string): void
  unclog(a: string, b: string): void
  setFaults(a: string, b: string, faults: LinkFaults): void
  setDefaultFaults(faults: LinkFaults): void
  clearFaults(): void
  /**
   * Resets every connection between `a` and `b`. Of the bytes in flight, the first `cutAt`
   * arrive (default: a random count from the seed, so often part of a frame); the rest is lost.
   */
  reset(a: string, b: string, options?: { readonly cutAt?: number }): void
  pause(host: string): void
  resume(host: string): void
  crash(host: string): void
  /**
   * The seeded PRNG driving this network: it draws per chunk sent, so choices a scenario draws
   * from it change with any change in how the nodes write (`SimCluster.random` is a stream apart).
   */
  random(): number
}

/**
 * The TestClock for a run that must replay exactly: provide it around each run
 * (`Effect.provide(SimNetwork.testClock)`). The run starts at virtual time 0 on its own clock,
 * whatever ran before it, and an adjust waits for everything each wake resumes however long the
 * machine takes: `it.effect`'s clock moves on after 1 s of real time, so on a loaded machine a
 * run would differ from its replay.
 */
export const testClock: Layer.Layer<TestClock.TestClock> = TestClock.layer({ warningDelay: "1 minute" })

/**
 * A simulated network on Effect's Clock. The seed defaults to `TELEX_SEED` from the environment,
 * else 1; print it with failures so they can be replayed (`TELEX_SEED=… npm test`).
 */
export const make = (options?: {
  readonly seed?: number
  /** the most bytes one `data` event carries, default 64 KiB (what Node reads at a time) */
  readonly readBytes?: number
  /**
   * How many bytes a link holds unread (in flight, held, or waiting in the receiver) before a
   * write stops completing, default 256 KiB (TCP's window and the socket buffers).
   */
  readonly windowBytes?: number
}): Effect.Effect<SimNetwork> =>
  Effect.map(Effect.context<never>(), (context) => {
    const seed = options?.seed ?? (Number(process.env.TELEX_SEED) || 1)
    const impl = new SimNetworkImpl(
      seed,
      effectTimers(context),
      Math.max(1, options?.readBytes ?? 64 * 1024),
      Math.max(1, options?.windowBytes ?? 256 * 1024)
    )
    return {
      seed,
      timers: impl.timers,
      host: (name) => impl.host(name),
      partition: (a, b, o) => impl.partition(a, b, o?.oneWay === true),
      heal: (a, b) => impl.heal(a, b),
      clog: (a, b) => impl.clog(a, b),
      unclog: (a, b) => impl.unclog(a, b),
      setFaults: (a, b, f) => impl.setFaults(a, b, f),
      setDefaultFaults: (f) => impl.setDefaultFaults(f),
      clearFaults: () => impl.clearFaults(),
      reset: (a, b, o) => impl.reset(a, b, o?.cutAt),
      pause: (h) => impl.pause(h),
      resume: (h) => impl.resume(h),
      crash: (h) => impl.crash(h),
      random: () => impl.random()
    }
  })

