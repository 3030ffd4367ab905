/**
 * Links, monitors and exit signals, ported from OTP's link_SUITE, monitor_SUITE and
 * process_SUITE (exit/2): only the owner demonitors; bad arguments leave nothing behind; refs of
 * an earlier incarnation of this node are noproc; exit signals without links; monitors by
 * registered name; demonitor's result; node monitors; process_info-like introspection.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Actor, ActorContext, ActorRef, ActorSystem, type Down, ExitReason, type ExitSignal, type MonitorRef } from "../../src/index.ts"
import { waitUntil, withSystem } from "./_helpers.ts"

const P = Actor.make("test/OtpProbe", {
  Ping: Actor.ask({}, { success: Schema.String }),
  Trap: Actor.ask({ enabled: Schema.Boolean }),
  Crash: Actor.tell({}),
  /** runs a function inside the actor (the test passes closures: local only) */
  Run: Actor.ask({ f: Schema.Any }, { success: Schema.Any })
})

interface Log {
  readonly downs: Array<Down>
  readonly exits: Array<ExitSignal>
}

const probe = (log: Log) =>
  P.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Ping: () => Effect.succeed("pong"),
      Trap: ({ enabled }) => ctx.trapExit(enabled),
      Crash: () => Effect.die(new Error("crash")),
      Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<unknown>)(ctx),
      onDown: (down) => Effect.sync(() => log.downs.push(down)),
      onExit: (exit) => Effect.sync(() => log.exits.push(exit))
    }
  }))

const spawnProbe = (options?: { readonly name?: string }) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const log: Log = { downs: [], exits: [] }
    const ref = yield* system.spawn(probe(log), options)
    return { ref, log }
  })

/** Runs `f` in the actor `ref` and returns its result. */
const inActor = <A>(ref: ActorRef.ActorRef<typeof P.defs>, f: (ctx: ActorContext["Service"]) => Effect.Effect<A>) =>
  ref.ask(P.Run({ f })) as Effect.Effect<A, any>

const ping = (ref: ActorRef.ActorRef<typeof P.defs>) => ref.ask(P.Ping())

describe("demonitor: only the monitor's owner can cancel it", () => {
  it.effect("the monitored actor, handed the watcher's MonitorRef, cannot cancel it; the Down arrives", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const b = yield* spawnProbe()
      const m = yield* inActor(a.ref, (ctx) => ctx.monitor(b.ref))
      const removed = yield* inActor(b.ref, (ctx) => ctx.demonitor(m))
      assert.isFalse(removed)
      yield* b.ref.tell(P.Crash())
      yield* system.awaitExit(b.ref)
      yield* ping(a.ref)
      assert.strictEqual(a.log.downs.length, 1)
      assert.strictEqual(a.log.downs[0]!.monitor, m)
    }).pipe(withSystem()))
})

describe("ctx.monitor / ctx.link with an invalid argument", () => {
  it.effect("fail with a defect, leave nothing behind, and the actor still stops", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      for (const bad of [undefined, null, 42, "", {}, { name: 1, node: "x" }, { address: {} }] as Array<any>) {
        const viaMonitor = yield* Effect.exit(inActor(a.ref, (ctx) => Effect.exit(ctx.monitor(bad))))
        const viaLink = yield* Effect.exit(inActor(a.ref, (ctx) => Effect.exit(ctx.link(bad))))
        // either a defect reported in the handler, or (for "" — a name nobody registered) a Down(NoProc)
        assert.isTrue(viaMonitor._tag === "Success", `monitor(${JSON.stringify(bad)})`)
        assert.isTrue(viaLink._tag === "Success")
        assert.strictEqual((viaLink as any).value._tag, "Failure", `link(${JSON.stringify(bad)}) must fail`)
      }
      assert.strictEqual(yield* ping(a.ref), "pong")
      const info = Option.getOrThrow(system.info(a.ref))
      assert.deepStrictEqual(info.links, [])
      assert.deepStrictEqual(info.monitors, [])
      yield* system.stop(a.ref)
      assert.strictEqual((yield* system.awaitExit(a.ref))._tag, "Shutdown")
    }).pipe(withSystem()))

  it.effect("a defect from monitor(bad) in a tell handler ends only that actor, which stops cleanly", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const exit = yield* Effect.exit(inActor(a.ref, (ctx) => ctx.monitor(42 as any)))
      assert.strictEqual(exit._tag, "Failure")
      const reason = yield* system.awaitExit(a.ref)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "expected an ActorRef")
    }).pipe(withSystem()))
})

