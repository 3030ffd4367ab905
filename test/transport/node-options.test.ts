/**
 * Node options are checked when the layer is built: a program that forgot `TELEX_SECRET` gets a
 * typed `NodeStartError` at start, not a crash of the whole process when a peer connects.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted } from "effect"
import { ActorSystem } from "../../src/index.ts"
import { Node, type NodeOptions, NodeStartError } from "../../src/transport/Node.ts"

const secret = Redacted.make("node-options")

const startError = (options: NodeOptions, withSystem = true) =>
  Effect.scoped(Effect.gen(function*() {
    const layer = withSystem
      ? Node.layerWithSystem(options)
      : Node.layer(options).pipe(Layer.provide(ActorSystem.layer({ node: options.name })))
    const exit = yield* Effect.exit(Layer.build(layer))
    assert.isTrue(Exit.isFailure(exit), "the layer must not build")
    const error = yield* Effect.flip(Effect.suspend(() => exit as Exit.Exit<unknown, NodeStartError>))
    assert.instanceOf(error, NodeStartError)
    return error.message
  }))

describe("Node options are validated when the layer is built", () => {
  it.live("a missing secret (TELEX_SECRET unset) is a NodeStartError, with Node.layer and layerWithSystem", () =>
    Effect.gen(function*() {
      const unset = Redacted.make(process.env["TELEX_SECRET_THAT_IS_NOT_SET"]!)
      for (const withSystem of [true, false]) {
        const message = yield* startError({ name: "a", cluster: "c", secret: unset }, withSystem)
        assert.include(message, "secret")
        assert.include(message, "TELEX_SECRET")
      }
      assert.include(yield* startError({ name: "a", cluster: "c", secret: Redacted.make("") }), "secret")
      assert.include(yield* startError({ name: "a", cluster: "c", secret: "plain" as any }), "Redacted")
    }))

  it.live("other bad options: names, ports, peers, durations, codecs", () =>
    Effect.gen(function*() {
      const base = { name: "a", cluster: "c", secret }
      assert.include(yield* startError({ ...base, name: "" }), "name")
      assert.include(yield* startError({ ...base, cluster: undefined as any }), "cluster")
      assert.include(yield* startError({ ...base, port: 70000 }), "port")
      assert.include(yield* startError({ ...base, peers: [{ name: "b", host: "127.0.0.1", port: 0 }] }), "peer b")
      assert.include(yield* startError({ ...base, peers: [{ name: "a", host: "127.0.0.1", port: 7001 }] }), "own name")
      assert.include(yield* startError({ ...base, peers: [{ name: "b", port: 7001 } as any] }), "host")
      assert.include(yield* startError({ ...base, heartbeatInterval: "soon" as any }), "heartbeatInterval")
      assert.include(yield* startError({ ...base, codecs: ["xml" as any] }), "codec")
    }))

  it.live("valid options still start a node", () =>
    Effect.scoped(Effect.gen(function*() {
      const ctx = yield* Layer.build(Node.layerWithSystem({ name: "a", cluster: "c", secret, heartbeatInterval: "500 millis" }))
      assert.isAbove(Context.get(ctx, Node).address.port, 0)
    })))
})
