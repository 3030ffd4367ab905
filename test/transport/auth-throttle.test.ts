/**
 * Failed proofs are paced per remote address: a peer that keeps sending bad AUTHs (guessing the
 * secret) gets its proofs verified one turn at a time, and those whose turn would come after the
 * handshake timeout are refused at once, while a peer at another address is not slowed.
 */
import { createHmac, randomBytes } from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as TestNode from "../../src/testing/TestNode.ts"
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "../../src/transport/Frame.ts"
import { addressKey } from "../../src/transport/AuthThrottle.ts"
import { RawPeer } from "./_raw.ts"

const SECRET = "auth-throttle"

/** A handshake from `localAddress` with a wrong secret: the reason of the REFUSE that ends it. */
const guess = (port: number, localAddress: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port, localAddress })
    const decoder = new FrameDecoder(1 << 20)
    const send = (type: FrameType, body: unknown) => socket.write(encodeFrame(type, Buffer.from(JSON.stringify(body))))
    const nonce = randomBytes(32).toString("base64")
    socket.on("error", reject)
    socket.on("close", () => reject(new Error("closed without REFUSE")))
    socket.on("connect", () =>
      send(FrameType.Hello, {
        protocol: "telex",
        version: 1,
        cluster: "throttle",
        node: { name: `guesser-${nonce.slice(0, 6)}`, incarnation: 1 },
        listen: null,
        codecs: ["json"],
        nonce
      }))
    socket.on("data", (chunk: Buffer) => {
      const frames: Array<Frame> = []
      decoder.push(chunk, frames)
      for (const f of frames) {
        const body = JSON.parse(Buffer.from(f.body).toString())
        if (f.type === FrameType.Challenge) {
          send(FrameType.Auth, { proof: createHmac("sha256", "wrong").update(body.nonce).digest("base64") })
        } else if (f.type === FrameType.Refuse) {
          assert.strictEqual(body.code, "auth")
          resolve(body.reason)
          socket.destroy()
        }
      }
    })
  })

describe("failed proofs", () => {
  it.live("are paced per remote address: a guesser's parallel AUTHs are refused unverified past the timeout, a peer elsewhere is not slowed", () =>
    Effect.gen(function*() {
      const srv = yield* TestNode.startNode("srv", { cluster: "throttle", secret: Redacted.make(SECRET), handshakeTimeout: "1 second" })
      const port = srv.node.address.port
      // the first failures are free (a peer with an old secret, a typo)
      for (let i = 0; i < 3; i++) assert.include(yield* Effect.promise(() => guess(port, "127.0.0.2")), "bad secret")
      const order: Array<string> = []
      const guesses = Array.from({ length: 12 }, () => guess(port, "127.0.0.2").then((reason) => void order.push(reason)))
      const good = RawPeer.authenticated(port, { cluster: "throttle", secret: SECRET, name: "good" }).then((peer) => {
        order.push("good")
        peer.socket.destroy()
      })
      yield* Effect.promise(() => Promise.all([good, ...guesses]))
      const tooMany = order.filter((r) => r.startsWith("too many failed authentications")).length
      assert.isAtLeast(tooMany, 1, `refused unverified: ${JSON.stringify(order)}`)
      assert.isAtLeast(order.filter((r) => r.includes("bad secret")).length, 5, "the guesses verified, one turn at a time")
      // the peer at 127.0.0.1 did not wait behind the guesser's turns
      assert.isBelow(order.indexOf("good"), order.lastIndexOf(order.find((r) => r.includes("bad secret"))!))
    }).pipe(Effect.scoped))

  it("are counted by IPv4 address, or by the /64 of an IPv6 address", () => {
    assert.strictEqual(addressKey("127.0.0.2"), "127.0.0.2")
    assert.strictEqual(addressKey("::ffff:10.1.2.3"), "10.1.2.3")
    assert.strictEqual(addressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64")
    assert.strictEqual(addressKey("2001:0db8:0001:0002::9"), "2001:db8:1:2::/64")
    assert.strictEqual(addressKey("2001:db8::1"), "2001:db8:0:0::/64")
    assert.strictEqual(addressKey("::1"), "0:0:0:0::/64")
    assert.strictEqual(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64")
  })
})
