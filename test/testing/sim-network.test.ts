import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { ActorSystem } from "../../src/index.ts"
import { Node } from "../../src/transport/Node.ts"
import * as SimNetwork from "../../src/testing/SimNetwork.ts"

const secret = Redacted.make("sim")

const startNode = (sim: SimNetwork.SimNetwork, name: string, peers: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(Node.layerWithSystem({
      name,
      port: 7000,
      cluster: "sim",
      secret,
      network: sim.host(name),
      heartbeatInterval: "250 millis",
      acceptablePause: "1 second",
      reconnect: { initial: "100 millis", max: "400 millis" },
      peers: peers.map((p) => ({ name: p, host: p, port: 7000 }))
    }))
    return {
      node: ctx.mapUnsafe.get(Node.key) as Node["Service"],
      system: ctx.mapUnsafe.get(ActorSystem.key) as ActorSystem["Service"]
    }
  })

/** Advances virtual time in small steps until `check` holds (or fails after `maxMillis`). */
const advanceUntil = (check: () => boolean, maxMillis: number, what: string, step = 10) =>
  Effect.gen(function*() {
    let elapsed = 0
    while (!check()) {
      if (elapsed >= maxMillis) return yield* Effect.die(new Error(`${what}: not after ${maxMillis} ms of virtual time`))
      yield* TestClock.adjust(`${step} millis`)
      elapsed += step
    }
    return elapsed
  })

describe("SimNetwork (in-process nodes on TestClock)", () => {
  it.effect("nodes connect, talk, detect a partition on the heartbeat deadline and reconnect after the heal", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 42 })
      sim.setDefaultFaults({ delayMillis: 2, jitterMillis: 1 })
      const b = yield* startNode(sim, "b")
      const a = yield* startNode(sim, "a", ["b"])
      yield* b.system.spawn(CounterLive, { name: "counter" })
      yield* advanceUntil(() => a.node.peers().some((p) => p.name === "b" && p.up), 5_000, "a connects to b")
      const events: Array<string> = []
      yield* a.node.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e._tag))), Effect.forkScoped)

      const lookup = yield* Effect.forkChild(a.node.lookup("b", Counter, "counter"))
      yield* advanceUntil(() => lookup.pollUnsafe() !== undefined, 1_000, "lookup")
      const counter = yield* lookup.pipe((f) => Effect.flatten(Effect.sync(() => f.pollUnsafe()!)))
      yield* counter.tell(Counter.Increment({ by: 5 }))
      const get = yield* Effect.forkChild(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
      yield* advanceUntil(() => get.pollUnsafe() !== undefined, 1_000, "ask")
      assert.deepStrictEqual(get.pollUnsafe(), Exit.succeed(5))

      // a silent partition: no error from the "socket", only the heartbeat deadline notices
      sim.partition("a", "b")
      const pending = yield* Effect.forkChild(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
      const detected = yield* advanceUntil(() => a.node.peers().some((p) => p.name === "b" && !p.up), 5_000, "partition detected")
      assert.isAtLeast(detected, 1_000) // not before the acceptable pause...
      assert.isAtMost(detected, 1_000 + 250 + 20) // ...and within one heartbeat after it
      // the pending ask failed at once with NodeDown, not at its 30 s timeout
      const failed = pending.pollUnsafe()
      assert.isTrue(failed !== undefined && Exit.isFailure(failed))
      assert.include(JSON.stringify(failed), "NodeDown")

      sim.heal()
      yield* advanceUntil(() => a.node.peers().some((p) => p.name === "b" && p.up), 5_000, "reconnect after heal")
      const again = yield* Effect.forkChild(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
      yield* advanceUntil(() => again.pollUnsafe() !== undefined, 1_000, "ask after heal")
      assert.deepStrictEqual(again.pollUnsafe(), Exit.succeed(5))
      assert.includeMembers(events, ["NodeDown", "NodeUp"])
    }))
})
