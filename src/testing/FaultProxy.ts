/**
 * A TCP fault proxy, in the spirit of Toxiproxy (which cannot be installed here): it listens on
 * a loopback port, forwards every connection to an upstream address, and applies "toxics" to the
 * bytes in each direction. Everything random (jitter, loss, slice sizes) comes from one seed.
 *
 * Directions: `upstream` is client → server (the dialling node to the listening node),
 * `downstream` the way back.
 *
 * Toxics (Toxiproxy's names and meaning):
 * - `latency` — every chunk is delayed by `latencyMillis ± jitterMillis`; order is preserved,
 *   as on a TCP stream.
 * - `bandwidth` — at most `bytesPerSecond`.
 * - `timeout` — data stops flowing; the connection is closed after `timeoutMillis`
 *   (0: never, a black hole) unless the toxic was removed by then.
 * - `reset_peer` — the connection is reset (RST) after `timeoutMillis`, unless the toxic was
 *   removed by then.
 * - `slicer` — chunks are cut into pieces of `averageSize ± sizeVariation` bytes,
 *   `delayMicros` apart (exercises frame reassembly).
 * - `limit_data` — the connection is closed once `bytes` have passed.
 * - `slow_close` — closing is delayed by `delayMillis`.
 * - `loss` — TCP does not lose bytes, it retransmits them: with `probability`, a chunk is held
 *   for a retransmission timeout (`retransmitMillis`, default 200 ms, Linux's minimum RTO),
 *   delaying it and everything behind it.
 *
 * Plus `partition()` / `heal()`: bytes stop flowing both ways and are held (a kernel DROP
 * partition: TCP keeps the data and retransmits it after the heal, if the connection is still
 * alive), and so are FINs and resets (a process killed behind a partition is not seen to go
 * until the heal); new connections are accepted but get no answer (a connect through a
 * partition hangs).
 *
 * Backpressure: like the network it stands for, the proxy holds at most a bounded amount of
 * each direction's bytes (about `laneBufferBytes`, default 1 MiB, plus one read). When a side
 * does not read, when toxics delay more than that, or during a partition, the proxy stops
 * reading from the sending side, whose own socket buffers then fill and whose writes wait, as
 * they would behind a real slow reader or a real partition.
 * `down()` resets every connection and refuses new ones until `up()`.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"

export type Direction = "upstream" | "downstream"

export type Toxic =
  | { readonly type: "latency"; readonly latencyMillis: number; readonly jitterMillis?: number }
  | { readonly type: "bandwidth"; readonly bytesPerSecond: number }
  | { readonly type: "timeout"; readonly timeoutMillis: number }
  | { readonly type: "reset_peer"; readonly timeoutMillis?: number }
  | { readonly type: "slicer"; readonly averageSize: number; readonly sizeVariation?: number; readonly delayMicros?: number }
  | { readonly type: "limit_data"; readonly bytes: number }
  | { readonly type: "slow_close"; readonly delayMillis: number }
  | { readonly type: "loss"; readonly probability: number; readonly retransmitMillis?: number }

export interface Address {
  readonly host: string
  readonly port: number
}

export interface FaultProxyOptions {
  readonly upstream: Address
  readonly listen?: Partial<Address>
  readonly seed?: number
  readonly name?: string
  /** bytes of one direction the proxy holds before it stops reading the sender; default 1 MiB */
  readonly laneBufferBytes?: number
}

/**
 * Closes `socket` with a reset (RST). Not while its FIN is being sent (`end()` called, its writes
 * done, the shutdown not yet): libuv refuses a reset then (EINVAL) and Node leaves the socket
 * open for good, with a handle that makes the process spin at exit instead of exiting. Such a
 * socket is reset once the FIN is out.
 */
const resetSocket = (socket: Net.Socket): void => {
  if (socket.destroyed) return
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) {
    socket.once("finish", () => resetSocket(socket))
    return
  }
  socket.resetAndDestroy()
}

