/**
 * Nodes in real child processes (`test/fixtures/node-main.ts`, run with `process.execPath`):
 * a peer killed with SIGKILL and restarted (a new incarnation), and a peer frozen with SIGSTOP
 * (silent but connected) and thawed with SIGCONT. The test process runs node "t" and dials the
 * child node "p".
 *
 * Every child is spawned in a scope (killed when it closes, also on failure paths; a stopped
 * child gets SIGCONT first, and SIGKILL after 2 s if SIGTERM is not enough). Deadlines about
 * failure detection are checked against `acceptablePause + heartbeatInterval`, plus however late
 * this process's own timers ran meanwhile (measured), so a loaded machine does not fail them.
 */
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, PubSub, Queue, Redacted, Schema, Scope, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { Counter } from "../../examples/counter.ts"
import {
  Actor,
  ActorContext,
  ActorRef,
  type DeadLetter,
  type Down,
  ExitReason,
  type ExitSignal
} from "../../src/index.ts"
import type { NodeEvent } from "../../src/transport/Node.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"

const fixture = fileURLToPath(new URL("../fixtures/node-main.ts", import.meta.url))
const secret = "process-test-secret"
const heartbeatMillis = 100
const acceptablePauseMillis = 500
const detectionDeadline = acceptablePauseMillis + heartbeatMillis

// ---------------------------------------------------------------------------
// the child node
// ---------------------------------------------------------------------------

interface Peer {
  readonly pid: number
  readonly port: number
  readonly incarnation: number
  /** waits until the process has exited (by any signal) */
  readonly exited: Effect.Effect<void>
  /** the child's last stderr lines, for failure messages */
  readonly log: () => string
}

/** Starts node "p" in a child process (in `scope`) and waits for its `ready <port> <incarnation>` line. */
const startPeer = (scope: Scope.Scope, port = 0) =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const handle = yield* spawner.spawn(
      ChildProcess.make(
        process.execPath,
        [
          fixture,
          ...["--name", "p", "--port", String(port), "--cluster", "process-test"],
          ...["--heartbeat", String(heartbeatMillis), "--pause", String(acceptablePauseMillis)],
          ...["--handshake-timeout", "1000"]
        ],
        {
          env: { TELEX_SECRET: secret, NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache") },
          extendEnv: true,
          forceKillAfter: "2 seconds"
        }
      )
    )
    // runs before the spawner's release: a stopped process cannot handle SIGTERM
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        try {
          process.kill(handle.pid, "SIGCONT")
        } catch {
          // already gone
        }
      })
    )
    const stderr: Array<string> = []
    yield* handle.stderr.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => Effect.sync(() => stderr.push(line) > 50 && stderr.shift())),
      Effect.ignore,
      Effect.forkScoped
    )
    const lines = yield* Queue.unbounded<string>()
    yield* handle.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => Queue.offer(lines, line)),
      Effect.ignore,
      Effect.forkScoped
    )
    const log = () => stderr.join("\n")
    const ready = yield* Queue.take(lines).pipe(
      Effect.repeat({ until: (line) => line.startsWith("ready ") }),
      Effect.timeoutOrElse({
        duration: "40 seconds",
        orElse: () => Effect.die(new Error(`the child node did not get ready; its stderr:\n${log()}`))
      })
    )
    const [, readyPort, incarnation] = ready.split(" ")
    return {
      pid: handle.pid,
      port: Number(readyPort),
      incarnation: Number(incarnation),
      exited: Effect.ignore(handle.exitCode),
      log
    } satisfies Peer
  }).pipe(Scope.provide(scope))

const stopPeer = (scope: Scope.Closeable) => Scope.close(scope, Exit.void)

// ---------------------------------------------------------------------------
// the test-side node and a watcher actor
// ---------------------------------------------------------------------------

const Watcher = Actor.make("test/Watcher", {
  Monitor: Actor.ask({ other: ActorRef.schema }, { success: Schema.Number }),
  Link: Actor.ask({ other: ActorRef.schema }),
  Trap: Actor.ask({ enabled: Schema.Boolean })
})

const makeWatcher = (signals: Queue.Queue<Down | ExitSignal>) =>
  Watcher.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Monitor: ({ other }) => Effect.map(ctx.monitor(other), (m) => m.id),
      Link: ({ other }) => ctx.link(other),
      Trap: ({ enabled }) => ctx.trapExit(enabled),
      onDown: (down) => Queue.offer(signals, down),
      onExit: (exit) => Queue.offer(signals, exit)
    }
  }))

