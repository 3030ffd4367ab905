/**
 * erl_link_SUITE and gen_server_SUITE cases about a peer node that is gone, and about what the
 * other side keeps of a link or monitor once its remote end is gone (two nodes over loopback
 * TCP), and monitor_SUITE's name release: a name is free by the time its actor's `Down` arrives.
 *
 * - dist_process_monitors: a monitor of an actor whose node went away gives `Down(NoConnection)`;
 *   a new monitor of it (by ref or by name on that node) gives one at once.
 * - otp_7946: a link to an actor of a node that is gone ends a non-trapping linker with
 *   `NoConnection`; a trapping one gets `ExitSignal(NoConnection)` and keeps no link.
 * - gen_server_SUITE call_remote_n2 / stop8: an ask fails with `NodeDown`; a stop returns.
 * - a restarted node is a new incarnation: its predecessor's actors are `NoProc`.
 * - the monitored actor forgets a remote watcher that died, and a link and a watcher whose
 *   connection was lost (process_info's `monitored_by` and `links`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Option, Queue, Schema, Scope } from "effect"
import { Actor, ActorContext, ActorSystem, type Down, ExitReason, type ExitSignal } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { withSystem } from "./_helpers.ts"

const R = Actor.make("test/OtpDistGone", {
  Run: Actor.ask({ f: Schema.Any }, { success: Schema.Any }),
  Ping: Actor.ask({}, { success: Schema.String })
})

const probe = (signals: Queue.Queue<Down | ExitSignal>, onDown?: (down: Down) => Effect.Effect<void>) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<unknown>)(ctx),
      Ping: () => Effect.succeed("pong"),
      onDown: (down) => onDown?.(down) ?? Queue.offer(signals, down),
      onExit: (exit) => Queue.offer(signals, exit)
    }
  }))

/** a queue for the signals a test does not look at */
const sink = Queue.unbounded<Down | ExitSignal>()

const within = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }))

const errorTag = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag?: string } } | undefined)?.error?._tag : "Success"