describe("a ref of an earlier incarnation of this node (OTP: noproc)", () => {
  it.effect("monitor gives Down(NoProc), link an exit signal NoProc", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const old = system.refFor({ node: { name: system.nodeId.name, incarnation: system.nodeId.incarnation - 1 }, id: a.ref.address.id, protocol: "test/OtpProbe" })
      yield* inActor(a.ref, (ctx) => ctx.trapExit(true))
      yield* inActor(a.ref, (ctx) => ctx.monitor(old))
      yield* inActor(a.ref, (ctx) => ctx.link(old))
      yield* ping(a.ref)
      assert.deepStrictEqual(a.log.downs.map((d) => d.reason), [ExitReason.noproc])
      assert.deepStrictEqual(a.log.exits.map((e) => e.reason), [ExitReason.noproc])
    }).pipe(withSystem()))
})

describe("exit signals without a link (erlang:exit/2, process_SUITE)", () => {
  it.effect("a trapping actor receives ExitSignal(from, reason) and keeps running", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const b = yield* spawnProbe()
      yield* b.ref.ask(P.Trap({ enabled: true }))
      // from inside actor a: the signal comes from a
      yield* inActor(a.ref, () => system.exit(b.ref, ExitReason.error("go away")))
      // from outside any actor
      yield* system.exit(b.ref, ExitReason.normal)
      yield* ping(b.ref)
      assert.deepStrictEqual(b.log.exits.map((e) => [e.from.key, e.reason._tag]), [[a.ref.key, "Error"], [b.log.exits[1]!.from.key, "Normal"]])
      assert.strictEqual(b.log.exits[1]!.from.address.protocol, "telex/system")
      assert.isTrue(b.ref.target.isAlive)
    }).pipe(withSystem()))

  it.effect("a non-trapping actor dies of it, ignores Normal; Killed is untrappable", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      yield* system.exit(a.ref, ExitReason.normal)
      assert.strictEqual(yield* ping(a.ref), "pong")
      yield* system.exit(a.ref, ExitReason.shutdownWith("told to"))
      assert.deepStrictEqual(yield* system.awaitExit(a.ref), ExitReason.shutdownWith("told to"))
      const t = yield* spawnProbe()
      yield* t.ref.ask(P.Trap({ enabled: true }))
      yield* system.exit(t.ref, ExitReason.killed)
      assert.strictEqual((yield* system.awaitExit(t.ref))._tag, "Killed")
      assert.deepStrictEqual(t.log.exits, [])
    }).pipe(withSystem()))

  it.effect("an exit to self: Normal stops a non-trapping actor; a trapping one receives it", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const t = yield* spawnProbe()
      yield* t.ref.ask(P.Trap({ enabled: true }))
      yield* inActor(t.ref, (ctx) => system.exit(ctx.self, ExitReason.normal))
      yield* ping(t.ref)
      assert.deepStrictEqual(t.log.exits.map((e) => [e.from.key, e.reason._tag]), [[t.ref.key, "Normal"]])
      const a = yield* spawnProbe()
      yield* Effect.exit(inActor(a.ref, (ctx) => system.exit(ctx.self, ExitReason.normal)))
      assert.strictEqual((yield* system.awaitExit(a.ref))._tag, "Normal")
    }).pipe(withSystem()))

  it.effect("it does not remove a link between the two actors", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const b = yield* spawnProbe()
      yield* b.ref.ask(P.Trap({ enabled: true }))
      yield* a.ref.ask(P.Trap({ enabled: true }))
      yield* inActor(a.ref, (ctx) => ctx.link(b.ref))
      yield* inActor(a.ref, () => system.exit(b.ref, ExitReason.error("direct")))
      yield* ping(b.ref)
      assert.strictEqual(b.log.exits.length, 1)
      assert.deepStrictEqual(Option.getOrThrow(system.info(b.ref)).links.map((r) => r.key), [a.ref.key])
      // the link still works
      yield* b.ref.tell(P.Crash())
      yield* system.awaitExit(b.ref)
      yield* ping(a.ref)
      assert.deepStrictEqual(a.log.exits.map((e) => [e.from.key, e.reason._tag]), [[b.ref.key, "Error"]])
    }).pipe(withSystem()))
})

