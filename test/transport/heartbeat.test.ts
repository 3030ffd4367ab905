/**
 * Heartbeat failure detection: a silent peer is declared lost in bounded time; a healthy idle
 * connection is kept. The probe actor and the helpers are in ./_remote.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, PubSub } from "effect"
import { type Down, ExitReason } from "../../src/index.ts"
import { routerOf, type NodeOptions } from "../../src/transport/Node.ts"
import { Probe, barrier, fastReconnect, isNodeDown, isNodeUp, makeProbe, makeSink, next, remote, subscribeEvents, takeSignal, twoNodes, withTimeout } from "./_remote.ts"

// ---------------------------------------------------------------------------
// heartbeat failure detection
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
