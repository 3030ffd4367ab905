/**
 * The `telex` command line as real processes (`process.execPath bin/telex.js ...`): clear
 * errors (one `telex: ...` message, no stack trace, exit 1), `telex start --duration` with a
 * 3-node cluster and its JSON summary, `telex status` against a running cluster, and SIGTERM.
 *
 * The tests run concurrently (starting a node process takes seconds); every process is started
 * in its own process group and killed with it at the end, whatever happens.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { APP, freePorts, killAll, STACK_FRAME, telex } from "./_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-cli-test-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

const writeConfig = (name: string, config: object) => {
  const file = join(dir, name)
  writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

const SECRET = { TELEX_SECRET: "cli-test-secret-0123456789" }
/** generous bounds: several node processes start at once on a possibly loaded machine */
const EXIT_TIMEOUT = 100_000

/** Asserts a failed command printed exactly one clear `telex: ...` message on stderr. */
const assertCleanError = (result: { code: number | null; stdout: string; stderr: string }, ...parts: Array<string>) => {
  const why = `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`
  assert.strictEqual(result.code, 1, `exit code\n${why}`)
  const stderr = result.stderr.trim()
  assert.match(stderr, /^telex: /, why)
  assert.strictEqual(stderr.match(/^telex: /gm)?.length, 1, `one message\n${why}`)
  assert.notMatch(result.stderr, STACK_FRAME, `no stack trace\n${why}`)
  assert.notInclude(result.stderr, "Error:", why)
  for (const part of parts) assert.include(stderr, part, why)
}

const cluster3 = (name: string, ports: Array<number>, run: { n1: Array<string>; n2: Array<string>; n3: Array<string> }) => ({
  cluster: name,
  app: APP,
  nodes: [
    { name: "n1", port: ports[0], run: run.n1 },
    { name: "n2", port: ports[1], run: run.n2 },
    { name: "n3", port: ports[2], run: run.n3 }
  ],
  // a node process starved of CPU for a few seconds must not look dead (partitions are explicit)
  heartbeat: { interval: "500ms", acceptablePause: "10s" },
  reconnect: { initial: "200ms", max: "1s" }
})

/** The JSON object on the last non-empty line of `stdout`. */
const lastLineJson = (stdout: string): Record<string, number> => {
  const lines = stdout.split("\n").filter((l) => l.trim().length > 0)
  const last = lines[lines.length - 1] ?? ""
  try {
    return JSON.parse(last)
  } catch {
    return assert.fail(`the last line is not a JSON summary: ${JSON.stringify(last)}\n${stdout}`)
  }
}

