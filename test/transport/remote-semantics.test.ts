/**
 * Remote semantics: several nodes in one process, talking over real loopback TCP.
 *
 * Every ref used across nodes is bound through the sending node's resolver (`remote(...)`),
 * so the test always exercises the transport, never a direct in-process shortcut. Waits are
 * bounded (events, Deferreds, queues with timeouts); ordering arguments use "barriers": a
 * round trip over the same connection, which TCP and the router keep in FIFO order.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, PubSub, Queue, Schema, Scope, Stream } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import {
  Actor,
  ActorContext,
  ActorRef,
  type DeadLetter,
  type Down,
  ExitReason,
  ExitSignal
} from "../../src/index.ts"
import { Kind } from "../../src/transport/Envelope.ts"
import { type NodeEvent, RemoteTarget } from "../../src/transport/internal/router.ts"
import { routerOf, type NodeOptions } from "../../src/transport/Node.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"
import { startNode, type TestNode } from "../../src/testing/TestNode.ts"

// ---------------------------------------------------------------------------
// a probe actor: links, monitors, exits, ordering, refs in messages
// ---------------------------------------------------------------------------

const Probe = Actor.make("test/Probe", {
  Monitor: Actor.ask({ other: ActorRef.schema }, { success: Schema.Number }),
  Demonitor: Actor.ask({ id: Schema.Number }),
  Link: Actor.ask({ other: ActorRef.schema }),
  Trap: Actor.ask({ enabled: Schema.Boolean }),
  Crash: Actor.tell({ message: Schema.String }),
  Stop: Actor.tell({}),
  Ping: Actor.ask({}, { success: Schema.String }),
  /** never replies (runs forked, so the actor keeps serving) */
  Hang: Actor.ask({}),
  /** location transparency: tells and asks the counter it was given */
  Bump: Actor.ask({ counter: ActorRef.schemaFor(Counter), by: Schema.Int }, { success: Schema.Int }),
  Record: Actor.tell({ n: Schema.Int }),
  Recorded: Actor.ask({}, { success: Schema.Struct({ count: Schema.Int, inOrder: Schema.Boolean, last: Schema.Int }) })
})

type Signal = Down | ExitSignal

interface ProbeSink {
  readonly signals: Queue.Queue<Signal>
  /** refs received in `Bump` messages, as decoded on the receiving node */
  readonly received: Array<ActorRef.ActorRef<any>>
}

const makeSink = Effect.map(Queue.unbounded<Signal>(), (signals): ProbeSink => ({ signals, received: [] }))

const makeProbe = (sink: ProbeSink) =>
  Probe.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const monitors = new Map<number, Parameters<typeof ctx.demonitor>[0]>()
    let count = 0
    let inOrder = true
    let last = -1
    return {
      Monitor: ({ other }) =>
        Effect.map(ctx.monitor(other), (m) => {
          monitors.set(m.id, m)
          return m.id
        }),
      Demonitor: ({ id }) => ctx.demonitor(monitors.get(id)!),
      Link: ({ other }) => ctx.link(other),
      Trap: ({ enabled }) => ctx.trapExit(enabled),
      Crash: ({ message }) => Effect.die(new Error(message)),
      Stop: () => ctx.stop(),
      Ping: () => Effect.succeed("pong"),
      Hang: () => Actor.fork(Effect.never),
      Bump: ({ counter, by }) =>
        Effect.gen(function*() {
          sink.received.push(counter)
          yield* counter.tell(Counter.Increment({ by }))
          return yield* counter.ask(Counter.Get())
        }).pipe(Effect.orDie),
      Record: ({ n }) =>
        Effect.sync(() => {
          if (n !== last + 1) inOrder = false
          last = n
          count++
        }),
      Recorded: () => Effect.sync(() => ({ count, inOrder, last })),
      onDown: (down) => Queue.offer(sink.signals, down),
      onExit: (exit) => Queue.offer(sink.signals, exit)
    }
  }))

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const fastReconnect: Partial<NodeOptions> = { reconnect: { initial: "20 millis", max: "200 millis" } }

