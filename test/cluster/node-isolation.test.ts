/**
 * A node is whole or gone, never half alive (Erlang's permanent application: when its top
 * supervisor terminates, the node stops, and heart/systemd starts it again).
 *
 * - In one process, two nodes over loopback TCP: the application tree of node `a` gives up past
 *   the root's intensity; `rootExit` completes, and `a`'s transport is still supervised — a
 *   closed connection is re-dialled and asks flow again.
 * - `telex node` as a real process: a dependency outage makes the app supervisor (started on
 *   `system.root`, the documented pattern) and then the root give up; the process logs why and
 *   exits with code 1.
 * - `telex start`: the same node is restarted by the launcher, fails while the outage lasts, and
 *   comes back when it ends; the other node is never restarted and its links stay supervised.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted, Schema, Scope } from "effect"
import { Actor, ActorSystem, Supervisor } from "../../src/index.ts"
import * as ExitReason from "../../src/actors/ExitReason.ts"
import { Node } from "../../src/transport/Node.ts"
import { Probe, Worker, workerSpec } from "../supervision/helpers.ts"
import { eventually, quiet } from "./_helpers.ts"
import { freePorts, killAll, telex } from "./_process.ts"

const OUTAGE_APP = fileURLToPath(new URL("../fixtures/outage-app.ts", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "telex-node-isolation-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

const SECRET = { TELEX_SECRET: "node-isolation-secret-0123456789" }

const Echo = Actor.make("test/IsolationEcho", { Echo: Actor.ask({ text: Schema.String }, { success: Schema.String }) })
const EchoLive = Echo.behavior(Effect.succeed({ Echo: ({ text }) => Effect.succeed(text) }))

const startNode = (name: string, root?: Supervisor.Options) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const layer = Node.layerWithSystem({
      name,
      cluster: "node-isolation",
      secret: Redacted.make("node-isolation-secret"),
      heartbeatInterval: "200 millis",
      acceptablePause: "3 seconds",
      reconnect: { initial: "50 millis", max: "300 millis" },
      system: root !== undefined ? { root } : {}
    })
    const ctx = yield* Layer.buildWithScope(layer, scope)
    return { node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem) }
  })

describe("node isolation: the application tree cannot take the node's services down", () => {
  it.live("the root gives up: rootExit completes, and the transport still re-dials and carries asks", () =>
    quiet(Effect.gen(function*() {
      const a = yield* startNode("a", { intensity: 1, backoff: false })
      const b = yield* startNode("b")
      yield* b.system.spawn(EchoLive, { name: "echo" })
      yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port }, "20 seconds")
      const echo = yield* a.node.lookup("b", Echo, "echo")
      assert.strictEqual(yield* echo.ask(Echo.Echo({ text: "before" }), { timeout: "10 seconds" }), "before")

      // an app supervisor whose only child cannot start again once it has crashed
      const probe = new Probe()
      const app = Supervisor.make({
        intensity: 1,
        backoff: false,
        children: [workerSpec("db", probe, { failOnStart: (n) => n > 1 })]
      })
      yield* Supervisor.startChild(a.system.root, Supervisor.child("app", app))
      yield* probe.ref("db").tell(Worker.Crash())
      const reason = yield* a.system.rootExit.pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(reason._tag, "Error", ExitReason.format(reason))

      // the services tree is untouched
      const services = yield* Supervisor.whichChildren(a.system.services)
      assert.deepStrictEqual(services.map((c) => [c.id, c.status]), [["transport", "running"]])
      // a's link to b is still supervised: a closed connection is re-dialled
      const before = a.node.peers().find((p) => p.name === "b")?.node
      yield* a.node.disconnect("b", "test: drop the link")
      yield* eventually("a is connected to b again", () => a.node.peers().some((p) => p.name === "b" && p.up))
      assert.deepStrictEqual(a.node.peers().find((p) => p.name === "b")?.node, before, "the same incarnation of b")
      const again = yield* a.node.lookup("b", Echo, "echo")
      assert.strictEqual(yield* again.ask(Echo.Echo({ text: "after" }), { timeout: "10 seconds" }), "after")
    })), 60_000)
})

const config = (name: string, ports: ReadonlyArray<number>, run: Record<string, Array<string>>, extra: object = {}) => {
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify({
    cluster: name,
    app: OUTAGE_APP,
    nodes: Object.keys(run).map((n, i) => ({ name: n, port: ports[i], run: run[n] })),
    // a node process starved of CPU for a few seconds must not look dead
    heartbeat: { interval: "500ms", acceptablePause: "10s" },
    reconnect: { initial: "200ms", max: "1s" },
    supervision: { intensity: 1, period: "10s" },
    ...extra
  }, null, 2))
  return file
}

describe.concurrent("node isolation: a node whose application gives up exits non-zero (processes)", () => {
  it("telex node: a dependency outage makes the root give up; the process logs why and exits with code 1", async () => {
    const [p1] = await freePorts(1)
    const outage = join(dir, "outage-node")
    const file = config("outage-node", [p1!], { n1: ["dependent"] })
    const node = telex(["node", "--config", file, "--name", "n1"], { env: { ...SECRET, TELEX_OUTAGE_FILE: outage } })
    await node.waitFor("n1 ready", (out) => out.includes("node n1 ready"), 90_000)
    writeFileSync(outage, "down")
    const result = await node.result(60_000)
    const why = node.describe()
    assert.strictEqual(result.code, 1, `exit code\n${why}`)
    assert.strictEqual(result.signal, null, why)
    assert.match(result.stdout, /ERROR the root supervisor gave up \(.*more than 1 restarts.*last failure: app/, why)
    assert.match(result.stdout, /stopping node n1 with exit code 1/, why)
    assert.include(result.stderr, "telex: the root supervisor gave up", why)
    // it stopped in order: the stats line is written by the node's last finalizer
    assert.include(result.stdout, "@@telex-stats", why)
  }, 180_000)

  it("telex start: the failing node is restarted until the outage ends and comes back; the other node is never restarted", async () => {
    const ports = await freePorts(2)
    const outage = join(dir, "outage-start")
    const file = config("outage-start", ports, { n1: ["dependent"], n2: ["idle"] }, { launcher: { intensity: 20, period: "60s" } })
    const launcher = telex(["start", file], { env: { ...SECRET, TELEX_OUTAGE_FILE: outage }, cwd: dir })
    const formed = (out: string) => out.split("nodes up 2/2 — cluster formed").length - 1
    await launcher.waitFor("the cluster formed", (out) => formed(out) >= 1, 120_000)
    writeFileSync(outage, "down")
    await launcher.waitFor("n1 exits with code 1", (out) => /^n1 +│ .*node process exited with code 1/m.test(out), 90_000)
    await launcher.waitFor("n1 restarted", (out) => /^n1 +│ .*restarting node process/m.test(out), 30_000)
    rmSync(outage)
    await launcher.waitFor("the cluster formed again", (out) => formed(out) >= 2, 120_000)
    launcher.signal("SIGTERM")
    const result = await launcher.result(60_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 0, `exit code\n${why}`)
    assert.match(result.stdout, /^n1 +│ .*the root supervisor gave up/m, why)
    assert.notMatch(result.stdout, /^n2 +│ .*node process/m, `n2 never exited\n${why}`)
    assert.notInclude(result.stdout, "giving up", why)
  }, 300_000)
})
