/**
 * docs/protocol.md 8.7 and 8.8 from a raw client: a protocol registered in the node's process
 * after the node's READY was sent is advertised with a `Protocols` envelope — registered before
 * the connection was attached as well as after; a `local` one, or one registered again with the
 * same fingerprint, is not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import * as Actor from "../../src/actors/Actor.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import { Node } from "../../src/transport/Node.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "late-protocols"
const secret = "late-protocols-secret"

/** the Protocols envelopes that arrive before the answer to a lookup (a round trip) */
const advertised = async (peer: RawPeer, id: number) => {
  peer.sendEnvelope([22, id, "nobody"])
  const seen: Array<unknown> = []
  for (;;) {
    const e = peer.decode((await peer.next()).body)
    if (e[0] === 23 && e[1] === id) return seen
    if (e[0] === 24) seen.push(e)
  }
}

describe("protocols registered after the handshake", () => {
  it.live("reach a connected client as [24, {name: fingerprint}], local ones and repeats never", () =>
    Effect.gen(function*() {
      const ctx = yield* Layer.build(Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }))
      const port = Context.get(ctx, Node).address.port
      const suffix = `${process.pid}-${Date.now()}`
      const make = (name: string, options?: { local: true }) =>
        Actor.make(`test/${name}-${suffix}`, { Ping: Actor.ask({ n: Schema.Int }, { success: Schema.Int }) }, options)
      const fp = (p: ReturnType<typeof make>) => ({ [p.name]: ProtocolRegistry.fingerprint(p as any) })
      yield* Effect.promise(async () => {
        const peer = await RawPeer.authenticated(port, { cluster, secret, name: "late-client" })
        // our READY is on its way: the node has not attached the connection yet
        const early = make("Early")
        make("EarlyLocal", { local: true })
        assert.deepStrictEqual(await advertised(peer, 1), [[24, fp(early)]])
        const late = make("Late")
        make("Late")
        make("LateLocal", { local: true })
        assert.deepStrictEqual(await advertised(peer, 2), [[24, fp(late)]])
        peer.destroy()
      })
    }).pipe(Effect.scoped))
})
