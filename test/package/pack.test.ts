// Telex as its users get it: the package is packed (`npm pack`, which builds dist/), and outside
// the repository a fresh app installs the tarball (with effect and @effect/platform-node as
// peers, from npm's cache where it can) and uses it as a user would:
//   (a) plain `node` runs a JavaScript file importing "telex" (the README's counter prints 2),
//       CommonJS can require() it, and `import "telex/sqlite"` without better-sqlite3 (`telex/postgres`
//       without @effect/sql-pg) fails with one line naming it;
//   (b) `tsc --noEmit`, strict, default options (no allowImportingTsExtensions, skipLibCheck
//       off), passes on a .ts file using the public API, telex/testing, telex/sqlite and telex/postgres included;
//   (c) `npx telex start` runs a 2-node cluster of a JavaScript app module, and of a TypeScript
//       one, to its --duration summary;
//   (d) `telex new` writes a project whose own `npm test` and `npm start -- --duration 10s` pass;
//   (e) TestCluster, from a vitest test of that project, runs nodes from the installed package;
// and a Node.js older than `engines` (when this machine has one) gets one line, not a crash.
// One pack and one install, shared by the checks, which run in order.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const REPO = fileURLToPath(new URL("../..", import.meta.url))
const installed = (name: string): string =>
  JSON.parse(readFileSync(join(REPO, "node_modules", name, "package.json"), "utf8")).version
// the versions installed here are the ones in npm's cache: the install needs no download
const PEERS = ["effect", "@effect/platform-node"].map((n) => `${n}@${installed(n)}`)
const TOOLS = ["typescript", "@types/node", "vitest", "@effect/vitest"].map((n) => `${n}@${installed(n)}`)

// this Node (the project's) first on PATH: npm, npx and the scripts they run use it
const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`, CI: "true" }
delete env.TELEX_SECRET
delete env.TELEX_SEED
delete env.VITEST
delete env.VITEST_WORKER_ID
delete env.VITEST_POOL_ID
delete env.NODE_OPTIONS

const run = (cwd: string, command: string, args: ReadonlyArray<string>, timeoutMs = 120_000) => {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 })
  const output = `$ ${command} ${args.join(" ")} (in ${cwd}) → exit ${result.status}${result.signal ? ` (${result.signal})` : ""}\n${result.stdout}\n${result.stderr}`
  return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "", output }
}
const ok = (cwd: string, command: string, args: ReadonlyArray<string>, timeoutMs?: number) => {
  const result = run(cwd, command, args, timeoutMs)
  assert.strictEqual(result.status, 0, result.output)
  return result
}
const npmInstall = (cwd: string, specs: ReadonlyArray<string>) =>
  ok(cwd, "npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...specs], 300_000)

const freePorts = async (n: number): Promise<Array<number>> => {
  const servers = await Promise.all(Array.from({ length: n }, () =>
    new Promise<Net.Server>((resolve, reject) => {
      const server = Net.createServer()
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => resolve(server))
    })))
  const ports = servers.map((s) => (s.address() as Net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** the JSON summary `telex start --duration` prints as its last line */
const summaryOf = (stdout: string) => {
  const last = stdout.trim().split("\n").at(-1) ?? ""
  return JSON.parse(last) as { nodes: number; messages: number }
}

const COUNTER_JS = `import { Effect, Schema } from "effect"
import { Actor, ActorSystem } from "telex"

const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})
const CounterLive = Counter.behavior(Effect.gen(function*() {
  let count = 0
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Get: () => Effect.succeed(count)
  }
}))
const program = Effect.gen(function*() {
  const system = yield* ActorSystem
  const counter = yield* system.spawn(CounterLive, { name: "counter" })
  yield* counter.tell(Counter.Increment({ by: 2 }))
  console.log(yield* counter.ask(Counter.Get()))
})
Effect.runPromise(program.pipe(Effect.provide(ActorSystem.layer()), Effect.scoped))
`

const API_TS = `import { Effect, Schema } from "effect"
import { Actor, ActorSystem, ClusterApp, Node, NodeStats, Registry, Reliable, Supervisor, type ActorRef } from "telex"
import { Checkers, History, SimCluster, TestCluster, type ClusterHandle } from "telex/testing"
import { SqliteStore } from "telex/sqlite"
import { PgShardStore } from "telex/postgres"

export const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})
export const CounterLive = Counter.behavior(Effect.gen(function*() {
  let count = 0
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Get: () => Effect.succeed(count)
  }
}))
const counter = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry
  const stats = yield* NodeStats
  const ref: ActorRef.ActorRef<typeof Counter.defs> = yield* Supervisor.startChild(system.root, Supervisor.child("counter", CounterLive))
  yield* registry.register("counter", ref)
  stats.add("counters")
})
export default ClusterApp.make({ modules: { counter }, spawnable: [CounterLive] })

export const check = (cluster: ClusterHandle): Effect.Effect<number, unknown> =>
  cluster.client.registry.lookup(Counter, "counter").pipe(Effect.flatMap((c) => c.ask(Counter.Get())))
