/**
 * An echo server and a client that records what comes back and how the connection ends, for the
 * tests of the fault proxy.
 */
import * as Net from "node:net"

export const echoServer = async () => {
  const sockets = new Set<Net.Socket>()
  const server = Net.createServer((s) => {
    sockets.add(s)
    s.on("error", () => {})
    s.pipe(s)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  return {
    port: (server.address() as Net.AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) })
  }
}

export const client = async (port: number) => {
  const socket = Net.connect(port, "127.0.0.1")
  const received: Array<Buffer> = []
  let ended: string | undefined
  socket.on("data", (b) => received.push(b))
  socket.on("error", (e: NodeJS.ErrnoException) => { ended = e.code ?? e.message })
  socket.on("close", () => { ended ??= "close" })
  await new Promise<void>((r) => {
    socket.once("connect", () => r())
    socket.once("close", () => r()) // refused or reset before the connect event
  })
  return {
    socket,
    text: () => Buffer.concat(received).toString(),
    bytes: () => received.reduce((n, b) => n + b.length, 0),
    ended: () => ended
  }
}

/** Polls `check` every 5 ms, failing past `millis`. */
export const until = async (check: () => boolean, millis = 5000) => {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > millis) throw new Error("condition not met in time")
    await new Promise((r) => setTimeout(r, 5))
  }
}
