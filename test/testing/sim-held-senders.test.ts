/**
 * Held senders under a partition, over seeds on SimNetwork and TestClock: a node's asks and tells
 * to a full `backpressure` actor on another node wait for its `Release`; when a partition cuts
 * the link, every one of them ends within the detection bound (acceptable pause + a heartbeat +
 * the delay): an ask is answered or fails with a typed error (`NodeDown`, `MailboxFull`), a tell
 * is sent or becomes a dead letter. None waits for ever, none is lost without a trace. When the
 * partition is shorter than the acceptable pause, the connection lives, and once the actor has
 * drained every held ask is answered and every held tell delivered, within 500 ms of the heal.
 *
 * `TELEX_SEED=<n>` replays one seed; `TELEX_HELD_SEEDS` sets how many (default 20).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Random, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor } from "../../src/index.ts"
import * as SimNetwork from "../../src/testing/SimNetwork.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"

const HEARTBEAT = 100
const PAUSE = 400

const Slow = Actor.make("SimHeld/Slow", {
  Deliver: Actor.tell({ seq: Schema.Int }),
  Echo: Actor.ask({ seq: Schema.Int }, { success: Schema.Int })
})

const runSeed = (seed: number) =>
  Effect.gen(function*() {
    const sim = yield* SimNetwork.make({ seed, readBytes: 256, windowBytes: 1024 })
    const r = () => sim.random()
    sim.setDefaultFaults({ delayMillis: 1 + Math.floor(r() * 4), jitterMillis: r() })
    const common = {
      port: 7000,
      cluster: "sim-held",
      secret: Redacted.make("sim-held"),
      heartbeatInterval: `${HEARTBEAT} millis`,
      acceptablePause: `${PAUSE} millis`,
      highWaterBytes: 512,
      reconnect: { initial: "50 millis", max: "200 millis" }
    } as const
    const b = yield* TestNode.startNode("b", { ...common, network: sim.host("b") })
    const a = yield* TestNode.startNode("a", { ...common, network: sim.host("a"), peers: [{ name: "b", host: "b", port: 7000 }] })
    const step = Effect.fnUntraced(function*(millis: number) {
      for (let t = 0; t < millis; t += 5) yield* TestClock.adjust("5 millis")
    })
    const up = () => a.node.peers().some((p) => p.name === "b" && p.up) && b.node.peers().some((p) => p.name === "a" && p.up)
    while (!up()) yield* step(5)
    // b's actor takes nothing until the gate opens: its mailbox stays full
    const gate = yield* Deferred.make<void>()
    const delivered = new Set<number>()
    yield* b.system.spawn(
      Slow.behavior(Effect.succeed({
        Deliver: ({ seq }) => Effect.andThen(Deferred.await(gate), Effect.sync(() => void delivered.add(seq))),
        Echo: ({ seq }) => Effect.as(Deferred.await(gate), seq)
      })),
      { name: "slow", mailbox: { capacity: 4, overflow: "backpressure" } }
    )
    const lookup = yield* Effect.forkChild(a.node.lookup("b", Slow, "slow"))
    yield* step(50)
    const found = lookup.pollUnsafe()
    if (found === undefined || !Exit.isSuccess(found)) return yield* Effect.die(new Error(`seed ${seed}: lookup`))
    const ref = found.value
    // fill the actor: b holds it at a
    for (let i = 0; i < 10; i++) ref.tellUnsafe(Slow.Deliver({ seq: -1 }))
    yield* step(50)
    // senders on a: asks and tells, each waiting for the Release
    const senders = 5 + Math.floor(r() * 20)
    const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
    for (let i = 0; i < senders; i++) {
      fibers.push(
        yield* Effect.forkChild(
          i % 2 === 0 ? ref.ask(Slow.Echo({ seq: i }), { timeout: "1 hour" }) : ref.tell(Slow.Deliver({ seq: i }))
        )
      )
    }
    yield* step(50 + Math.floor(r() * 200))
    const held = new Set(fibers.flatMap((f, i) => (f.pollUnsafe() === undefined ? [i] : [])))
    const deadBefore = a.system.deadLetterCount()
    assert.strictEqual(routerOf(a.node).peers.get("b")!.flow.held.get(ref.address.id)?.waiters.size, held.size, `seed ${seed}: the senders wait for the Release`)
    const cutAt = sim.timers.now()
    sim.partition("a", "b", { oneWay: r() < 0.3 })
    if (r() < 0.5) {
      // a partition shorter than the acceptable pause: the connection lives, the actor drains
      // meanwhile (its Release waits for the heal), and every held sender is then served
      yield* step(20)
      yield* Deferred.succeed(gate, undefined)
      yield* step(30 + Math.floor(r() * 200))
      sim.heal()
      const healedAt = sim.timers.now()
      while (fibers.some((f) => f.pollUnsafe() === undefined) && sim.timers.now() - healedAt <= 500) yield* step(5)
      assert.isTrue(up(), `seed ${seed}: the connection outlived a short partition`)
      for (const [i, f] of fibers.entries()) {
        const exit = f.pollUnsafe()
        assert.isDefined(exit, `seed ${seed}: sender ${i} still waiting 500 ms after a short partition healed`)
        if (i % 2 === 0) assert.deepStrictEqual(exit, Exit.succeed(i), `seed ${seed}: ask ${i} after a short partition`)
        else assert.isTrue(Exit.isSuccess(exit!), `seed ${seed}: tell ${i} after a short partition`)
      }
      yield* step(100)
      for (const i of held) if (i % 2 === 1) assert.isTrue(delivered.has(i), `seed ${seed}: held tell ${i} lost in a short partition`)
      return senders
    }
    // detection: the acceptable pause, a heartbeat until the check, and the delay of what was on the wire
    const bound = PAUSE + HEARTBEAT + 250
    while (fibers.some((f) => f.pollUnsafe() === undefined) && sim.timers.now() - cutAt <= bound) yield* step(5)
    const pending = fibers.filter((f) => f.pollUnsafe() === undefined).length
    assert.strictEqual(pending, 0, `seed ${seed}: ${pending} of ${senders} senders still waiting ${bound} ms after the partition`)
    // a held tell ends only with the connection (no Release comes): it left a dead letter on a
    let tellsEnded = 0
    for (const [i, f] of fibers.entries()) {
      const exit = f.pollUnsafe()!
      if (Exit.isSuccess(exit)) {
        if (i % 2 === 1 && held.has(i)) tellsEnded++
        continue
      }
      const error = Cause.findErrorOption(exit.cause)
      assert.isTrue(error._tag === "Some", `seed ${seed}: a sender ended without a typed error: ${Cause.pretty(exit.cause)}`)
      const tag = (error as { value: { _tag?: string } }).value._tag
      assert.include(["NodeDown", "MailboxFull", "NoProc"], tag, `seed ${seed}: a sender failed with ${tag}`)
    }
    assert.isAtLeast(a.system.deadLetterCount() - deadBefore, tellsEnded, `seed ${seed}: every held tell that ended left a dead letter`)
    sim.heal()
    yield* Deferred.succeed(gate, undefined)
    return senders
  }).pipe(Effect.scoped, Effect.provide(SimNetwork.testClock), Random.withSeed(seed))

const seeds = process.env.TELEX_SEED !== undefined
  ? [Number(process.env.TELEX_SEED)]
  : Array.from({ length: Number(process.env.TELEX_HELD_SEEDS ?? 20) }, (_, i) => i + 1)

describe("held senders under a partition", () => {
  it.effect(`${seeds.length} seeds: every held ask and tell ends within the detection bound, with a typed error if not delivered`, () =>
    Effect.gen(function*() {
      for (const seed of seeds) {
        const exit = yield* Effect.exit(runSeed(seed))
        if (Exit.isFailure(exit)) {
          return yield* Effect.die(new Error(`seed ${seed} failed (replay: TELEX_SEED=${seed} npx vitest run test/testing/sim-held-senders.test.ts)\n${Cause.pretty(exit.cause)}`))
        }
      }
    }), 60_000)
})
