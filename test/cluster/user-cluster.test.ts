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

  it("an app module that fails or dies at start: the node prints the module, the error (and a defect's stack), exit 1", async () => {
    // the three runs go at once: each its own ports (the launcher refuses a port in use)
    const ports = await freePorts(6)
    const config = (name: string, run: Array<string>, [p1, p2]: Array<number>) => {
      const file = join(dir, `${name}.json`)
      writeFileSync(file, JSON.stringify({
        cluster: name,
        app: APP,
        nodes: [{ name: "n1", port: p1, run }, { name: "n2", port: p2 }],
        launcher: { intensity: 1, period: "60s" }
      }))
      return file
    }
    const env = { TELEX_SECRET: "user-cluster-secret-0123456789" }
    const [failed, died, launched] = await Promise.all([
      telex(["node", "--config", config("fails", ["database"], ports.slice(0, 2)), "--name", "n1"], { env }).result(150_000),
      telex(["node", "--config", config("dies", ["greeter", "cache"], ports.slice(2, 4)), "--name", "n1"], { env }).result(150_000),
      telex(["start", config("start-dies", ["cache"], ports.slice(4, 6)), "--duration", "5s"], { env, cwd: dir }).result(150_000)
    ])
    const why = (r: { stdout: string; stderr: string }) => `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
    assert.strictEqual(failed.code, 1, why(failed))
    assert.include(failed.stderr, `telex: node n1: app module "database" failed at start: DatabaseUnreachable: no database at db.internal:5432`, why(failed))
    assert.strictEqual(died.code, 1, why(died))
    assert.include(died.stderr, `telex: node n1: app module "cache" died at start: Error: cache config missing`, why(died))
    assert.match(died.stderr, /^\s+at connectCache .*user-app\.ts/m, `the defect's stack\n${why(died)}`)
    // under the launcher: the node's lines (prefixed) say why, and the launcher gives up on it
    assert.notStrictEqual(launched.code, 0, why(launched))
    assert.match(launched.stdout, /^n1 +│ telex: node n1: app module "cache" died at start: Error: cache config missing/m, why(launched))
  }, 200_000)
})
