/**
 * The `peers` group: Telex beside Erlang/OTP on the same machine, in the same run. Each round
 * runs the Erlang modules of `bench/peers/erlang/` (compiled here with `erlc`) and Telex's own
 * `local` and `remote` groups (one round each, with their warm-ups), alternating which side goes
 * first (A B B A), and takes every ratio Telex ÷ Erlang within the round:
 *
 * - remote (two OS processes on 127.0.0.1): tell (`gen_server:cast` to `{Name, Node}`), ask p50
 *   (`gen_server:call`, one in flight), 64 pipelined asks, 64 KiB messages. The Erlang nodes use
 *   a private epmd started here on a free loopback port and stopped by its PID.
 * - local: `tellUnsafe` and `yield* ref.tell` vs `gen_server:cast`, ask p50 vs `gen_server:call`,
 *   100k spawns vs `spawn/1`, stopping them vs `exit(P, kill)`, one_for_one restarts (Erlang's
 *   logger off).
 * - idle node memory: a `telex node` running the demo's workers vs an `erl` node with
 *   distribution on.
 *
 * Throughput ratios > 1 and latency/memory ratios < 1 mean Telex is ahead. Keys are written as
 * `peers.erlang.<ratio>` (e.g. `remoteTellRatio`), with each side's own figure beside it
 * (`peers.telex.*`, `peers.erlang.figures.*`), and Telex's same-run raw Node baselines
 * (`peers.telex.*Baseline*`). Where the two sides cannot do exactly the same
 * work, the Erlang modules' comments and the README's performance section say how they differ.
 *
 * Installs nothing: without `erl` on the PATH the group prints how to get it and records no
 * round. The sizes are the `local` and `remote` groups' variables (`BENCH_TELL_N`, …), read by
 * both sides.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BenchGroup, GroupResult, Metric } from "./lib.ts"
import { local } from "./local.ts"
import { freePort, idleRss, sleep, telexNodeRssMiB } from "./node-rss.ts"
import { remote } from "./remote.ts"

const ERLANG_DIR = join(import.meta.dirname, "peers", "erlang")
const STEP_TIMEOUT_MS = 600_000

const hasErlang = (): boolean => {
  for (const tool of ["erl", "erlc", "epmd"]) {
    const r = spawnSync(tool, tool === "epmd" ? ["-help"] : ["-version"], { stdio: "ignore" })
    if (r.error !== undefined) return false
  }
  return true
}

/** Runs a command to its end (killed after STEP_TIMEOUT_MS): its stdout. */
const run = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env })
    let out = ""
    let err = ""
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString()
    })
    child.stderr!.on("data", (c: Buffer) => {
      err += c.toString()
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), STEP_TIMEOUT_MS)
    child.once("error", reject)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`${command} ${args.join(" ")} failed (${code ?? signal}): ${out}${err}`))
    })
  })

/** The `RESULT {json}` line of an Erlang entry point. */
const resultOf = (out: string): Record<string, number> => {
  const line = out.split("\n").reverse().find((l) => l.startsWith("RESULT "))
  if (line === undefined) throw new Error(`no RESULT line in: ${out}`)
  return JSON.parse(line.slice("RESULT ".length)) as Record<string, number>
}

const waitExit = async (child: ChildProcess, ms: number): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const timer = setTimeout(() => child.kill("SIGKILL"), ms)
  await exited
  clearTimeout(timer)
}

interface Erlang {
  readonly env: NodeJS.ProcessEnv
  /** `erl` arguments shared by every node: cookie, private epmd, compiled modules */
  readonly erl: ReadonlyArray<string>
  readonly stop: () => Promise<void>
}

/** Compiles the modules into a scratch folder and starts a private epmd on a free loopback port. */
const startErlang = async (): Promise<Erlang> => {
  const ebin = mkdtempSync(join(tmpdir(), "telex-peers-"))
  const sources = readdirSync(ERLANG_DIR).filter((f) => f.endsWith(".erl")).map((f) => join(ERLANG_DIR, f))
  const epmdPort = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    ERL_CRASH_DUMP_SECONDS: "0"
  }
  let epmd: ChildProcess | undefined
  const killOnExit = () => epmd?.kill("SIGKILL")
  const stop = async () => {
    if (epmd !== undefined) {
      epmd.kill("SIGTERM")
      await waitExit(epmd, 3000)
      process.off("exit", killOnExit)
    }
    rmSync(ebin, { recursive: true, force: true })
  }
  try {
    await run("erlc", ["-o", ebin, ...sources], env)
    epmd = spawn("epmd", ["-port", String(epmdPort), "-address", "127.0.0.1"], { stdio: "ignore", env })
    process.on("exit", killOnExit)
    for (let i = 0; ; i++) {
      const r = spawnSync("epmd", ["-port", String(epmdPort), "-names"], { stdio: "ignore", env })
      if (r.status === 0) break
      if (i > 50) throw new Error(`epmd did not start on port ${epmdPort}`)
      await sleep(100)
    }
    const cookie = `c${randomBytes(12).toString("hex")}`
    return { env, erl: ["-noshell", "-setcookie", cookie, "-start_epmd", "false", "-pa", ebin], stop }
  } catch (e) {
    await stop()
    throw e
  }
}