describe.concurrent("telex command line", () => {
  it("telex node: bad configs give one clear message, no stack trace, exit code 1", async () => {
    const badPort = writeConfig("bad-port.json", { cluster: "c", nodes: [{ name: "n1", port: 70000 }] })
    const syntax = join(dir, "syntax.json")
    writeFileSync(syntax, `{ "cluster": "c", "nodes": [ { "name": "n1", "port": 7101 }, ] }`)
    const [port, json, missing, noSecret] = await Promise.all([
      telex(["node", "--config", badPort, "--name", "n1"], { env: SECRET }).result(EXIT_TIMEOUT),
      telex(["node", "--config", syntax, "--name", "n1"], { env: SECRET }).result(EXIT_TIMEOUT),
      telex(["node", "--config", join(dir, "does-not-exist.json"), "--name", "n1"], { env: SECRET }).result(EXIT_TIMEOUT),
      telex(["node", "--config", writeConfig("no-secret.json", { cluster: "c", secretEnv: "TELEX_CLI_TEST_UNSET", nodes: [{ name: "n1", port: 7101 }] }), "--name", "n1"]).result(EXIT_TIMEOUT)
    ])
    assertCleanError(port, "invalid cluster config", `["nodes"][0]["port"]`, "between 1 and 65535")
    assertCleanError(json, "not valid JSON")
    assertCleanError(missing, "cannot read the config file", "does-not-exist.json")
    assertCleanError(noSecret, "secret is not set", "TELEX_CLI_TEST_UNSET")
  }, 120_000)

  it("telex node: an unknown node name lists the names; a port in use is a clear error", async () => {
    const [p1, p2, p3] = await freePorts(3)
    const config = writeConfig("names.json", cluster3("names", [p1!, p2!, p3!], { n1: [], n2: [], n3: [] }))
    // hold n2's port so that node cannot listen
    const holder = Net.createServer()
    await new Promise<void>((resolve) => holder.listen(p2, "127.0.0.1", resolve))
    try {
      const [unknown, busy, startBusy] = await Promise.all([
        telex(["node", "--config", config, "--name", "n9"], { env: SECRET }).result(EXIT_TIMEOUT),
        telex(["node", "--config", config, "--name", "n2"], { env: SECRET }).result(EXIT_TIMEOUT),
        telex(["start", config, "--duration", "5s"], { env: SECRET, cwd: dir }).result(EXIT_TIMEOUT)
      ])
      assertCleanError(unknown, `no node named "n9"`, "n1, n2, n3")
      assertCleanError(busy, `port ${p2} on 127.0.0.1 is already in use`)
      assertCleanError(startBusy, `port ${p2} on 127.0.0.1 is already in use`)
      // the launcher checks the ports before starting any node
      assert.notInclude(startBusy.stdout, "nodes up", startBusy.stdout)
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  }, 120_000)

  it("telex start --duration: the cluster forms, runs the demo app, stops and prints a JSON summary", async () => {
    const ports = await freePorts(3)
    const config = writeConfig(
      "duration.json",
      cluster3("cli-duration", ports, { n1: ["jobs", "client", "chaos"], n2: ["workers"], n3: ["workers"] })
    )
    const launcher = telex(["start", config, "--duration", "12s"], { env: SECRET, cwd: dir })
    const result = await launcher.result(180_000)
    const why = launcher.describe()
    assert.strictEqual(result.code, 0, `exit code\n${why}`)
    assert.include(result.stdout, `starting cluster "cli-duration" with 3 nodes`, why)
    assert.include(result.stdout, "nodes up 3/3 — cluster formed", why)
    for (const n of ["n1", "n2", "n3"]) {
      assert.match(result.stdout, new RegExp(`^${n} │ .*node ${n} ready on 127\\.0\\.0\\.1:`, "m"), `${n}'s lines are prefixed\n${why}`)
    }
    assert.match(result.stdout, /^n1 │ jobs: \d+\/\d+ done/m, why)
    const summary = lastLineJson(result.stdout)
    assert.strictEqual(summary.nodes, 3, why)
    assert.strictEqual(summary.jobsLost, 0, why)
    assert.isAbove(summary.jobsCompleted!, 0, why)
    assert.isAtLeast(summary.jobsSubmitted!, summary.jobsCompleted!, why)
    assert.isAbove(summary.messages!, 0, why)
    assert.isAtLeast(summary.partitions!, 1, why) // the chaos module cut a link at least once
    // the node processes are gone with the launcher
    assert.isFalse(launcher.groupAlive(), "node processes left running")
  }, 200_000)

  it("telex status shows every node of a running cluster; SIGTERM stops the cluster and exits 0", async () => {
    const ports = await freePorts(3)
    const config = writeConfig("status.json", cluster3("cli-status", ports, { n1: ["jobs"], n2: ["workers"], n3: [] }))
    const launcher = telex(["start", config], { env: SECRET, cwd: dir })
    await launcher.waitFor("the cluster to form", (out) => out.includes("nodes up 3/3"), 150_000)
    // wait until every node has logged its connection to every other (the mesh is complete)
    await launcher.waitFor("the full mesh", (out) =>
      ["n1", "n2", "n3"].every((x) =>
        ["n1", "n2", "n3"].every((y) => x === y || new RegExp(`^${x} │ .*connected to ${y} `, "m").test(out))
      ), 60_000)

    // status dials every node with short timeouts (2-3 s): on a starved machine a node can miss
    // them, so a report with an unreachable node or a link down is retried (at most 5 runs)
    let status = await telex(["status", config], { env: SECRET, cwd: dir }).result(EXIT_TIMEOUT)
    // likewise a report taken while a link actor that lost the simultaneous-connect race waits out
    // its restart backoff (its peer connected inbound meanwhile): the tree lists it once restarted
    const linksShort = (out: string) => out.split(/\n(?=node )/).slice(1).some((sec) => (sec.match(/^ {8}telex\/Link {2}/gm)?.length ?? 0) < 2)
    for (let attempt = 2; attempt <= 5 && (/unreachable|DOWN/.test(status.stdout) || linksShort(status.stdout)); attempt++) {
      await new Promise((r) => setTimeout(r, 500))
      status = await telex(["status", config], { env: SECRET, cwd: dir }).result(EXIT_TIMEOUT)
    }
    const why = `--- status stdout ---\n${status.stdout}\n--- status stderr ---\n${status.stderr}\n${launcher.describe()}`
    assert.strictEqual(status.code, 0, why)
    assert.include(status.stdout, "cluster cli-status", why)
    const sections = status.stdout.split(/\n(?=node )/).slice(1)
    assert.strictEqual(sections.length, 3, why)
    for (const [i, n] of ["n1", "n2", "n3"].entries()) {
      const section = sections[i]!
      assert.match(section, new RegExp(`^node ${n} \\(incarnation \\d+, pid \\d+, up \\d+ s\\)`), why)
      const others = ["n1", "n2", "n3"].filter((x) => x !== n)
      const links = /^ {2}links: (.*)$/m.exec(section)?.[1] ?? ""
      assert.deepStrictEqual(links.split(", ").sort(), others.map((x) => `${x} up`), `${n}'s links\n${why}`)
      assert.match(section, /^ {2}registered names: .*\bjobs\b/m, `the jobs queue is registered cluster-wide\n${why}`)
      // the tree: the root supervisor (the app's), the services supervisor with the transport
      // supervisor under it and one link actor per peer under that, and the registry and admin
      const tree = section.slice(section.indexOf("  supervision:\n"))
      assert.match(tree, /^ {2}supervision:\n {4}telex\/Supervisor "telex\/root" {2}telex\/Supervisor@\S+ {2}mailbox \d+\n/, `${n}'s tree\n${why}`)
      assert.match(tree, /^ {4}telex\/Supervisor "telex\/services" {2}telex\/Supervisor@\S+ {2}mailbox \d+\n {6}telex\/Supervisor {2}/m, `${n}'s tree\n${why}`)
      assert.strictEqual(tree.match(/^ {8}telex\/Link {2}telex\/Link@/gm)?.length, 2, `${n}'s links in the tree\n${why}`)
      assert.match(tree, /^ {4}telex\/Registry "telex\/registry" /m, why)
      assert.match(tree, /^ {4}telex\/Admin "telex\/admin" /m, why)
    }
    // n1 runs the job queue under its root supervisor, n2 a supervised pool of three workers
    assert.match(sections[0]!, /^ {6}JobQueue {2}JobQueue@n1#/m, why)
    assert.match(sections[1]!, /^ {6}telex\/Supervisor .*\n {8}Worker {2}/m, why)
    assert.strictEqual(sections[1]!.match(/^ {8}Worker {2}Worker@n2#/gm)?.length, 3, why)
    assert.notMatch(sections[2]!, /Worker|JobQueue/, why)

    launcher.signal("SIGTERM")
    const result = await launcher.result(EXIT_TIMEOUT)
    assert.strictEqual(result.signal, null, launcher.describe())
    assert.strictEqual(result.code, 0, launcher.describe())
    assert.isFalse(launcher.groupAlive(), "node processes left running")
  }, 200_000)
})