describe("monitor by registered name (monitor_SUITE named monitors)", () => {
  it.effect("a registered name: Down when it stops, carrying the MonitorRef monitor returned (with the name)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const b = yield* spawnProbe({ name: "bee" })
      const m = yield* inActor(a.ref, (ctx) => ctx.monitor("bee"))
      assert.strictEqual(m.name, "bee")
      assert.strictEqual(m.target.key, b.ref.key)
      yield* system.stop(b.ref)
      yield* ping(a.ref)
      assert.strictEqual(a.log.downs.length, 1)
      assert.strictEqual(a.log.downs[0]!.monitor, m)
      assert.strictEqual(a.log.downs[0]!.reason._tag, "Shutdown")
      // the same with { name, node } naming this node
      const c = yield* spawnProbe({ name: "cee" })
      const m2 = yield* inActor(a.ref, (ctx) => ctx.monitor({ name: "cee", node: system.nodeId.name }))
      yield* system.stop(c.ref)
      yield* ping(a.ref)
      assert.strictEqual(a.log.downs[1]!.monitor, m2)
    }).pipe(withSystem()))

  it.effect("an unregistered name: Down(NoProc) at once", () =>
    Effect.gen(function*() {
      const a = yield* spawnProbe()
      const m = yield* inActor(a.ref, (ctx) => ctx.monitor("nobody"))
      yield* ping(a.ref)
      assert.deepStrictEqual(a.log.downs.map((d) => [d.monitor, d.reason]), [[m, ExitReason.noproc]])
    }).pipe(withSystem()))
})

describe("demonitor's result (demonitor(Ref, [flush, info]))", () => {
  it.effect("true while active; false once fired (the queued Down is flushed) or already delivered", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const b = yield* spawnProbe()
      const c = yield* spawnProbe()
      const mb = yield* inActor(a.ref, (ctx) => ctx.monitor(b.ref))
      assert.isTrue(yield* inActor(a.ref, (ctx) => ctx.demonitor(mb)))
      assert.isFalse(yield* inActor(a.ref, (ctx) => ctx.demonitor(mb)))
      // fired while a is busy: the Down is queued, demonitor flushes it and says false
      const mc = yield* inActor(a.ref, (ctx) => ctx.monitor(c.ref))
      const removed = yield* inActor(a.ref, (ctx) =>
        Effect.gen(function*() {
          yield* system.stop(c.ref)
          return yield* ctx.demonitor(mc)
        }))
      assert.isFalse(removed)
      yield* ping(a.ref)
      assert.deepStrictEqual(a.log.downs, [])
    }).pipe(withSystem()))
})

describe("monitorNode", () => {
  it.effect("with no transport: Down(NoConnection) at once; this node itself never goes down", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const m = yield* inActor(a.ref, (ctx) => ctx.monitorNode("elsewhere"))
      const own = yield* inActor(a.ref, (ctx) => ctx.monitorNode(system.nodeId.name))
      yield* ping(a.ref)
      assert.deepStrictEqual(a.log.downs.map((d) => [d.monitor.node, d.reason]), [["elsewhere", ExitReason.noconnection("elsewhere")]])
      assert.strictEqual(a.log.downs[0]!.monitor, m)
      assert.isTrue(yield* inActor(a.ref, (ctx) => ctx.demonitor(own)))
      const bad = yield* Effect.exit(inActor(a.ref, (ctx) => Effect.exit(ctx.monitorNode(7 as any))))
      assert.strictEqual((bad as any).value._tag, "Failure")
    }).pipe(withSystem()))
})

