import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import {
  Actor,
  ActorContext,
  ActorRef,
  ActorSystem,
  type Down,
  ExitReason,
  type ExitSignal,
  type MonitorRef
} from "../../src/index.ts"
import { isDone, waitUntil, withSystem } from "./_helpers.ts"

const AnyRef = ActorRef.schema

const Node = Actor.make("Node", {
  Link: Actor.ask({ other: AnyRef }),
  Unlink: Actor.ask({ other: AnyRef }),
  Monitor: Actor.ask({ other: AnyRef }, { success: Schema.Number }),
  Demonitor: Actor.ask({ id: Schema.Number }),
  /** waits for the gate, then demonitors */
  BlockThenDemonitor: Actor.tell({ id: Schema.Number }),
  Trap: Actor.ask({ enabled: Schema.Boolean }),
  Crash: Actor.tell({ message: Schema.String }),
  StopSelf: Actor.tell({}),
  Ping: Actor.ask({}, { success: Schema.String })
})

interface Probe {
  readonly downs: Array<Down>
  readonly exits: Array<ExitSignal>
  readonly gate: Deferred.Deferred<void>
  readonly blocked: Deferred.Deferred<void>
}

const makeProbe = Effect.gen(function*() {
  const probe: Probe = {
    downs: [],
    exits: [],
    gate: yield* Deferred.make<void>(),
    blocked: yield* Deferred.make<void>()
  }
  return probe
})

const makeNode = (probe: Probe) =>
  Node.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const monitors = new Map<number, MonitorRef>()
    return {
      Link: ({ other }) => ctx.link(other),
      Unlink: ({ other }) => ctx.unlink(other),
      Monitor: ({ other }) =>
        ctx.monitor(other).pipe(Effect.map((m) => {
          monitors.set(m.id, m)
          return m.id
        })),
      Demonitor: ({ id }) => ctx.demonitor(monitors.get(id)!),
      BlockThenDemonitor: ({ id }) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(probe.blocked, undefined)
          yield* Deferred.await(probe.gate)
          yield* ctx.demonitor(monitors.get(id)!)
        }),
      Trap: ({ enabled }) => ctx.trapExit(enabled),
      Crash: ({ message }) => Effect.die(new Error(message)),
      StopSelf: () => ctx.stop(),
      Ping: () => Effect.succeed("pong"),
      onDown: (down) => Effect.sync(() => { probe.downs.push(down) }),
      onExit: (exit) => Effect.sync(() => { probe.exits.push(exit) })
    }
  }))

const spawnNode = Effect.gen(function*() {
  const system = yield* ActorSystem
  const probe = yield* makeProbe
  const ref = yield* system.spawn(makeNode(probe))
  return { ref, probe }
})

const errorMessage = (reason: ExitReason.ExitReason) => reason._tag === "Error" ? reason.message : undefined

