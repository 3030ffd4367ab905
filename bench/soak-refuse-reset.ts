/**
 * Handshakes refused while their peer resets the connection (not a benchmark, not in `run.ts`):
 * `N` (2 000) raw connections to a node each send a HELLO the node must refuse (a wrong cluster)
 * and reset the connection (RST) at once, or after a few ms. The node writes its REFUSE to a
 * socket its peer may have reset already. It must survive every one: the script prints how many
 * connections it made once they all ended, and exit code 0; a write error nobody listens to ends
 * this process (the node's) with `Unhandled 'error' event` and exit code 1.
 *
 *   N=2000 npx node bench/soak-refuse-reset.ts
 */
import * as Net from "node:net"
import { randomBytes } from "node:crypto"
import { Effect, Redacted } from "effect"
import * as TestNode from "../src/testing/TestNode.ts"
import { encodeFrame, FrameType } from "../src/transport/Frame.ts"

const N = Number(process.env.N ?? 2000)
const cluster = "refuse-reset"

const attempt = (port: number, delayMillis: number) =>
  new Promise<void>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.on("error", () => {})
    socket.on("close", () => resolve())
    socket.once("connect", () => {
      socket.write(encodeFrame(FrameType.Hello, Buffer.from(JSON.stringify({
        protocol: "telex",
        version: 1,
        cluster: "another-cluster",
        node: { name: "raw", incarnation: 1 },
        listen: null,
        codecs: ["json"],
        nonce: randomBytes(32).toString("base64")
      }))))
      if (delayMillis === 0) socket.resetAndDestroy()
      else setTimeout(() => socket.resetAndDestroy(), delayMillis)
    })
  })

const program = Effect.gen(function*() {
  const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make("refuse-reset-secret") })
  const port = b.node.address.port
  let made = 0
  yield* Effect.promise(async () => {
    for (let i = 0; i < N; i++) {
      await Promise.all(Array.from({ length: 8 }, (_, k) => attempt(port, (i + k) % 4)))
      made += 8
    }
  })
  console.log(JSON.stringify({ connections: made, survived: true }))
}).pipe(Effect.scoped)

Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
