/**
 * Shared by the remote-semantics suites (test/transport/remote-*.test.ts): several nodes in one
 * process, talking over real loopback TCP.
 *
 * Every ref used across nodes is bound through the sending node's resolver (`remote(...)`),
 * so the tests always exercise the transport, never a direct in-process shortcut. Waits are
 * bounded (events, Deferreds, queues with timeouts); ordering arguments use "barriers": a
 * round trip over the same connection, which TCP and the router keep in FIFO order.
 */
import * as Net from "node:net"
import { assert } from "@effect/vitest"
import { Deferred, Effect, Exit, PubSub, Queue, Schema } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { Actor, ActorContext, ActorRef, type DeadLetter, type Down, ExitSignal } from "../../src/index.ts"
import type { NodeEvent } from "../../src/transport/Node.ts"
import { RemoteTarget } from "../../src/transport/internal/remoteTarget.ts"
import { type NodeOptions } from "../../src/transport/Node.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"
import { startNode, type TestNode } from "../../src/testing/TestNode.ts"

/** A port nothing listens on now (listened on, then closed): for a node started later, or a dial refused. */
export const freePort = () =>
  Effect.callback<number>((resume) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resume(Effect.succeed(port)))
    })
  })

// ---------------------------------------------------------------------------
// a probe actor: links, monitors, exits, ordering, refs in messages
// ---------------------------------------------------------------------------

export const Probe = Actor.make("test/Probe", {
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

export interface ProbeSink {
  readonly signals: Queue.Queue<Signal>
  /** refs received in `Bump` messages, as decoded on the receiving node */
  readonly received: Array<ActorRef.ActorRef<any>>
}

export const makeSink = Effect.map(Queue.unbounded<Signal>(), (signals): ProbeSink => ({ signals, received: [] }))

export const makeProbe = (sink: ProbeSink) =>
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

export const fastReconnect: Partial<NodeOptions> = { reconnect: { initial: "20 millis", max: "200 millis" } }

export const connect = (from: TestNode, to: TestNode) =>
  from.node.connect({ name: to.node.nodeId.name, host: "127.0.0.1", port: to.node.address.port }, "5 seconds")

/** `ref` as seen from `from`: bound through `from`'s resolver, so sends go over the transport. */
export const remote = <D extends Actor.MessageDefs>(from: TestNode, ref: ActorRef.ActorRef<D>): ActorRef.ActorRef<D> => {
  const bound = from.system.refFor(ref.address) as ActorRef.ActorRef<D>
  assert.instanceOf(bound.target, RemoteTarget, `${ref.key} must be remote from ${from.node.nodeId.name}`)
  return bound
}

/** Subscribes now (before the events we wait for can happen). */
export const subscribeEvents = (n: TestNode) => n.node.subscribe
export const subscribeDeadLetters = (n: TestNode) => PubSub.subscribe(kernelOf(n.system).deadLetters)

/** The next item matching `predicate`, within `millis` (dies with `what` otherwise). */
export const next = <A, B extends A>(
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

export const isNodeDown = (name: string) => (e: NodeEvent): e is Extract<NodeEvent, { _tag: "NodeDown" }> =>
  e._tag === "NodeDown" && e.node.name === name
export const isNodeUp = (name: string) => (e: NodeEvent): e is Extract<NodeEvent, { _tag: "NodeUp" }> =>
  e._tag === "NodeUp" && e.node.name === name
export const isInvalidLetter = (d: DeadLetter): d is DeadLetter => d.reason._tag === "InvalidMessage"

export const takeSignal = (sink: ProbeSink, what: string, millis = 5000) =>
  Queue.take(sink.signals).pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

export const withTimeout = <A, E>(what: string, effect: Effect.Effect<A, E>, millis = 5000) =>
  effect.pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

/**
 * A round trip to an actor on the other node: everything that node queued on the connection
 * before its reply (signals, messages) has been handled on this side when it returns.
 */
export const barrier = (to: ActorRef.ActorRef<typeof Probe.defs>) => withTimeout("barrier", to.ask(Probe.Ping()))

/** A TCP server on a free loopback port, closed (with its connections) with the scope. */
export const listen = (onConnection: (socket: Net.Socket) => void) =>
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
export const makeProxy = Effect.gen(function*() {
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

export const twoNodes = (extraA?: Partial<NodeOptions>, extraB?: Partial<NodeOptions>) =>
  Effect.gen(function*() {
    const b = yield* startNode("b", { spawnable: [CounterLive], ...extraB })
    const a = yield* startNode("a", extraA)
    yield* connect(a, b)
    return { a, b }
  })