describe("links", () => {
  it.effect("an abnormal exit kills the linked actor with the same reason", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* b.ref.tell(Node.Crash({ message: "b failed" }))
      const reasonB = yield* system.awaitExit(b.ref)
      const reasonA = yield* system.awaitExit(a.ref)
      assert.strictEqual(reasonB._tag, "Error")
      assert.include(errorMessage(reasonB), "b failed")
      assert.deepStrictEqual(reasonA, reasonB)
    }).pipe(withSystem()))

  it.effect("links are bidirectional", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* a.ref.tell(Node.Crash({ message: "a failed" }))
      const reasonB = yield* system.awaitExit(b.ref)
      assert.include(errorMessage(reasonB), "a failed")
    }).pipe(withSystem()))

  it.effect("an exit propagates along a chain of links", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      const c = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* b.ref.ask(Node.Link({ other: c.ref }))
      yield* c.ref.tell(Node.Crash({ message: "c failed" }))
      const reasonA = yield* system.awaitExit(a.ref)
      assert.include(errorMessage(reasonA), "c failed")
    }).pipe(withSystem()))

  it.effect("a Normal exit does not kill the linked actor", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* b.ref.tell(Node.StopSelf())
      assert.deepStrictEqual(yield* system.awaitExit(b.ref), ExitReason.normal)
      assert.strictEqual(yield* a.ref.ask(Node.Ping()), "pong")
      assert.isTrue(a.ref.target.isAlive)
      assert.deepStrictEqual(a.probe.exits, [])
    }).pipe(withSystem()))

  it.effect("a Shutdown exit kills a linked actor that does not trap exits", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* system.stop(b.ref, ExitReason.shutdownWith("maintenance"))
      assert.deepStrictEqual(yield* system.awaitExit(a.ref), ExitReason.shutdownWith("maintenance"))
    }).pipe(withSystem()))

  it.effect("unlink removes the link both ways", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      const c = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* a.ref.ask(Node.Unlink({ other: b.ref }))
      yield* b.ref.tell(Node.Crash({ message: "b failed" }))
      yield* system.awaitExit(b.ref)
      assert.strictEqual(yield* a.ref.ask(Node.Ping()), "pong")
      // and the other way round
      yield* a.ref.ask(Node.Link({ other: c.ref }))
      yield* a.ref.ask(Node.Unlink({ other: c.ref }))
      yield* a.ref.tell(Node.Crash({ message: "a failed" }))
      yield* system.awaitExit(a.ref)
      assert.strictEqual(yield* c.ref.ask(Node.Ping()), "pong")
    }).pipe(withSystem()))

  it.effect("trapExit turns an exit signal into an ExitSignal delivered to onExit", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Trap({ enabled: true }))
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* b.ref.tell(Node.Crash({ message: "b failed" }))
      const reasonB = yield* system.awaitExit(b.ref)
      assert.strictEqual(yield* a.ref.ask(Node.Ping()), "pong") // alive; also a barrier for the signal
      assert.strictEqual(a.probe.exits.length, 1)
      const signal = a.probe.exits[0]!
      assert.strictEqual(signal._tag, "Exit")
      assert.isTrue(signal.from.equals(b.ref))
      assert.deepStrictEqual(signal.reason, reasonB)
    }).pipe(withSystem()))

  it.effect("a trapping actor also receives Normal exits", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Trap({ enabled: true }))
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* b.ref.tell(Node.StopSelf())
      yield* system.awaitExit(b.ref)
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.exits.map((e) => e.reason), [ExitReason.normal])
    }).pipe(withSystem()))

  it.effect("trapExit(false) restores propagation", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Trap({ enabled: true }))
      yield* a.ref.ask(Node.Trap({ enabled: false }))
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* b.ref.tell(Node.Crash({ message: "b failed" }))
      assert.include(errorMessage(yield* system.awaitExit(a.ref)), "b failed")
      assert.deepStrictEqual(a.probe.exits, [])
    }).pipe(withSystem()))

  it.effect("system.kill is untrappable (Killed); a linked trapping actor receives Exit(Killed)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Trap({ enabled: true }))
      yield* b.ref.ask(Node.Trap({ enabled: true }))
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* system.kill(b.ref)
      assert.deepStrictEqual(yield* system.awaitExit(b.ref), ExitReason.killed)
      assert.deepStrictEqual(b.probe.exits, []) // the kill was not trapped
      assert.strictEqual(yield* a.ref.ask(Node.Ping()), "pong")
      assert.strictEqual(a.probe.exits.length, 1)
      assert.isTrue(a.probe.exits[0]!.from.equals(b.ref))
      assert.deepStrictEqual(a.probe.exits[0]!.reason, ExitReason.killed)
    }).pipe(withSystem()))

  it.effect("a Killed exit kills a linked actor that does not trap exits", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* system.kill(b.ref)
      assert.deepStrictEqual(yield* system.awaitExit(a.ref), ExitReason.killed)
    }).pipe(withSystem()))

  it.effect("linking to a dead actor: a trapping linker receives Exit(NoProc)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* system.stop(b.ref)
      yield* a.ref.ask(Node.Trap({ enabled: true }))
      yield* a.ref.ask(Node.Link({ other: b.ref }))
      yield* a.ref.ask(Node.Ping())
      assert.strictEqual(a.probe.exits.length, 1)
      assert.isTrue(a.probe.exits[0]!.from.equals(b.ref))
      assert.deepStrictEqual(a.probe.exits[0]!.reason, ExitReason.noproc)
    }).pipe(withSystem()))

  it.effect("linking to an actor that never existed: Exit(NoProc)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const ghost = system.refFor({ node: system.nodeId, id: 31337, protocol: "Node" })
      yield* a.ref.ask(Node.Trap({ enabled: true }))
      yield* a.ref.ask(Node.Link({ other: ghost }))
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.exits.map((e) => [e.from.key, e.reason]), [[ghost.key, ExitReason.noproc]])
    }).pipe(withSystem()))

  it.effect("linking to a dead actor without trapping exits: the linker exits with NoProc", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* system.stop(b.ref)
      const linked = yield* Effect.forkChild(Effect.flip(a.ref.ask(Node.Link({ other: b.ref }))))
      assert.deepStrictEqual(yield* system.awaitExit(a.ref), ExitReason.noproc)
      yield* waitUntil("the ask to complete", () => isDone(linked))
      assert.strictEqual((yield* Fiber.join(linked))._tag, "ActorStopped")
    }).pipe(withSystem()))
})