const startTestNode = TestNode.startNode("t", {
  cluster: "process-test",
  secret: Redacted.make(secret),
  heartbeatInterval: Duration.millis(heartbeatMillis),
  acceptablePause: Duration.millis(acceptablePauseMillis),
  handshakeTimeout: "1 second",
  reconnect: { initial: "50 millis", max: "300 millis" }
})

const bounded = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, millis = 5000) =>
  effect.pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

const nextMatching = <A>(sub: PubSub.Subscription<A>, predicate: (a: A) => boolean, what: string, millis = 5000) =>
  bounded(what, PubSub.take(sub).pipe(Effect.repeat({ until: predicate })), millis)

const isNodeDown = (e: NodeEvent) => e._tag === "NodeDown" && e.node.name === "p"
const isNodeUp = (incarnation: number) => (e: NodeEvent) =>
  e._tag === "NodeUp" && e.node.name === "p" && e.node.incarnation === incarnation

/**
 * How late this process's timers run: the largest delay of a 10 ms interval timer beyond its
 * period while the monitor is on. Failure detection runs on timers, so its deadline stretches by this.
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

/** measured times, in the test output */
const note = (line: string) => Effect.logInfo(line)

// ---------------------------------------------------------------------------

describe("nodes in child processes", () => {
  it.live(
    "SIGKILL: Down(NoConnection) within the detection deadline; the restarted peer is a new incarnation, old refs are refused",
    () =>
      Effect.gen(function*() {
        const t = yield* startTestNode
        const events = yield* t.node.subscribe
        const deadLetters = yield* PubSub.subscribe(kernelOf(t.system).deadLetters)
        const scope1 = yield* Scope.make()
        yield* Effect.addFinalizer(() => stopPeer(scope1))
        const p1 = yield* startPeer(scope1)

        const connected = yield* t.node.connect({ name: "p", host: "127.0.0.1", port: p1.port }, "10 seconds")
        assert.strictEqual(connected.incarnation, p1.incarnation)
        const oldCounter = yield* t.node.lookup("p", Counter, "counter")
        assert.strictEqual(oldCounter.address.node.incarnation, p1.incarnation)
        yield* oldCounter.tell(Counter.Increment({ by: 5 }))
        assert.strictEqual(yield* oldCounter.ask(Counter.Get()), 5)

        const signals = yield* Queue.unbounded<Down | ExitSignal>()
        const watcher = yield* t.system.spawn(makeWatcher(signals))
        yield* watcher.ask(Watcher.Trap({ enabled: true }))
        const monitorId = yield* watcher.ask(Watcher.Monitor({ other: oldCounter }))
        yield* watcher.ask(Watcher.Link({ other: oldCounter }))
        assert.strictEqual(yield* oldCounter.ask(Counter.Get()), 5) // round trip: monitor and link are in place

        const lag = yield* lagMonitor
        const killedAt = Date.now()
        process.kill(p1.pid, "SIGKILL")
        const first = yield* bounded("the Down / exit signal", Queue.take(signals), 10_000)
        const detectedAfter = Date.now() - killedAt
        const second = yield* bounded("the Down / exit signal", Queue.take(signals))
        const down = [first, second].find((s) => s._tag === "Down") as Down
        const exit = [first, second].find((s) => s._tag === "Exit") as ExitSignal
        assert.strictEqual(down.monitor.id, monitorId)
        assert.deepStrictEqual(down.reason, ExitReason.noconnection("p"))
        assert.deepStrictEqual(exit.reason, ExitReason.noconnection("p"))
        assert.isAtMost(detectedAfter, detectionDeadline + lag.max() + 50, `lag ${lag.max()} ms`)
        yield* nextMatching(events, isNodeDown, "NodeDown")
        yield* bounded("the killed process to exit", p1.exited)
        yield* note(`SIGKILL: Down(NoConnection) after ${detectedAfter} ms (deadline ${detectionDeadline} ms, timer lag ${lag.max()} ms)`)

        // the same node restarts on the same port: a new incarnation; the link actor reconnects by itself
        const scope2 = yield* Scope.make()
        yield* Effect.addFinalizer(() => stopPeer(scope2))
        const p2 = yield* startPeer(scope2, p1.port)
        const readyAt = Date.now()
        assert.strictEqual(p2.port, p1.port)
        assert.notStrictEqual(p2.incarnation, p1.incarnation)
        yield* nextMatching(events, isNodeUp(p2.incarnation), "NodeUp of the new incarnation", 10_000)
        yield* note(`SIGKILL: reconnected ${Date.now() - readyAt} ms after the restarted peer was ready`)

        const newCounter = yield* t.node.lookup("p", Counter, "counter")
        assert.strictEqual(newCounter.address.node.incarnation, p2.incarnation)
        assert.strictEqual(newCounter.address.id, oldCounter.address.id, "same actor id: only the incarnation tells them apart")
        assert.strictEqual(yield* newCounter.ask(Counter.Get()), 0)

        // the old incarnation's ref: tell -> dead letter, ask -> NoProc; never delivered to the new counter
        yield* oldCounter.tell(Counter.Increment({ by: 100 }))
        const letter = yield* nextMatching(deadLetters, (d: DeadLetter) => d.recipient === oldCounter.key, "dead letter")
        assert.strictEqual(letter.reason._tag, "NoSuchActor")
        const noproc = yield* Effect.flip(oldCounter.ask(Counter.Get()))
        assert.strictEqual(noproc._tag, "NoProc")
        // nor signals: a monitor fires NoProc at once, a stop does not reach the successor
        yield* watcher.ask(Watcher.Monitor({ other: oldCounter }))
        const noprocDown = yield* bounded("Down(NoProc)", Queue.take(signals))
        assert.deepStrictEqual(noprocDown.reason, ExitReason.noproc)
        yield* bounded("stop through the old ref", t.system.stop(oldCounter))
        assert.strictEqual(yield* newCounter.ask(Counter.Get()), 0, "the new counter is unaffected and alive")
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    120_000
  )

  it.live(
    "SIGSTOP longer than acceptablePause: NodeDown; SIGCONT: the same incarnation reconnects",
    () =>
      Effect.gen(function*() {
        const t = yield* startTestNode
        const events = yield* t.node.subscribe
        const scope = yield* Scope.make()
        yield* Effect.addFinalizer(() => stopPeer(scope))
        const p = yield* startPeer(scope)
        yield* t.node.connect({ name: "p", host: "127.0.0.1", port: p.port }, "10 seconds")
        const counter = yield* t.node.lookup("p", Counter, "counter")
        yield* counter.tell(Counter.Increment({ by: 3 }))
        assert.strictEqual(yield* counter.ask(Counter.Get()), 3)
        const signals = yield* Queue.unbounded<Down | ExitSignal>()
        const watcher = yield* t.system.spawn(makeWatcher(signals))
        yield* watcher.ask(Watcher.Monitor({ other: counter }))
        assert.strictEqual(yield* counter.ask(Counter.Get()), 3)

        const lag = yield* lagMonitor
        const stoppedAt = Date.now()
        process.kill(p.pid, "SIGSTOP")
        const down = yield* nextMatching(events, isNodeDown, "NodeDown", 10_000)
        const detectedAfter = Date.now() - stoppedAt
        assert.strictEqual(down._tag, "NodeDown")
        if (down._tag === "NodeDown") assert.include(down.reason, "heartbeat deadline")
        assert.isAtLeast(detectedAfter, acceptablePauseMillis - heartbeatMillis - lag.max(), "not declared lost early")
        assert.isAtMost(detectedAfter, detectionDeadline + lag.max() + 50, `lag ${lag.max()} ms`)
        const monitorDown = yield* bounded("Down(NoConnection)", Queue.take(signals))
        assert.deepStrictEqual(monitorDown.reason, ExitReason.noconnection("p"))
        yield* note(`SIGSTOP: NodeDown after ${detectedAfter} ms (deadline ${detectionDeadline} ms, timer lag ${lag.max()} ms)`)

        // while it is frozen, an ask fails with NodeDown (at once, or when the redial's handshake times out)
        const askStarted = Date.now()
        const error = yield* Effect.flip(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
        assert.strictEqual(error._tag, "NodeDown")
        assert.isBelow(Date.now() - askStarted, 30_000)

        process.kill(p.pid, "SIGCONT")
        const continuedAt = Date.now()
        yield* nextMatching(events, isNodeUp(p.incarnation), "NodeUp of the same incarnation", 15_000)
        yield* note(`SIGSTOP: reconnected ${Date.now() - continuedAt} ms after SIGCONT`)
        // the same process, the same incarnation: the old ref still works, the state is intact
        assert.strictEqual(yield* counter.ask(Counter.Get()), 3)
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    120_000
  )
})