describe("a peer node that is gone (erl_link_SUITE, gen_server_SUITE)", () => {
  it.live("monitor, link, ask and stop of its actors; then of its predecessor's once it is back", () =>
    Effect.gen(function*() {
      const bScope = yield* Scope.make()
      const b = yield* startNode("b").pipe(Scope.provide(bScope))
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const far = a.system.refFor((yield* b.system.spawn(probe(yield* sink), { name: "far" })).address)
      const signals = yield* Queue.unbounded<Down | ExitSignal>()
      const watcher = yield* a.system.spawn(probe(signals))
      const run = <A>(f: (ctx: ActorContext["Service"]) => Effect.Effect<A>) => watcher.ask(R.Run({ f })) as Effect.Effect<A>
      yield* run((ctx) => ctx.monitor(far))
      assert.strictEqual(yield* far.ask(R.Ping()), "pong")
      yield* Scope.close(bScope, Exit.void)
      const first = (yield* within("Down", Queue.take(signals))) as Down
      assert.strictEqual(first.reason._tag, "NoConnection")
      // monitors made afterwards, by ref and by name: Down(NoConnection) at once
      yield* run((ctx) => ctx.monitor(far))
      assert.strictEqual(((yield* within("Down by ref", Queue.take(signals))) as Down).reason._tag, "NoConnection")
      yield* run((ctx) => ctx.monitor({ name: "far", node: "b" }))
      assert.strictEqual(((yield* within("Down by name", Queue.take(signals))) as Down).reason._tag, "NoConnection")
      // otp_7946: a non-trapping linker exits with NoConnection
      const linker = yield* a.system.spawn(probe(yield* sink))
      yield* Effect.exit(linker.ask(R.Run({ f: (ctx: ActorContext["Service"]) => ctx.link(far) })))
      assert.strictEqual((yield* within("the linker's exit", a.system.awaitExit(linker)))._tag, "NoConnection")
      // a trapping one gets the signal and keeps no link
      yield* run((ctx) => Effect.andThen(ctx.trapExit(true), ctx.link(far)))
      const exit = (yield* within("ExitSignal", Queue.take(signals))) as ExitSignal
      assert.deepStrictEqual([exit._tag, exit.from.key, exit.reason._tag], ["Exit", far.key, "NoConnection"])
      assert.deepStrictEqual(Option.getOrThrow(a.system.info(watcher)).links, [])
      // call_remote_n2, stop8
      assert.strictEqual(errorTag(yield* Effect.exit(far.ask(R.Ping(), { timeout: "5 seconds" }))), "NodeDown")
      yield* within("stop", a.system.stop(far))
      // the node back, a new incarnation on the same port: the old actors are NoProc
      const b2 = yield* startNode("b", { port: b.node.address.port })
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b2.node.address.port }, "5 seconds")
      yield* run((ctx) => ctx.monitor(far))
      assert.strictEqual(((yield* within("Down after the restart", Queue.take(signals))) as Down).reason._tag, "NoProc")
      assert.strictEqual(errorTag(yield* Effect.exit(far.ask(R.Ping(), { timeout: "5 seconds" }))), "NoProc")
    }).pipe(Effect.scoped))

  it.live("the monitored actor forgets a remote watcher that died, and the link and watcher of a lost connection", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const targetSignals = yield* Queue.unbounded<Down | ExitSignal>()
      const target = yield* b.system.spawn(probe(targetSignals))
      yield* target.ask(R.Run({ f: (ctx: ActorContext["Service"]) => ctx.trapExit(true) }))
      const fromA = a.system.refFor(target.address)
      const watcher = yield* a.system.spawn(probe(yield* sink))
      const linked = yield* a.system.spawn(probe(yield* sink))
      yield* watcher.ask(R.Run({ f: (ctx: ActorContext["Service"]) => ctx.monitor(fromA) }))
      yield* linked.ask(R.Run({ f: (ctx: ActorContext["Service"]) => Effect.andThen(ctx.trapExit(true), ctx.monitor(fromA)) }))
      yield* linked.ask(R.Run({ f: (ctx: ActorContext["Service"]) => ctx.link(fromA) }))
      // barrier: an ask over the same connection arrives after the monitors and the link
      assert.strictEqual(yield* fromA.ask(R.Ping()), "pong")
      const info = () => Option.getOrThrow(b.system.info(target))
      assert.deepStrictEqual(info().monitoredBy.map((r) => r.key).sort(), [watcher.key, linked.key].sort())
      assert.deepStrictEqual(info().links.map((r) => r.key), [linked.key])
      yield* a.system.stop(watcher)
      assert.strictEqual(yield* fromA.ask(R.Ping()), "pong")
      assert.deepStrictEqual(info().monitoredBy.map((r) => r.key), [linked.key])
      yield* a.node.disconnect("b")
      const lost = (yield* within("the link's ExitSignal", Queue.take(targetSignals))) as ExitSignal
      assert.deepStrictEqual([lost.from.key, lost.reason._tag], [linked.key, "NoConnection"])
      assert.deepStrictEqual([info().links, info().monitoredBy], [[], []])
    }).pipe(Effect.scoped))
})

describe("a registered name is free when its actor's Down arrives (monitor_SUITE, process_SUITE)", () => {
  it.effect("a watcher may spawn under the name from its onDown", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const result = yield* Deferred.make<boolean>()
      const named = yield* system.spawn(probe(yield* sink), { name: "once" })
      const watcher = yield* system.spawn(probe(yield* sink, () =>
        Effect.gen(function*() {
          const free = Option.isNone(system.whereis("once"))
          const again = yield* Effect.exit(system.spawn(probe(yield* sink), { name: "once" }))
          yield* Deferred.succeed(result, free && Exit.isSuccess(again))
        }).pipe(Effect.provideService(ActorSystem, system))))
      yield* watcher.ask(R.Run({ f: (ctx: ActorContext["Service"]) => ctx.monitor(named) }))
      yield* system.stop(named, ExitReason.error("gone"))
      assert.isTrue(yield* Deferred.await(result))
    })))
})