/** bench_erl:remote between two nodes (two OS processes). */
const erlangRemote = async (e: Erlang, tag: string): Promise<Record<string, number>> => {
  const recv = `telexpeers_recv_${tag}@127.0.0.1`
  const send = `telexpeers_send_${tag}@127.0.0.1`
  const receiver = spawn("erl", [...e.erl, "-name", recv, "-eval", "bench_target:standalone()"], {
    stdio: "ignore",
    env: e.env
  })
  const killOnExit = () => receiver.kill("SIGKILL")
  process.on("exit", killOnExit)
  try {
    return resultOf(await run("erl", [...e.erl, "-name", send, "-run", "bench_erl", "remote", recv], e.env))
  } finally {
    // the sender stops the receiving node; make sure
    await waitExit(receiver, 10_000)
    process.off("exit", killOnExit)
  }
}

/** bench_erl:local on one node (default schedulers). */
const erlangLocal = async (e: Erlang): Promise<Record<string, number>> =>
  resultOf(await run("erl", [...e.erl, "-run", "bench_erl", "local", "default"], e.env))

/** RSS of an idle `erl` node with distribution on (no application of ours running). */
const erlangNodeRss = (e: Erlang, tag: string): Promise<number> =>
  idleRss("erl", [...e.erl, "-name", `telexpeers_idle_${tag}@127.0.0.1`, "-eval", "io:format(\"ready~n\")"], {
    env: e.env,
    ready: /^ready$/,
    settleMs: 3000
  })

/** One Telex pass: the local and remote groups (one round each, with their warm-ups), and node RSS. */
const telex = async (log: (line: string) => void) => {
  const quiet = (line: string) => log(`  ${line}`)
  const l = (await local.run({ rounds: 1, log: quiet })).rounds[0]!
  const r = (await remote.run({ rounds: 1, log: quiet })).rounds[0]!
  const nodeRssMiB = await telexNodeRssMiB()
  return { l, r, nodeRssMiB }
}

/** [ratio key, label, Telex figure key, Erlang figure key, lower is better] */
const figures: ReadonlyArray<readonly [string, string, string, string, boolean, string]> = [
  ["remoteTellRatio", "remote tell ~100 B (Erlang gen_server:cast)", "remoteTellPerSec", "tellPerSec", false, "msg/s"],
  ["remoteAskP50Ratio", "remote ask p50, 1 in flight (gen_server:call)", "remoteAskP50Micros", "askP50Micros", true, "µs"],
  ["pipelinedAskRatio", "remote pipelined asks, 64 in flight", "pipelinedAskPerSec", "pipelinedAskPerSec", false, "ask/s"],
  ["bulkRatio", "remote 64 KiB messages", "bulkMBps", "bulkMBps", false, "MB/s"],
  ["restartRatio", "restarts one_for_one (Erlang logger off)", "restartsPerSec", "restartsPerSec", false, "restart/s"],
  ["spawnRatio", "spawn 100k idle (spawn/1)", "spawnPerSec", "spawnPerSec", false, "spawn/s"],
  ["stopRatio", "stop 100k idle (exit(P, kill))", "stopPerSec", "stopPerSec", false, "stop/s"],
  ["localCastRatio", "local tellUnsafe vs gen_server:cast", "localCastPerSec", "tellCastPerSec", false, "msg/s"],
  ["localTellRatio", "local yield* ref.tell vs gen_server:cast", "localTellPerSec", "tellCastPerSec", false, "msg/s"],
  ["localAskP50Ratio", "local ask p50 (gen_server:call)", "localAskP50Micros", "askLatencyP50Micros", true, "µs"],
  ["nodeRssRatio", "idle node RSS (erl node, distribution on)", "nodeRssMiB", "nodeRssMiB", true, "MiB"]
]

