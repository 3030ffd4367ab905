/**
 * `telex start` restarting a node whose spawn fails: here the launcher's Node executable is gone
 * from its path (ENOENT; EAGAIN and EMFILE take the same path). The failed spawn is a failed
 * start of that node: reported, restarted with its backoff and given up under the node's own
 * intensity while the other node keeps running — the launcher neither ends with an unhandled
 * 'error' nor hangs on Ctrl-C waiting for an exit that never comes. `TestCluster`'s restart of a
 * node fails the same way with a `TestClusterError`, and the process running it lives on.
 */
import { spawn } from "node:child_process"
import { copyFileSync, linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"
import { BIN, freePorts } from "../cluster/_process.ts"
import { alive, childrenOf, scratch, waitFor } from "./_proc.ts"

const HOST = fileURLToPath(new URL("./_spawn-fails-host.ts", import.meta.url))
const { dir, groups: pids } = scratch("telex-spawn-fails-")

/** A name of its own for this Node executable (a hard link, or a copy): removing it makes every later spawn of it fail with ENOENT. */
const ownExecutable = (name: string) => {
  const exe = join(dir, name)
  try {
    linkSync(process.execPath, exe)
  } catch {
    copyFileSync(process.execPath, exe)
  }
  return exe
}

describe("soak: a node process that cannot be spawned", () => {
  it("is given up under its intensity; the launcher keeps the other node and stops on SIGTERM", async () => {
    // the launcher runs from its own name for this Node executable, removed once the cluster runs
    const exe = ownExecutable("node")
    const ports = await freePorts(2)
    const config = join(dir, "cluster.json")
    writeFileSync(config, JSON.stringify({
      cluster: "spawn-fails",
      nodes: [{ name: "n1", port: ports[0] }, { name: "n2", port: ports[1] }],
      launcher: { intensity: 1, period: "1m" }
    }))
    const launcher = spawn(exe, [BIN, "start", config], {
      cwd: dir,
      env: {
        NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache"),
        ...process.env,
        NO_COLOR: "1",
        TELEX_SECRET: "spawn-fails-secret-0123456789abcdef"
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    pids.push(launcher.pid!)
    let stdout = ""
    let stderr = ""
    launcher.stdout.setEncoding("utf8").on("data", (s: string) => stdout += s)
    launcher.stderr.setEncoding("utf8").on("data", (s: string) => stderr += s)
    let exit: { code: number | null; signal: string | null } | undefined
    launcher.once("close", (code, signal) => exit = { code, signal })
    const output = () => `exit: ${JSON.stringify(exit)}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`

    await waitFor("the cluster to form", () => stdout.includes("nodes up 2/2") || exit !== undefined, output, 60_000)
    assert.isUndefined(exit, output())
    const nodes = childrenOf(launcher.pid!)
    const n2 = nodes.find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("n2"))
    assert.isDefined(n2, output())
    unlinkSync(exe)
    process.kill(n2!, "SIGKILL")

    // n2's restart cannot be spawned: restarted once more (intensity 1), then given up
    await waitFor("the launcher to give up on n2", () => stdout.includes("giving up on it") || exit !== undefined, output, 30_000)
    assert.isUndefined(exit, `the launcher ended\n${output()}`)
    assert.match(stdout, /^n2 +│ node process could not be started: spawn .*ENOENT/m, output())
    assert.include(stdout, "nodes up 1/2 (given up: n2)", output())
    // and keeps running with n1, which is still up
    await new Promise((r) => setTimeout(r, 1_000))
    assert.isUndefined(exit, `the launcher ended\n${output()}`)
    const n1 = nodes.find((pid) => pid !== n2)!
    assert.isTrue(alive(n1), output())

    // Ctrl-C stops what runs and ends the launcher
    launcher.kill("SIGTERM")
    await waitFor("the launcher to exit after SIGTERM", () => exit !== undefined, output, 30_000)
    assert.deepStrictEqual(exit, { code: 0, signal: null }, output())
    assert.notMatch(stderr, /Unhandled|uncaught|\n\s+at /i, output())
    assert.isFalse(alive(n1), output())
  }, 120_000)

  it("TestCluster: the restart fails with a TestClusterError; the process running it lives on", async () => {
    const exe = ownExecutable("node-host")
    const host = spawn(exe, [HOST], {
      env: { NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache"), ...process.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    pids.push(host.pid!)
    let stdout = ""
    let stderr = ""
    host.stdout.setEncoding("utf8").on("data", (s: string) => stdout += s)
    host.stderr.setEncoding("utf8").on("data", (s: string) => stderr += s)
    let exit: { code: number | null; signal: string | null } | undefined
    host.once("close", (code, signal) => exit = { code, signal })
    const output = () => `exit: ${JSON.stringify(exit)}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`
    await waitFor("the node to be ready", () => stdout.includes("ready\n") || exit !== undefined, output, 60_000)
    assert.isUndefined(exit, output())
    unlinkSync(exe)
    host.stdin.write("restart\n")
    await waitFor("the restart to end", () => /restarted|failed: /.test(stdout) || exit !== undefined, output, 30_000)
    assert.match(stdout, /failed: node n1 could not be started: spawn .*ENOENT/, output())
    await waitFor("the host to exit", () => exit !== undefined, output, 30_000)
    assert.deepStrictEqual(exit, { code: 0, signal: null }, output())
  }, 120_000)
})
