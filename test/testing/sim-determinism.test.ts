/**
 * What a seeded simulation (SimCluster, SimNetwork on TestClock) needs from the runtime to replay
 * exactly: randomness from Effect's `Random` (seeded per node by SimCluster), time and timers from
 * Effect's `Clock` or the node's `Network.timers`. A `Math.random()`, a `Date.now()`, a
 * `performance.now()` or a raw `setTimeout` in code a simulated node runs makes runs of one seed
 * differ (the replay tests in test/sharding/scenarios.test.ts catch it only when a scenario
 * happens to reach that code). This scans the runtime's sources for them; the uses listed below
 * are known not to run in a simulation, or not to change what it does.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { assert, describe, it } from "@effect/vitest"

const root = join(import.meta.dirname, "../..")
const scanned = ["src/internal", "src/actors", "src/supervision", "src/system", "src/transport", "src/cluster", "src/reliable", "src/sharding"]

const patterns: Record<string, RegExp> = {
  "Math.random": /\bMath\.random\(/,
  "Date.now": /\bDate\.now\(/,
  "performance.now": /\bperformance\.now\(/,
  "new Date()": /\bnew Date\(\)/,
  "setTimeout": /(?<![\w.])setTimeout\(/,
  "setInterval": /(?<![\w.])setInterval\(/
}

/** `file: pattern` → why it may stay */
const allowed: Record<string, string> = {
  "src/internal/deadlines.ts: performance.now": "ask deadlines on the live clock only (ActorRef checks the clock)",
  "src/internal/deadlines.ts: setTimeout": "ask deadlines on the live clock only (ActorRef checks the clock)",
  "src/actors/internal/dispatcher.ts: performance.now": "slices by count under virtual time",
  "src/sharding/internal/runtime.ts: performance.now": "admission slices by count under virtual time",
  "src/system/ActorSystem.ts: Date.now": "the default incarnation; SimCluster gives its own",
  "src/transport/Network.ts: performance.now": "the real network's timers",
  "src/transport/Network.ts: setTimeout": "the real network's timers",
  "src/transport/Network.ts: setInterval": "the real network's timers",
  "src/transport/Node.ts: setTimeout": "the TLS network's connect timeout",
  "src/sharding/SqliteShardStore.ts: Date.now": "SQLite lease time is the host's wall clock (not the simulated store)",
  "src/sharding/SqliteShardStore.ts: Math.random": "SQLite busy retry (not the simulated store)",
  "src/cluster/Admin.ts: Date.now": "uptime in admin replies",
  "src/cluster/AdminCommands.ts: Date.now": "the admin shell's polling",
  "src/cluster/AdminObserve.ts: Date.now": "observer polling and round trips (on request only)",
  "src/cluster/AdminObserve.ts: performance.now": "observer round trips (on request only)",
  "src/cluster/Observer.ts: Date.now": "the observer UI's events",
  "src/cluster/Launcher.ts: performance.now": "child process launch",
  "src/cluster/Launcher.ts: Math.random": "child process launch",
  "src/cluster/Launcher.ts: setTimeout": "child process launch"
}

const files = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return files(path)
    return path.endsWith(".ts") ? [path] : []
  })

/** the code of a line: comment lines and trailing `//` comments left out */
const code = (line: string): string => {
  const t = line.trim()
  if (t.startsWith("*") || t.startsWith("//") || t.startsWith("/*")) return ""
  const i = line.indexOf(" // ")
  return i === -1 ? line : line.slice(0, i)
}

describe("what a simulated node runs takes randomness and time from Effect", () => {
  it("no Math.random, Date.now, performance.now or raw timers in the runtime but the uses listed", () => {
    const found: Array<string> = []
    const used = new Set<string>()
    for (const dir of scanned) {
      for (const path of files(join(root, dir))) {
        const file = relative(root, path)
        readFileSync(path, "utf8").split("\n").forEach((line, i) => {
          const c = code(line)
          for (const [name, re] of Object.entries(patterns)) {
            if (!re.test(c)) continue
            const key = `${file}: ${name}`
            used.add(key)
            if (allowed[key] === undefined) found.push(`${file}:${i + 1}: ${name}: ${line.trim()}`)
          }
        })
      }
    }
    assert.deepStrictEqual(found, [], "use Effect's Random and Clock (or the node's Network.timers) instead")
    // the list stays true: every use listed is still there
    assert.deepStrictEqual(Object.keys(allowed).filter((k) => !used.has(k)), [])
  })
})
