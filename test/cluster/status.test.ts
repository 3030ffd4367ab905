/**
 * `telex status` as real processes: its stdout is the report (text or `--json`) and nothing
 * else, link rows name their peer, it changes nothing in the cluster (two nodes that do not know
 * each other still do not after a status), and with nothing running it says so and exits 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { freePorts, killAll, STACK_FRAME, telex } from "./_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-status-test-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

const SECRET = { TELEX_SECRET: "status-test-secret-0123456789" }
const EXIT_TIMEOUT = 100_000
/** a log line of the CLI logger: `HH:MM:SS.mmm LEVEL ...` */
const LOG_LINE = /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARN|ERROR)/m

const writeConfig = (name: string, config: object) => {
  const file = join(dir, name)
  writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

describe.concurrent("telex status", () => {
  it("no cluster running: a clear message on stderr, exit 1, clean stdout (text and --json)", async () => {
    const [p1, p2] = await freePorts(2)
    const config = writeConfig("none.json", { cluster: "none", nodes: [{ name: "n1", port: p1 }, { name: "n2", port: p2 }] })
    const [text, json] = await Promise.all([
      telex(["status", config], { env: SECRET }).result(EXIT_TIMEOUT),
      telex(["status", "--json", config], { env: SECRET }).result(EXIT_TIMEOUT)
    ])
    for (const r of [text, json]) {
      const why = `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
      assert.strictEqual(r.code, 1, why)
      assert.match(r.stderr.trim(), /^telex: no node of cluster "none" answers/, why)
      assert.include(r.stderr, `n1 at 127.0.0.1:${p1}`, why)
      assert.notMatch(r.stderr, STACK_FRAME, why)
      assert.notMatch(r.stdout, LOG_LINE, why)
    }
    assert.match(text.stdout, new RegExp(`^node n2 \\(127\\.0\\.0\\.1:${p2}\\): unreachable`, "m"))
    const report = JSON.parse(json.stdout)
    assert.strictEqual(report.cluster, "none")
    assert.deepStrictEqual(report.nodes.map((n: any) => [n.name, n.reachable]), [["n1", false], ["n2", false]])
  }, 120_000)

  it("is read-only, names the peer of each link row, and prints only the report", async () => {
    const [p1, p2, p3] = await freePorts(3)
    const node = (name: string, port: number) => ({ name, port })
    const common = { cluster: "ro", heartbeat: { interval: "500ms", acceptablePause: "10s" } }
    // n1 and n2 know only themselves; n3 knows n2: the links are n2–n3 and nothing else
    const c1 = writeConfig("ro-n1.json", { ...common, nodes: [node("n1", p1!)] })
    const c2 = writeConfig("ro-n2.json", { ...common, nodes: [node("n2", p2!)] })
    const c3 = writeConfig("ro-n3.json", { ...common, nodes: [node("n2", p2!), node("n3", p3!)] })
    const all = writeConfig("ro-all.json", { ...common, nodes: [node("n1", p1!), node("n2", p2!), node("n3", p3!)] })
    const nodes = [
      telex(["node", "--config", c1, "--name", "n1"], { env: SECRET }),
      telex(["node", "--config", c2, "--name", "n2"], { env: SECRET }),
      telex(["node", "--config", c3, "--name", "n3"], { env: SECRET })
    ]
    await Promise.all(nodes.map((p, i) => p.waitFor(`n${i + 1} ready`, (out) => out.includes(`node n${i + 1} ready`), 90_000)))
    await nodes[2]!.waitFor("n3 connected to n2", (out) => /connected to n2 /.test(out), 60_000)

    const runs = []
    for (let i = 0; i < 2; i++) {
      runs.push(await telex(["status", "--json", all], { env: SECRET }).result(EXIT_TIMEOUT))
    }
    const text = await telex(["status", all], { env: SECRET }).result(EXIT_TIMEOUT)
    const why = (r: { stdout: string; stderr: string }) =>
      `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}\n${nodes.map((n) => n.describe()).join("\n")}`
    for (const r of [...runs, text]) {
      assert.strictEqual(r.code, 0, why(r))
      assert.notMatch(r.stdout, LOG_LINE, `no log lines on stdout\n${why(r)}`)
    }
    for (const r of runs) {
      const report = JSON.parse(r.stdout)
      const peers = Object.fromEntries(report.nodes.map((n: any) => [n.name, n.status.peers.map((p: any) => p.name).sort()]))
      // the status client's visits made nobody dial anybody: n1 still knows nobody
      assert.deepStrictEqual(peers, { n1: [], n2: ["n3"], n3: ["n2"] }, why(r))
      const n3 = report.nodes.find((n: any) => n.name === "n3").status
      const links: Array<any> = []
      const walk = (t: any) => {
        if (t.protocol === "telex/Link") links.push(t)
        t.children.forEach(walk)
      }
      n3.tree.forEach(walk)
      assert.deepStrictEqual(links.map((l) => l.peer), ["n2"], why(r))
      // its id under the transport supervisor, when the supervisor answered in time
      if (links[0].child !== undefined) assert.strictEqual(links[0].child, "link:n2", why(r))
    }
    assert.match(text.stdout, /^ {8}telex\/Link {2}telex\/Link@\S+ {2}mailbox \d+(, restarts \d+)? {2}link to n2 up$/m, `TEXT\n${text.stdout}\n${why(text)}`)
    // the nodes logged no connection from one another (only from the status clients)
    for (const [i, p] of nodes.entries()) {
      const others = ["n1", "n2", "n3"].filter((x) => x !== `n${i + 1}` && !(i === 1 && x === "n3") && !(i === 2 && x === "n2"))
      for (const o of others) assert.notMatch(p.stdout, new RegExp(`connected to ${o} `), why(text))
    }
  }, 200_000)
})
