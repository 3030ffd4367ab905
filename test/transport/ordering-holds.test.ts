/**
 * §4.2's ordering as a client hosting an actor sees it: the tells each Telex sender makes to that
 * actor arrive in the order it made them, whatever their sizes (some fragmented, 4.3, some not)
 * and however often the client holds the actor and releases it (4.4: with a credit, or without),
 * and none is lost. Each sender's tells wait while the actor is held; its next ones never
 * overtake them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted, Schema } from "effect"
import { Actor } from "../../src/index.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { Node } from "../../src/transport/Node.ts"
import { hostingPeer } from "./_raw.ts"
import { baseSeed, Rng } from "./_random.ts"

const cluster = "order"
const secret = "order-secret"
const Order = Actor.make("Foreign/Order", { Put: Actor.tell({ from: Schema.Int, n: Schema.Int, pad: Schema.String }) })
const senders = 3
const perSender = 150

describe("ordering across fragments and Hold/Release (§4.2)", () => {
  for (const codec of ["json", "msgpack"] as const) {
    it.live(`${codec}: each sender's tells arrive in order, none lost`, () =>
      Effect.gen(function*() {
        const rng = new Rng(baseSeed)
        const ctx = yield* Layer.build(Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }))
        const node = Context.get(ctx, Node)
        // the client hosts actor 5: it advertises the protocol's fingerprint (8.8)
        const ready = { protocols: { [Order.name]: ProtocolRegistry.fingerprint(Order) } }
        const { peer, target } = yield* hostingPeer(node, { cluster, secret, codec, readyBody: ready, protocol: Order.name })
        // sizes drawn up front: small, one frame of 64-128 KiB, fragmented (> 128 KiB)
        const sizes = Array.from({ length: senders * perSender }, () => rng.pick([0, 10, 100, 1000, 70_000, 140_000, 300_000]))
        const fibers: Array<Fiber.Fiber<void, unknown>> = []
        for (let from = 0; from < senders; from++) {
          fibers.push(yield* Effect.forkChild(Effect.forEach(
            Array.from({ length: perSender }, (_, n) => n),
            (n) => target.tell(Order.Put({ from, n, pad: "x".repeat(sizes[from * perSender + n]!) })),
            { discard: true }
          )))
        }
        // the next envelope, its fragments reassembled (4.3)
        let assembly: { total: number; parts: Array<Uint8Array>; filled: number } | undefined
        const nextEnvelope = async (): Promise<Array<any>> => {
          for (;;) {
            const frame = await peer.next(undefined, 10_000)
            if (frame.type === FrameType.Message) return peer.decode(frame.body)
            if (frame.type !== FrameType.Fragment) throw new Error(`unexpected frame type ${frame.type}`)
            const body = Buffer.from(frame.body)
            const total = body.readUInt32BE(4)
            const offset = body.readUInt32BE(8)
            if (offset === 0) assembly = { total, parts: [], filled: 0 }
            if (assembly === undefined || offset !== assembly.filled) throw new Error("fragment out of sequence")
            assembly.parts.push(body.subarray(12))
            assembly.filled += body.length - 12
            if (assembly.filled === assembly.total) {
              const whole = Buffer.concat(assembly.parts)
              assembly = undefined
              return peer.decode(whole)
            }
          }
        }
        const got = yield* Effect.promise(async () => {
          const seen: Array<Array<number>> = Array.from({ length: senders }, () => [])
          let total = 0
          // as a Telex receiver does: after a Release with a credit, the count of what arrives;
          // once it reaches the credit the sender is held again (no Hold) until the next Release
          let holding = false
          let credited: { credit: number; received: number } | undefined
          const release = () => {
            holding = false
            const credit = rng.pick([undefined, 1, 2, 7])
            credited = credit === undefined ? undefined : { credit, received: 0 }
            peer.sendEnvelope(credit === undefined ? [Kind.Release, 5] : [Kind.Release, 5, credit])
          }
          while (total < senders * perSender) {
            const e = await nextEnvelope()
            if (e[0] !== Kind.Tell) continue
            const m = e[3] as { from: number; n: number; pad: string }
            seen[m.from]!.push(m.n)
            total++
            if (credited !== undefined) {
              if (++credited.received === credited.credit) {
                credited = undefined
                holding = true
                setTimeout(release, rng.pick([0, 2, 10]))
              }
            } else if (!holding && rng.float() < 0.1) {
              // hold the actor: what is in flight still comes, then nothing until the Release
              holding = true
              peer.sendEnvelope([Kind.Hold, 5, "backpressure", 8])
              setTimeout(release, rng.pick([0, 2, 10]))
            }
          }
          return seen
        })
        for (let from = 0; from < senders; from++) {
          assert.deepStrictEqual(got[from], Array.from({ length: perSender }, (_, n) => n), `sender ${from} (seed ${baseSeed})`)
        }
        yield* Effect.forEach(fibers, Fiber.join)
      }).pipe(Effect.scoped), 120_000)
  }
})
