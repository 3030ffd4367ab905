/**
 * A peer's Release whose credit is not a positive integer (docs/protocol.md §4.4, §10): no credit,
 * so every sender that waited for the Release sends, however many waited. Taken as a count, a
 * fractional credit (0.5) goes below zero at the first send, and the wake-up, which resumes
 * senders a slice per turn while a credit is left, strands every sender past the first slice of
 * 1 024 until the next Release.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted } from "effect"
import { Counter } from "../../examples/counter.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import { ActorSystem } from "../../src/index.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { Node } from "../../src/transport/Node.ts"
import { hostingPeer } from "./_raw.ts"

const cluster = "credit"
const secret = "credit-secret"
const senders = 1_100

describe("a Release whose credit is not a positive integer", () => {
  for (const [codec, credit] of [["json", 0.5], ["json", 2.5], ["msgpack", Infinity]] as const) {
    it.live(`${codec}, credit ${credit}: every waiting sender sends`, () =>
      Effect.gen(function*() {
        const ctx = yield* Layer.build(Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }))
        const node = Context.get(ctx, Node)
        const system = Context.get(ctx, ActorSystem)
        // the client hosts actor 5 (it advertises the node's Counter) and holds it from the start
        const ready = { protocols: { Counter: ProtocolRegistry.fingerprint(Counter) }, hold: [[5, "backpressure", 1]] }
        const { peer, router, target } = yield* hostingPeer(node, { cluster, secret, codec, readyBody: ready, protocol: "Counter" })
        const fibers = yield* Effect.forEach(
          Array.from({ length: senders }, (_, i) => i),
          (i) => Effect.forkChild(target.tell(Counter.Increment({ by: i })))
        )
        const held = router.peers.get("host")!.flow.held.get(5)!
        yield* Effect.promise(async () => {
          while (held.waiters.size < senders) await new Promise((resolve) => setTimeout(resolve, 5))
        })
        assert.strictEqual(system.deadLetterCount(), 0)
        peer.sendEnvelope([Kind.Release, 5, credit])
        // every tell arrives (a sender left waiting fails the test by its timeout)
        const got = yield* Effect.promise(async () => {
          const seen = new Set<number>()
          while (seen.size < senders) {
            const e = await peer.envelope(Kind.Tell, 10_000)
            seen.add(e[3].by)
          }
          return seen.size
        })
        assert.strictEqual(got, senders)
        yield* Effect.forEach(fibers, Fiber.join)
      }).pipe(Effect.scoped), 60_000)
  }
})
