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
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Schema, Scope } from "effect"
import { Actor, Supervisor } from "../../src/index.ts"
import * as ExitReason from "../../src/actors/ExitReason.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
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
    return yield* TestNode.startNode(name, {
      cluster: "node-isolation",
      secret: Redacted.make("node-isolation-secret"),
      heartbeatInterval: "200 millis",
      acceptablePause: "3 seconds",
      reconnect: { initial: "50 millis", max: "300 millis" },
      system: root !== undefined ? { root } : {}
    }).pipe(Scope.provide(scope))
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
      assert.match(ExitReason.format(reason), /^shutdown\(supervisor gave up: more than 1 restarts/)

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

/** Lines of `text` matching `pattern` (a multiline regexp). */
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, "gm"))?.length ?? 0

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

  it("telex node: a node whose registry actor dies ends too, with code 1 (never a node without its registry)", async () => {
    const [p1] = await freePorts(1)
    const file = config("lose-registry", [p1!], { n1: ["lose-registry"] })
    const node = telex(["node", "--config", file, "--name", "n1"], { env: SECRET })
    const result = await node.result(120_000)
    const why = node.describe()
    assert.strictEqual(result.code, 1, `exit code\n${why}`)
    assert.match(result.stdout, /ERROR the registry stopped \(killed\): stopping node n1 with exit code 1/, why)
    assert.include(result.stderr, "telex: the registry stopped (killed)", why)
  }, 180_000)

  it("telex start: the failing node is restarted until the outage ends and comes back; the other node is never restarted", async () => {
    const ports = await freePorts(2)
    const outage = join(dir, "outage-start")
    const file = config("outage-start", ports, { n1: ["dependent"], n2: ["idle"] }, { launcher: { intensity: 20, period: "60s" } })
    const launcher = telex(["start", file], { env: { ...SECRET, TELEX_OUTAGE_FILE: outage }, cwd: dir })
    const formed = (out: string) => out.split("nodes up 2/2 — cluster formed").length - 1
    await launcher.waitFor("the cluster formed", (out) => formed(out) >= 1, 120_000)
    // the first connection between the nodes, before the outage (counted again below)
    await launcher.waitFor("n1 and n2 connected", (out) => count(out, /^n2 +│ .*connected to n1 /) >= 1, 60_000)
    writeFileSync(outage, "down")
    await launcher.waitFor("n1 exits with code 1", (out) => /^n1 +│ .*node process exited with code 1/m.test(out), 90_000)
    await launcher.waitFor("n1 restarted", (out) => /^n1 +│ .*restarting node process/m.test(out), 30_000)
    rmSync(outage)
    await launcher.waitFor("the cluster formed again", (out) => formed(out) >= 2, 120_000)
    // and the restarted n1 is linked with n2 again (n2's link to n1 was supervised all along)
    await launcher.waitFor("n1 and n2 connected again", (out) => count(out, /^n2 +│ .*connected to n1 /) >= 2, 60_000)
    launcher.signal("SIGTERM")
    const result = await launcher.result(60_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 0, `exit code\n${why}`)
    assert.match(result.stdout, /^n1 +│ .*the root supervisor gave up/m, why)
    assert.notMatch(result.stdout, /^n2 +│ .*node process/m, `n2 never exited\n${why}`)
    assert.notInclude(result.stdout, "giving up", why)
  }, 300_000)
})

/** The pid of the node process `name` started by the launcher `launcherPid`. */
const nodePid = (launcherPid: number, name: string): number | undefined => {
  const lines = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(launcherPid)], { encoding: "utf8" }).split("\n")
  const line = lines.find((l) => new RegExp(`--name ${name}(\\s|$)`).test(l))
  return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0])
}

