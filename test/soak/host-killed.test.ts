/**
 * The process running a `TestCluster` (a test run) killed with SIGKILL, before its scope could
 * close: its node processes notice — the pipe of their stdin ends — and stop by themselves
 * instead of living on, holding ports and memory, after every killed or crashed test run.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"
import { alive, childrenOf } from "./_proc.ts"

const HOST = fileURLToPath(new URL("./_orphan-host.ts", import.meta.url))

describe("soak: the test process killed with SIGKILL", () => {
  it("its TestCluster's node processes stop by themselves", async () => {
    const host = spawn(process.execPath, [HOST], { stdio: ["ignore", "pipe", "inherit"] })
    let nodes: Array<number> = []
    try {
      await new Promise<void>((resolve, reject) => {
        let out = ""
        host.stdout!.setEncoding("utf8").on("data", (s: string) => {
          out += s
          if (out.includes("ready\n")) resolve()
        })
        host.once("exit", (code) => reject(new Error(`the host exited (${code}) before its node was ready`)))
      })
      nodes = childrenOf(host.pid!)
      assert.strictEqual(nodes.length, 1)
      host.kill("SIGKILL")
      const deadline = Date.now() + 10_000
      while (nodes.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      assert.deepStrictEqual(nodes.filter(alive), [], "node processes left running after their host's SIGKILL")
    } finally {
      host.kill("SIGKILL")
      for (const pid of nodes.filter(alive)) process.kill(pid, "SIGKILL")
    }
  }, 60_000)
})