const connect = (from: TestNode, to: TestNode) =>
  from.node.connect({ name: to.node.nodeId.name, host: "127.0.0.1", port: to.node.address.port }, "5 seconds")

/** `ref` as seen from `from`: bound through `from`'s resolver, so sends go over the transport. */
const remote = <D extends Actor.MessageDefs>(from: TestNode, ref: ActorRef.ActorRef<D>): ActorRef.ActorRef<D> => {
  const bound = from.system.refFor(ref.address) as ActorRef.ActorRef<D>
  assert.instanceOf(bound.target, RemoteTarget, `${ref.key} must be remote from ${from.node.nodeId.name}`)
  return bound
}

/** Subscribes now (before the events we wait for can happen). */
const subscribeEvents = (n: TestNode) => n.node.subscribe
const subscribeDeadLetters = (n: TestNode) => PubSub.subscribe(kernelOf(n.system).deadLetters)

/** The next item matching `predicate`, within `millis` (dies with `what` otherwise). */
const next = <A, B extends A>(
  sub: PubSub.Subscription<A>,
  predicate: (a: A) => a is B,
  what: string,
  millis = 5000
): Effect.Effect<B> =>
  Effect.gen(function*() {
    while (true) {
      const a = yield* PubSub.take(sub)
      if (predicate(a)) return a
    }
  }).pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

const isNodeDown = (name: string) => (e: NodeEvent): e is Extract<NodeEvent, { _tag: "NodeDown" }> =>
  e._tag === "NodeDown" && e.node.name === name
const isNodeUp = (name: string) => (e: NodeEvent): e is Extract<NodeEvent, { _tag: "NodeUp" }> =>
  e._tag === "NodeUp" && e.node.name === name
const isInvalidLetter = (d: DeadLetter): d is DeadLetter => d.reason._tag === "InvalidMessage"

const takeSignal = (sink: ProbeSink, what: string, millis = 5000) =>
  Queue.take(sink.signals).pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

const withTimeout = <A, E>(what: string, effect: Effect.Effect<A, E>, millis = 5000) =>
  effect.pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

/**
 * A round trip to an actor on the other node: everything that node queued on the connection
 * before its reply (signals, messages) has been handled on this side when it returns.
 */
const barrier = (to: ActorRef.ActorRef<typeof Probe.defs>) => withTimeout("barrier", to.ask(Probe.Ping()))

/** A TCP server on a free loopback port, closed (with its connections) with the scope. */
const listen = (onConnection: (socket: Net.Socket) => void) =>
  Effect.gen(function*() {
    const accepted = yield* Deferred.make<void>()
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => sockets.delete(socket))
      onConnection(socket)
      Deferred.doneUnsafe(accepted, Exit.void)
    })
    yield* Effect.acquireRelease(
      Effect.callback<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.sync(() => {
          for (const s of sockets) s.destroy()
          server.close()
        })
    )
    return { port: (server.address() as Net.AddressInfo).port, accepted, sockets }
  })

/** A TCP forwarder to a settable port; while holding, new connections are accepted but not forwarded. */
const makeProxy = Effect.gen(function*() {
  let target = 0
  let holding = false
  const heldSockets: Array<Net.Socket> = []
  const held = yield* Deferred.make<void>()
  const forward = (client: Net.Socket) => {
    const upstream = Net.connect({ host: "127.0.0.1", port: target })
    const kill = () => {
      client.destroy()
      upstream.destroy()
    }
    for (const s of [client, upstream]) {
      s.on("error", kill)
      s.on("close", kill)
    }
    client.pipe(upstream)
    upstream.pipe(client)
    server.sockets.add(upstream)
  }
  const server = yield* listen((client) => {
    if (holding) {
      heldSockets.push(client)
      Deferred.doneUnsafe(held, Exit.void)
    } else {
      forward(client)
    }
  })
  return {
    port: server.port,
    held,
    setTarget: (port: number) => {
      target = port
    },
    hold: () => {
      holding = true
    },
    release: () => {
      holding = false
      for (const client of heldSockets.splice(0)) forward(client)
    }
  }
})

