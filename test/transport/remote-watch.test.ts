/**
 * Remote monitors and links: Down and exit signals across nodes, with Erlang's semantics. The
 * probe actor and the helpers are in ./_remote.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import { type Down, ExitReason, ExitSignal } from "../../src/index.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { Probe, barrier, isNodeDown, makeProbe, makeSink, next, remote, subscribeEvents, takeSignal, twoNodes, withTimeout } from "./_remote.ts"

// ---------------------------------------------------------------------------
// remote monitors
// ---------------------------------------------------------------------------

describe("remote monitors", () => {
  it.live("the actor stops: exactly one Down with its reason", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const sinkA = yield* makeSink
      const watcher = yield* a.system.spawn(makeProbe(sinkA))
      const sinkB = yield* makeSink
      const targetLocal = yield* b.system.spawn(makeProbe(sinkB))
      const target = remote(a, targetLocal)
      const other = remote(a, yield* b.system.spawn(makeProbe(yield* makeSink)))
      const id = yield* watcher.ask(Probe.Monitor({ other: target }))
      yield* barrier(other) // the Monitor envelope has reached b
      yield* target.tell(Probe.Crash({ message: "boom" }))
      const down = yield* takeSignal(sinkA, "Down")
      assert.strictEqual(down._tag, "Down")
      assert.strictEqual((down as Down).monitor.id, id)
      assert.strictEqual((down as Down).actor.key, target.key)
      const reason = (down as Down).reason
      assert.strictEqual(reason._tag, "Error")
      assert.deepStrictEqual(reason, yield* b.system.awaitExit(targetLocal)) // the same reason as on b
      // exactly one: nothing else arrives, not even when the connection is later lost
      yield* barrier(other)
      yield* watcher.ask(Probe.Ping())
      assert.strictEqual(yield* Queue.size(sinkA.signals), 0)
      const events = yield* subscribeEvents(a)
      yield* a.node.disconnect("b")
      yield* next(events, isNodeDown("b"), "NodeDown")
      yield* watcher.ask(Probe.Ping())
      assert.strictEqual(yield* Queue.size(sinkA.signals), 0)
    }).pipe(Effect.scoped))

  it.live("a normal stop gives Down(Normal); demonitor cancels", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const sinkA = yield* makeSink
      const watcher = yield* a.system.spawn(makeProbe(sinkA))
      const other = remote(a, yield* b.system.spawn(makeProbe(yield* makeSink)))
      const t1 = remote(a, yield* b.system.spawn(makeProbe(yield* makeSink)))
      const t2Local = yield* b.system.spawn(makeProbe(yield* makeSink))
      const t2 = remote(a, t2Local)
      const id1 = yield* watcher.ask(Probe.Monitor({ other: t1 }))
      const id2 = yield* watcher.ask(Probe.Monitor({ other: t2 }))
      yield* watcher.ask(Probe.Demonitor({ id: id2 }))
      yield* barrier(other)
      yield* t2.tell(Probe.Stop())
      yield* t1.tell(Probe.Stop())
      const down = (yield* takeSignal(sinkA, "Down of t1")) as Down
      assert.strictEqual(down.monitor.id, id1)
      assert.deepStrictEqual(down.reason, ExitReason.normal)
      assert.deepStrictEqual(yield* b.system.awaitExit(t2Local), ExitReason.normal)
      // t2 stopped before t1 (same sender, same connection): its Down would have come first
      yield* barrier(other)
      yield* watcher.ask(Probe.Ping())
      assert.strictEqual(yield* Queue.size(sinkA.signals), 0)
      assert.strictEqual(routerOf(b.node).peers.get("a")!.watch.remoteMonitors.size, 0)
    }).pipe(Effect.scoped))

  it.live("monitoring a dead or unknown remote actor gives Down(NoProc)", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const sinkA = yield* makeSink
      const watcher = yield* a.system.spawn(makeProbe(sinkA))
      const deadLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      yield* b.system.stop(deadLocal)
      const dead = remote(a, deadLocal)
      const id = yield* watcher.ask(Probe.Monitor({ other: dead }))
      const down = (yield* takeSignal(sinkA, "Down(NoProc)")) as Down
      assert.strictEqual(down.monitor.id, id)
      assert.deepStrictEqual(down.reason, ExitReason.noproc)
      const never = remote(a, b.system.refFor({ ...deadLocal.address, id: 987_654 }))
      yield* watcher.ask(Probe.Monitor({ other: never }))
      assert.deepStrictEqual(((yield* takeSignal(sinkA, "Down(NoProc) of unknown id")) as Down).reason, ExitReason.noproc)
      // awaitExit of a remote dead actor, from outside any actor
      assert.deepStrictEqual(yield* withTimeout("awaitExit", a.system.awaitExit(dead)), ExitReason.noproc)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// remote links
// ---------------------------------------------------------------------------

describe("remote links", () => {
  it.live("an abnormal exit on B kills the linked actor on A with the same reason (and vice versa)", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const la = yield* a.system.spawn(makeProbe(yield* makeSink))
      const lbLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const lb = remote(a, lbLocal)
      yield* la.ask(Probe.Link({ other: lb }))
      yield* barrier(lb) // the Link envelope has been handled on b
      yield* lb.tell(Probe.Crash({ message: "b crashed" }))
      const onB = yield* withTimeout("exit of lb", b.system.awaitExit(lbLocal))
      const onA = yield* withTimeout("exit of la", a.system.awaitExit(la))
      assert.strictEqual(onB._tag, "Error")
      assert.include((onB as { message: string }).message, "b crashed")
      assert.deepStrictEqual(onA, onB)

      // the other direction: A's actor crashes, B's linked actor exits with the same reason
      const la2 = yield* a.system.spawn(makeProbe(yield* makeSink))
      const lb2Local = yield* b.system.spawn(makeProbe(yield* makeSink))
      const lb2 = remote(a, lb2Local)
      yield* lb2.ask(Probe.Link({ other: la2 })) // linked from b's side this time
      yield* la2.tell(Probe.Crash({ message: "a crashed" }))
      const la2Reason = yield* withTimeout("exit of la2", a.system.awaitExit(la2))
      assert.deepStrictEqual(yield* withTimeout("exit of lb2", b.system.awaitExit(lb2Local)), la2Reason)
    }).pipe(Effect.scoped))

  it.live("trapExit turns the remote exit into an ExitSignal; a normal exit does not propagate", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const other = remote(a, yield* b.system.spawn(makeProbe(yield* makeSink)))
      const sinkT = yield* makeSink
      const trapper = yield* a.system.spawn(makeProbe(sinkT))
      yield* trapper.ask(Probe.Trap({ enabled: true }))
      const plain = yield* a.system.spawn(makeProbe(yield* makeSink))
      const crasherLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const crasher = remote(a, crasherLocal)
      yield* trapper.ask(Probe.Link({ other: crasher }))
      yield* barrier(other)
      yield* crasher.tell(Probe.Crash({ message: "trap me" }))
      const signal = yield* takeSignal(sinkT, "ExitSignal")
      assert.instanceOf(signal, ExitSignal)
      assert.strictEqual(signal.reason._tag, "Error")
      assert.deepStrictEqual(signal.reason, yield* b.system.awaitExit(crasherLocal))
      assert.deepStrictEqual((signal as ExitSignal).from.address, crasherLocal.address)
      assert.strictEqual(yield* trapper.ask(Probe.Ping()), "pong") // still alive

      // a Normal exit: the non-trapping linked actor keeps running, the trapping one is told
      const quitterLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const quitter = remote(a, quitterLocal)
      yield* plain.ask(Probe.Link({ other: quitter }))
      yield* trapper.ask(Probe.Link({ other: quitter }))
      yield* barrier(other)
      yield* quitter.tell(Probe.Stop())
      assert.deepStrictEqual(yield* b.system.awaitExit(quitterLocal), ExitReason.normal)
      const normal = yield* takeSignal(sinkT, "ExitSignal(Normal)")
      assert.deepStrictEqual(normal.reason, ExitReason.normal)
      yield* barrier(other) // both exit signals have been handled on a
      assert.strictEqual(yield* plain.ask(Probe.Ping()), "pong")
      assert.isTrue(plain.target.isAlive)
    }).pipe(Effect.scoped))

  it.live("linking to a dead remote actor gives NoProc", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const deadLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      yield* b.system.stop(deadLocal)
      const sink = yield* makeSink
      const linker = yield* a.system.spawn(makeProbe(sink))
      yield* linker.ask(Probe.Trap({ enabled: true }))
      yield* linker.ask(Probe.Link({ other: remote(a, deadLocal) }))
      const signal = yield* takeSignal(sink, "ExitSignal(NoProc)")
      assert.instanceOf(signal, ExitSignal)
      assert.deepStrictEqual(signal.reason, ExitReason.noproc)
    }).pipe(Effect.scoped))
})
