/**
 * A step of the host's wall clock (an NTP correction, a VM resumed, `date -s`) changes neither
 * when asks time out nor when a connection is taken for lost: both are measured on the
 * monotonic clock. Two nodes in this process over loopback TCP; `Date.now` is stepped by the
 * test.
 *
 * - an hour back while an ask to a stuck actor on the other node waits: the ask still fails
 *   with `AskTimeout` at its timeout (on the wall clock it would wait an hour more);
 * - a minute forward on a healthy link: no `NodeDown`, asks still answered (on the wall
 *   clock every connection looks silent for a minute and is closed);
 * - an hour back between two crashes of a child, further apart than its supervisor's period:
 *   the child is restarted (on the wall clock the first restart looks an hour recent, and the
 *   supervisor gives up); the same for a `Supervise.behavior` restart limit;
 * - an hour back during a node's simulated partition (`node.partition`): the nodes connect
 *   again when it ends (on the wall clock it would refuse the peer for an hour more).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { vi } from "vitest"
import { Actor, ActorSystem, Supervise, Supervisor } from "../../src/index.ts"
import { connect, startNode } from "../../src/testing/TestNode.ts"

const Svc = Actor.make("soak/ClockSteps", {
  Ping: Actor.ask({}, { success: Schema.String }),
  Stuck: Actor.ask({}, { success: Schema.String })
})

const Crashy = Actor.make("soak/ClockStepsCrashy", {
  Crash: Actor.tell({})
})

const realNow = Date.now.bind(Date)

/** `Date.now` moved by `offsetMillis` until the scope closes */
const stepClock = (offsetMillis: number) =>
  Effect.acquireRelease(
    Effect.sync(() => vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMillis)),
    (spy) => Effect.sync(() => spy.mockRestore())
  )

const twoNodes = Effect.gen(function*() {
  const options = { heartbeatInterval: "100 millis", acceptablePause: "1 second" } as const
  const b = yield* startNode("b", options)
  const a = yield* startNode("a", options)
  yield* connect(a, b)
  const never = yield* Deferred.make<string>()
  yield* b.system.spawn(
    Svc.behavior(Effect.succeed({ Ping: () => Effect.succeed("pong"), Stuck: () => Deferred.await(never) })),
    { name: "svc" }
  )
  const svc = yield* a.node.lookup("b", Svc, "svc")
  return { a, b, svc }
})

describe("soak: the wall clock steps", () => {
  it.live("an hour back: a pending ask still times out at its timeout", () =>
    Effect.gen(function*() {
      const { svc } = yield* twoNodes
      const started = performance.now()
      const outcome = yield* Effect.gen(function*() {
        const ask = yield* svc.ask(Svc.Stuck(), { timeout: "300 millis" }).pipe(
          Effect.match({ onSuccess: () => "answered", onFailure: (e) => e._tag }),
          Effect.forkScoped
        )
        yield* Effect.sleep("50 millis")
        yield* stepClock(-3_600_000)
        return yield* Fiber.join(ask)
      }).pipe(Effect.scoped, Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.succeed("still waiting after 3 s") }))
      assert.strictEqual(outcome, "AskTimeout")
      assert.isBelow(performance.now() - started, 2_000)
    }).pipe(Effect.scoped), 10_000)

  it.live("a minute forward: the healthy link stays up", () =>
    Effect.gen(function*() {
      const { a, b, svc } = yield* twoNodes
      const downs: Array<string> = []
      for (const n of [a, b]) {
        yield* n.node.events.pipe(
          Stream.runForEach((e) => Effect.sync(() => e._tag === "NodeDown" && downs.push(`${n.node.nodeId.name}: ${e.node.name}`))),
          Effect.forkScoped
        )
      }
      assert.strictEqual(yield* svc.ask(Svc.Ping()), "pong")
      yield* Effect.gen(function*() {
        yield* stepClock(60_000)
        // a few heartbeat checks pass on the stepped clock
        yield* Effect.sleep("500 millis")
        assert.strictEqual(yield* svc.ask(Svc.Ping(), { timeout: "2 seconds" }), "pong")
      }).pipe(Effect.scoped)
      assert.deepStrictEqual(downs, [])
    }).pipe(Effect.scoped), 10_000)

  it.live("an hour back during a simulated partition: it still ends at its duration", () =>
    Effect.gen(function*() {
      const { a, b, svc } = yield* twoNodes
      const up = () => a.node.peers().some((p) => p.name === "b" && p.up) && b.node.peers().some((p) => p.name === "a" && p.up)
      yield* b.node.partition("a", "300 millis")
      const outcome = yield* Effect.gen(function*() {
        yield* stepClock(-3_600_000)
        while (!up()) yield* Effect.sleep("20 millis")
        return yield* svc.ask(Svc.Ping(), { timeout: "2 seconds" })
      }).pipe(Effect.scoped, Effect.timeoutOrElse({ duration: "6 seconds", orElse: () => Effect.succeed("still cut off after 6 s") }))
      assert.strictEqual(outcome, "pong")
    }).pipe(Effect.scoped), 10_000)

  it.live("an hour back between two crashes a period apart: the supervisor restarts the child", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      let starts = 0
      let inPlace = 0
      const crashy = Crashy.behavior(Effect.sync(() => {
        starts++
        return { Crash: () => Effect.die("crash") }
      }))
      // restarted in place by its own rule: one restart a second at most
      const supervised = Supervise.behavior(
        Crashy.behavior(Effect.sync(() => {
          inPlace++
          return { Crash: () => Effect.die("crash") }
        })),
        [{ match: () => true, directive: "restart", limit: { maxRestarts: 1, within: "1 second" } }]
      )
      const sup = yield* system.spawn(Supervisor.make({
        intensity: 1,
        period: "1 second",
        backoff: false,
        children: [Supervisor.child("c", crashy), Supervisor.child("s", supervised)]
      }))
      const crash = (id: string, started: () => number) =>
        Effect.gen(function*() {
          const before = started()
          const { ref } = yield* Supervisor.whichChild(sup, id)
          yield* ref!.tell(Crashy.Crash())
          while (started() === before) yield* Effect.sleep("10 millis")
        }).pipe(Effect.timeout("3 seconds"))
      yield* crash("c", () => starts)
      yield* crash("s", () => inPlace)
      yield* Effect.sleep("1200 millis")
      yield* Effect.gen(function*() {
        yield* stepClock(-3_600_000)
        yield* crash("c", () => starts)
        yield* crash("s", () => inPlace)
      }).pipe(Effect.scoped)
      assert.deepStrictEqual([starts, inPlace], [3, 3])
      assert.strictEqual((yield* Supervisor.whichChild(sup, "c")).status, "running")
    }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer())), 10_000)
})
