/**
 * `telex start` whose output goes away while its cluster runs (`telex start | head`, a log
 * collector or journald restarted): its next write fails with EPIPE. The launcher and its nodes
 * run on, their output lost — a node killed afterwards is restarted as before — and SIGTERM still
 * stops them all, instead of the launcher ending with an unhandled 'error' and the cluster with it.
 */
import { spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "vitest"
import { BIN, freePorts } from "../cluster/_process.ts"
import { alive, childrenOf, scratch, waitFor } from "./_proc.ts"

const { dir, groups: pids } = scratch("telex-output-closed-")

const nodeNamed = (pids: ReadonlyArray<number>, name: string) =>
  pids.find((pid) => alive(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(name))

describe("soak: the launcher's output closed", () => {
  it("the launcher and its nodes run on; a killed node is restarted; SIGTERM stops them", async () => {
    const ports = await freePorts(2)
    const config = join(dir, "cluster.json")
    writeFileSync(config, JSON.stringify({ cluster: "output-closed", nodes: [{ name: "n1", port: ports[0] }, { name: "n2", port: ports[1] }] }))
    const launcher = spawn(process.execPath, [BIN, "start", config], {
      cwd: dir,
      env: { NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache"), ...process.env, NO_COLOR: "1", TELEX_SECRET: "output-closed-secret-0123456789abcdef" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    pids.push(launcher.pid!)
    let stdout = ""
    let stderr = ""
    launcher.stdout.setEncoding("utf8").on("data", (s: string) => stdout += s)
    launcher.stderr.setEncoding("utf8").on("data", (s: string) => stderr += s)
    let exit: { code: number | null; signal: string | null } | undefined
    launcher.once("exit", (code, signal) => exit = { code, signal })
    const output = () => `exit: ${JSON.stringify(exit)}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`

    await waitFor("the cluster to form", () => stdout.includes("nodes up 2/2") || exit !== undefined, output, 60_000)
    assert.isUndefined(exit, output())
    // the reader of its output goes away
    launcher.stdout.destroy()
    const n2 = nodeNamed(childrenOf(launcher.pid!), "n2")
    assert.isDefined(n2, output())
    // the launcher writes that n2 died, and restarts it
    process.kill(n2!, "SIGKILL")
    await waitFor(
      "n2 restarted",
      () => exit !== undefined || (() => {
        const again = nodeNamed(childrenOf(launcher.pid!), "n2")
        return again !== undefined && again !== n2
      })(),
      output,
      30_000
    )
    assert.isUndefined(exit, `the launcher ended\n${output()}`)
    const nodes = childrenOf(launcher.pid!)
    assert.isDefined(nodeNamed(nodes, "n1"), output())

    launcher.kill("SIGTERM")
    await waitFor("the launcher to exit after SIGTERM", () => exit !== undefined, output, 30_000)
    assert.deepStrictEqual(exit, { code: 0, signal: null }, output())
    assert.notMatch(stderr, /Unhandled|EPIPE/, output())
    await waitFor("its nodes to stop", () => !nodes.some(alive), output, 15_000)
  }, 120_000)
})