export const sim = SimCluster.start({ app: ClusterApp.make({ modules: { counter } }), nodes: [{ name: "n1", run: ["counter"] }] })
export const real = TestCluster.start
export const kit = [Checkers, History, Node.layer, Reliable.producer, Reliable.consumer, SqliteStore.make, PgShardStore.layer] as const
`

const TSCONFIG = JSON.stringify({
  compilerOptions: { target: "es2023", module: "nodenext", strict: true, noEmit: true, types: ["node"] },
  include: ["api.ts"]
})

const APP_MODULE = (ts: boolean) => `import { Console, Effect, Schedule } from "effect"
import { ClusterApp, Node, NodeStats } from "telex"

const ticker = Effect.gen(function*() {
  const node = yield* Node
  yield* Console.log("ticker (${ts ? "ts" : "js"}) running on " + node.nodeId.name)
  const stats = yield* NodeStats
  const tick${ts ? ": Effect.Effect<void>" : ""} = Effect.sync(() => stats.add("ticks"))
  yield* tick.pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
})
export default ClusterApp.make({ modules: { ticker } })
`

const REAL_PROCESSES_TEST = `import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fileURLToPath } from "node:url"
import { TestCluster } from "telex/testing"
import { Counter } from "../src/app.ts"

describe("the app on real processes", () => {
  it.live("a node process runs the counter; the test asks it", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.start({
        app: fileURLToPath(new URL("../src/app.ts", import.meta.url)),
        nodes: [{ name: "n1", run: ["counter"] }, { name: "n2", run: ["clicker"] }]
      })
      const counter = yield* cluster.eventually(cluster.client.registry.lookup(Counter, "counter"), "30 seconds")
      const count = yield* cluster.eventually(
        counter.ask(Counter.Get()).pipe(Effect.filterOrFail((c) => c > 0, (c) => "count is " + c)),
        "30 seconds"
      )
      assert.isTrue(count > 0)
    }).pipe(Effect.scoped), 90_000)
})
`

/** a Node.js older than `engines` on this machine (Debian's, say), to check the one-line refusals */
const oldNode = (): string | undefined => {
  for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
    const version = spawnSync(candidate, ["--version"], { encoding: "utf8" })
    if (version.status !== 0) continue
    const [major = 0, minor = 0] = version.stdout.trim().replace(/^v/, "").split(".").map(Number)
    if (major < 22 || (major === 22 && minor < 19)) return candidate
  }
  return undefined
}

describe("the packed package, installed in a fresh app outside the repository", () => {
  let root = ""
  let tarball = ""
  let app = ""

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "telex-pack-"))
    const packed = ok(REPO, "npm", ["pack", "--pack-destination", root, "--loglevel=error"], 180_000)
    tarball = join(root, packed.stdout.trim().split("\n").at(-1)!)
    app = join(root, "app")
    mkdirSync(app)
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
    npmInstall(app, [tarball, ...PEERS, ...TOOLS])
  }, 600_000)

  // two installs are thousands of files: removing them takes a while on a busy machine
  afterAll(() => {
    if (root !== "" && process.env.TELEX_KEEP_PACK === undefined) rmSync(root, { recursive: true, force: true })
  }, 300_000)

  it("holds the build, the bin, the templates and the config schema; no tests, no benchmarks", () => {
    const files = ok(root, "tar", ["tzf", tarball]).stdout.split("\n").filter((f) => f !== "")
    for (const f of ["package/dist/index.js", "package/dist/index.d.ts", "package/dist/testing/index.js", "package/dist/sqlite.js", "package/dist/postgres.js",
      "package/dist/cli/main.js", "package/bin/telex.js", "package/templates/starter/src/app.ts", "package/package.json", "package/cluster.schema.json"]) {
      assert.include(files, f)
    }
    assert.deepStrictEqual(files.filter((f) => /^package\/(test|bench|examples|node_modules|\.ci)\//.test(f)), [])
    const pkg = JSON.parse(readFileSync(join(app, "node_modules", "telex", "package.json"), "utf8"))
    assert.strictEqual(pkg.dependencies.effect, undefined) // a peer: one copy of effect in the app
    assert.ok(pkg.peerDependencies.effect)
    assert.strictEqual(pkg.peerDependenciesMeta["better-sqlite3"].optional, true)
    assert.strictEqual(pkg.peerDependenciesMeta["@effect/sql-pg"].optional, true)
    // the observer's page ships as it is (no build step), and the charting library it loads is installed with telex
    for (const f of ["index.html", "app.js", "schema-form.js", "style.css"]) assert.include(files, `package/src/cluster/observer-web/${f}`)
    assert.ok(pkg.dependencies.uplot)
    assert.ok(existsSync(join(app, "node_modules", "uplot", "dist", "uPlot.esm.js")))
  })

  it("(a) plain node runs a JavaScript file importing telex; telex/sqlite without better-sqlite3 fails in one line", () => {
    writeFileSync(join(app, "counter.js"), COUNTER_JS)
    assert.strictEqual(ok(app, process.execPath, ["counter.js"]).stdout.trim(), "2")
    // CommonJS code can require() it too (Node's require of ES modules)
    writeFileSync(join(app, "require.cjs"), `const { Actor } = require("telex"); const { SimCluster } = require("telex/testing"); console.log(typeof Actor.make, typeof SimCluster.start)`)
    assert.strictEqual(ok(app, process.execPath, ["require.cjs"]).stdout.trim(), "function function")
    const sqlite = run(app, process.execPath, ["--input-type=module", "-e", "await import('telex/sqlite')"])
    assert.notStrictEqual(sqlite.status, 0)
    assert.include(sqlite.stderr, "telex/sqlite needs the package better-sqlite3", sqlite.output)
    const postgres = run(app, process.execPath, ["--input-type=module", "-e", "await import('telex/postgres')"])
    assert.notStrictEqual(postgres.status, 0)
    assert.include(postgres.stderr, "telex/postgres needs the package @effect/sql-pg", postgres.output)
  }, 120_000)

  it.skipIf(oldNode() === undefined)("an older Node.js gets one line from the telex command and from telex/sqlite", () => {
    const node = oldNode()!
    const cli = run(app, node, [join(app, "node_modules", "telex", "bin", "telex.js"), "--help"])
    assert.strictEqual(cli.status, 1, cli.output)
    assert.match(cli.stderr.trim(), /^telex needs Node\.js >= 22\.19 \(this is v[\d.]+\)$/, cli.output)
    const sqlite = run(app, node, ["--input-type=module", "-e", "await import('telex/sqlite')"])
    assert.strictEqual(sqlite.status, 1, sqlite.output) // an error, not a crash of the native module
    assert.include(sqlite.stderr, "telex/sqlite needs Node.js >= 22.19", sqlite.output)
  }, 120_000)

  it("(b) tsc --noEmit, strict, default options, on the public API", () => {
    writeFileSync(join(app, "api.ts"), API_TS)
    writeFileSync(join(app, "tsconfig.json"), TSCONFIG)
    ok(app, process.execPath, [join(app, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", "."])
  }, 120_000)

  it("(c) npx telex start runs a 2-node cluster of a JavaScript app, and of a TypeScript one", async () => {
    for (const ts of [false, true]) {
      const ext = ts ? "ts" : "js"
      writeFileSync(join(app, `ticker.${ext}`), APP_MODULE(ts))
      const [p1, p2] = await freePorts(2)
      const config = `cluster-${ext}.json`
      writeFileSync(join(app, config), JSON.stringify({
        cluster: `pack-${ext}`,
        app: `./ticker.${ext}`,
        nodes: [{ name: "a", port: p1, run: ["ticker"] }, { name: "b", port: p2, run: ["ticker"] }]
      }))
      const started = ok(app, "npx", ["--no-install", "telex", "start", config, "--duration", "2s"])
      assert.include(started.stdout, `ticker (${ext}) running on a`, started.output)
      assert.include(started.stdout, `ticker (${ext}) running on b`, started.output)
      assert.strictEqual(summaryOf(started.stdout).nodes, 2, started.output)
    }
  }, 240_000)

  it("(d) telex new: the project's own npm test and npm start -- --duration 10s pass", async () => {
    ok(root, join(app, "node_modules", ".bin", "telex"), ["new", "starter"])
    const project = join(root, "starter")
    const generated = JSON.parse(readFileSync(join(project, "package.json"), "utf8"))
    assert.ok(generated.dependencies.telex)
    npmInstall(project, [tarball, ...PEERS, ...TOOLS])
    const tested = ok(project, "npm", ["test"], 180_000)
    assert.match(tested.stdout, /1 passed/, tested.output)
    // free ports instead of the template's fixed ones (other tests run alongside)
    const cluster = JSON.parse(readFileSync(join(project, "cluster.json"), "utf8"))
    const ports = await freePorts(cluster.nodes.length)
    cluster.nodes.forEach((n: { port: number }, i: number) => (n.port = ports[i]!))
    writeFileSync(join(project, "cluster.json"), JSON.stringify(cluster, null, 2))
    const started = ok(project, "npm", ["start", "--", "--duration", "10s"], 120_000)
    assert.strictEqual(summaryOf(started.stdout).nodes, 2, started.output)
    assert.match(started.stdout, /count: [1-9]/, started.output) // the clicker reached the counter
  }, 600_000)

  it("(e) TestCluster, from the project's vitest test, runs node processes of the installed package", () => {
    const project = join(root, "starter")
    writeFileSync(join(project, "test", "real-processes.test.ts"), REAL_PROCESSES_TEST)
    const tested = ok(project, "npx", ["--no-install", "vitest", "run", "test/real-processes.test.ts"], 180_000)
    assert.match(tested.stdout, /1 passed/, tested.output)
  }, 240_000)
})
