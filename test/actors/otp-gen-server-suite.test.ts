/**
 * Cases from OTP's gen_server_SUITE, erl_link_SUITE and monitor_SUITE with a Telex equivalent
 * not covered elsewhere: a late reply after a call timeout, a call to self, stop with a reason
 * while calls are queued, links counted once, one of two monitors cancelled, and unlink across
 * two nodes over real TCP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Queue, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorSystem, CallingSelf, type Down, ExitReason, type ExitSignal } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { assertError, settle, withSystem } from "./_helpers.ts"

const S = Actor.make("test/OtpGenServer", {
  Echo: Actor.ask({ n: Schema.Number }, { success: Schema.Number }),
  /** replies `n` once `gate` opens (the gate is a local value) */
  Slow: Actor.ask({ n: Schema.Number, gate: Schema.Any }, { success: Schema.Number }),
  Trap: Actor.ask({ enabled: Schema.Boolean }),
  Crash: Actor.tell({}),
  /** a call whose handler crashes */
  CrashCall: Actor.ask({}, { success: Schema.Number }),
  /** stops with an Error reason of `size` characters */
  Die: Actor.tell({ size: Schema.Number }),
  Run: Actor.ask({ f: Schema.Any }, { success: Schema.Any })
})

const Other = Actor.make("test/OtpOther", { Nop: Actor.tell({}) })

const server = (signals?: Queue.Queue<Down | ExitSignal>) =>
  S.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Echo: ({ n }) => Effect.succeed(n),
      Slow: ({ n, gate }) => Effect.as(Deferred.await(gate as Deferred.Deferred<void>), n),
      Trap: ({ enabled }) => ctx.trapExit(enabled),
      Crash: () => Effect.die(new Error("crash")),
      CrashCall: () => Effect.die(new Error("crash in the call")),
      Die: ({ size }) => ctx.stop(ExitReason.error("x".repeat(size))),
      Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<unknown>)(ctx),
      onDown: (down) => signals === undefined ? Effect.void : Queue.offer(signals, down),
      onExit: (exit) => signals === undefined ? Effect.void : Queue.offer(signals, exit)
    }
  }))

const inActor = <A>(ref: { ask: any }, f: (ctx: ActorContext["Service"]) => Effect.Effect<A>) =>
  (ref.ask(S.Run({ f })) as Effect.Effect<A, any>)

describe("gen_server_SUITE call timeouts", () => {
  it.effect("call: a reply that comes after the timeout is dropped and never answers the next call", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(server())
      const gate = yield* Deferred.make<void>()
      const late = yield* Effect.forkChild(Effect.exit(ref.ask(S.Slow({ n: 1, gate }), { timeout: "1 second" })))
      yield* settle()
      yield* TestClock.adjust("1 second")
      const first = yield* Fiber.join(late)
      assert.isTrue(Exit.isFailure(first))
      assert.strictEqual(Exit.isFailure(first) && first.cause.reasons[0]?._tag === "Fail" ? (first.cause.reasons[0] as any).error._tag : "", "AskTimeout")
      // the handler now replies 1, too late: the next call gets its own answer
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* ref.ask(S.Echo({ n: 2 })), 2)
      assert.strictEqual(yield* ref.ask(S.Echo({ n: 3 })), 3)
    })))

  it.effect("call to self from a handler (calling_self): fails at once with CallingSelf and the server keeps serving", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(server())
      // no clock adjustment: the ask must not wait for its timeout
      const exit = (yield* inActor(ref, (ctx) => Effect.exit((ctx.self as any).ask(S.Echo({ n: 7 }), { timeout: "1 hour" })))) as Exit.Exit<unknown, unknown>
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? (exit.cause.reasons[0] as any).error : undefined
      assertError(error, new CallingSelf({ actor: ref.key, message: "Echo" }))
      assert.strictEqual(yield* ref.ask(S.Echo({ n: 8 })), 8)
    })))

  it.effect("call to self through another ref of the same actor (ActorRef from refFor) also fails with CallingSelf", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(server())
      const other = system.refFor(ref.address)
      const tag = yield* inActor(ref, () => Effect.match((other as any).ask(S.Echo({ n: 1 })), { onFailure: (e: any) => e._tag, onSuccess: () => "ok" }))
      assert.strictEqual(tag, "CallingSelf")
    })))

  it.effect("an ask to self from a fiber the handler forks is delivered: only the handler's own fiber is calling_self", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(server())
      const forked = yield* inActor(ref, (ctx) => Effect.forkDetach((ctx.self as any).ask(S.Echo({ n: 5 })) as Effect.Effect<number>))
      assert.strictEqual(yield* Fiber.join(forked as Fiber.Fiber<number, unknown>), 5)
    })))
})

