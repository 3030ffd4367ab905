/**
 * An entity whose activation never completes (its init waits on something that never comes —
 * Orleans bounds activations with a timeout for this reason). The tells sent to it wait with
 * the node's held messages (`bufferSize`, shared by every key): without a bound on the
 * activation, one stuck key that keeps being sent to fills the buffer for good, and every other
 * key that needs activating on the node is refused (`BufferFull`) from then on.
 *
 * An activation still under way after max(10 s, 3 × leaseTtl) — what a held tell may wait —
 * fails: what waits for it gets `ActivationFailed` (its tells are dropped with a warning that
 * counts them), the buffer is free again, other keys activate, and the next message to the
 * stuck key tries again. Runs on the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Logger, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Actor from "../../src/actors/Actor.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding } from "../../src/sharding/Sharding.ts"
import { fast, soloLayer } from "./_runtime.ts"

const Probe = Actor.make("test/VerifyStuck", { Ping: Actor.ask({}, { success: Schema.String }), Note: Actor.tell({}) })
let stuck = true
const ProbeEntity = Entity.make(Probe, Probe.behavior(Effect.gen(function*() {
  const key = yield* Entity.key
  if (key === "stuck" && stuck) yield* Effect.never
  return { Ping: () => Effect.succeed(key), Note: () => Effect.void }
})))

describe("sharding: an activation that never completes", () => {
  it.effect("fails after max(10 s, 3 × leaseTtl): the buffer it held is free, other keys activate, the key is tried again", () => {
    const warnings: Array<string> = []
    const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
      if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    return Effect.gen(function*() {
      const probes = yield* Sharding.entity(ProbeEntity)
      yield* TestClock.adjust("200 millis") // the first lease round: every shard acquired
      const asked = yield* Effect.forkChild(Effect.flip(probes.ref("stuck").ask(Probe.Ping(), { timeout: "1 minute" })))
      yield* TestClock.adjust("1 millis") // the ask waits for the activation
      for (let i = 0; i < 15; i++) yield* probes.ref("stuck").tell(Probe.Note())
      // the buffer (16) is full: another key's activation is refused
      const refused = yield* Effect.flip(probes.ref("other").tell(Probe.Note()))
      assert.strictEqual((refused as any).reason, "BufferFull")
      for (let t = 0; t < 11_000; t += 100) yield* TestClock.adjust("100 millis")
      const failed = yield* Fiber.join(asked)
      assert.strictEqual((failed as any).reason, "ActivationFailed")
      assert.isTrue(warnings.some((w) => w.includes("stuck") && w.includes("15")), warnings.join("\n"))
      // free again
      const other = yield* Effect.forkChild(probes.ref("other").ask(Probe.Ping()))
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(yield* Fiber.join(other), "other")
      stuck = false
      const again = yield* Effect.forkChild(probes.ref("stuck").ask(Probe.Ping()))
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(yield* Fiber.join(again), "stuck")
    }).pipe(Effect.provide(soloLayer({ ...fast, bufferSize: 16, entities: [ProbeEntity] })), Effect.provide(Logger.layer([logger])))
  }, 30_000)
})