describe("monitors", () => {
  it.effect("exactly one Down, with the reason", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      const id = yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      yield* b.ref.tell(Node.Crash({ message: "b failed" }))
      const reason = yield* system.awaitExit(b.ref)
      yield* a.ref.ask(Node.Ping()) // barrier: the Down was queued before awaitExit returned
      assert.strictEqual(a.probe.downs.length, 1)
      const down = a.probe.downs[0]!
      assert.strictEqual(down._tag, "Down")
      assert.strictEqual(down.monitor.id, id)
      assert.isTrue(down.actor.equals(b.ref))
      assert.deepStrictEqual(down.reason, reason)
      assert.include(errorMessage(down.reason), "b failed")
      // the watcher is unaffected
      assert.isTrue(a.ref.target.isAlive)
      yield* a.ref.ask(Node.Ping())
      assert.strictEqual(a.probe.downs.length, 1)
    }).pipe(withSystem()))

  it.effect("a Normal stop is reported too", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      yield* b.ref.tell(Node.StopSelf())
      yield* system.awaitExit(b.ref)
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.downs.map((d) => d.reason), [ExitReason.normal])
    }).pipe(withSystem()))

  it.effect("two monitors on the same actor give two Downs, one per monitor", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      const id1 = yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      const id2 = yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      assert.notStrictEqual(id1, id2)
      yield* system.stop(b.ref)
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.downs.map((d) => d.monitor.id), [id1, id2])
    }).pipe(withSystem()))

  it.effect("monitoring a dead actor gives Down(NoProc) at once", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* system.stop(b.ref)
      const id = yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      yield* a.ref.ask(Node.Ping())
      assert.strictEqual(a.probe.downs.length, 1)
      assert.strictEqual(a.probe.downs[0]!.monitor.id, id)
      assert.isTrue(a.probe.downs[0]!.actor.equals(b.ref))
      assert.deepStrictEqual(a.probe.downs[0]!.reason, ExitReason.noproc)
    }).pipe(withSystem()))

  it.effect("monitoring an actor that never existed gives Down(NoProc) at once", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const ghost = system.refFor({ node: system.nodeId, id: 31337, protocol: "Node" })
      yield* a.ref.ask(Node.Monitor({ other: ghost }))
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.downs.map((d) => [d.actor.key, d.reason]), [[ghost.key, ExitReason.noproc]])
    }).pipe(withSystem()))

  it.effect("demonitor prevents the Down", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      const id = yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      yield* a.ref.ask(Node.Demonitor({ id }))
      yield* system.stop(b.ref)
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.downs, [])
    }).pipe(withSystem()))

  it.effect("demonitor prevents the Down even when it was already queued", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      const id = yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      yield* a.ref.tell(Node.BlockThenDemonitor({ id }))
      yield* Deferred.await(a.probe.blocked)
      yield* system.stop(b.ref) // the Down is now queued in a's mailbox
      yield* Deferred.succeed(a.probe.gate, undefined)
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.downs, [])
    }).pipe(withSystem()))

  it.effect("control: without demonitor, the queued Down is delivered", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      const other = yield* spawnNode
      const id2 = yield* a.ref.ask(Node.Monitor({ other: other.ref }))
      yield* a.ref.tell(Node.BlockThenDemonitor({ id: id2 })) // demonitors a different monitor
      yield* Deferred.await(a.probe.blocked)
      yield* system.stop(b.ref)
      yield* Deferred.succeed(a.probe.gate, undefined)
      yield* a.ref.ask(Node.Ping())
      assert.deepStrictEqual(a.probe.downs.map((d) => d.actor.key), [b.ref.key])
    }).pipe(withSystem()))

  it.effect("a monitor is one-way: the watched actor is not affected when the watcher dies", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const a = yield* spawnNode
      const b = yield* spawnNode
      yield* a.ref.ask(Node.Monitor({ other: b.ref }))
      yield* a.ref.tell(Node.Crash({ message: "watcher failed" }))
      yield* system.awaitExit(a.ref)
      assert.strictEqual(yield* b.ref.ask(Node.Ping()), "pong")
      // the dead watcher's monitor was removed: b's exit produces no Down (hence no dead letter)
      const before = system.deadLetterCount()
      yield* system.stop(b.ref)
      assert.strictEqual(system.deadLetterCount(), before)
    }).pipe(withSystem()))

  it.effect("a long chain of linked idle actors dies without recursing (each exit signal is handled in a loop)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const n = 3_000
      const nodes = []
      for (let i = 0; i < n; i++) nodes.push(yield* spawnNode)
      for (let i = 0; i + 1 < n; i++) yield* nodes[i]!.ref.ask(Node.Link({ other: nodes[i + 1]!.ref }))
      yield* system.stop(nodes[0]!.ref, ExitReason.error("chain"))
      assert.deepStrictEqual(yield* system.awaitExit(nodes[n - 1]!.ref), ExitReason.error("chain"))
      assert.deepStrictEqual(yield* system.awaitExit(nodes[n >> 1]!.ref), ExitReason.error("chain"))
    }).pipe(withSystem()))
})
