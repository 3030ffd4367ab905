/**
 * A user's mistakes in a cluster config, as `telex start` meets them: a misspelt field is refused
 * by name (as the shipped JSON Schema refuses it in an editor), and a node naming a module or a
 * spawnable protocol the app lacks is refused before any node starts, in one line, instead of
 * that node being started and restarted until the launcher gives up on it. A launcher that gives
 * up on every node says why once.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Config from "../../src/cluster/Config.ts"
import { freePorts, killAll, telex } from "./_process.ts"

const OUTAGE_APP = fileURLToPath(new URL("../fixtures/outage-app.ts", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "telex-newuser-config-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})
const SECRET = { TELEX_SECRET: "newuser-config-secret-0123456789" }

const refused = (raw: unknown) =>
  Effect.gen(function*() {
    const result = yield* Effect.result(Config.validate(raw, "cluster.json"))
    if (result._tag === "Success") return assert.fail(`expected a ConfigError for ${JSON.stringify(raw)}`)
    return result.failure.message
  })

const write = (name: string, config: object) => {
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

describe("cluster config: fields the config does not have", () => {
  it.effect("a misspelt field, at the top or inside a node or a section, is refused by its path", () =>
    Effect.gen(function*() {
      const top = yield* refused({ cluster: "c", nodes: [{ name: "n1", port: 7101 }], hearbeat: { interval: "1s" } })
      assert.include(top, `["hearbeat"]`)
      const inNode = yield* refused({ cluster: "c", nodes: [{ name: "n1", port: 7101, spawnables: ["X"] }] })
      assert.include(inNode, `["nodes"][0]["spawnables"]`)
      const inSection = yield* refused({ cluster: "c", nodes: [{ name: "n1", port: 7101 }], heartbeat: { intervall: "1s" } })
      assert.include(inSection, `["heartbeat"]["intervall"]`)
      // every error at once: the unknown key and the missing one it was meant to be
      const both = yield* refused({ cluster: "c", nodes: [{ name: "n1", prot: 7101 }] })
      assert.include(both, `["nodes"][0]["prot"]`)
      assert.include(both, `["nodes"][0]["port"]`)
    }))

  it.effect("$schema, for editors, is accepted; the shipped JSON Schema refuses other fields too", () =>
    Effect.gen(function*() {
      const config = yield* Config.validate({ $schema: "./node_modules/telex/cluster.schema.json", cluster: "c", nodes: [{ name: "n1", port: 7101 }] })
      assert.strictEqual(config.cluster, "c")
      const schema = JSON.parse(readFileSync(new URL("../../cluster.schema.json", import.meta.url), "utf8"))
      assert.strictEqual(schema.additionalProperties, false)
    }))

  it("telex start: a misspelt field ends the launcher in one line naming it, before any node starts", async () => {
    const [p1] = await freePorts(1)
    const file = write("typo", { cluster: "typo", app: OUTAGE_APP, nodes: [{ name: "n1", port: p1, run: ["idle"] }], reconect: { max: "1s" } })
    const launcher = telex(["start", file, "--duration", "2s"], { env: SECRET, cwd: dir })
    const result = await launcher.result(60_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 1, why)
    assert.include(result.stderr, `["reconect"]`, why)
    assert.notInclude(result.stdout, "starting cluster", why)
  }, 90_000)
})

describe("telex start: a node names what the app does not have", () => {
  it("an unknown module in run: refused in one line before any node starts, with the modules the app has", async () => {
    const ports = await freePorts(2)
    const file = write("unknown-module", {
      cluster: "unknown-module",
      app: OUTAGE_APP,
      nodes: [{ name: "n1", port: ports[0], run: ["idle"] }, { name: "n2", port: ports[1], run: ["idel"] }]
    })
    const launcher = telex(["start", file, "--duration", "2s"], { env: SECRET, cwd: dir })
    const result = await launcher.result(60_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 1, why)
    assert.match(result.stderr, /^telex: unknown module "idel" \(the app has: dependent, broken, lose-registry, idle\)$/m, why)
    assert.notInclude(result.stdout, "starting cluster", why)
    assert.notInclude(result.stdout, "restarting node process", why)
  }, 90_000)

  it("an unknown spawnable protocol: refused in one line before any node starts", async () => {
    const [p1] = await freePorts(1)
    const file = write("unknown-spawnable", {
      cluster: "unknown-spawnable",
      app: OUTAGE_APP,
      nodes: [{ name: "n1", port: p1, run: ["idle"], spawnable: ["Worker"] }]
    })
    const launcher = telex(["start", file, "--duration", "2s"], { env: SECRET, cwd: dir })
    const result = await launcher.result(60_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 1, why)
    assert.match(result.stderr, /^telex: "Worker" is not among the app's spawnable modules \(none\)$/m, why)
    assert.notInclude(result.stdout, "starting cluster", why)
  }, 90_000)

  it("every node keeps dying: the launcher says why once and exits 1", async () => {
    const [p1] = await freePorts(1)
    const file = write("all-dying", {
      cluster: "all-dying",
      app: OUTAGE_APP,
      nodes: [{ name: "n1", port: p1, run: ["broken"] }],
      launcher: { intensity: 0, period: "60s" }
    })
    const launcher = telex(["start", file, "--duration", "30s"], { env: SECRET, cwd: dir })
    const result = await launcher.result(120_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 1, why)
    const lines = (result.stdout + result.stderr).split("\n").filter((l) => l.includes("every node keeps dying"))
    assert.deepStrictEqual(lines, ["telex: every node keeps dying; giving up"], why)
  }, 150_000)
})

describe("telex shell without --config", () => {
  it("reads ./cluster.json, as telex status does", async () => {
    const cwd = mkdtempSync(join(dir, "shell-"))
    writeFileSync(join(cwd, "cluster.json"), JSON.stringify({ cluster: "shell-default", nodes: [{ name: "n1", port: 1 }] }))
    const shell = telex(["shell", "--node", "n9", "-c", "names"], { env: SECRET, cwd })
    const result = await shell.result(60_000)
    const why = shell.describe()
    assert.strictEqual(result.code, 1, why)
    assert.strictEqual(result.stderr.trim(), `telex: no node named "n9" in the config (nodes: n1)`, why)
  }, 90_000)
})

describe("cluster config: addresses a node cannot listen on", () => {
  it.effect("a host other than loopback without allowNonLoopback is refused by the config, naming the node", () =>
    Effect.gen(function*() {
      const message = yield* refused({ cluster: "c", nodes: [{ name: "n1", port: 7101, host: "0.0.0.0" }] })
      assert.include(message, `nodes[0].host: 0.0.0.0 is not a loopback address: set "allowNonLoopback": true on node n1`)
      for (const host of ["127.0.0.2", "::1", "localhost"]) {
        yield* Config.validate({ cluster: "c", nodes: [{ name: "n1", port: 7101, host }] })
      }
      yield* Config.validate({ cluster: "c", nodes: [{ name: "n1", port: 7101, host: "0.0.0.0", allowNonLoopback: true }] })
    }))

  it.effect("a metricsPort that is a node's port, or another node's metricsPort, is refused", () =>
    Effect.gen(function*() {
      const node = yield* refused({ cluster: "c", nodes: [{ name: "n1", port: 7101, metricsPort: 7102 }, { name: "n2", port: 7102 }] })
      assert.include(node, "nodes[0].metricsPort: 127.0.0.1:7102 is used twice")
      const metrics = yield* refused({ cluster: "c", nodes: [{ name: "n1", port: 7101, metricsPort: 9100 }, { name: "n2", port: 7102, metricsPort: 9100 }] })
      assert.include(metrics, "nodes[1].metricsPort: 127.0.0.1:9100 is used twice")
    }))

  it("telex start: a metricsPort in use is refused in one line before any node starts", async () => {
    const [p1, busy] = await freePorts(2)
    const server = Net.createServer()
    await new Promise<void>((resolve) => server.listen(busy, "127.0.0.1", resolve))
    try {
      const file = write("metrics-in-use", { cluster: "metrics-in-use", nodes: [{ name: "n1", port: p1, metricsPort: busy }] })
      const launcher = telex(["start", file, "--duration", "2s"], { env: SECRET, cwd: dir })
      const result = await launcher.result(60_000)
      const why = launcher.describe()
      assert.strictEqual(result.code, 1, why)
      assert.strictEqual(result.stderr.trim(), `telex: metricsPort ${busy} of node n1 on 127.0.0.1 is already in use`, why)
      assert.notInclude(result.stdout, "starting cluster", why)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  }, 90_000)
})

describe("cluster config: no file", () => {
  it.effect("a config that does not exist is named, with where the commands look and how to get one", () =>
    Effect.gen(function*() {
      const missing = join(dir, "nowhere", "cluster.json")
      const result = yield* Effect.result(Config.load(missing))
      if (result._tag === "Success") return assert.fail("loaded a config that does not exist")
      assert.strictEqual(
        result.failure.message,
        `cannot read the config file: ${missing} does not exist (the telex commands read ./cluster.json unless given a config; telex new writes a project with one)`
      )
    }))
})

describe("telex start: an app module that does not load says where (processes: Node's own loader)", () => {
  const loadError = async (name: string, files: Record<string, string>) => {
    const appDir = mkdtempSync(join(dir, `${name}-`))
    for (const [file, text] of Object.entries(files)) writeFileSync(join(appDir, file), text)
    const [port] = await freePorts(1)
    writeFileSync(join(appDir, "cluster.json"), JSON.stringify({ cluster: name, app: `./${Object.keys(files)[0]}`, nodes: [{ name: "n1", port }] }))
    const launcher = telex(["start", "--duration", "1s"], { env: SECRET, cwd: appDir })
    const result = await launcher.result(60_000)
    assert.strictEqual(result.code, 1, launcher.describe())
    assert.notInclude(result.stdout, "starting cluster", launcher.describe())
    return { appDir, message: result.stderr.trim() }
  }

  it("an exception thrown at import: its file, line and column", async () => {
    const { appDir, message } = await loadError("throws", { "app.js": `export const x = 1\nthrow new Error("no database")\n` })
    const app = join(appDir, "app.js")
    assert.strictEqual(message, `telex: cannot load the app module ${app}: no database (at ${app}:2:7)`)
  }, 90_000)

  it("a JavaScript syntax error: its file and line", async () => {
    const { appDir, message } = await loadError("syntax", { "app.js": `export const x = 1\nexport default f(1\n` })
    const app = join(appDir, "app.js")
    assert.match(message, /^telex: cannot load the app module .*app\.js: .+ \(at .*:\d\)$/)
    assert.isTrue(message.endsWith(`(at ${app}:2)`) || message.endsWith(`(at ${app}:3)`), message)
  }, 90_000)

  it("TypeScript Node does not strip (an enum): its file and line", async () => {
    const { appDir, message } = await loadError("enum", { "app.ts": `export const x = 1\nenum Color { Red }\n` })
    assert.include(message, "enum")
    assert.isTrue(message.endsWith(`(at ${join(appDir, "app.ts")}:2)`), message)
  }, 90_000)

  it("a .ts app importing its own module as .js (TypeScript's NodeNext style): says to use .ts", async () => {
    const { appDir, message } = await loadError("nodenext", {
      "app.ts": `import { x } from "./other.js"\nexport default x\n`,
      "other.ts": `export const x = 1\n`
    })
    assert.include(message, `imports ${join(appDir, "other.js")}, and there is only ${join(appDir, "other.ts")}: import your own TypeScript modules with their .ts extension`)
  }, 90_000)
})

describe("telex start: an app made with another copy of telex", () => {
  it("is refused in one line naming both copies (a global telex running a project's app would refuse every message)", async () => {
    const project = mkdtempSync(join(dir, "other-copy-"))
    const other = join(project, "node_modules", "telex")
    mkdirSync(other, { recursive: true })
    writeFileSync(join(other, "package.json"), JSON.stringify({ name: "telex", type: "module", exports: { ".": "./index.js" } }))
    // what ClusterApp.make of that copy stamps on the app
    writeFileSync(join(other, "index.js"), `export const ClusterApp = { make: (app) => Object.defineProperty({ ...app }, Symbol.for("telex/ClusterApp/copy"), { value: ${JSON.stringify(other + "/")} }) }\n`)
    writeFileSync(join(project, "app.js"), `import { ClusterApp } from "telex"\nexport default ClusterApp.make({ modules: {} })\n`)
    const [port] = await freePorts(1)
    writeFileSync(join(project, "cluster.json"), JSON.stringify({ cluster: "other-copy", app: "./app.js", nodes: [{ name: "n1", port }] }))
    const launcher = telex(["start", "--duration", "1s"], { env: SECRET, cwd: project })
    const result = await launcher.result(60_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 1, why)
    assert.include(result.stderr, `${join(project, "app.js")} imports telex from ${other}/, but this telex command is `, why)
    assert.include(result.stderr, "Run the project's own telex (npx telex, or an npm script)", why)
    assert.notInclude(result.stdout, "starting cluster", why)
  }, 90_000)
})