describe("introspection (process_info links / monitors / monitored_by / trap_exit)", () => {
  it.effect("system.info reports an actor's links, monitors, watchers, trap flag and mailbox", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe({ name: "ay" })
      const b = yield* spawnProbe()
      yield* a.ref.ask(P.Trap({ enabled: true }))
      yield* inActor(a.ref, (ctx) => ctx.link(b.ref))
      const m = yield* inActor(a.ref, (ctx) => ctx.monitor(b.ref))
      const ia = Option.getOrThrow(system.info(a.ref))
      assert.deepStrictEqual([ia.status, ia.name, ia.trapExit, ia.mailboxSize], ["running", "ay", true, 0])
      assert.deepStrictEqual(ia.links.map((r) => r.key), [b.ref.key])
      assert.deepStrictEqual(ia.monitors, [m])
      assert.deepStrictEqual(ia.monitoredBy, [])
      const ib = Option.getOrThrow(system.info(b.ref))
      assert.deepStrictEqual(ib.links.map((r) => r.key), [a.ref.key])
      assert.deepStrictEqual(ib.monitoredBy.map((r) => r.key), [a.ref.key])
      assert.isFalse(ib.trapExit)
      yield* inActor(a.ref, (ctx) => Effect.andThen(ctx.unlink(b.ref), ctx.demonitor(m)))
      assert.deepStrictEqual(Option.getOrThrow(system.info(b.ref)).monitoredBy, [])
      assert.deepStrictEqual(Option.getOrThrow(system.info(b.ref)).links, [])
      yield* system.stop(b.ref)
      assert.isTrue(Option.isNone(system.info(b.ref)))
      yield* waitUntil("a still alive", () => a.ref.target.isAlive)
    }).pipe(withSystem()))
})

describe("a monitor on oneself (erl_link_SUITE process_monitors)", () => {
  it.effect("by ref or by its own name: none is made (process_info shows none), demonitor finds none", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe({ name: "me" })
      const byRef = yield* inActor(a.ref, (ctx) => ctx.monitor(ctx.self))
      const byName = yield* inActor(a.ref, (ctx) => ctx.monitor("me"))
      const info = Option.getOrThrow(system.info(a.ref))
      assert.deepStrictEqual([info.monitors, info.monitoredBy], [[], []])
      assert.deepStrictEqual(
        [yield* inActor(a.ref, (ctx) => ctx.demonitor(byRef)), yield* inActor(a.ref, (ctx) => ctx.demonitor(byName))],
        [false, false]
      )
      assert.strictEqual(yield* ping(a.ref), "pong")
      assert.deepStrictEqual(a.log.downs, [])
    }).pipe(withSystem()))
})

// keep the imported types used
export type _M = MonitorRef

describe("stop vs the current message and queued tells (the chosen semantics)", () => {
  it.effect("system.stop interrupts the running handler and dead-letters the queued tell; a stop message drains first", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnProbe()
      const started: Array<string> = []
      // a handler that never ends: the stop must not wait for it
      yield* a.ref.tell(P.Run({ f: () => Effect.andThen(Effect.sync(() => started.push("busy")), Effect.never) }))
      yield* waitUntil("the handler runs", () => started.length === 1)
      yield* a.ref.tell(P.Crash())
      const letters = system.deadLetterCount()
      yield* system.stop(a.ref)
      assert.strictEqual((yield* system.awaitExit(a.ref))._tag, "Shutdown")
      assert.strictEqual(system.deadLetterCount(), letters + 1)
      // draining: a message whose handler stops the actor comes after the queued work
      const b = yield* spawnProbe()
      const done: Array<number> = []
      for (let i = 0; i < 3; i++) yield* b.ref.tell(P.Run({ f: () => Effect.sync(() => done.push(i)) }))
      yield* b.ref.tell(P.Run({ f: (ctx: ActorContext["Service"]) => ctx.stop() }))
      assert.strictEqual((yield* system.awaitExit(b.ref))._tag, "Normal")
      assert.deepStrictEqual(done, [0, 1, 2])
    }).pipe(withSystem()))

  it.effect("an untrappable exit to self (exit(self(), kill)) ends the actor with Killed", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const t = yield* spawnProbe()
      yield* t.ref.ask(P.Trap({ enabled: true }))
      yield* Effect.exit(inActor(t.ref, (ctx) => system.exit(ctx.self, ExitReason.killed)))
      assert.strictEqual((yield* system.awaitExit(t.ref))._tag, "Killed")
      assert.deepStrictEqual(t.log.exits, [])
      // an exit signal to an actor that is gone is a no-op
      yield* system.exit(t.ref, ExitReason.error("late"))
    }).pipe(withSystem()))
})
