/**
 * `telex shell` as real processes against one running 2-node cluster (test/fixtures/shell-app.ts:
 * a counter on n1, registered cluster-wide; n1 also makes a dead letter every 200 ms). The shell
 * attaches to n2 for sends, so the message goes n2's admin → the registry's ref → n1's counter.
 * With `-c`: results as JSON on stdout, exit 0; every error one `telex: ...` line on stderr,
 * exit 1, nothing on stdout. Interactively, through stdin: answers as text, errors on stderr
 * without ending the session, a dead-letter watch stopped by a line, `quit`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { freePorts, killAll, type Result, STACK_FRAME, telex, type TelexProcess } from "./_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-shell-test-"))
const SECRET = { TELEX_SECRET: "shell-test-secret-0123456789" }
const EXIT_TIMEOUT = 100_000
const APP = fileURLToPath(new URL("../fixtures/shell-app.ts", import.meta.url))
/** a log line of the CLI logger: `HH:MM:SS.mmm LEVEL ...` */
const LOG_LINE = /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARN|ERROR)/m

let config = ""
let launcher: TelexProcess

const shell = (node: string, command: string) =>
  telex(["shell", "--config", config, "--node", node, "-c", command], { env: SECRET, cwd: dir }).result(EXIT_TIMEOUT)

const why = (r: Result) => `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}\n--- cluster ---\n${launcher.describe()}`

const assertJson = (r: Result): any => {
  assert.strictEqual(r.code, 0, why(r))
  assert.notMatch(r.stdout, LOG_LINE, `no log lines on stdout\n${why(r)}`)
  try {
    return JSON.parse(r.stdout)
  } catch {
    return assert.fail(`stdout is not one JSON document\n${why(r)}`)
  }
}

/** One clear `telex: ...` line (no stack trace), exit 1, nothing on stdout. */
const assertError = (r: Result, ...parts: Array<string>) => {
  assert.strictEqual(r.code, 1, `exit code\n${why(r)}`)
  assert.strictEqual(r.stdout, "", `nothing on stdout\n${why(r)}`)
  const stderr = r.stderr.trim()
  assert.match(stderr, /^telex: [^\n]+$/, `one line\n${why(r)}`)
  assert.notMatch(r.stderr, STACK_FRAME, why(r))
  for (const part of parts) assert.include(stderr, part, why(r))
}