describe("gen_server_SUITE stop while calls are queued", () => {
  it.effect("the running call and the queued ones fail with ActorStopped carrying the stop reason", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(server())
      const gate = yield* Deferred.make<void>()
      const running = yield* Effect.forkChild(Effect.flip(ref.ask(S.Slow({ n: 1, gate }))))
      const queued = yield* Effect.forkChild(Effect.flip(ref.ask(S.Echo({ n: 2 }))))
      yield* settle()
      const reason = ExitReason.shutdownWith("stop10")
      yield* system.stop(ref, reason)
      for (const f of [running, queued]) {
        const e = (yield* Fiber.join(f)) as any
        assert.strictEqual(e._tag, "ActorStopped")
        assert.deepStrictEqual(e.reason, reason)
      }
      assert.deepStrictEqual(yield* system.awaitExit(ref), reason)
      const after = (yield* Effect.flip(ref.ask(S.Echo({ n: 3 })))) as any
      assert.strictEqual(after._tag, "NoProc")
    })))
})

describe("erl_link_SUITE / monitor_SUITE", () => {
  it.effect("links are not counted: linking twice and unlinking once removes the link", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* system.spawn(server())
      const b = yield* system.spawn(server())
      yield* inActor(a, (ctx) => Effect.andThen(ctx.link(b), ctx.link(b)))
      yield* inActor(a, (ctx) => ctx.unlink(b))
      yield* b.tell(S.Crash())
      yield* system.awaitExit(b)
      assert.strictEqual(yield* a.ask(S.Echo({ n: 1 })), 1)
    })))

  it.effect("two monitors on one actor: demonitor one, the other still gives its Down", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const signals = yield* Queue.unbounded<Down | ExitSignal>()
      const w = yield* system.spawn(server(signals))
      const t = yield* system.spawn(server())
      const [m1, m2] = (yield* inActor(w, (ctx) => Effect.all([ctx.monitor(t), ctx.monitor(t)]))) as any
      assert.isTrue(yield* inActor(w, (ctx) => ctx.demonitor(m1)))
      yield* system.stop(t)
      const down = (yield* Queue.take(signals)) as Down
      assert.strictEqual(down.monitor.id, m2.id)
      yield* w.ask(S.Echo({ n: 0 }))
      assert.strictEqual(yield* Queue.size(signals), 0)
    })))
})

