/**
 * A long soak workload, not a benchmark (not in `run.ts`): a reliable channel between two real
 * processes (test/fixtures/soak-reliable-app.ts, a `SqliteStore` on both sides) while the
 * consumer's process, the producer's, or both are killed with SIGKILL and restarted, some kills
 * after a partition of the two. Then every message must have been handled exactly once and in
 * order (the consumer's handler appends each `n` to a file that outlives its process), and the
 * producer's last incarnation must have nothing left unconfirmed. The one exception the README
 * states: a kill of the consumer between its handler's end and the save of its progress runs
 * that handler once more after the restart (a message handled twice, right after itself); at
 * most one per consumer kill is accepted, and counted (seen once in about 20 consumer kills).
 *
 * With `SOAK_FREEZE` (a probability, 0 by default) a round SIGSTOPs its victims instead for 3–6 s,
 * past the failure detector (the other side declares the node lost, its resends and sessions
 * time out), then either SIGCONTs them (they resume with their overdue timers and a dead
 * connection) or kills them -9 while frozen and restarts them.
 *
 *   node bench/soak-reliable-kill.ts                 # 10 000 messages, 6 kills
 *   SOAK_TOTAL=20000 SOAK_KILLS=12 node bench/soak-reliable-kill.ts
 *
 * Exit code 0 when it holds; 1 with the counts otherwise.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import * as TestCluster from "../src/testing/TestCluster.ts"
import { ProducerStats } from "../test/fixtures/soak-reliable-app.ts"

const app = fileURLToPath(new URL("../test/fixtures/soak-reliable-app.ts", import.meta.url))
const TOTAL = Number(process.env.SOAK_TOTAL ?? 10_000)
const KILLS = Number(process.env.SOAK_KILLS ?? 6)
const FREEZE = Number(process.env.SOAK_FREEZE ?? 0)

const program = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "telex-soak-reliable-"))),
    (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
  )
  const cluster = yield* TestCluster.start({
    app,
    nodes: [{ name: "prod", run: ["producer"] }, { name: "cons", run: ["consumer"] }],
    env: { TELEX_SOAK_DIR: dir, TELEX_SOAK_TOTAL: String(TOTAL), TELEX_SOAK_RATE: "1000" }
  })
  const stats = cluster.client.registry.lookup(ProducerStats, "soak-producer-stats").pipe(
    Effect.flatMap((r) => r.ask(ProducerStats.Get(), { timeout: "2 seconds" }))
  )
  const file = join(dir, "cons.handled")
  const handled = () =>
    existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map(Number) : []
  const kills: Array<Array<string>> = []
  for (let k = 0; k < KILLS; k++) {
    const before = handled().length
    const next = before + 300 + Math.floor(Math.random() * 700)
    yield* cluster.eventually(Effect.suspend(() => (handled().length >= Math.min(next, TOTAL) ? Effect.void : Effect.fail("not yet"))), "60 seconds")
    const r = Math.random()
    const victims = r < 0.4 ? ["cons"] : r < 0.7 ? ["prod"] : ["prod", "cons"]
    kills.push(victims)
    if (Math.random() < 0.3) {
      yield* cluster.partition("prod", "cons")
      yield* Effect.sleep(Math.floor(Math.random() * 2500))
      yield* cluster.heal()
    }
    if (Math.random() < FREEZE) {
      for (const v of victims) yield* cluster.pause(v)
      const frozen = 3_000 + Math.floor(Math.random() * 3_000)
      yield* Effect.sleep(frozen)
      if (Math.random() < 0.5) {
        for (const v of victims) yield* cluster.resume(v)
        console.log(`SIGSTOP ${victims.join(" + ")} for ${frozen} ms, then SIGCONT, after ${handled().length} handled`)
        continue
      }
      console.log(`SIGSTOP ${victims.join(" + ")} for ${frozen} ms, then kill -9:`)
    }
    for (const v of victims) yield* cluster.kill(v)
    console.log(`kill -9 ${victims.join(" + ")} after ${handled().length} handled`)
    if (Math.random() < 0.5) yield* Effect.sleep(Math.floor(Math.random() * 2000))
    for (const v of victims) yield* cluster.restart(v)
  }
  const final = yield* cluster.eventually(
    stats.pipe(Effect.filterOrFail((s) => s.done && s.unconfirmed === 0, (s) => new Error(JSON.stringify(s)))),
    "120 seconds"
  )
  const consumerKills = kills.filter((v) => v.includes("cons")).length
  const counts = new Map<number, number>()
  let outOfOrder = 0
  let last = 0
  let replayed = 0
  for (const n of handled()) {
    counts.set(n, (counts.get(n) ?? 0) + 1)
    // the documented replay: the message just handled, again
    if (n === last) replayed++
    else if (n !== last + 1) outOfOrder++
    last = n
  }
  let missing = 0
  let duplicated = 0
  for (let n = 1; n <= TOTAL; n++) {
    const c = counts.get(n) ?? 0
    if (c === 0) missing++
    if (c > 2 || (c === 2 && handled().indexOf(n) + 1 !== handled().lastIndexOf(n))) {
      duplicated++
      const at = handled().indexOf(n)
      console.log(`handled twice: ${n}, around: ${handled().slice(Math.max(0, at - 3), at + 6).join(" ")}`)
    }
  }
  console.log(JSON.stringify({ total: TOTAL, kills, handled: handled().length, missing, duplicated, outOfOrder, replayed, producer: final }))
  return missing === 0 && duplicated === 0 && outOfOrder === 0 && replayed <= consumerKills && final.outcomeOrderErrors === 0
})

Effect.runPromise(program.pipe(Effect.scoped)).then(
  (ok) => process.exit(ok ? 0 : 1),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
