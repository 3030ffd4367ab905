/**
 * The second process of the `remote` benchmark group (started by `bench/remote.ts`): a Telex
 * node named `peer` hosting the `Bench` target actor, plus a raw TCP server for the baselines
 * measured in the same round. Prints one JSON line `{ "port", "rawPort" }` on stdout once both
 * listen, then serves until its stdin closes (the parent's end, or the parent's death), and
 * exits.
 *
 * Environment: `TELEX_BENCH_SECRET` (the cluster secret chosen by the parent).
 */
import { Effect, Layer, ManagedRuntime, Redacted, References } from "effect"
import { Unpackr } from "msgpackr"
import * as Net from "node:net"
import { ActorSystem } from "../src/index.ts"
import { Node } from "../src/transport/Node.ts"
import { BenchLive, msgpackrRecordsOptions, nodeOptions, RawFrameDecoder, RawMode, TARGET } from "./remote-protocol.ts"

const secret = process.env["TELEX_BENCH_SECRET"]
if (secret === undefined || secret === "") throw new Error("remote-peer: TELEX_BENCH_SECRET is not set")

const runtime = ManagedRuntime.make(
  Node.layerWithSystem({ name: "peer", cluster: "bench", secret: Redacted.make(secret), ...nodeOptions }).pipe(
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  )
)

const port = await runtime.runPromise(Effect.gen(function*() {
  const system = yield* ActorSystem
  yield* system.spawn(BenchLive, { name: TARGET })
  const node = yield* Node
  return node.address.port
}))

// ---- raw baselines -----------------------------------------------------------

const ACK = Buffer.from([1])

const serveRaw = (socket: Net.Socket): void => {
  socket.setNoDelay(true)
  socket.on("error", () => {})
  let header: Buffer | undefined = Buffer.alloc(0)
  let onChunk: ((chunk: Buffer) => void) | undefined
  const start = (mode: number, count: number): (chunk: Buffer) => void => {
    switch (mode) {
      case RawMode.PingPong: {
        const dec = new RawFrameDecoder((buf, s, e) => {
          // echo: re-frame the payload (one small allocation + copy, as a real reply would)
          const out = Buffer.allocUnsafe(4 + (e - s))
          out.writeUInt32BE(e - s, 0)
          buf.copy(out, 4, s, e)
          socket.write(out)
        })
        return (c) => dec.push(c)
      }
      case RawMode.Tell: {
        const unpackr = new Unpackr({ ...msgpackrRecordsOptions })
        let got = 0
        let check = 0
        const dec = new RawFrameDecoder((buf, s, e) => {
          const envelope = unpackr.unpack(buf.subarray(s, e)) as [number, number, string, { seq: number }]
          check += envelope[3].seq
          if (++got === count) socket.write(ACK)
        })
        return (c) => dec.push(c)
      }
      case RawMode.Bulk: {
        let got = 0
        let bytes = 0
        const dec = new RawFrameDecoder((_buf, s, e) => {
          bytes += e - s
          if (++got === count) socket.write(ACK)
        })
        return (c) => dec.push(c)
      }
      default:
        socket.destroy()
        return () => {}
    }
  }
  socket.on("data", (chunk: Buffer) => {
    if (onChunk !== undefined) return onChunk(chunk)
    header = Buffer.concat([header!, chunk])
    if (header.length < 5) return
    onChunk = start(header[0]!, header.readUInt32BE(1))
    const rest = header.subarray(5)
    header = undefined
    if (rest.length > 0) onChunk(rest)
  })
}

const raw = Net.createServer(serveRaw)
await new Promise<void>((resolve, reject) => {
  raw.once("error", reject)
  raw.listen(0, "127.0.0.1", resolve)
})
const rawPort = (raw.address() as Net.AddressInfo).port

process.stdout.write(`${JSON.stringify({ port, rawPort })}\n`)

// ---- life cycle ----------------------------------------------------------------

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  raw.close()
  const timer = setTimeout(() => process.exit(0), 2000)
  timer.unref()
  runtime.dispose().then(() => process.exit(0), () => process.exit(1))
}
process.stdin.on("end", stop)
process.stdin.on("error", stop)
process.stdin.resume()
process.on("SIGTERM", stop)