describe("erl_link_SUITE across two nodes (real TCP)", () => {
  it.live("unlink: a later crash of the remote actor no longer kills the local one, and vice versa", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const local = yield* a.system.spawn(server())
      const farLocal = yield* b.system.spawn(server())
      const far = a.system.refFor(farLocal.address) as typeof farLocal
      yield* inActor(local, (ctx) => ctx.link(far))
      yield* inActor(local, (ctx) => ctx.unlink(far))
      // a round trip over the connection: the unlink has reached b
      assert.strictEqual(yield* far.ask(S.Echo({ n: 1 })), 1)
      yield* far.tell(S.Crash())
      yield* b.system.awaitExit(farLocal)
      assert.strictEqual(yield* local.ask(S.Echo({ n: 2 })), 2)

      // the other direction: unlinked, the local actor's crash leaves the remote one running
      const far2Local = yield* b.system.spawn(server())
      const far2 = a.system.refFor(far2Local.address) as typeof far2Local
      const local2 = yield* a.system.spawn(server())
      yield* inActor(local2, (ctx) => ctx.link(far2))
      yield* inActor(local2, (ctx) => ctx.unlink(far2))
      assert.strictEqual(yield* far2.ask(S.Echo({ n: 3 })), 3)
      yield* local2.tell(S.Crash())
      yield* a.system.awaitExit(local2)
      assert.strictEqual(yield* far2.ask(S.Echo({ n: 4 })), 4)
      assert.isTrue(far2Local.target.isAlive)
    }).pipe(Effect.scoped))

  it.live("link to a remote actor that is gone: ExitSignal(NoProc) from that ref, and the link is gone (process_info)", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const signals = yield* Queue.unbounded<Down | ExitSignal>()
      const local = yield* a.system.spawn(server(signals))
      yield* local.ask(S.Trap({ enabled: true }))
      // of another protocol than the linker's
      const goneLocal = yield* b.system.spawn(Other.behavior(Effect.succeed({ Nop: () => Effect.void })))
      yield* b.system.stop(goneLocal)
      const gone = a.system.refFor(goneLocal.address) as typeof goneLocal
      yield* inActor(local, (ctx) => ctx.link(gone))
      const signal = (yield* Queue.take(signals).pipe(
        Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die(new Error("no ExitSignal")) })
      )) as ExitSignal
      assert.deepStrictEqual(signal.reason, ExitReason.noproc)
      assert.strictEqual(signal.from.key, gone.key)
      assert.deepStrictEqual(Option.getOrThrow(a.system.info(local)).links, [])
    }).pipe(Effect.scoped))

  it.live("unlink crossing the remote actor's exit signal: once unlink has returned, the link has no effect", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const local = yield* a.system.spawn(server())
      const farLocal = yield* b.system.spawn(server())
      const far = a.system.refFor(farLocal.address) as typeof farLocal
      yield* inActor(local, (ctx) => ctx.link(far))
      assert.strictEqual(yield* far.ask(S.Echo({ n: 1 })), 1)
      // the Unlink to b and b's exit signal to a cross on the connection
      yield* inActor(local, (ctx) => Effect.andThen(ctx.unlink(far), b.system.exit(farLocal, ExitReason.error("racing"))))
      yield* b.system.awaitExit(farLocal)
      // a round trip to b: the exit signal sent before its reply has been handled on a
      const other = a.system.refFor((yield* b.system.spawn(server())).address) as typeof farLocal
      assert.strictEqual(yield* other.ask(S.Echo({ n: 2 })), 2)
      assert.strictEqual(yield* local.ask(S.Echo({ n: 3 })), 3)
      assert.isTrue(local.target.isAlive)
    }).pipe(Effect.scoped))

  it.live("monitor_SUITE large_exit: a 2 MB exit reason reaches a remote monitor and a remote link", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const signals = yield* Queue.unbounded<Down | ExitSignal>()
      const local = yield* a.system.spawn(server(signals))
      yield* local.ask(S.Trap({ enabled: true }))
      const farLocal = yield* b.system.spawn(server())
      const far = a.system.refFor(farLocal.address) as typeof farLocal
      yield* inActor(local, (ctx) => Effect.andThen(ctx.monitor(far), ctx.link(far)))
      assert.strictEqual(yield* far.ask(S.Echo({ n: 1 })), 1)
      yield* far.tell(S.Die({ size: 2_000_000 }))
      for (let i = 0; i < 2; i++) {
        const signal = yield* Queue.take(signals).pipe(
          Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die(new Error("no signal")) })
        )
        assert.strictEqual(signal.reason._tag, "Error")
        assert.strictEqual((signal.reason as { message: string }).message.length, 2_000_000)
      }
      // the connection is still up
      const other = a.system.refFor((yield* b.system.spawn(server())).address) as typeof farLocal
      assert.strictEqual(yield* other.ask(S.Echo({ n: 2 })), 2)
    }).pipe(Effect.scoped))

  it.live("a call to a remote server that crashes fails after its Down reached a remote monitor (links and monitors first)", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
      const signals = yield* Queue.unbounded<Down | ExitSignal>()
      const watcher = yield* a.system.spawn(server(signals))
      const farLocal = yield* b.system.spawn(server())
      const far = a.system.refFor(farLocal.address) as typeof farLocal
      yield* inActor(watcher, (ctx) => ctx.monitor(far))
      assert.strictEqual(yield* far.ask(S.Echo({ n: 1 })), 1)
      const e = yield* Effect.flip(far.ask(S.CrashCall()))
      assert.strictEqual((e as { _tag: string })._tag, "ActorStopped")
      // the watcher's next message is handled after the Down that came before the failed reply
      yield* watcher.ask(S.Echo({ n: 2 }))
      assert.strictEqual(yield* Queue.size(signals), 1)
    }).pipe(Effect.scoped))
})

const Forking = Actor.make("test/OtpForkingSelf", {
  Echo: Actor.ask({ n: Schema.Number }, { success: Schema.Number }),
  /** asks itself from a handler marked with Actor.fork */
  Twice: Actor.ask({ n: Schema.Number }, { success: Schema.Number })
})

describe("calling_self and Actor.fork", () => {
  it.effect("a handler marked with Actor.fork may ask its own actor: the actor serves the ask meanwhile", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(Forking.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext.for(Forking)
        return {
          Echo: ({ n }) => Effect.succeed(n),
          Twice: ({ n }) => Actor.fork(Effect.map(Effect.orDie(ctx.self.ask(Forking.Echo({ n }))), (m) => 2 * m))
        }
      })))
      assert.strictEqual(yield* ref.ask(Forking.Twice({ n: 21 })), 42)
    })))
})

describe("calling_self from init", () => {
  it.effect("an ask to self from the init fails at once with CallingSelf; one from a fiber the init forks is served once the actor runs", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const seen: Array<string> = []
      const later = yield* Deferred.make<number>()
      const ref = yield* system.spawn(Forking.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext.for(Forking)
        const exit = yield* Effect.exit(ctx.self.ask(Forking.Echo({ n: 1 }), { timeout: "1 hour" }))
        seen.push(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? (exit.cause.reasons[0] as any).error._tag : "no failure")
        yield* Effect.forkDetach(Effect.flatMap(Effect.orDie(ctx.self.ask(Forking.Echo({ n: 2 }))), (n) => Deferred.succeed(later, n)))
        return {
          Echo: ({ n }) => Effect.succeed(n),
          Twice: ({ n }) => Effect.succeed(2 * n)
        }
      })))
      assert.deepStrictEqual(seen, ["CallingSelf"])
      assert.strictEqual(yield* Deferred.await(later), 2)
      assert.strictEqual(yield* ref.ask(Forking.Echo({ n: 3 })), 3)
    })))
})
