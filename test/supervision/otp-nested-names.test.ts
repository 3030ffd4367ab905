/**
 * supervisor_SUITE simple_global_supervisor (OTP-9212), with local names: a top supervisor's
 * middle supervisor, registered under a name, whose worker is registered too. Killing the
 * middle one (its worker sees the kill from its parent) or the worker: the tree is restarted
 * and both names are registered again, by new actors — the old worker's name is free by the
 * time the restart needs it, whether the worker traps exits or not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { ActorContext, ActorSystem, Supervisor } from "../../src/index.ts"
import { settle, Worker } from "./helpers.ts"

const server = (trap: boolean) =>
  Worker.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    if (trap) yield* ctx.trapExit(true)
    return {
      Crash: () => Effect.die(new Error("boom")),
      Stop: () => ctx.stop(),
      Ping: () => Effect.succeed("server"),
      CrashAsk: () => Effect.die(new Error("boom"))
    }
  }))

describe("supervisor_SUITE simple_global_supervisor (OTP-9212)", () => {
  for (const trap of [false, true]) {
    it.effect(`kill the named middle supervisor, then its named worker (trapping: ${trap}): both names come back`, () =>
      Effect.gen(function*() {
        const system = yield* ActorSystem
        const middle = Supervisor.make({
          strategy: "one_for_all",
          intensity: 3,
          period: "60 seconds",
          backoff: false,
          children: [Supervisor.child("child", server(trap), { options: { name: "server" }, shutdown: "2 seconds" })]
        })
        const top = yield* system.spawn(Supervisor.make({
          strategy: "one_for_all",
          intensity: 3,
          period: "60 seconds",
          backoff: false,
          children: [Supervisor.child("middle", middle, { options: { name: "sup2" } })]
        }))
        const named = (name: string) => Option.getOrThrow(system.whereis(name))
        const [sup1, server1] = [named("sup2"), named("server")]
        yield* system.kill(sup1)
        yield* settle(50)
        const [sup2, server2] = [named("sup2"), named("server")]
        assert.isFalse(sup2.equals(sup1) || server2.equals(server1), "a new middle supervisor and a new worker")
        assert.strictEqual(yield* server2.ask(Worker.Ping()), "server")
        yield* system.kill(server2)
        yield* settle(50)
        const server3 = named("server")
        assert.isFalse(server3.equals(server2))
        assert.isTrue(named("sup2").equals(sup2), "the worker's kill is its middle supervisor's business")
        assert.deepStrictEqual((yield* Supervisor.whichChildren(top)).map((c) => [c.id, c.status, c.restarts]), [["middle", "running", 1]])
      }).pipe(Effect.provide(ActorSystem.layer())))
  }
})
