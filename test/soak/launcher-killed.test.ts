/**
 * `telex start` killed with SIGKILL (no chance to stop its nodes): its node processes notice —
 * the pipe of their stdin ends — and stop by themselves, as on SIGTERM, instead of living on as
 * orphans that hold the cluster's ports (the next `telex start` would find them taken).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { freePorts, killAll, telex } from "../cluster/_process.ts"
import { alive, childrenOf } from "./_proc.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-launcher-killed-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

describe("soak: the launcher killed with SIGKILL", () => {
  it("its node processes stop by themselves", async () => {
    const ports = await freePorts(2)
    const config = join(dir, "cluster.json")
    writeFileSync(config, JSON.stringify({
      cluster: "launcher-killed",
      nodes: [{ name: "n1", port: ports[0] }, { name: "n2", port: ports[1] }]
    }))
    const launcher = telex(["start", config], { env: { TELEX_SECRET: "launcher-killed-secret-0123456789" }, cwd: dir })
    await launcher.waitFor("the cluster to form", (out) => out.includes("nodes up 2/2"), 60_000)
    // and idle: each has logged its connection to the other (a node that logs after the launcher's
    // end fails on the closed pipe; one that does not must stop all the same)
    await launcher.waitFor("the mesh", (out) => /^n1 │ .*connected to n2 /m.test(out) && /^n2 │ .*connected to n1 /m.test(out), 60_000)
    await new Promise((r) => setTimeout(r, 1_000))
    const nodes = childrenOf(launcher.pid)
    assert.strictEqual(nodes.length, 2, launcher.describe())
    launcher.signal("SIGKILL")
    await launcher.exited
    const deadline = Date.now() + 10_000
    while (nodes.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    assert.deepStrictEqual(nodes.filter(alive), [], `node processes left running after the launcher's SIGKILL\n${launcher.describe()}`)
  }, 90_000)
})
