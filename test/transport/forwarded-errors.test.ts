/**
 * Runtime errors a handler fails with are forwarded to a remote asker as themselves (docs/protocol.md
 * §7.3): `CallingSelf` (the handler asked its own actor) and `AskTimeout` (its own ask timed out)
 * come back as reply kind 2 with their own fields, not as `InvalidMessage`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ActorSystem } from "../../src/index.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { Node } from "../../src/transport/Node.ts"
import { RawPeer } from "./_raw.ts"

const cluster = "forwarded"
const secret = "forwarded-secret"
const Selfish = Actor.make("Probe/Selfish", {
  AskMyself: Actor.ask({}, { success: Schema.Int }),
  Inner: Actor.ask({}, { success: Schema.Int }),
  Never: Actor.ask({}, { success: Schema.Int }),
  AskNever: Actor.ask({}, { success: Schema.Int })
})

describe("runtime errors a handler fails with reach a remote asker as themselves", () => {
  for (const codec of ["json", "msgpack"] as const) {
    it.live(`${codec}: CallingSelf and AskTimeout`, () =>
      Effect.gen(function*() {
        const ctx = yield* Layer.build(Node.layerWithSystem({ name: "b", cluster, secret: Redacted.make(secret) }))
        const system = Context.get(ctx, ActorSystem)
        const hang = yield* system.spawn(Selfish.behavior(Effect.succeed({
          AskMyself: () => Effect.succeed(0),
          Inner: () => Effect.succeed(0),
          Never: () => Actor.fork(Effect.never),
          AskNever: () => Effect.succeed(0)
        })), { name: "hang" })
        const selfish = yield* system.spawn(Selfish.behavior(Effect.gen(function*() {
          const actx = yield* ActorContext
          return {
            AskMyself: () => (actx.self as ActorRef.ActorRef<typeof Selfish.defs>).ask(Selfish.Inner()),
            Inner: () => Effect.succeed(1),
            Never: () => Effect.succeed(0),
            AskNever: () => Actor.fork(hang.ask(Selfish.Never(), { timeout: "20 millis" }))
          }
        })), { name: "selfish" })
        const port = Context.get(ctx, Node).address.port
        const peer = yield* Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name: "c", codec }))
        yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
        const [calling, timeout] = yield* Effect.promise(async () => {
          peer.sendEnvelope([Kind.Ask, selfish.address.id, "Probe/Selfish", { _tag: "AskMyself" }, 1, null])
          const calling = await peer.envelope(Kind.Reply)
          peer.sendEnvelope([Kind.Ask, selfish.address.id, "Probe/Selfish", { _tag: "AskNever" }, 2, null])
          return [calling, await peer.envelope(Kind.Reply)]
        })
        assert.deepStrictEqual(calling, [Kind.Reply, 1, 2, { _tag: "CallingSelf", actor: selfish.key, message: "Inner" }])
        assert.deepStrictEqual(timeout, [Kind.Reply, 2, 2, { _tag: "AskTimeout", actor: hang.key, message: "Never", timeoutMillis: 20 }])
      }).pipe(Effect.scoped))
  }
})
