/**
 * The seam under the transport: how a node listens, dials and keeps time. The default is real
 * TCP (`node:net`) and the wall clock; the test kit's `SimNetwork` implements the same interface
 * in memory, with faults driven by one seed and time taken from Effect's `Clock` (so a whole
 * cluster runs on `TestClock`). Connection, handshake and node code are the same on both.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"

/** The part of `net.Socket` the transport uses. */
export interface Socket {
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean
  on(event: "data", listener: (chunk: Buffer) => void): this
  on(event: "error", listener: (error: Error) => void): this
  on(event: "end" | "close", listener: () => void): this
  once(event: "data", listener: (chunk: Buffer) => void): this
  once(event: "error", listener: (error: Error) => void): this
  once(event: "end" | "close", listener: () => void): this
  off(event: string, listener: (...args: Array<any>) => void): this
  pause(): this
  resume(): this
  destroy(): this
  /** optional: sends what is queued, then a FIN (a clean end instead of a reset) */
  end?(): void
  setNoDelay(noDelay?: boolean): this
  setKeepAlive(enable?: boolean, initialDelay?: number): this
  /** optional: buffers writes until `uncork`, which sends them in one gather write */
  cork?(): void
  uncork?(): void
  readonly destroyed: boolean
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
}

export type Cancel = () => void

/** Time as the transport sees it: heartbeats, deadlines, timeouts. */
export interface Timers {
  now(): number
  setTimeout(f: () => void, millis: number): Cancel
  setInterval(f: () => void, millis: number): Cancel
  /** Runs `f` once the I/O that is already pending has been processed (`setImmediate`). */
  afterIo(f: () => void): void
}

export interface Listener {
  readonly port: number
  close(): void
}

export interface Network {
  readonly timers: Timers
  listen(host: string, port: number, onConnection: (socket: Socket) => void): Promise<Listener>
  /** Resolves once connected; rejects on refusal or after `timeoutMillis`. */
  connect(host: string, port: number, timeoutMillis: number): Promise<Socket>
}

export const realTimers: Timers = {
  // monotonic: heartbeat deadlines and backoffs are durations, which a step of the wall clock
  // (NTP, a VM resumed) must not change
  now: () => performance.now(),
  setTimeout: (f, millis) => {
    const t = setTimeout(f, millis)
    return () => clearTimeout(t)
  },
  setInterval: (f, millis) => {
    const t = setInterval(f, millis)
    t.unref?.()
    return () => clearInterval(t)
  },
  afterIo: (f) => void setImmediate(f)
}

/** Plain TCP over `node:net`. */
/**
 * An error listener that does nothing, for a socket between owners (dialled and not yet in its
 * handshake, or after it and not yet in its connection): an error emitted unheard ends the process.
 * @internal
 */
export const ignoreError = (): void => {}

export const tcp: Network = {
  timers: realTimers,
  listen: (host, port, onConnection) =>
    new Promise((resolve, reject) => {
      const server = Net.createServer((socket) => onConnection(socket))
      server.once("error", reject)
      server.listen(port, host, () =>
        resolve({ port: (server.address() as Net.AddressInfo).port, close: () => server.close() })
      )
    }),
  connect: (host, port, timeoutMillis) =>
    new Promise((resolve, reject) => {
      const socket = Net.connect({ host, port })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`connect timeout after ${timeoutMillis} ms`))
      }, timeoutMillis)
      socket.once("error", (e) => {
        clearTimeout(timer)
        socket.destroy()
        reject(e)
      })
      socket.once("connect", () => {
        clearTimeout(timer)
        socket.removeAllListeners("error")
        // until the handshake sets its own (it then sees the socket closed, or times out)
        socket.on("error", ignoreError)
        resolve(socket)
      })
    })
}
