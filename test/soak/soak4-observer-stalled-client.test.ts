/**
 * The observer's event stream and a client that stops reading (a stalled tab, a stuck proxy):
 * the frames it does not read are not kept without bound in the observer's process. Past a
 * backlog of 1 MiB at a tick its stream is closed (an `EventSource` reconnects by itself and the
 * page fetches the events it missed).
 *
 * The observer runs in this process, on a config of 60 nodes that do not run (each cluster frame
 * lists every node and link: a few hundred KB) and polls every 20 ms; what it writes to the
 * stream is counted at `ServerResponse.write`.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Redacted } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import * as Observer from "../../src/cluster/Observer.ts"
import { freePorts } from "../cluster/_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-observer-stalled-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** past this many bytes written to a stream its client never read, the observer keeps it all */
const UNBOUNDED = 64 * 1024 * 1024

describe("soak: an observer stream whose client stops reading", () => {
  it("is closed once its backlog passes the bound, instead of growing without end", async () => {
    const ports = await freePorts(60)
    const config = join(dir, "cluster.json")
    writeFileSync(config, JSON.stringify({ cluster: "stalled", nodes: ports.map((port, i) => ({ name: `node-${i}`, port })) }))

    let stream: Http.ServerResponse | undefined
    let written = 0
    const write = Http.ServerResponse.prototype.write
    Http.ServerResponse.prototype.write = function(this: Http.ServerResponse, chunk: any, ...rest: Array<any>) {
      if (typeof chunk === "string" && (chunk.startsWith("event: ") || chunk.startsWith(": telex observer"))) {
        stream = this
        written += Buffer.byteLength(chunk)
      }
      return (write as any).call(this, chunk, ...rest)
    } as typeof write
    const socket = new Net.Socket()
    try {
      await Effect.runPromise(Effect.gen(function*() {
        const observer = yield* Observer.serve(config, { port: 0, token: "tok", secret: Redacted.make("stalled-secret-0123456789abcdef"), pollMillis: 20 })
        yield* Effect.promise(() => new Promise<void>((resolve) => socket.connect(observer.port, "127.0.0.1", resolve)))
        socket.write("GET /api/stream?token=tok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let read = 0
        socket.on("data", (b: Buffer) => {
          read += b.length
        })
        yield* Effect.promise(() => new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (read > 0) {
              clearInterval(check)
              resolve()
            }
          }, 5)
        }))
        // the client stops reading
        socket.pause()
        const deadline = Date.now() + 60_000
        while (stream?.destroyed !== true && written < UNBOUNDED && Date.now() < deadline) yield* Effect.sleep("50 millis")
        assert.isTrue(stream?.destroyed, `the stream is still open after ${written} bytes written, ${read} read`)
        assert.isBelow(written, UNBOUNDED)
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
    } finally {
      Http.ServerResponse.prototype.write = write
      socket.destroy()
    }
  }, 90_000)
})
