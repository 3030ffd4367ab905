/**
 * A user's own cluster under `telex start --duration`, as real processes: a healthy start and
 * stop log nothing at WARN or above (simultaneous connects, replacements and shutdown are
 * routine), and the summary holds the runtime's generic fields plus what the app reported
 * through `NodeStats` — nothing of the demo's.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "vitest"
import { freePorts, killAll, telex } from "./_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-user-cluster-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

const APP = fileURLToPath(new URL("../fixtures/user-app.ts", import.meta.url))

describe("a user's cluster", () => {
  it("a healthy start logs no WARN; the --duration summary is generic plus the app's NodeStats", async () => {
    const ports = await freePorts(3)
    const config = join(dir, "cluster.json")
    writeFileSync(config, JSON.stringify({
      cluster: "user",
      app: APP,
      // every node dials every other: simultaneous connects are the rule at start
      nodes: ports.map((port, i) => ({ name: `n${i + 1}`, port, run: i === 0 ? ["greeter"] : [] })),
      heartbeat: { interval: "500ms", acceptablePause: "10s" }
    }))
    const launcher = telex(["start", config, "--duration", "4s"], { env: { TELEX_SECRET: "user-cluster-secret-0123456789" }, cwd: dir })
    const result = await launcher.result(150_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 0, why)
    assert.include(result.stdout, "nodes up 3/3", why)
    const warnings = (result.stdout + result.stderr).split("\n").filter((l) => /\b(WARN|ERROR)\b/.test(l))
    assert.deepStrictEqual(warnings, [], `no warnings in a healthy run\n${why}`)
    const lines = result.stdout.trim().split("\n")
    const summary = JSON.parse(lines[lines.length - 1]!)
    assert.deepStrictEqual(Object.keys(summary), ["nodes", "nodesFailed", "messages", "deadLetters", "restarts", "greetings"], why)
    assert.deepStrictEqual(summary.nodesFailed, [], why)
    assert.strictEqual(summary.nodes, 3, why)
    assert.isAbove(summary.greetings, 0, why)
  }, 200_000)

  it("without TELEX_SECRET, telex start generates one into .telex/<cluster>.secret (mode 0600) and says where", async () => {
    const cwd = mkdtempSync(join(dir, "secret-"))
    // a file left by an earlier run, readable by all: it is rewritten and its mode tightened
    mkdirSync(join(cwd, ".telex"))
    const file = join(cwd, ".telex", "secretive.secret")
    writeFileSync(file, "old", { mode: 0o644 })
    const ports = await freePorts(2)
    const config = join(cwd, "cluster.json")
    writeFileSync(config, JSON.stringify({
      cluster: "secretive",
      app: APP,
      nodes: ports.map((port, i) => ({ name: `n${i + 1}`, port })),
      heartbeat: { interval: "500ms", acceptablePause: "10s" }
    }))
    const launcher = telex(["start", config, "--duration", "1s"], { env: { TELEX_SECRET: undefined }, cwd })
    const result = await launcher.result(150_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 0, why)
    assert.include(result.stdout, `TELEX_SECRET is not set; generated a secret for this run, saved in ${file}`, why)
    assert.strictEqual(statSync(file).mode & 0o777, 0o600, why)
    const secret = readFileSync(file, "utf8")
    assert.notStrictEqual(secret, "old")
    assert.isAtLeast(secret.length, 24)
  }, 200_000)
})
