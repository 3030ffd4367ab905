/**
 * Monitors by name, exit signals and node monitors across nodes: two nodes in one process over
 * real loopback TCP (dist_SUITE / monitor_SUITE cases with a remote side).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, PubSub, Queue, Schema } from "effect"
import { Actor, ActorContext, type Down, ExitReason, type ExitSignal } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"


const R = Actor.make("test/OtpRemote", {
  Ping: Actor.ask({}, { success: Schema.String }),
  Trap: Actor.ask({ enabled: Schema.Boolean }),
  Crash: Actor.tell({}),
  Run: Actor.ask({ f: Schema.Any }, { success: Schema.Any })
})

const probe = (signals: Queue.Queue<Down | ExitSignal>) =>
  R.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Ping: () => Effect.succeed("pong"),
      Trap: ({ enabled }) => ctx.trapExit(enabled),
      Crash: () => Effect.die(new Error("crash")),
      Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<unknown>)(ctx),
      onDown: (down) => Queue.offer(signals, down),
      onExit: (exit) => Queue.offer(signals, exit)
    }
  }))


const within = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }))

const twoNodes = Effect.gen(function*() {
  const b = yield* startNode("b")
  const a = yield* startNode("a")
  yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
  const spawn = (n: typeof a, name?: string) =>
    Effect.gen(function*() {
      const signals = yield* Queue.unbounded<Down | ExitSignal>()
      const ref = yield* n.system.spawn(probe(signals), name === undefined ? undefined : { name })
      return { ref, signals }
    })
  return { a, b, spawn }
})

describe("across nodes (real TCP)", () => {
  it.live("monitor by name on another node: Down when it stops; an unregistered name gives Down(NoProc)", () =>
    Effect.gen(function*() {
      const { a, b, spawn } = yield* twoNodes
      const watcher = yield* spawn(a)
      const target = yield* spawn(b, "svc")
      const m = yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitor({ name: "svc", node: "b" }) }))
      assert.strictEqual(m.name, "svc")
      assert.strictEqual(m.target.key, target.ref.key)
      // barrier: an ask over the same connection arrives after the monitor request
      assert.strictEqual(yield* within("barrier", a.system.refFor(target.ref.address).ask(R.Ping())), "pong")
      yield* b.system.stop(target.ref)
      const down = (yield* within("Down", Queue.take(watcher.signals))) as Down
      assert.strictEqual(down.monitor, m)
      assert.strictEqual(down.reason._tag, "Shutdown")
      const none = yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitor({ name: "nobody", node: "b" }) }))
      const noproc = (yield* within("Down(NoProc)", Queue.take(watcher.signals))) as Down
      assert.deepStrictEqual([noproc.monitor, noproc.reason], [none, ExitReason.noproc])
      // a node this one is not connected to: NoConnection
      yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitor({ name: "svc", node: "nowhere" }) }))
      const nc = (yield* within("Down(NoConnection)", Queue.take(watcher.signals))) as Down
      assert.strictEqual(nc.reason._tag, "NoConnection")
    }).pipe(Effect.scoped))

  it.live("an actor that is stopping on another node: monitor (by name or ref) and link fire when it is gone, with its reason", () => {
    const release = Deferred.makeUnsafe<void>()
    return Effect.gen(function*() {
      const { a, b, spawn } = yield* twoNodes
      const watcher = yield* spawn(a)
      yield* watcher.ref.ask(R.Trap({ enabled: true }))
      const finalizing = yield* Deferred.make<void>()
      const target = yield* b.system.spawn(R.behavior(Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Deferred.succeed(finalizing, undefined).pipe(Effect.andThen(Deferred.await(release))))
        return { Ping: () => Effect.succeed("pong"), Trap: () => Effect.void, Crash: () => Effect.void, Run: () => Effect.void }
      })), { name: "slow", shutdown: "infinity" })
      yield* Effect.forkChild(b.system.stop(target, ExitReason.shutdownWith("stopping")))
      yield* Deferred.await(finalizing)
      const fromA = a.system.refFor(target.address)
      yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitor({ name: "slow", node: "b" }) }))
      yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitor(fromA) }))
      yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.link(fromA) }))
      // barrier: the requests above have reached b
      yield* within("barrier", b.system.refFor(watcher.ref.address).ask(R.Ping()))
      yield* Deferred.succeed(release, undefined)
      const signals = [
        yield* within("signal 1", Queue.take(watcher.signals)),
        yield* within("signal 2", Queue.take(watcher.signals)),
        yield* within("signal 3", Queue.take(watcher.signals))
      ]
      assert.deepStrictEqual(
        signals.map((s) => [s._tag, s.reason]).sort(),
        [["Down", ExitReason.shutdownWith("stopping")], ["Down", ExitReason.shutdownWith("stopping")], ["Exit", ExitReason.shutdownWith("stopping")]]
      )
    }).pipe(Effect.ensuring(Deferred.succeed(release, undefined)), Effect.scoped)
  })

  it.live("an exit signal across nodes: trapped as ExitSignal, or the receiver dies; Killed is untrappable", () =>
    Effect.gen(function*() {
      const { a, b, spawn } = yield* twoNodes
      const sender = yield* spawn(a)
      const trapper = yield* spawn(b, "trapper")
      const plain = yield* spawn(b, "plain")
      yield* trapper.ref.ask(R.Trap({ enabled: true }))
      const trapperFromA = a.system.refFor(trapper.ref.address)
      const plainFromA = a.system.refFor(plain.ref.address)
      yield* sender.ref.ask(R.Run({ f: () => a.system.exit(trapperFromA, ExitReason.error("remote go")) }))
      const exit = (yield* within("ExitSignal", Queue.take(trapper.signals))) as ExitSignal
      assert.deepStrictEqual([exit._tag, exit.from.key, exit.reason], ["Exit", sender.ref.key, ExitReason.error("remote go")])
      yield* a.system.exit(plainFromA, ExitReason.normal)
      assert.strictEqual(yield* within("ping", plain.ref.ask(R.Ping())), "pong")
      yield* a.system.exit(plainFromA, ExitReason.shutdownWith("remote"))
      assert.deepStrictEqual(yield* within("plain exit", b.system.awaitExit(plain.ref)), ExitReason.shutdownWith("remote"))
      yield* a.system.exit(trapperFromA, ExitReason.killed)
      assert.strictEqual((yield* within("trapper exit", b.system.awaitExit(trapper.ref)))._tag, "Killed")
    }).pipe(Effect.scoped))

  it.live("an exit signal across nodes leaves a link between the two actors in place", () =>
    Effect.gen(function*() {
      const { a, b, spawn } = yield* twoNodes
      const x = yield* spawn(a)
      const y = yield* spawn(b, "y")
      yield* x.ref.ask(R.Trap({ enabled: true }))
      yield* y.ref.ask(R.Trap({ enabled: true }))
      const yFromA = a.system.refFor(y.ref.address)
      yield* x.ref.ask(R.Run({ f: (ctx: any) => ctx.link(yFromA) }))
      yield* x.ref.ask(R.Run({ f: () => a.system.exit(yFromA, ExitReason.error("direct")) }))
      const exit = (yield* within("ExitSignal", Queue.take(y.signals))) as ExitSignal
      assert.deepStrictEqual([exit.from.key, exit.reason], [x.ref.key, ExitReason.error("direct")])
      assert.deepStrictEqual(Option.getOrThrow(b.system.info(y.ref)).links.map((r) => r.key), [x.ref.key])
      // the link still carries y's exit to x
      yield* y.ref.tell(R.Crash())
      const linked = (yield* within("linked exit", Queue.take(x.signals))) as ExitSignal
      assert.deepStrictEqual([linked._tag, linked.from.key, linked.reason._tag], ["Exit", y.ref.key, "Error"])
    }).pipe(Effect.scoped))

  it.live("connecting again to a connected node is a no-op (its link child is AlreadyStarted)", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes
      const again = yield* Effect.exit(a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds"))
      assert.strictEqual(again._tag, "Success")
    }).pipe(Effect.scoped))

  it.live("monitorNode: one Down(NoConnection) when the connection is lost; demonitor before that cancels it", () =>
    Effect.gen(function*() {
      const { a, spawn } = yield* twoNodes
      const watcher = yield* spawn(a)
      const m = yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitorNode("b") }))
      const cancelled = yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.monitorNode("b") }))
      assert.isTrue(yield* watcher.ref.ask(R.Run({ f: (ctx: any) => ctx.demonitor(cancelled) })))
      assert.strictEqual(Option.getOrThrow(a.system.info(watcher.ref)).monitors.length, 1)
      yield* a.node.disconnect("b", "cut by the test")
      const down = (yield* within("node Down", Queue.take(watcher.signals))) as Down
      assert.strictEqual(down.monitor, m)
      assert.deepStrictEqual(down.reason, ExitReason.noconnection("b"))
      yield* watcher.ref.ask(R.Ping())
      assert.strictEqual(yield* Queue.size(watcher.signals), 0)
    }).pipe(Effect.scoped))

  it.live("system.kill of an actor on another node kills it (Killed), from outside any actor and from an actor; the connection stays up", () =>
    Effect.gen(function*() {
      const { a, b, spawn } = yield* twoNodes
      const events: Array<string> = []
      const sub = yield* a.node.subscribe
      yield* Effect.forkScoped(Effect.forever(Effect.map(PubSub.take(sub), (e) => void events.push(e._tag))))
      const other = yield* spawn(b)
      // from outside any actor
      const first = yield* spawn(b)
      const remote = a.system.refFor(first.ref.address)
      const exited = yield* Effect.forkScoped(b.system.awaitExit(first.ref))
      yield* within("kill", a.system.kill(remote))
      assert.strictEqual((yield* within("exit", Fiber.join(exited)))._tag, "Killed")
      // from an actor of this node, the target trapping exits (a kill cannot be trapped)
      const second = yield* spawn(b)
      yield* second.ref.ask(R.Trap({ enabled: true }))
      const killer = yield* spawn(a)
      const reason = yield* Effect.forkScoped(b.system.awaitExit(second.ref))
      yield* within("kill from an actor", killer.ref.ask(R.Run({ f: (_: any) => a.system.kill(a.system.refFor(second.ref.address)) })))
      assert.strictEqual((yield* within("exit", Fiber.join(reason)))._tag, "Killed")
      // the link between the nodes was never dropped: the other actor answers, and no NodeDown
      assert.strictEqual(yield* within("ask", a.system.refFor(other.ref.address).ask(R.Ping())), "pong")
      assert.notInclude(events, "NodeDown")
    }).pipe(Effect.scoped))
})
