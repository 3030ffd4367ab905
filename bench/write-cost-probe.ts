/**
 * What one more socket write costs (CPU of this process, which also reads): the same bytes over
 * loopback TCP in 1 000-byte writes and in 2 000-byte writes (a batch of about 24 asks), one
 * write per macrotask turn or so, as the connections' flushes are. The difference per write
 * pair is the cost of the extra write and its share of reads. With the sharding probe's writes
 * per ask (`w_`), it turns a change in writes into CPU per ask.
 *
 *   node bench/write-cost-probe.ts [rounds]
 */
import * as net from "node:net"

const rounds = Number(process.argv[2] ?? 4)
const server = net.createServer()
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve))
const a = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1")
await new Promise((resolve) => a.once("connect", resolve))
const b = await accepted
a.setNoDelay(true)
b.setNoDelay(true)
let got = 0
b.on("data", (chunk: Buffer) => {
  got += chunk.length
})
const turn = () => new Promise((resolve) => setImmediate(resolve))

/** CPU microseconds per write of `writes` writes of `size` bytes, until all are read */
const run = async (writes: number, size: number) => {
  const chunk = Buffer.alloc(size, 1)
  got = 0
  const c0 = process.cpuUsage()
  for (let i = 0; i < writes; i++) {
    a.write(chunk)
    if (i % 4 === 3) await turn()
  }
  while (got < writes * size) await turn()
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / writes
}

await run(20_000, 2000)
for (let r = 0; r < rounds; r++) {
  const small = await run(40_000, 1000)
  const big = await run(20_000, 2000)
  console.log(JSON.stringify({ usPerWrite1000: small, usPerWrite2000: big, usPerExtraWrite: 2 * small - big }))
}
a.destroy()
b.destroy()
server.close()