beforeAll(async () => {
  const [p1, p2] = await freePorts(2)
  config = join(dir, "cluster.json")
  writeFileSync(config, JSON.stringify({
    cluster: "shell-test",
    app: APP,
    nodes: [{ name: "n1", port: p1, run: ["counter", "bounce"] }, { name: "n2", port: p2, run: [] }],
    heartbeat: { interval: "500ms", acceptablePause: "10s" },
    reconnect: { initial: "200ms", max: "1s" }
  }))
  launcher = telex(["start", config], { env: SECRET, cwd: dir })
  await launcher.waitFor("the cluster to form", (out) => out.includes("nodes up 2/2"), 150_000)
  // n2 knows "counter" once n1's registry has replicated it there
  for (let attempt = 1; ; attempt++) {
    const r = await shell("n2", "ask counter Get {}")
    if (r.code === 0) break
    if (attempt === 30) assert.fail(`n2 never learnt the name "counter"\n${why(r)}`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}, 300_000)

afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

describe.concurrent("telex shell", () => {
  it("-c: ask prints the reply as JSON; tell delivers (decoded by the Schema on the node) and prints null", async () => {
    const before = assertJson(await shell("n2", "ask counter Get {}"))
    assert.isNumber(before.count)
    assert.strictEqual(assertJson(await shell("n2", `tell counter Add {"by": 5}`)), null)
    // the tell and this ask go from n2's admin over the same link, in order
    assert.deepStrictEqual(assertJson(await shell("n2", "ask counter Get")), { count: before.count + 5 })
    // the same actor from its own node
    assert.deepStrictEqual(assertJson(await shell("n1", "ask counter Get {}")), { count: before.count + 5 })
  }, 200_000)

  it("-c: a message the Schema refuses, an unknown tag, tell for an ask, bad JSON, a typed ask error: clear errors, exit 1", async () => {
    const [invalid, missing, tag, inherited, kind, json, typed] = await Promise.all([
      shell("n2", `tell counter Add {"by": -1}`),
      shell("n2", `tell counter Add {}`),
      shell("n2", "ask counter Reset {}"),
      shell("n2", "ask counter constructor {}"),
      shell("n2", "tell counter Get {}"),
      shell("n2", `ask counter Get {"oops"`),
      shell("n2", `ask counter AddAtMost {"by": 1000000, "limit": 1}`)
    ])
    assertError(invalid, "invalid ShellCounter.Add", "greater than 0", `["by"]`)
    assertError(missing, "invalid ShellCounter.Add", "Missing key", `["by"]`)
    assertError(tag, `ShellCounter has no message "Reset"`, "Add (tell), Get (ask), AddAtMost (ask)")
    assertError(inherited, `ShellCounter has no message "constructor"`)
    assertError(kind, "ShellCounter.Get is an ask", "ask counter Get")
    assertError(json, "not valid JSON")
    assertError(typed, "ask counter AddAtMost failed", "TooBig", "limit: 1")
    // the node is unharmed: the counter still answers and saw none of them
    const after = assertJson(await shell("n2", "ask counter Get {}"))
    assert.isNumber(after.count)
  }, 200_000)

  it("-c: an unknown name, an unknown node, a node not running, an unknown command: clear errors, exit 1", async () => {
    const [down] = await freePorts(1)
    const downConfig = join(dir, "down.json")
    writeFileSync(downConfig, JSON.stringify({ cluster: "shell-test", nodes: [{ name: "n1", port: down }] }))
    const [name, node, unreachable, verb] = await Promise.all([
      shell("n2", "ask nobody Get {}"),
      shell("n9", "names"),
      telex(["shell", "--config", downConfig, "--node", "n1", "-c", "names"], { env: SECRET, cwd: dir }).result(EXIT_TIMEOUT),
      shell("n1", "frobnicate")
    ])
    assertError(name, `no actor named "nobody" on node n2`, "names: counter")
    assertError(node, `no node named "n9"`, "n1, n2")
    assertError(unreachable, `node n1 at 127.0.0.1:${down} is unreachable`, "ECONNREFUSED")
    assertError(verb, `unknown command "frobnicate"`)
  }, 200_000)

  it("-c: actors, names and tree as JSON; a node's own actor whose protocol is not advertised (a supervisor) answers too", async () => {
    const [actors, names, tree, children] = await Promise.all([
      shell("n1", "actors"),
      shell("n2", "names"),
      shell("n1", "tree"),
      shell("n1", "ask telex/services WhichChildren {}")
    ])
    // the services supervisor runs the transport's supervisor; a ref in the reply is its address
    const services = assertJson(children) as Array<any>
    const transport = services.find((c) => c.id === "transport")
    assert.strictEqual(transport?.type, "supervisor", why(children))
    assert.match(transport.ref.protocol, /^telex\/Supervisor$/, why(children))
    const list = assertJson(actors) as Array<any>
    assert.isTrue(list.some((a) => a.protocol === "ShellCounter" && a.name === "counter" && typeof a.mailbox === "number"), why(actors))
    assert.isTrue(list.some((a) => a.protocol === "telex/Admin"), why(actors))
    const n = assertJson(names) as Array<any>
    // "counter" is n1's actor, known on n2 through the registry
    assert.deepInclude(n.map((x) => [x.name, x.scope, x.actor.split("#")[0]]), ["counter", "cluster", "ShellCounter@n1"], why(names))
    const roots = assertJson(tree) as Array<any>
    assert.deepStrictEqual(roots.map((r) => r.name), ["telex/root", "telex/services", "telex/registry", "telex/admin", "counter"], why(tree))
  }, 200_000)

  it("-c deadletters: one JSON line per dead letter until SIGINT, then exit 0", async () => {
    const watch = telex(["shell", "--config", config, "--node", "n1", "-c", "deadletters"], { env: SECRET, cwd: dir })
    await watch.waitFor("two dead letters", (out) => out.split("\n").filter((l) => l.startsWith("{")).length >= 2, 60_000)
    watch.signal("SIGINT")
    const r = await watch.result(EXIT_TIMEOUT)
    assert.strictEqual(r.code, 0, why(r))
    const letters = r.stdout.trim().split("\n").map((l) => JSON.parse(l))
    for (const d of letters) {
      assert.match(d.recipient, /^ShellCounter@n1#/, why(r))
      assert.strictEqual(d.message, "Add", why(r))
      assert.strictEqual(d.reason, "actor stopped (Shutdown)", why(r))
    }
    // numbered in order, none twice
    const seqs = letters.map((d) => d.seq)
    assert.deepStrictEqual(seqs, [...seqs].sort((a, b) => a - b), why(r))
    assert.strictEqual(new Set(seqs).size, seqs.length, why(r))
  }, 200_000)

  it("interactive, through stdin: answers on stdout, errors on stderr (the session goes on), a watch stopped by a line, quit", async () => {
    const session = telex(["shell", "--config", config, "--node", "n1"], { env: SECRET, cwd: dir, stdin: true })
    const step = async (input: string, what: string, done: (out: string) => boolean) => {
      session.write(`${input}\n`)
      await session.waitFor(what, done, 60_000)
    }
    await step("names", "the names", (out) => /^counter {2}ShellCounter@n1#\S+ {2}\(cluster\)$/m.test(out))
    await step("ask counter Get", "the reply", (out) => /"count": \d+/.test(out))
    // errors (on stderr) leave the session running: the next command is answered
    session.write(`tell counter Add {"by": 0}\n`)
    session.write(`ask counter AddAtMost {"by": 1000, "limit": 0}\n`)
    await step("tree", "the tree", (out) => /^telex\/Admin "telex\/admin" {2}telex\/Admin@n1#/m.test(out))
    // (stderr is read apart from stdout: its lines may come after the tree's)
    await session.waitFor("the tell's error", (err) => err.includes("error: invalid ShellCounter.Add: Expected a value greater than 0"), 60_000, "stderr")
    await session.waitFor("the ask's error", (err) => err.includes("error: ask counter AddAtMost failed: TooBig"), 60_000, "stderr")
    // the watch prints n1's dead letters as they come, until a line is typed
    await step("deadletters", "a dead letter", (out) => /^#\d+ to ShellCounter@n1#\S+: Add \(actor stopped \(Shutdown\)\)$/m.test(out))
    await step("", "the watch to stop", (out) => out.includes("stopped watching"))
    await step("actors", "the actors", (out) => /^ShellCounter@n1#\S+ {2}ShellCounter "counter" {2}mailbox \d+/m.test(out))
    session.write("quit\n")
    const r = await session.result(EXIT_TIMEOUT)
    assert.strictEqual(r.code, 0, why(r))
    assert.notMatch(r.stdout, LOG_LINE, why(r))
    assert.notInclude(r.stdout, "error:", why(r))
  }, 200_000)
})