/** The goals for each ratio (Telex ÷ Erlang). */
const goals: Readonly<Record<string, Metric["goal"]>> = {
  remoteTellRatio: { op: ">=", value: 2 },
  remoteAskP50Ratio: { op: "<=", value: 0.8 },
  pipelinedAskRatio: { op: ">=", value: 1 },
  bulkRatio: { op: ">=", value: 1 },
  restartRatio: { op: ">=", value: 1 },
  spawnRatio: { op: ">=", value: 1 },
  stopRatio: { op: ">=", value: 1 },
  localCastRatio: { op: ">=", value: 1.5 },
  localTellRatio: { op: ">=", value: 1 },
  localAskP50Ratio: { op: "<=", value: 1 },
  nodeRssRatio: { op: "<=", value: 2 }
}

const metrics: ReadonlyArray<Metric> = figures.flatMap(([ratio, label, t, e, lower, unit]): Array<Metric> => {
  const digits = lower ? 1 : 0
  return [
    { key: `erlang.${ratio}`, label: `${label}: Telex ÷ Erlang`, unit: "×", digits: 2, goal: goals[ratio] },
    { key: `telex.${t}`, label: "  Telex", unit, digits },
    { key: `erlang.figures.${e}`, label: "  Erlang/OTP", unit, digits }
  ]
})

export const peers: BenchGroup = {
  name: "peers",
  run: async ({ rounds, log }): Promise<GroupResult> => {
    if (!hasErlang()) {
      log("peers: skipped: no Erlang/OTP (erl, erlc, epmd) on the PATH; on Debian/Ubuntu: sudo apt-get install erlang-nox")
      return { metrics, rounds: [], params: { skipped: "erl not found" } }
    }
    const erlang = await startErlang()
    try {
      const otp = (await run("erl", ["-noshell", "-eval", "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."], erlang.env)).trim()
      const records: Array<Record<string, number>> = []
      for (let round = 1; round <= rounds; round++) {
        const tag = `${process.pid}_r${round}`
        const erlangSide = async () => {
          log(`peers: round ${round}/${rounds}: Erlang/OTP ${otp} remote, local, idle node`)
          const er = await erlangRemote(erlang, tag)
          const el = await erlangLocal(erlang)
          const nodeRssMiB = await erlangNodeRss(erlang, tag)
          return { er, el, nodeRssMiB }
        }
        const telexSide = async () => {
          log(`peers: round ${round}/${rounds}: Telex local, remote, idle node`)
          return await telex(log)
        }
        // A B B A: whichever goes first in a round goes second in the next
        let e: Awaited<ReturnType<typeof erlangSide>>
        let t: Awaited<ReturnType<typeof telexSide>>
        if (round % 2 === 1) {
          e = await erlangSide()
          t = await telexSide()
        } else {
          t = await telexSide()
          e = await erlangSide()
        }
        const telexFigures: Record<string, number> = {
          remoteTellPerSec: t.r.tellPerSec!,
          remoteAskP50Micros: t.r.askP50Micros!,
          pipelinedAskPerSec: t.r.pipelinedAskPerSec!,
          bulkMBps: t.r.bulkMBps!,
          restartsPerSec: t.l.restartsPerSec!,
          spawnPerSec: t.l.spawnPerSec!,
          stopPerSec: t.l.stopPerSec!,
          localCastPerSec: t.l.tellPerSec!,
          localTellPerSec: t.l.tellEffectPerSec!,
          localAskP50Micros: t.l.askLatencyP50Micros!,
          nodeRssMiB: t.nodeRssMiB
        }
        // Telex's same-run raw baselines, to set beside both
        const baselines: Record<string, number> = {
          remoteTellBaselinePerSec: t.r.tellBaselinePerSec!,
          remoteAskBaselineP50Micros: t.r.askBaselineP50Micros!,
          bulkBaselineMBps: t.r.bulkBaselineMBps!,
          localTellBaselinePerSec: t.l.baselinePerSec!,
          localAskBaselineP50Micros: t.l.askBaselineP50Micros!
        }
        const erlangFigures: Record<string, number> = { ...e.er, ...e.el, nodeRssMiB: e.nodeRssMiB }
        const record: Record<string, number> = {}
        for (const [ratio, , tk, ek] of figures) {
          record[`erlang.${ratio}`] = telexFigures[tk]! / erlangFigures[ek]!
          record[`telex.${tk}`] = telexFigures[tk]!
          record[`erlang.figures.${ek}`] = erlangFigures[ek]!
        }
        for (const [k, v] of Object.entries(baselines)) record[`telex.${k}`] = v
        // the rest of Erlang's figures (p99, raw `!`, gen_server spawns, logged restarts, ...)
        for (const [k, v] of Object.entries(erlangFigures)) {
          if (typeof v === "number" && record[`erlang.figures.${k}`] === undefined) record[`erlang.figures.${k}`] = v
        }
        records.push(record)
      }
      return { metrics, rounds: records, params: { otp, erlangSchedulers: "default (one per core)" } }
    } finally {
      await erlang.stop()
    }
  }
}
