/**
 * docs/protocol.md 3.6 with Telex as the client: a server (here a fake one on loopback, as a
 * foreign node that advertised a `listen` address would be) whose CHALLENGE or READY is wrong is
 * answered with the REFUSE code the table gives.
 */
import { createHmac, randomBytes } from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, References } from "effect"
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "../../src/transport/Frame.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const secret = "telex-test-secret" // TestNode's

const proof = (role: string, a: string, b: string, server: string, client: string) =>
  createHmac("sha256", secret).update(`telex/${role}\n${a}\n${b}\n${server}\n${client}`).digest("base64")

type Case = (hello: any, nonce: string, node: { name: string; incarnation: number }) => {
  challenge: Record<string, unknown>
  ready?: Record<string, unknown>
  /** sent as a REFUSE body in place of the READY */
  refuse?: Buffer
}

/** A server that answers one HELLO as `make` says; resolves with the REFUSE Telex sends (or "closed"). */
const fakeServer = (make: Case, node: { name: string; incarnation: number }) =>
  Effect.acquireRelease(
    Effect.callback<{ port: number; refusal: Promise<unknown> }>((resume) => {
      let got: (refusal: unknown) => void = () => {}
      const refusal = new Promise<unknown>((resolve) => (got = resolve))
      const server = Net.createServer((socket) => {
        const decoder = new FrameDecoder()
        const nonce = randomBytes(32).toString("base64")
        let hello: any
        let answer: ReturnType<Case> | undefined
        socket.on("data", (chunk) => {
          const frames: Array<Frame> = []
          decoder.push(chunk, frames)
          for (const f of frames) {
            const body = JSON.parse(Buffer.from(f.body).toString())
            if (f.type === FrameType.Refuse) got(body)
            else if (f.type === FrameType.Hello) {
              hello = body
              answer = make(hello, nonce, node)
              socket.write(encodeFrame(FrameType.Challenge, Buffer.from(JSON.stringify(answer.challenge))))
            } else if (f.type === FrameType.Auth && answer?.refuse !== undefined) {
              socket.end(encodeFrame(FrameType.Refuse, answer.refuse))
            } else if (f.type === FrameType.Auth && answer?.ready !== undefined) {
              socket.write(encodeFrame(FrameType.Ready, Buffer.from(JSON.stringify(answer.ready))))
            }
          }
        })
        socket.on("close", () => got("closed"))
        socket.on("error", () => {})
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, refusal, server })))
    }) as Effect.Effect<{ port: number; refusal: Promise<unknown>; server: Net.Server }>,
    ({ server }) => Effect.sync(() => server.close())
  )

const key = (n: { name: string; incarnation: number }) => `${n.name}#${n.incarnation}`
/** a correct CHALLENGE for `hello` (each case spoils one thing) */
const challenge = (hello: any, nonce: string, as: { name: string; incarnation: number }) => ({
  node: as,
  listen: null,
  codec: "json",
  nonce,
  proof: proof("server", hello.nonce, nonce, key(as), key(hello.node))
})

const cases: Array<[string, string, Case]> = [
  ["a codec the client did not offer", "codec", (h, n, me) => ({ challenge: { ...challenge(h, n, me), codec: "cbor" } })],
  ["a wrong proof", "auth", (h, n, me) => ({ challenge: { ...challenge(h, n, me), proof: proof("server", "x", n, key(me), key(h.node)) } })],
  ["a nonce that is not a string", "protocol", (h, n, me) => ({ challenge: { ...challenge(h, n, me), nonce: 5 } })],
  ["another node name than the one dialled", "name", (h, n) => ({ challenge: challenge(h, n, { name: "other", incarnation: 7 }), ready: { protocols: {} } })],
  ["a malformed READY", "protocol", (h, n, me) => ({ challenge: challenge(h, n, me), ready: { protocols: [] } })]
]

describe("Telex as the client refuses a server's bad CHALLENGE or READY with section 3.6's code", () => {
  it.live("codec, auth, protocol (CHALLENGE, READY), name", () =>
    Effect.gen(function*() {
      const a = yield* TestNode.startNode("a")
      for (const [i, [what, code, make]] of cases.entries()) {
        const name = `fake${i}`
        const { port, refusal } = yield* fakeServer(make, { name, incarnation: 7 })
        const dial = yield* Effect.forkScoped(a.node.connect({ name, host: "127.0.0.1", port }, "5 seconds"))
        const refused = (yield* Effect.promise(() => refusal)) as { code: string; reason: string }
        assert.strictEqual(refused.code, code, `${what}: ${JSON.stringify(refused)}`)
        yield* Fiber.interrupt(dial)
      }
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")))
})

describe("a REFUSE whose code Telex does not know", () => {
  it.live("is a refusal like any other: the dial fails, the node goes on", () =>
    Effect.gen(function*() {
      const a = yield* TestNode.startNode("a")
      const server = yield* Effect.acquireRelease(
        Effect.callback<Net.Server>((resume) => {
          const server = Net.createServer((socket) => {
            socket.on("error", () => {})
            // a newer (or any) server's code: sent in place of the CHALLENGE
            socket.once("data", () => {
              socket.end(encodeFrame(FrameType.Refuse, Buffer.from(JSON.stringify({ code: "overloaded", reason: "try later" }))))
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const port = (server.address() as Net.AddressInfo).port
      const exit = yield* Effect.exit(a.node.connect({ name: "newer", host: "127.0.0.1", port }, "2 seconds"))
      assert.isTrue(exit._tag === "Failure", "the dial is refused")
      // in place of the READY, after the client's AUTH: a code Telex does not know, one that is no
      // string, a body that is no JSON object
      for (const [i, body] of [{ code: "overloaded" }, { code: 7, reason: [1] }, "not json"].entries()) {
        const name = `late${i}`
        const { port: latePort } = yield* fakeServer(
          (h, n, me) => ({ challenge: challenge(h, n, me), refuse: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)) }),
          { name, incarnation: 7 }
        )
        // failFast: the refusal itself fails the dial, not the end of its wait
        const late = yield* Effect.exit(a.node.connect({ name, host: "127.0.0.1", port: latePort }, "10 seconds", { failFast: true }))
        assert.isTrue(late._tag === "Failure", `the dial is refused (${JSON.stringify(body)})`)
        assert.include(JSON.stringify(late), "refused", JSON.stringify(late))
      }
      // the node still works (a HandshakeError that could not be built threw out of the socket's data event)
      const b = yield* TestNode.startNode("b")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "2 seconds")
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")))
})