/** A small seeded PRNG (mulberry32): the same seed replays the same jitter, loss and slices. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Lane {
  readonly from: Net.Socket
  readonly to: Net.Socket
  readonly direction: Direction
  /** when the last scheduled chunk is delivered (order preservation) */
  lastAt: number
  /** when the bandwidth budget frees up */
  freeAt: number
  passed: number
  held: Array<Buffer>
  pending: number
  ended: boolean
  /**
   * chunks waiting for their instant, in stream order: one timer drains them from the head.
   * A timer per chunk would reorder them (Node's timers of different durations that expire
   * at the same instant fire in no set order), and a TCP stream never reorders.
   */
  queue: Array<{ readonly at: number; readonly deliver: () => void }>
  armed: boolean
  /** bytes read from `from` and not yet written to `to` (held, or queued for their instant) */
  buffered: number
  /** `to` did not take the last write: reading `from` waits for its drain */
  blocked: boolean
}

interface Link {
  readonly client: Net.Socket
  readonly server: Net.Socket
  readonly lanes: readonly [Lane, Lane]
  closed: boolean
  timers: Set<ReturnType<typeof setTimeout>>
  /** a reset or close of one side during a partition, passed on to the other side at the heal */
  heldEnd: "reset" | "close" | undefined
}

export class FaultProxy {
  readonly name: string
  private readonly options: FaultProxyOptions
  private upstream: Address
  private readonly random: () => number
  private readonly toxics = new Map<string, { readonly direction: Direction; readonly toxic: Toxic }>()
  private readonly links = new Set<Link>()
  private server: Net.Server | undefined
  private partitioned = false
  private isDown = false
  address: Address = { host: "127.0.0.1", port: 0 }
  stats = { connections: 0, bytesUpstream: 0, bytesDownstream: 0, resets: 0 }

