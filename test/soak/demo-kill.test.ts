/**
 * The demo cluster (`npm start`: examples/cluster, `telex start`) under a `kill -9` of a worker
 * node: the launcher restarts the node process (README: "restarts node processes that die"),
 * the queue retries the jobs the dead node's workers held, the restarted node's workers rejoin,
 * and the run's summary says no job was lost — with the demo's own partitions going on.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { APP, freePorts, killAll, telex } from "../cluster/_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-soak-demo-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

const nodePid = (launcherPid: number, name: string): number | undefined => {
  const lines = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(launcherPid)], { encoding: "utf8" }).split("\n")
  const line = lines.find((l) => new RegExp(`--name ${name}(\\s|$)`).test(l))
  return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0])
}

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, "gm"))?.length ?? 0

describe("soak: the demo cluster under kill -9", () => {
  it("a worker node killed mid-run is restarted by the launcher, its workers rejoin, no job is lost", async () => {
    const ports = await freePorts(3)
    const file = join(dir, "demo.json")
    writeFileSync(file, JSON.stringify({
      cluster: "soak-demo",
      app: APP,
      nodes: [
        { name: "n1", port: ports[0], run: ["jobs", "client", "chaos"] },
        { name: "n2", port: ports[1], run: ["workers"] },
        { name: "n3", port: ports[2], run: ["workers"] }
      ],
      // examples/cluster/cluster.json's timing
      heartbeat: { interval: "500ms", acceptablePause: "2s" },
      reconnect: { initial: "200ms", max: "1s" }
    }, null, 2))
    const launcher = telex(["start", file, "--duration", "25s"], { env: { TELEX_SECRET: "soak-demo-secret-0123456789" }, cwd: dir })
    await launcher.waitFor("the cluster formed", (out) => out.includes("nodes up 3/3"), 150_000)
    await launcher.waitFor("jobs done", (out) => /^n1 +│ jobs: [1-9]\d*\//m.test(out), 60_000)
    const pid = nodePid(launcher.pid, "n2")
    assert.isDefined(pid, launcher.describe())
    process.kill(pid!, "SIGKILL")
    await launcher.waitFor("n2 killed", (out) => /^n2 +│ .*node process killed by SIGKILL/m.test(out), 60_000)
    await launcher.waitFor("n2 ready again", (out) => count(out, /^n2 +│ .*node n2 ready/) >= 2, 120_000)
    const killedAt = launcher.stdout.length
    // the restarted node's workers rejoin the queue (6 workers), and jobs keep completing
    await launcher.waitFor("all workers back", (out) => /^n1 +│ jobs: .* 6 workers/m.test(out.slice(killedAt)), 60_000)
    const result = await launcher.result(120_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 0, why)
    const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!)
    assert.strictEqual(summary.nodes, 3, why)
    assert.strictEqual(summary.jobsLost, 0, why)
    assert.isAbove(summary.jobsCompleted, 0, why)
    assert.notInclude(summary.nodesFailed ?? [], "n2", why)
    assert.isFalse(launcher.groupAlive(), "node processes left running")
  }, 300_000)
})