describe.concurrent("telex start: a node that keeps dying is given up alone (processes)", () => {
  it("a node whose app fails at start is given up alone, listed in nodesFailed; the others run the whole --duration", async () => {
    const ports = await freePorts(3)
    const file = config("broken-start", ports, { n1: ["idle"], n2: ["idle"], n3: ["broken"] }, { launcher: { intensity: 2, period: "60s" } })
    const launcher = telex(["start", file, "--duration", "4s"], { env: SECRET, cwd: dir })
    const result = await launcher.result(240_000)
    const why = launcher.describe()
    // a run where a node was given up is not a success, but it ran to the end with the others
    assert.strictEqual(result.code, 1, `exit code\n${why}`)
    assert.match(result.stdout, /^n3 +│ .*node n3 keeps dying \(more than 2 restarts within 60000 ms, last exited with code 1\): giving up on it/m, why)
    assert.strictEqual(count(result.stdout, /^n3 +│ .*node process exited with code 1/), 3, why)
    assert.include(result.stdout, "nodes up 2/3 (given up: n3) — cluster formed", why)
    for (const n of ["n1", "n2"]) {
      assert.match(result.stdout, new RegExp(`^${n} +│ .*node ${n} ready`, "m"), why)
      assert.notMatch(result.stdout, new RegExp(`^${n} +│ .*node process`, "m"), `${n} never exited\n${why}`)
    }
    assert.match(result.stdout, /^n1 +│ .*connected to n2/m, why)
    const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!)
    assert.strictEqual(summary.nodes, 3, why)
    assert.deepStrictEqual(summary.nodesFailed, ["n3"], why)
    assert.match(result.stderr, /^telex: gave up on node n3 \(more than 2 restarts/m, why)
    assert.isFalse(launcher.groupAlive(), "node processes left running")
  }, 300_000)

  it("repeated kill -9 of one node: it is restarted within its intensity, then given up alone; the others are never restarted and still answer", async () => {
    const ports = await freePorts(3)
    const file = config("kill-one", ports, { n1: ["idle"], n2: ["idle"], n3: ["idle"] }, { launcher: { intensity: 2, period: "60s" } })
    const launcher = telex(["start", file], { env: SECRET, cwd: dir })
    await launcher.waitFor("the cluster formed", (out) => out.includes("nodes up 3/3 — cluster formed"), 150_000)
    const healthy = { n1: nodePid(launcher.pid, "n1"), n2: nodePid(launcher.pid, "n2") }
    for (let kill = 1; kill <= 3; kill++) {
      const pid = nodePid(launcher.pid, "n3")
      assert.isDefined(pid, `n3 is running before kill ${kill}\n${launcher.describe()}`)
      process.kill(pid!, "SIGKILL")
      await launcher.waitFor(`n3 killed (${kill})`, (out) => count(out, /^n3 +│ .*node process killed by SIGKILL/) >= kill, 60_000)
      if (kill < 3) {
        // restarted: wait until it is up again, so that each kill hits a running node
        await launcher.waitFor(`n3 up again (${kill})`, (out) => count(out, /^n3 +│ .*node n3 ready/) >= kill + 1, 120_000)
      }
    }
    await launcher.waitFor("n3 given up", (out) => /^n3 +│ .*node n3 keeps dying/m.test(out), 30_000)
    // the others run on, in the same processes, and answer
    const status = await telex(["status", file], { env: SECRET, cwd: dir }).result(100_000)
    const why = `--- status ---\n${status.stdout}\n${status.stderr}\n${launcher.describe()}`
    assert.match(status.stdout, new RegExp(`^node n1 \\(incarnation \\d+, pid ${healthy.n1},`, "m"), why)
    assert.match(status.stdout, new RegExp(`^node n2 \\(incarnation \\d+, pid ${healthy.n2},`, "m"), why)
    assert.match(status.stdout, /^node n3 .*unreachable/m, why)
    assert.isUndefined(nodePid(launcher.pid, "n3"), why)
    launcher.signal("SIGTERM")
    const result = await launcher.result(60_000)
    assert.notMatch(result.stdout, /^n[12] +│ .*node process/m, `n1 and n2 never exited\n${launcher.describe()}`)
    assert.isFalse(launcher.groupAlive(), "node processes left running")
  }, 300_000)
})