const twoNodes = (extraA?: Partial<NodeOptions>, extraB?: Partial<NodeOptions>) =>
  Effect.gen(function*() {
    const b = yield* startNode("b", { spawnable: [CounterLive], ...extraB })
    const a = yield* startNode("a", extraA)
    yield* connect(a, b)
    return { a, b }
  })

// ---------------------------------------------------------------------------
// 1. tell / ask / errors / spawn / lookup / FIFO
// ---------------------------------------------------------------------------

describe("messaging", () => {
  it.live("tell, ask, typed errors, remote spawn and lookup", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      assert.instanceOf(counter.target, RemoteTarget)
      assert.strictEqual(counter.address.node.incarnation, b.node.nodeId.incarnation)
      yield* counter.tell(Counter.Increment({ by: 5 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 5)
      assert.strictEqual(yield* counter.ask(Counter.Decrement({ by: 2 })), 3)
      // a typed (protocol) error crosses the wire as itself
      const overdrawn = yield* Effect.flip(counter.ask(Counter.Decrement({ by: 100 })))
      assert.strictEqual(overdrawn._tag, "Overdrawn")
      assert.strictEqual((overdrawn as { balance: number }).balance, 3)
      assert.strictEqual(yield* counter.ask(Counter.Get()), 3) // the actor kept running

      // remote spawn of an allowed module, registered under a name there
      const spawned = yield* a.node.spawn("b", Counter, { name: "spawned" })
      assert.strictEqual(spawned.address.node.name, "b")
      yield* spawned.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* spawned.ask(Counter.Get()), 2)
      assert.isTrue(Option.isSome(b.system.whereis("spawned")))
      const again = yield* a.node.lookup("b", Counter, "spawned")
      assert.strictEqual(again.key, spawned.key)

      // the allowlist: Probe is not spawnable on b
      const refused = yield* Effect.flip(a.node.spawn("b", Probe, { name: "nope" }))
      assert.strictEqual(refused._tag, "RemoteSpawnError")
      assert.isTrue(Option.isNone(b.system.whereis("nope")))

      // lookups: a missing name, and a name registered with another protocol
      const missing = yield* Effect.flip(a.node.lookup("b", Counter, "missing"))
      assert.strictEqual(missing._tag, "ActorNotFound")
      const wrongProtocol = yield* Effect.flip(a.node.lookup("b", Probe, "counter"))
      assert.strictEqual(wrongProtocol._tag, "ActorNotFound")
      // an unknown node
      const noNode = yield* Effect.flip(a.node.lookup("zz", Counter, "counter"))
      assert.strictEqual(noNode._tag, "NodeDown")
    }).pipe(Effect.scoped))

  it.live("per-sender FIFO: 10 000 tells then an ask arrive in order", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const sink = yield* makeSink
      const recorder = remote(a, yield* b.system.spawn(makeProbe(sink)))
      const n = 10_000
      for (let i = 0; i < n; i++) yield* recorder.tell(Probe.Record({ n: i }))
      const result = yield* withTimeout("Recorded", recorder.ask(Probe.Recorded()), 15_000)
      assert.deepStrictEqual(result, { count: n, inOrder: true, last: n - 1 })
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// 2. refs inside messages
// ---------------------------------------------------------------------------

describe("refs inside messages", () => {
  it.live("a ref of an actor on A, sent to B, is used by B to tell and ask A's actor", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const counterOnA = yield* a.system.spawn(CounterLive)
      yield* counterOnA.tell(Counter.Increment({ by: 10 }))
      const sink = yield* makeSink
      const probeOnB = remote(a, yield* b.system.spawn(makeProbe(sink)))
      // B tells Increment(5) to A's counter, then asks it Get: both cross back to A
      assert.strictEqual(yield* probeOnB.ask(Probe.Bump({ counter: counterOnA, by: 5 })), 15)
      assert.strictEqual(yield* counterOnA.ask(Counter.Get()), 15)
      // the ref was decoded on B: same address, bound to B's system (so it routes to A)
      assert.strictEqual(sink.received.length, 1)
      const decoded = sink.received[0]!
      assert.deepStrictEqual(decoded.address, counterOnA.address)
      assert.notStrictEqual(decoded, counterOnA)
      assert.strictEqual(decoded._resolver, kernelOf(b.system))
      assert.instanceOf(decoded.target, RemoteTarget)
      // and a ref of B's own actor sent back to B binds to the local cell there
      const counterOnB = yield* b.system.spawn(CounterLive)
      assert.strictEqual(yield* probeOnB.ask(Probe.Bump({ counter: remote(a, counterOnB), by: 1 })), 1)
      assert.notInstanceOf(sink.received[1]!.target, RemoteTarget)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// 3. remote monitors
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
      assert.strictEqual(routerOf(b.node).peers.get("a")!.remoteMonitors.size, 0)
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
// 4. remote links
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

// ---------------------------------------------------------------------------
// 5. connection loss
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
      assert.strictEqual(routerOf(a.node).peers.get("b")!.pending.size, 1)

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
      assert.strictEqual(routerOf(b2.node).peers.get("a")!.remoteMonitors.size, 0)
    }).pipe(Effect.scoped))

  it.live("sends buffered while a dial is in flight: when the dial fails, none is lost silently", () =>
    Effect.gen(function*() {
      // a peer that accepts TCP connections and never answers the handshake
      const blackHole = yield* listen((socket) => socket.pause())
      const a = yield* startNode("a", { handshakeTimeout: "300 millis", reconnect: { initial: "10 seconds", max: "10 seconds" } })
      const letters = yield* subscribeDeadLetters(a)
      yield* Effect.forkChild(Effect.ignore(a.node.connect({ name: "c", host: "127.0.0.1", port: blackHole.port }, "200 millis")))
      yield* withTimeout("the dial", Deferred.await(blackHole.accepted))
      assert.isTrue(routerOf(a.node).peers.get("c")!.dialing)

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
      assert.strictEqual(routerOf(a.node).peers.get("c")!.buffer.length, 4, "all four are buffered")

      // the handshake times out: the tell is a dead letter, the ask fails, the monitor and link fire
      const letter = yield* next(letters, (d): d is DeadLetter => d.recipient === ghost.key, "dead letter of the buffered tell")
      assert.strictEqual(letter.reason._tag, "NoRoute")
      assert.strictEqual((yield* withTimeout("the buffered ask", Fiber.join(ask)))._tag, "NodeDown")
      const signals = [yield* takeSignal(sink, "Down"), yield* takeSignal(sink, "ExitSignal")]
      const down = signals.find((s) => s._tag === "Down")
      const exit = signals.find((s) => s._tag === "Exit")
      assert.deepStrictEqual(down?.reason, ExitReason.noconnection("c"))
      assert.deepStrictEqual(exit?.reason, ExitReason.noconnection("c"))
      assert.strictEqual(routerOf(a.node).peers.get("c")!.watches.size, 0)
      assert.strictEqual(routerOf(a.node).peers.get("c")!.links.size, 0)
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
      assert.isTrue(routerOf(a.node).peers.get("b")!.dialing)

      const sink = yield* makeSink
      const probe = yield* a.system.spawn(makeProbe(sink))
      yield* probe.ask(Probe.Trap({ enabled: true }))
      yield* oldCounter.tell(Counter.Increment({ by: 100 }))
      const ask = yield* Effect.forkChild(Effect.flip(oldCounter.ask(Counter.Get(), { timeout: askTimeout })), {
        startImmediately: true
      })
      yield* probe.ask(Probe.Monitor({ other: oldCounter }))
      yield* probe.ask(Probe.Link({ other: oldCounter }))
      assert.strictEqual(routerOf(a.node).peers.get("b")!.buffer.length, 4, "all four are buffered")

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
      assert.strictEqual(routerOf(b2.node).peers.get("a")!.remoteMonitors.size, 0)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// 6. invalid inbound messages
// ---------------------------------------------------------------------------

/** Sends an ask envelope as is (no validation, no encoding), registering its reply like RemoteTarget does. */
const rawAsk = (from: TestNode, to: ActorRef.ActorRef<any>, message: unknown) =>
  Effect.callback<unknown, unknown>((resume) => {
    const peer = routerOf(from.node).peers.get(to.address.node.name)!
    const askId = peer.nextAskId++
    const reply = (exit: Exit.Exit<unknown, unknown>) => resume(exit)
    peer.pending.set(askId, { reply, protocol: Counter as any, tag: (message as { _tag: string })._tag })
    peer.askIds.set(reply, askId)
    peer.conn!.send([Kind.Ask, to.address.id, to.address.protocol, message, askId, null])
  }).pipe(Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die(new Error("raw ask: no reply")) }))

describe("invalid inbound messages", () => {
  it.live("a message failing the target's Schema: dead letter (InvalidMessage), the ask gets InvalidMessage, the link stays up", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const counterLocal = yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      const letters = yield* subscribeDeadLetters(b)
      const conn = routerOf(a.node).peers.get("b")!.conn!

      // a tell whose field is not an Int, written straight onto the connection
      conn.send([Kind.Tell, counter.address.id, "Counter", { _tag: "Increment", by: 1.5 }])
      const letter = yield* next(letters, isInvalidLetter, "InvalidMessage dead letter")
      assert.strictEqual(letter.recipient, counterLocal.key)
      assert.deepStrictEqual(letter.message, { _tag: "Increment", by: 1.5 })

      // an ask with a wrong field type, and one with an unknown tag
      const invalid = yield* Effect.flip(rawAsk(a, counter, { _tag: "Decrement", by: "lots" }))
      assert.strictEqual((invalid as { _tag: string })._tag, "InvalidMessage")
      yield* next(letters, isInvalidLetter, "dead letter of the invalid ask")
      const unknownTag = yield* Effect.flip(rawAsk(a, counter, { _tag: "Explode" }))
      assert.strictEqual((unknownTag as { _tag: string })._tag, "InvalidMessage")

      // the connection is the same one, and valid messages still work
      assert.strictEqual(routerOf(a.node).peers.get("b")!.conn, conn)
      assert.isUndefined(conn.closed)
      yield* counter.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 2) // the invalid tell was not applied
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// 7. protocol fingerprint mismatch
// ---------------------------------------------------------------------------

describe("protocol fingerprint mismatch", () => {
  it.live("tell and ask fail with ProtocolMismatch when the peer's fingerprint differs or is missing", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      const peer = routerOf(a.node).peers.get("b")!
      const original = peer.protocols["Counter"]!
      peer.protocols["Counter"] = "different"

      const tellError = yield* Effect.flip(counter.tell(Counter.Increment({ by: 1 })))
      assert.strictEqual(tellError._tag, "ProtocolMismatch")
      if (tellError._tag === "ProtocolMismatch") {
        assert.strictEqual(tellError.node, "b")
        assert.strictEqual(tellError.remote, "different")
        assert.strictEqual(tellError.local, original)
      }
      const askError = yield* Effect.flip(counter.ask(Counter.Get()))
      assert.strictEqual(askError._tag, "ProtocolMismatch")
      assert.throws(() => counter.tellUnsafe(Counter.Increment({ by: 1 })))

      delete peer.protocols["Counter"]
      const unknown = yield* Effect.flip(counter.ask(Counter.Get()))
      assert.strictEqual(unknown._tag, "ProtocolMismatch")
      assert.isUndefined((unknown as { remote?: string }).remote)

      // nothing was delivered; with the right fingerprint everything works again
      peer.protocols["Counter"] = original
      assert.strictEqual(yield* counter.ask(Counter.Get()), 0)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// 8. heartbeat failure detection
// ---------------------------------------------------------------------------

const heartbeatMillis = 100
const acceptablePauseMillis = 500
const detection: Partial<NodeOptions> = {
  heartbeatInterval: Duration.millis(heartbeatMillis),
  acceptablePause: Duration.millis(acceptablePauseMillis)
}
/**
 * How late this process's timers run: the largest delay of a 10 ms interval timer beyond its
 * period while the monitor is on. Failure detection runs on timers, so its deadline stretches by
 * this (on a loaded machine), and by a little more for the waiting fiber to wake up.
 */
const lagMonitor = Effect.acquireRelease(
  Effect.sync(() => {
    let last = performance.now()
    let max = 0
    const timer = setInterval(() => {
      const now = performance.now()
      max = Math.max(max, now - last - 10)
      last = now
    }, 10)
    return { timer, max: () => Math.round(max) }
  }),
  (m) => Effect.sync(() => clearInterval(m.timer))
)
const wakeUpSlackMillis = 50

describe("heartbeat failure detection", () => {
  it.live("a peer that goes silent without closing is declared lost within acceptablePause + one interval", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes({ ...detection, ...fastReconnect }, detection)
      const events = yield* subscribeEvents(a)
      const sinkW = yield* makeSink
      const watcher = yield* a.system.spawn(makeProbe(sinkW))
      const linkedA = yield* a.system.spawn(makeProbe(yield* makeSink))
      const targetLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      const target = remote(a, targetLocal)
      const linkedBLocal = yield* b.system.spawn(makeProbe(yield* makeSink))
      yield* watcher.ask(Probe.Monitor({ other: target }))
      yield* linkedA.ask(Probe.Link({ other: remote(a, linkedBLocal) }))
      yield* barrier(target)

      // b stops reading and stops sending heartbeats; its socket stays open
      const bConn = routerOf(b.node).peers.get("a")!.conn!
      const internals = bConn as unknown as { socket: { pause(): void }; stopTimer: () => void }
      assert.isFunction(internals.stopTimer, "Connection internals changed: update this test")
      const lag = yield* lagMonitor
      internals.socket.pause()
      internals.stopTimer()
      const paused = Date.now()

      const down = yield* next(events, isNodeDown("b"), "NodeDown", 5000)
      const detectedAfter = Date.now() - paused
      assert.include(down.reason, "heartbeat deadline")
      assert.isAtLeast(detectedAfter, acceptablePauseMillis - heartbeatMillis - lag.max(), "not declared lost early")
      assert.isAtMost(detectedAfter, acceptablePauseMillis + heartbeatMillis + lag.max() + wakeUpSlackMillis, `lag ${lag.max()} ms`)
      const monitorDown = (yield* takeSignal(sinkW, "Down(NoConnection)")) as Down
      assert.deepStrictEqual(monitorDown.reason, ExitReason.noconnection("b"))
      assert.deepStrictEqual(yield* withTimeout("linked exit", a.system.awaitExit(linkedA)), ExitReason.noconnection("b"))
      yield* Effect.logInfo(`heartbeat failure detected after ${detectedAfter} ms (timer lag ${lag.max()} ms)`)

      // a redials; b accepts the new connection from the same dialler and drops its stale one
      yield* next(events, isNodeUp("b"), "NodeUp after the reconnect", 5000)
      assert.strictEqual(yield* target.ask(Probe.Ping()), "pong")
      assert.isDefined(bConn.closed)
      // only then does b see its side of the link go (its own detector was switched off)
      assert.deepStrictEqual(
        yield* withTimeout("exit of b's linked actor", b.system.awaitExit(linkedBLocal)),
        ExitReason.noconnection("a")
      )
    }).pipe(Effect.scoped))

  it.live("a healthy idle connection survives many heartbeat deadlines", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes(detection, detection)
      const events = yield* subscribeEvents(a)
      const conn = routerOf(a.node).peers.get("b")!.conn!
      const probe = remote(a, yield* b.system.spawn(makeProbe(yield* makeSink)))
      // idle for three acceptable pauses: this wait is the deadline the test is about
      const early = yield* PubSub.take(events).pipe(
        Effect.repeat({ until: (e) => isNodeDown("b")(e) }),
        Effect.timeoutOption(3 * acceptablePauseMillis)
      )
      assert.isTrue(Option.isNone(early), "no NodeDown")
      assert.isUndefined(conn.closed)
      assert.strictEqual(routerOf(a.node).peers.get("b")!.conn, conn)
      assert.strictEqual(yield* probe.ask(Probe.Ping()), "pong")
    }).pipe(Effect.scoped))
})

