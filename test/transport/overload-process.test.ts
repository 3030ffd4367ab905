/**
 * Failure detection under overload, between processes: node "p" (a child process,
 * `test/fixtures/node-main.ts --flood t`) floods an actor of this process's node "t" that never
 * handles anything, so its mailbox stays full; then "p" is frozen with SIGSTOP. However full the
 * mailbox, "t" must still read "p"'s heartbeats — and notice when they stop, within
 * `acceptablePause + heartbeatInterval` (plus this process's measured timer lag).
 */
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, PubSub, Redacted, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { Counter } from "../../examples/counter.ts"
import type { NodeEvent } from "../../src/transport/Node.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { kernelOf } from "../../src/system/ActorSystem.ts"

const fixture = fileURLToPath(new URL("../fixtures/node-main.ts", import.meta.url))
const secret = "overload-process-secret"
const heartbeatMillis = 100
const acceptablePauseMillis = 500
const capacity = 16

describe("failure detection while a mailbox is full", () => {
  it.live("a frozen flooding peer is declared lost within the detection deadline, though the mailbox it fills stays full", () =>
    Effect.gen(function*() {
      const { node, system } = yield* TestNode.startNode("t", {
        cluster: "overload-process",
        secret: Redacted.make(secret),
        heartbeatInterval: Duration.millis(heartbeatMillis),
        acceptablePause: Duration.millis(acceptablePauseMillis)
      })
      const never = yield* Deferred.make<void>()
      // the sink never finishes a message: once full, its mailbox stays full
      const sink = yield* system.spawn(
        Counter.behavior(Effect.succeed({
          Increment: () => Deferred.await(never),
          Decrement: () => Effect.succeed(0),
          Get: () => Effect.succeed(0)
        })),
        { name: "sink", mailbox: { capacity, overflow: "backpressure" } }
      )
      const mailbox = { get size() { return kernelOf(system).processInfo(sink)?.mailboxSize ?? 0 } }
      const events = yield* node.subscribe

      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const handle = yield* spawner.spawn(ChildProcess.make(process.execPath, [
        fixture,
        ...["--name", "p", "--cluster", "overload-process", "--flood", "t"],
        ...["--peer", `t@127.0.0.1:${node.address.port}`],
        ...["--heartbeat", String(heartbeatMillis), "--pause", String(acceptablePauseMillis)]
      ], {
        env: { TELEX_SECRET: secret, NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache") },
        extendEnv: true,
        forceKillAfter: "2 seconds"
      }))
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
        Stream.runForEach((s) => Effect.sync(() => void stderr.push(s))),
        Effect.forkScoped
      )
      for (let i = 0; i < 400 && mailbox.size < capacity; i++) yield* Effect.sleep("50 millis")
      assert.isAtLeast(mailbox.size, capacity, `the flood did not fill the mailbox; child log:\n${stderr.join("")}`)
      // the flood goes on for a while: the sink stays full and p stays connected
      yield* Effect.sleep(Duration.millis(3 * acceptablePauseMillis))
      assert.isTrue(node.peers().some((p) => p.name === "p" && p.up), "a flood is not a failure")

      let lag = 0
      let last = performance.now()
      const lagTimer = setInterval(() => {
        const now = performance.now()
        lag = Math.max(lag, now - last - 10)
        last = now
      }, 10)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(lagTimer)))
      process.kill(handle.pid, "SIGSTOP")
      const stoppedAt = Date.now()
      yield* PubSub.take(events).pipe(
        Effect.repeat({ until: (e: NodeEvent) => e._tag === "NodeDown" && e.node.name === "p" }),
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("the frozen peer was never declared lost")) })
      )
      const detectedAfter = Date.now() - stoppedAt
      yield* Effect.logInfo(`frozen flooding peer: NodeDown after ${detectedAfter} ms (lag ${Math.round(lag)} ms)`)
      assert.isAtLeast(mailbox.size, capacity, "detected while the mailbox was still full")
      assert.isAtMost(detectedAfter, acceptablePauseMillis + heartbeatMillis + lag + 250, `lag ${Math.round(lag)} ms`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)
})