  private constructor(options: FaultProxyOptions) {
    this.options = options
    this.upstream = options.upstream
    this.name = options.name ?? `proxy→${options.upstream.port}`
    this.random = prng(options.seed ?? 1)
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options)
    await proxy.listen(options.listen?.port ?? 0)
    return proxy
  }

  private listen(port: number): Promise<void> {
    const host = this.options.listen?.host ?? "127.0.0.1"
    return new Promise((resolve, reject) => {
      const server = Net.createServer((client) => this.accept(client))
      server.once("error", reject)
      server.listen(port, host, () => {
        this.address = { host, port: (server.address() as Net.AddressInfo).port }
        this.server = server
        resolve()
      })
    })
  }

  /** Where new connections are forwarded from now on (current ones keep their upstream). */
  setUpstream(upstream: Address): void {
    this.upstream = upstream
  }

  addToxic(name: string, direction: Direction, toxic: Toxic): void {
    this.toxics.set(name, { direction, toxic })
    for (const link of this.links) {
      for (const lane of link.lanes) {
        if (lane.direction !== direction) continue
        this.armToxic(link, name, toxic)
        if (toxic.type === "limit_data" && lane.passed >= toxic.bytes) this.closeLink(link)
      }
    }
  }

  /**
   * The reset or close a `reset_peer` or `timeout` toxic does to a link after its delay, if the
   * toxic is still there then (removed, or replaced under its name, it does nothing: a heal that
   * clears the toxics leaves the connections alone, as Toxiproxy does).
   */
  private armToxic(link: Link, name: string, toxic: Toxic): void {
    const present = () => this.toxics.get(name)?.toxic === toxic
    if (toxic.type === "reset_peer") {
      this.later(link, toxic.timeoutMillis ?? 0, () => {
        if (present()) this.reset(link)
      })
    } else if (toxic.type === "timeout" && toxic.timeoutMillis > 0) {
      this.later(link, toxic.timeoutMillis, () => {
        if (present()) this.closeLink(link)
      })
    }
  }

  removeToxic(name: string): void {
    this.toxics.delete(name)
  }

  clearToxics(): void {
    this.toxics.clear()
  }

  /** Stops all traffic both ways, holding it, and the ends of connections (a silent partition). */
  partition(): void {
    this.partitioned = true
    for (const link of this.links) for (const lane of link.lanes) this.flow(lane)
  }

  /** Lets held traffic through again, in order. */
  heal(): void {
    this.partitioned = false
    for (const link of Array.from(this.links)) {
      for (const lane of link.lanes) {
        const held = lane.held
        lane.held = []
        for (const chunk of held) this.forward(link, lane, chunk)
        if (lane.ended && lane.pending === 0 && !link.closed) this.endLane(link, lane)
        this.flow(lane)
      }
      if (link.heldEnd === "reset") this.reset(link)
      else if (link.heldEnd === "close") this.closeLink(link)
    }
  }

  /** Resets every connection and refuses new ones until `up()`. */
  down(): void {
    this.isDown = true
    for (const link of this.links) this.reset(link)
  }

  up(): void {
    this.isDown = false
  }

  /** Resets every current connection (the peers see ECONNRESET). */
  resetAll(): void {
    for (const link of this.links) this.reset(link)
  }

  get connections(): number {
    return this.links.size
  }

  async close(): Promise<void> {
    for (const link of this.links) this.reset(link)
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())))
  }

  // -------------------------------------------------------------------------

  private accept(client: Net.Socket): void {
    if (this.isDown) {
      resetSocket(client)
      return
    }
    this.stats.connections++
    const server = Net.connect(this.upstream.port, this.upstream.host)
    client.setNoDelay(true)
    server.setNoDelay(true)
    const lane = (from: Net.Socket, to: Net.Socket, direction: Direction): Lane => ({
      from, to, direction, lastAt: 0, freeAt: 0, passed: 0, held: [], pending: 0, ended: false, queue: [], armed: false,
      buffered: 0, blocked: false
    })
    const link: Link = {
      client,
      server,
      lanes: [lane(client, server, "upstream"), lane(server, client, "downstream")],
      closed: false,
      timers: new Set(),
      heldEnd: undefined
    }
    this.links.add(link)
    for (const l of link.lanes) {
      l.from.on("data", (chunk: Buffer) => this.onChunk(link, l, chunk))
      // a partition drops FINs and resets as it drops data: the other side learns of the end
      // only after the heal (a process killed during a partition is not seen to go)
      l.from.on("end", () => {
        l.ended = true
        if (l.pending === 0 && l.held.length === 0 && !this.partitioned) this.endLane(link, l)
      })
      l.from.on("error", () => {
        if (this.partitioned) link.heldEnd = "reset"
        else this.reset(link)
      })
      l.from.on("close", () => {
        // a side that closes without FIN (error, reset): close the other side too
        if (l.ended) return
        if (this.partitioned) link.heldEnd ??= "close"
        else this.closeLink(link)
      })
    }
    for (const l of link.lanes) this.flow(l)
    for (const [name, { toxic }] of this.toxics) this.armToxic(link, name, toxic)
  }

  private toxicsFor(direction: Direction): Array<Toxic> {
    const out: Array<Toxic> = []
    for (const t of this.toxics.values()) if (t.direction === direction) out.push(t.toxic)
    return out
  }

  private onChunk(link: Link, lane: Lane, chunk: Buffer): void {
    if (link.closed) return
    if (lane.direction === "upstream") this.stats.bytesUpstream += chunk.length
    else this.stats.bytesDownstream += chunk.length
    lane.buffered += chunk.length
    if (this.partitioned) {
      lane.held.push(chunk)
      this.flow(lane)
      return
    }
    this.forward(link, lane, chunk)
    this.flow(lane)
  }

  /** Reads the lane's sender only while the proxy holds little of its bytes and the receiver takes them. */
  private flow(lane: Lane): void {
    const stop = this.partitioned || lane.blocked || lane.buffered > (this.options.laneBufferBytes ?? 1024 * 1024)
    if (lane.from.destroyed) return
    if (stop && !lane.from.isPaused()) lane.from.pause()
    else if (!stop && lane.from.isPaused()) lane.from.resume()
  }

  private forward(link: Link, lane: Lane, chunk: Buffer): void {
    const toxics = this.toxicsFor(lane.direction)
    let pieces: Array<{ chunk: Buffer; extraMillis: number }> = [{ chunk, extraMillis: 0 }]
    let delay = 0
    for (const toxic of toxics) {
      switch (toxic.type) {
        case "timeout":
          // data stops flowing (dropped, not held); the timer set at connect/add closes the link
          lane.buffered -= chunk.length
          return
        case "latency":
          delay += toxic.latencyMillis + (toxic.jitterMillis ?? 0) * (2 * this.random() - 1)
          break
        case "loss":
          if (this.random() < toxic.probability) delay += toxic.retransmitMillis ?? 200
          break
        case "slicer": {
          const next: typeof pieces = []
          for (const p of pieces) {
            let offset = 0
            let step = 0
            while (offset < p.chunk.length) {
              const variation = toxic.sizeVariation ?? 0
              const size = Math.max(1, Math.round(toxic.averageSize + variation * (2 * this.random() - 1)))
              next.push({ chunk: p.chunk.subarray(offset, offset + size), extraMillis: p.extraMillis + (step++ * (toxic.delayMicros ?? 0)) / 1000 })
              offset += size
            }
          }
          pieces = next
          break
        }
        default:
          break
      }
    }
    const now = Date.now()
    for (const piece of pieces) {
      let at = Math.max(lane.lastAt, now + Math.max(0, delay) + piece.extraMillis)
      for (const toxic of toxics) {
        if (toxic.type === "bandwidth") {
          at = Math.max(at, lane.freeAt)
          lane.freeAt = at + (piece.chunk.length / toxic.bytesPerSecond) * 1000
        }
      }
      lane.lastAt = at
      lane.pending++
      const deliver = () => {
        lane.pending--
        lane.buffered -= piece.chunk.length
        if (link.closed) return
        lane.passed += piece.chunk.length
        if (!lane.to.write(piece.chunk) && !lane.blocked) {
          lane.blocked = true
          lane.to.once("drain", () => {
            lane.blocked = false
            this.flow(lane)
          })
        }
        this.flow(lane)
        for (const toxic of toxics) {
          if (toxic.type === "limit_data" && lane.passed >= toxic.bytes) return this.closeLink(link)
        }
        if (lane.ended && lane.pending === 0 && lane.held.length === 0) this.endLane(link, lane)
      }
      if (at <= now && lane.queue.length === 0) deliver()
      else {
        lane.queue.push({ at, deliver })
        this.drainLater(link, lane)
      }
    }
  }

  /** Delivers the lane's queued chunks whose instant has come, in order, from one timer at a time. */
  private drainLater(link: Link, lane: Lane): void {
    if (lane.armed || lane.queue.length === 0) return
    lane.armed = true
    this.later(link, Math.max(0, lane.queue[0]!.at - Date.now()), () => {
      lane.armed = false
      const now = Date.now()
      while (lane.queue.length > 0 && lane.queue[0]!.at <= now) lane.queue.shift()!.deliver()
      this.drainLater(link, lane)
    })
  }

  private endLane(link: Link, lane: Lane): void {
    const slow = this.toxicsFor(lane.direction).find((t) => t.type === "slow_close")
    const end = () => {
      if (!lane.to.destroyed) lane.to.end()
      if (link.lanes.every((l) => l.ended)) this.closeLink(link)
    }
    if (slow !== undefined && slow.type === "slow_close") this.later(link, slow.delayMillis, end)
    else end()
  }

  private later(link: Link, millis: number, f: () => void): void {
    const timer = setTimeout(() => {
      link.timers.delete(timer)
      f()
    }, millis)
    link.timers.add(timer)
  }

  private reset(link: Link): void {
    if (link.closed) return
    this.stats.resets++
    link.closed = true
    for (const t of link.timers) clearTimeout(t)
    link.timers.clear()
    resetSocket(link.client)
    resetSocket(link.server)
    this.links.delete(link)
  }

  private closeLink(link: Link): void {
    if (link.closed) return
    link.closed = true
    for (const t of link.timers) clearTimeout(t)
    link.timers.clear()
    link.client.destroy()
    link.server.destroy()
    this.links.delete(link)
  }
}
