/**
 * Asks pending when a node stops end at once with a typed error, never at their own timeout
 * (every ask here has a timeout of an hour): the asker's node stopping or the callee's gives
 * `NodeDown`; a local actor stopped with its node fails the running and queued asks with
 * `ActorStopped`, and a later ask with `NoProc`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema, Scope } from "effect"
import { Actor } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const R = Actor.make("test/OtpNodeStopAsks", {
  Never: Actor.ask({}, { success: Schema.String }),
  Ping: Actor.ask({}, { success: Schema.String })
})
const server = R.behavior(Effect.succeed({ Never: () => Effect.never, Ping: () => Effect.succeed("pong") }))

const HOUR = { timeout: "1 hour" } as const

const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  const reason = exit.cause.reasons[0] as { _tag: string; error?: { _tag?: string } } | undefined
  return reason?._tag === "Fail" ? String(reason.error?._tag) : String(reason?._tag)
}

/** b's server and a ref to it from a, connected; `stopping` says whose node gets its own scope */
const pair = (stopping: "a" | "b") =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const b = stopping === "b" ? yield* startNode("b").pipe(Scope.provide(scope)) : yield* startNode("b")
    const a = stopping === "a" ? yield* startNode("a").pipe(Scope.provide(scope)) : yield* startNode("a")
    yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
    const target = yield* b.system.spawn(server)
    const fromA = a.system.refFor(target.address)
    assert.strictEqual(yield* fromA.ask(R.Ping()), "pong")
    return { scope, fromA }
  })

describe("asks pending when a node stops", () => {
  for (const stopping of ["a", "b"] as const) {
    it.live(`a remote ask pending when the ${stopping === "a" ? "asker's" : "callee's"} node stops fails at once with NodeDown`, () =>
      Effect.gen(function*() {
        const { fromA, scope } = yield* pair(stopping)
        const running = yield* Effect.forkChild(Effect.exit(fromA.ask(R.Never(), HOUR)))
        // queued behind the one that never ends
        const queued = yield* Effect.forkChild(Effect.exit(fromA.ask(R.Ping(), HOUR)))
        yield* Effect.yieldNow
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(tagOf(yield* Fiber.join(running)), "NodeDown")
        assert.strictEqual(tagOf(yield* Fiber.join(queued)), "NodeDown")
        if (stopping === "a") assert.strictEqual(tagOf(yield* Effect.exit(fromA.ask(R.Ping(), HOUR))), "NodeDown")
      }).pipe(Effect.scoped))
  }

  it.live("a local ask running or queued when its node stops fails with ActorStopped; a later one with NoProc", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const a = yield* startNode("a").pipe(Scope.provide(scope))
      const target = yield* a.system.spawn(server)
      const running = yield* Effect.forkChild(Effect.exit(target.ask(R.Never(), HOUR)))
      const queued = yield* Effect.forkChild(Effect.exit(target.ask(R.Ping(), HOUR)))
      yield* Effect.yieldNow
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(tagOf(yield* Fiber.join(running)), "ActorStopped")
      assert.strictEqual(tagOf(yield* Fiber.join(queued)), "ActorStopped")
      assert.strictEqual(tagOf(yield* Effect.exit(target.ask(R.Ping(), HOUR))), "NoProc")
    }).pipe(Effect.scoped))
})
