import * as Net from "node:net"
import { afterEach, assert, describe, it } from "vitest"
import { FaultProxy, prng } from "../../src/testing/FaultProxy.ts"
import { client, echoServer, until } from "./_echo.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const setup = async (seed = 7) => {
  const echo = await echoServer()
  const proxy = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: echo.port }, seed })
  cleanups.push(() => proxy.close(), echo.close)
  return { echo, proxy }
}

describe("FaultProxy", () => {
  it("forwards both ways untouched without toxics", async () => {
    const { proxy } = await setup()
    const c = await client(proxy.address.port)
    c.socket.write("hello")
    await until(() => c.text() === "hello")
    assert.strictEqual(proxy.connections, 1)
  })

  it("latency delays every chunk and keeps order", async () => {
    const { proxy } = await setup()
    proxy.addToxic("lat", "downstream", { type: "latency", latencyMillis: 150, jitterMillis: 20 })
    const c = await client(proxy.address.port)
    const start = Date.now()
    for (let i = 0; i < 20; i++) c.socket.write(`${i},`)
    await until(() => c.text().split(",").length === 21)
    assert.isAtLeast(Date.now() - start, 120) // the delay is the fault being simulated, not a speed check
    assert.strictEqual(c.text(), Array.from({ length: 20 }, (_, i) => `${i},`).join(""))
  })

  it("latency with jitter keeps order for chunks written over time (a byte stream, never reordered)", async () => {
    const { proxy } = await setup()
    proxy.addToxic("lat", "downstream", { type: "latency", latencyMillis: 100, jitterMillis: 50 })
    const c = await client(proxy.address.port)
    const expected: Array<string> = []
    for (let i = 0; i < 150; i++) {
      c.socket.write(`${i},`)
      expected.push(`${i},`)
      // each chunk scheduled at its own instant, with its own jitter
      await new Promise((r) => setTimeout(r, 1))
    }
    await until(() => c.text().split(",").length === 151, 10_000)
    assert.strictEqual(c.text(), expected.join(""))
  })

  it("partition holds traffic both ways; heal releases it in order", async () => {
    const { proxy } = await setup()
    const c = await client(proxy.address.port)
    proxy.partition()
    c.socket.write("a")
    c.socket.write("b")
    await new Promise((r) => setTimeout(r, 100))
    assert.strictEqual(c.text(), "")
    proxy.heal()
    await until(() => c.text() === "ab")
  })

  it("a partition holds the end of a connection too: a FIN or a reset crosses only at the heal", async () => {
    const ends: Array<string> = []
    const server = Net.createServer((s) => {
      s.on("end", () => ends.push("end"))
      s.on("error", (e: NodeJS.ErrnoException) => ends.push(e.code ?? "error"))
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    const proxy = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: (server.address() as Net.AddressInfo).port } })
    cleanups.push(() => proxy.close(), () => new Promise<void>((r) => server.close(() => r())))
    for (const how of ["end", "reset"] as const) {
      ends.length = 0
      const c = await client(proxy.address.port)
      await until(() => proxy.connections === 1)
      proxy.partition()
      if (how === "end") c.socket.end()
      else c.socket.resetAndDestroy()
      await new Promise((r) => setTimeout(r, 150))
      assert.deepStrictEqual(ends, [], `${how}: nothing crosses the partition`)
      proxy.heal()
      await until(() => ends.length > 0)
      assert.strictEqual(ends[0], how === "end" ? "end" : "ECONNRESET")
      await until(() => proxy.connections === 0)
    }
  })

  it("a reset just after the proxy passed on a FIN still closes its socket (none left open, which would spin the process at exit)", async () => {
    const { proxy } = await setup()
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length
    const before = sockets()
    const c = await client(proxy.address.port)
    await until(() => proxy.connections === 1)
    proxy.partition()
    c.socket.end()
    await until(() => c.ended() !== undefined) // the proxy has read the FIN (and answered it)
    // the heal passes the FIN on (the proxy's socket to the server starts its shutdown), and
    // the reset comes before that shutdown is done
    proxy.heal()
    proxy.resetAll()
    await until(() => proxy.connections === 0 && sockets() === before, 3000)
  })

  it("a connect through a partition gets no answer until the heal", async () => {
    const { proxy } = await setup()
    proxy.partition()
    const c = await client(proxy.address.port)
    c.socket.write("x")
    await new Promise((r) => setTimeout(r, 100))
    assert.strictEqual(c.text(), "")
    proxy.heal()
    await until(() => c.text() === "x")
  })

  it("reset_peer resets the connection (ECONNRESET), down() refuses new ones", async () => {
    const { proxy } = await setup()
    const c = await client(proxy.address.port)
    proxy.addToxic("rst", "upstream", { type: "reset_peer", timeoutMillis: 20 })
    await until(() => c.ended() !== undefined)
    assert.strictEqual(c.ended(), "ECONNRESET")
    proxy.removeToxic("rst")
    proxy.down()
    const d = await client(proxy.address.port)
    await until(() => d.ended() !== undefined)
    proxy.up()
    const e = await client(proxy.address.port)
    e.socket.write("back")
    await until(() => e.text() === "back")
  })

  it("timeout black-holes data then closes; limit_data closes after N bytes", async () => {
    const { proxy } = await setup()
    proxy.addToxic("t", "upstream", { type: "timeout", timeoutMillis: 50 })
    const c = await client(proxy.address.port)
    c.socket.write("lost")
    await until(() => c.ended() !== undefined)
    assert.strictEqual(c.text(), "")
    proxy.clearToxics()
    proxy.addToxic("l", "downstream", { type: "limit_data", bytes: 10 })
    const d = await client(proxy.address.port)
    d.socket.write("0123456789abcdef")
    await until(() => d.ended() !== undefined)
    assert.isAtMost(d.bytes(), 16)
    assert.isAtLeast(d.bytes(), 10)
  })

  it("a black hole (timeout 0) drops what it swallows, however much; once removed, data flows again", async () => {
    const { proxy } = await setup()
    proxy.addToxic("hole", "upstream", { type: "timeout", timeoutMillis: 0 })
    const c = await client(proxy.address.port)
    c.socket.write(Buffer.alloc(3 * 1024 * 1024, 1))
    await until(() => proxy.stats.bytesUpstream >= 3 * 1024 * 1024, 10_000)
    proxy.removeToxic("hole")
    c.socket.write("after")
    await until(() => c.text().endsWith("after"), 10_000)
    assert.strictEqual(c.text(), "after", "what the hole swallowed is gone")
  })

  it("slicer cuts chunks into small pieces without changing the bytes; bandwidth paces them", async () => {
    const { proxy } = await setup()
    proxy.addToxic("s", "downstream", { type: "slicer", averageSize: 3, sizeVariation: 2, delayMicros: 100 })
    proxy.addToxic("b", "downstream", { type: "bandwidth", bytesPerSecond: 20_000 })
    const c = await client(proxy.address.port)
    const payload = "x".repeat(2000)
    const start = Date.now()
    c.socket.write(payload)
    await until(() => c.text() === payload)
    assert.isAtLeast(Date.now() - start, 60) // 2000 B at 20 kB/s ≈ 100 ms of simulated bandwidth
  })

  /**
   * A server that does not read until told to; `received` counts what it has read. Behind the
   * proxy, a writer sends `total` bytes: what the proxy read of them must stay bounded while the
   * server does not read (the writer's own buffers fill instead), and all of it arrives, in
   * order, once it reads.
   */
  const stalledReader = async () => {
    let received = 0
    let sum = 0
    let sock: Net.Socket | undefined
    const server = Net.createServer((s) => {
      sock = s
      s.pause()
      s.on("error", () => {})
      s.on("data", (b: Buffer) => {
        for (const x of b) sum = (sum * 31 + x) >>> 0
        received += b.length
      })
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    cleanups.push(() => new Promise<void>((r) => { sock?.destroy(); server.close(() => r()) }))
    return {
      port: (server.address() as Net.AddressInfo).port,
      read: () => sock!.resume(),
      received: () => received,
      sum: () => sum,
      connected: () => sock !== undefined
    }
  }
  const pattern = (total: number) => {
    const data = Buffer.alloc(total)
    for (let i = 0; i < total; i++) data[i] = (i * 7 + (i >>> 10)) & 0xff
    let sum = 0
    for (const x of data) sum = (sum * 31 + x) >>> 0
    return { data, sum }
  }
  /** waits until `value` has not changed for `quietMillis` (the pipe is as full as it gets) */
  const settled = async (value: () => number, quietMillis = 300, millis = 20_000) => {
    const start = Date.now()
    let last = value()
    let since = Date.now()
    while (Date.now() - since < quietMillis) {
      if (Date.now() - start > millis) throw new Error("never settled")
      await new Promise((r) => setTimeout(r, 20))
      if (value() !== last) {
        last = value()
        since = Date.now()
      }
    }
    return last
  }

  it("backpressure: a reader that does not read stops the proxy reading the writer; everything arrives once it reads", async () => {
    const reader = await stalledReader()
    const proxy = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: reader.port } })
    cleanups.push(() => proxy.close())
    const c = await client(proxy.address.port)
    const total = 48 * 1024 * 1024
    const { data, sum } = pattern(total)
    c.socket.write(data)
    await until(() => reader.connected())
    const read = await settled(() => proxy.stats.bytesUpstream)
    // the proxy holds about its 1 MiB lane buffer plus what the kernel buffers; the rest waits
    // in the writer's socket
    assert.isBelow(read, 24 * 1024 * 1024, `the proxy read ${read} of ${total} bytes the reader never took`)
    assert.isAbove(c.socket.writableLength, 0, "the writer's socket still holds bytes")
    reader.read()
    await until(() => reader.received() === total, 20_000)
    assert.strictEqual(reader.sum(), sum, "the bytes arrive intact and in order")
  }, 60_000)

  it("backpressure: a partition stops the proxy reading; bandwidth-delayed bytes are bounded too", async () => {
    const reader = await stalledReader()
    const proxy = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: reader.port } })
    cleanups.push(() => proxy.close())
    const c = await client(proxy.address.port)
    await until(() => reader.connected())
    reader.read()
    proxy.partition()
    const total = 48 * 1024 * 1024
    const { data, sum } = pattern(total)
    c.socket.write(data)
    const held = await settled(() => proxy.stats.bytesUpstream)
    assert.isBelow(held, 24 * 1024 * 1024, `the proxy read ${held} of ${total} bytes during the partition`)
    assert.strictEqual(reader.received(), 0, "nothing crosses the partition")
    proxy.heal()
    // a slow link: what waits for its turn stays bounded as well
    proxy.addToxic("slow", "upstream", { type: "bandwidth", bytesPerSecond: 64 * 1024 * 1024 })
    let inProxy = 0
    await until(() => {
      inProxy = Math.max(inProxy, proxy.stats.bytesUpstream - reader.received())
      return reader.received() === total
    }, 30_000)
    assert.isBelow(inProxy, 24 * 1024 * 1024, `the proxy held up to ${inProxy} bytes waiting for the bandwidth`)
    assert.strictEqual(reader.sum(), sum, "the bytes arrive intact and in order after the heal")
  }, 60_000)

  it("the same seed replays the same random choices", () => {
    const a = prng(42)
    const b = prng(42)
    const c = prng(43)
    const xs = Array.from({ length: 100 }, a)
    assert.deepStrictEqual(Array.from({ length: 100 }, b), xs)
    assert.notDeepEqual(Array.from({ length: 100 }, c), xs)
    assert.isTrue(xs.every((x) => x >= 0 && x < 1))
  })
})
