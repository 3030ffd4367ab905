/**
 * `telex node` (a node in the foreground, as a multi-host deployment runs it) whose output goes
 * away (`telex node … | tee log` with tee gone, a log collector restarted): its next log line fails
 * with EPIPE. The node runs on, its log lines lost, instead of ending with an unhandled 'error'.
 */
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { BIN, freePorts, killAll, telex } from "../cluster/_process.ts"
import { scratch, waitFor } from "./_proc.ts"

const { dir, groups: pids } = scratch("telex-node-output-closed-")
afterAll(killAll)

describe("soak: a node's output closed", () => {
  it("the node runs on and keeps its peers", async () => {
    const ports = await freePorts(2)
    const config = join(dir, "cluster.json")
    writeFileSync(config, JSON.stringify({ cluster: "node-output-closed", nodes: [{ name: "n1", port: ports[0] }, { name: "n2", port: ports[1] }] }))
    const env = { TELEX_SECRET: "node-output-closed-secret-0123456789" }
    const n1 = spawn(process.execPath, [BIN, "node", "--config", config, "--name", "n1"], {
      cwd: dir,
      env: { NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache"), ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    pids.push(n1.pid!)
    let stdout = ""
    let stderr = ""
    n1.stdout.setEncoding("utf8").on("data", (s: string) => stdout += s)
    n1.stderr.setEncoding("utf8").on("data", (s: string) => stderr += s)
    let exit: { code: number | null; signal: string | null } | undefined
    n1.once("exit", (code, signal) => exit = { code, signal })
    const output = () => `n1 exit: ${JSON.stringify(exit)}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`
    await waitFor("n1 to be ready", () => / ready on /.test(stdout) || exit !== undefined, output, 60_000)
    assert.isUndefined(exit, output())
    // the reader of n1's output goes away; n2 starting makes n1 log its connection
    n1.stdout.destroy()
    n1.stderr.destroy()
    const n2 = telex(["node", "--config", config, "--name", "n2"], { cwd: dir, env })
    await n2.waitFor("n2 connected to n1", (out) => /connected to n1 /.test(out), 60_000)
    // n1's own line of that connection has been written (or has failed) by now; and more follow
    await new Promise((r) => setTimeout(r, 2_000))
    assert.isUndefined(exit, `n1 ended\n${output()}\n--- n2 ---\n${n2.describe()}`)
    assert.notInclude(n2.stdout, "connection to n1 lost", n2.describe())
    n1.kill("SIGTERM")
    await waitFor("n1 to exit after SIGTERM", () => exit !== undefined, output, 30_000)
    assert.deepStrictEqual(exit, { code: 0, signal: null }, output())
    n2.signal("SIGTERM")
    await n2.result(30_000)
  }, 120_000)
})
