/**
 * Connection loss: what asks, links, monitors and buffered sends see when a peer goes away, and
 * how the link comes back. The probe actor and the helpers are in ./_remote.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { ActorRef, type DeadLetter, type Down, ExitReason, ExitSignal } from "../../src/index.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { startNode } from "../../src/testing/TestNode.ts"
import { Probe, barrier, connect, fastReconnect, isNodeDown, isNodeUp, listen, makeProbe, makeProxy, makeSink, next, remote, subscribeDeadLetters, subscribeEvents, takeSignal, twoNodes, withTimeout } from "./_remote.ts"

// ---------------------------------------------------------------------------
// connection loss
// ---------------------------------------------------------------------------

const askTimeout = Duration.seconds(30)

describe("connection loss", () => {
  it.live("disconnect: asks fail at once with NodeDown, links exit NoConnection, Down(NoConnection), reconnect", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes(fastReconnect)
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const events = yield* subscribeEvents(a)
      const sinkW = yield* makeSink
      const watcher = yield* a.system.spawn(makeProbe(sinkW))
      const linkedA = yield* a.system.spawn(makeProbe(yield* makeSink))
      const linkedBLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const watchedLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const hangerLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const hanger = remote(a, hangerLocal)
      yield* linkedA.ask(Probe.Link({ other: remote(a, linkedBLocal) }))
      yield* watcher.ask(Probe.Monitor({ other: remote(a, watchedLocal) }))
      const pendingAsk = yield* Effect.forkChild(Effect.flip(hanger.ask(Probe.Hang(), { timeout: askTimeout })), {
        startImmediately: true
      })
      // the public event stream, too (subscribed before the barrier below)
      const publicEvents = yield* a.node.events.pipe(
        Stream.filter((e) => e._tag === "NodeDown" || e._tag === "NodeUp"),
        Stream.take(2),
        Stream.runCollect,
        Effect.forkChild({ startImmediately: true })
      )
      yield* barrier(hanger) // the Hang ask is being handled on b (forked: it never replies)
      assert.strictEqual(routerOf(a.node).peers.get("b")!.asks.size, 1)

      const started = Date.now()
      yield* a.node.disconnect("b", "cut by the test")
      const error = yield* withTimeout("the pending ask to fail", Fiber.join(pendingAsk))
      const elapsed = Date.now() - started
      assert.strictEqual(error._tag, "NodeDown")
      assert.isBelow(elapsed, Duration.toMillis(askTimeout), "the ask failed at once, not at its timeout")

      const down = yield* next(events, isNodeDown("b"), "NodeDown")
      assert.strictEqual(down.reason, "cut by the test")
      const linkReason = yield* withTimeout("exit of the linked actor", a.system.awaitExit(linkedA))
      assert.deepStrictEqual(linkReason, ExitReason.noconnection("b"))
      // the other side saw the connection go too
      assert.deepStrictEqual(
        yield* withTimeout("exit of b's linked actor", b.system.awaitExit(linkedBLocal)),
        ExitReason.noconnection("a")
      )
      const monitorDown = (yield* takeSignal(sinkW, "Down(NoConnection)")) as Down
      assert.deepStrictEqual(monitorDown.reason, ExitReason.noconnection("b"))
      assert.isTrue(watchedLocal.target.isAlive, "the watched actor itself is fine")

      // the supervised link actor reconnects by itself
      const up = yield* next(events, isNodeUp("b"), "NodeUp after the reconnect")
      assert.strictEqual(up.node.incarnation, b.node.nodeId.incarnation)
      const seen = yield* withTimeout("NodeDown, NodeUp on node.events", Fiber.join(publicEvents))
      assert.deepStrictEqual(seen.map((e) => `${e._tag} ${(e as { node: { name: string } }).node.name}`), ["NodeDown b", "NodeUp b"])
      const counter = yield* a.node.lookup("b", Counter, "counter")
      yield* counter.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 1)
      // refs from before the cut still work: same incarnation
      assert.strictEqual(yield* hanger.ask(Probe.Ping()), "pong")
    }).pipe(Effect.scoped))

  it.live("stopping the peer's layer: NodeDown at once; it restarts on the same port, the link comes back", () =>
    Effect.gen(function*() {
      const scopeB = yield* Scope.make()
      const b = yield* startNode("b").pipe(Scope.provide(scopeB))
      const oldCounterLocal = yield* b.system.spawn(CounterLive, { name: "counter" })
      const hangerLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const a = yield* startNode("a", fastReconnect)
      const events = yield* subscribeEvents(a)
      const deadLetters = yield* subscribeDeadLetters(a)
      yield* connect(a, b)
      const oldCounter = yield* a.node.lookup("b", Counter, "counter")
      yield* oldCounter.tell(Counter.Increment({ by: 7 }))
      assert.strictEqual(yield* oldCounter.ask(Counter.Get()), 7)
      const hanger = remote(a, hangerLocal)
      const pendingAsk = yield* Effect.forkChild(Effect.flip(hanger.ask(Probe.Hang(), { timeout: askTimeout })), {
        startImmediately: true
      })
      yield* barrier(hanger)

      const started = Date.now()
      yield* Scope.close(scopeB, Exit.void)
      const error = yield* withTimeout("the pending ask to fail", Fiber.join(pendingAsk))
      assert.strictEqual(error._tag, "NodeDown")
      assert.isBelow(Date.now() - started, Duration.toMillis(askTimeout))
      yield* next(events, isNodeDown("b"), "NodeDown")

      // b comes back (a new incarnation) on the same port; a's link actor finds it
      const b2 = yield* startNode("b", { port: b.node.address.port })
      assert.notStrictEqual(b2.node.nodeId.incarnation, b.node.nodeId.incarnation)
      const newCounterLocal = yield* b2.system.spawn(CounterLive, { name: "counter" })
      const up = yield* next(events, isNodeUp("b"), "NodeUp of the new incarnation", 10_000)
      assert.strictEqual(up.node.incarnation, b2.node.nodeId.incarnation)
      const newCounter = yield* a.node.lookup("b", Counter, "counter")
      assert.strictEqual(newCounter.address.node.incarnation, b2.node.nodeId.incarnation)
      assert.strictEqual(newCounter.address.id, oldCounterLocal.address.id, "same id, only the incarnation differs")

      // the old incarnation's ref is refused: never delivered to the successor
      yield* oldCounter.tell(Counter.Increment({ by: 100 }))
      const letter = yield* next(deadLetters, (d): d is DeadLetter => d.recipient === oldCounter.key, "dead letter")
      assert.strictEqual(letter.reason._tag, "NoSuchActor")
      const noproc = yield* Effect.flip(oldCounter.ask(Counter.Get()))
      assert.strictEqual(noproc._tag, "NoProc")
      assert.strictEqual(yield* newCounter.ask(Counter.Get()), 0)
      assert.strictEqual(yield* newCounterLocal.ask(Counter.Get()), 0)

      // nor do links, monitors or stops through it: the successor's actor has the same id
      const sink = yield* makeSink
      const linker = yield* a.system.spawn(makeProbe(sink))
      yield* linker.ask(Probe.Trap({ enabled: true }))
      yield* linker.ask(Probe.Link({ other: oldCounter }))
      const linkSignal = yield* takeSignal(sink, "ExitSignal(NoProc) for a link to the old incarnation")
      assert.instanceOf(linkSignal, ExitSignal)
      assert.deepStrictEqual(linkSignal.reason, ExitReason.noproc)
      yield* linker.ask(Probe.Monitor({ other: oldCounter }))
      assert.deepStrictEqual((yield* takeSignal(sink, "Down(NoProc)")).reason, ExitReason.noproc)
      yield* withTimeout("stop of the old ref", a.system.stop(oldCounter))
      assert.strictEqual(yield* newCounter.ask(Counter.Get()), 0) // a round trip after all of the above
      assert.isTrue(newCounterLocal.target.isAlive, "the successor's actor was not stopped")
      assert.strictEqual((newCounterLocal.target as unknown as { links?: Map<string, unknown> }).links?.size ?? 0, 0)
      assert.strictEqual(routerOf(b2.node).peers.get("a")!.watch.remoteMonitors.size, 0)
    }).pipe(Effect.scoped))

  it.live("sends buffered while a dial is in flight: when the dial fails, none is lost silently", () =>
    Effect.gen(function*() {
      // a peer that accepts TCP connections and never answers the handshake
      const blackHole = yield* listen((socket) => socket.pause())
      const a = yield* startNode("a", { handshakeTimeout: "300 millis", reconnect: { initial: "10 seconds", max: "10 seconds" } })
      const letters = yield* subscribeDeadLetters(a)
      yield* Effect.forkChild(Effect.ignore(a.node.connect({ name: "c", host: "127.0.0.1", port: blackHole.port }, "200 millis")))
      yield* withTimeout("the dial", Deferred.await(blackHole.accepted))
      assert.isTrue(routerOf(a.node).peers.get("c")!.outbox.dialing)

      const ghost = a.system.refFor({ node: { name: "c", incarnation: 1 }, id: 1, protocol: Counter.name }) as ActorRef.ActorRef<
        typeof Counter.defs
      >
      const sink = yield* makeSink
      const probe = yield* a.system.spawn(makeProbe(sink))
      yield* probe.ask(Probe.Trap({ enabled: true }))
      yield* ghost.tell(Counter.Increment({ by: 1 }))
      const ask = yield* Effect.forkChild(Effect.flip(ghost.ask(Counter.Get(), { timeout: askTimeout })), {
        startImmediately: true
      })
      yield* probe.ask(Probe.Monitor({ other: ghost }))
      yield* probe.ask(Probe.Link({ other: ghost }))
      assert.strictEqual(routerOf(a.node).peers.get("c")!.outbox.buffer.length, 4, "all four are buffered")

      // the handshake times out: the tell is a dead letter, the ask fails, the monitor and link fire
      const letter = yield* next(letters, (d): d is DeadLetter => d.recipient === ghost.key, "dead letter of the buffered tell")
      assert.strictEqual(letter.reason._tag, "NoRoute")
      assert.strictEqual((yield* withTimeout("the buffered ask", Fiber.join(ask)))._tag, "NodeDown")
      const signals = [yield* takeSignal(sink, "Down"), yield* takeSignal(sink, "ExitSignal")]
      const down = signals.find((s) => s._tag === "Down")
      const exit = signals.find((s) => s._tag === "Exit")
      assert.deepStrictEqual(down?.reason, ExitReason.noconnection("c"))
      assert.deepStrictEqual(exit?.reason, ExitReason.noconnection("c"))
      assert.strictEqual(routerOf(a.node).peers.get("c")!.watch.watches.size, 0)
      assert.strictEqual(routerOf(a.node).peers.get("c")!.watch.links.size, 0)
    }).pipe(Effect.scoped))

  it.live("sends buffered for the old incarnation while the restarted node is being dialled are refused", () =>
    Effect.gen(function*() {
      const proxy = yield* makeProxy
      const scopeB = yield* Scope.make()
      const b = yield* startNode("b").pipe(Scope.provide(scopeB))
      yield* b.system.spawn(CounterLive, { name: "counter" })
      proxy.setTarget(b.node.address.port)
      const a = yield* startNode("a", fastReconnect)
      const events = yield* subscribeEvents(a)
      const letters = yield* subscribeDeadLetters(a)
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: proxy.port }, "5 seconds")
      const oldCounter = yield* a.node.lookup("b", Counter, "counter")
      assert.strictEqual(yield* oldCounter.ask(Counter.Get()), 0)

      // b stops; a's next dial is held by the proxy (connected, handshake not yet answered)
      proxy.hold()
      yield* Scope.close(scopeB, Exit.void)
      yield* next(events, isNodeDown("b"), "NodeDown")
      yield* withTimeout("the redial", Deferred.await(proxy.held))
      assert.isTrue(routerOf(a.node).peers.get("b")!.outbox.dialing)

      const sink = yield* makeSink
      const probe = yield* a.system.spawn(makeProbe(sink))
      yield* probe.ask(Probe.Trap({ enabled: true }))
      yield* oldCounter.tell(Counter.Increment({ by: 100 }))
      const ask = yield* Effect.forkChild(Effect.flip(oldCounter.ask(Counter.Get(), { timeout: askTimeout })), {
        startImmediately: true
      })
      yield* probe.ask(Probe.Monitor({ other: oldCounter }))
      yield* probe.ask(Probe.Link({ other: oldCounter }))
      assert.strictEqual(routerOf(a.node).peers.get("b")!.outbox.buffer.length, 4, "all four are buffered")

      // the new incarnation answers the held dial
      const b2 = yield* startNode("b")
      const newCounterLocal = yield* b2.system.spawn(CounterLive, { name: "counter" })
      assert.strictEqual(newCounterLocal.address.id, oldCounter.address.id)
      proxy.setTarget(b2.node.address.port)
      proxy.release()
      const up = yield* next(events, isNodeUp("b"), "NodeUp of the new incarnation")
      assert.strictEqual(up.node.incarnation, b2.node.nodeId.incarnation)

      const letter = yield* next(letters, (d): d is DeadLetter => d.recipient === oldCounter.key, "dead letter of the buffered tell")
      assert.strictEqual(letter.reason._tag, "NoSuchActor")
      assert.strictEqual((yield* withTimeout("the buffered ask", Fiber.join(ask)))._tag, "NoProc")
      const signals = [yield* takeSignal(sink, "Down"), yield* takeSignal(sink, "ExitSignal")]
      assert.deepStrictEqual(signals.find((s) => s._tag === "Down")?.reason, ExitReason.noproc)
      assert.deepStrictEqual(signals.find((s) => s._tag === "Exit")?.reason, ExitReason.noproc)
      // the successor saw none of it
      const newCounter = yield* a.node.lookup("b", Counter, "counter")
      assert.strictEqual(yield* newCounter.ask(Counter.Get()), 0)
      assert.strictEqual((newCounterLocal.target as unknown as { links?: Map<string, unknown> }).links?.size ?? 0, 0)
      assert.strictEqual(routerOf(b2.node).peers.get("a")!.watch.remoteMonitors.size, 0)
    }).pipe(Effect.scoped))
})
