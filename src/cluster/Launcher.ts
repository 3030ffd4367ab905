/**
 * `telex start`: launches every node of a config on this machine as child processes — the top
 * of the supervision tree. It multiplexes their output with colored node-name prefixes, shows
 * the cluster forming (nodes up n/N), restarts a node process that dies (one_for_one, with the
 * same intensity + backoff logic as actor supervisors: default 5 restarts in 30 s, 500 ms → 5 s),
 * and on Ctrl-C / SIGTERM stops the nodes in reverse order (SIGTERM, then SIGKILL after 10 s).
 *
 * Restart intensity is counted per node: a node that keeps dying (its app fails at start, or it
 * is killed again and again) is given up alone — logged, listed in `nodesFailed` of the
 * `--duration` summary (the launcher then exits with code 1) — while the other nodes keep
 * running. Only when every node has been given up does the launcher stop at once.
 *
 * Its output closed (`telex start | head`, a log collector gone: EPIPE) ends neither the launcher
 * nor its nodes: they run on, their output lost, until stopped.
 *
 * With `observe`, it also serves the observer page (see `Observer.ts`) for the cluster it runs.
 *
 * If the secret's environment variable is not set, a random secret is generated for this launch
 * and saved (mode 0600) in `.telex/<cluster>.secret`, where `telex status` finds it.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as RestartPolicy from "../supervision/RestartPolicy.ts"
import * as ShortDuration from "./ShortDuration.ts"
import { checkNode, LAUNCHED_ENV, loadApp, READY_PREFIX } from "./ClusterNode.ts"
import * as Config from "./Config.ts"
import { STATS_PREFIX } from "./NodeStats.ts"
import * as Observer from "./Observer.ts"

const BIN = fileURLToPath(new URL("../../bin/telex.js", import.meta.url))
const COLORS = [36, 35, 33, 32, 34, 31]
const tty = process.stdout.isTTY === true
const paint = (code: number, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s)

export const secretFile = (cluster: string) => join(process.cwd(), ".telex", `${cluster.replace(/[^A-Za-z0-9_.-]/g, "_")}.secret`)

const portFree = (host: string, port: number) =>
  Effect.callback<boolean>((resume) => {
    const server = Net.createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen(port, host, () => server.close(() => resume(Effect.succeed(true))))
  })

export interface LaunchOptions {
  /** run this long once the cluster has formed, then stop and print a JSON summary */
  readonly duration: Option.Option<Duration.Duration>
  /** also serve the observer page (`telex start --observe`) on this port (0: a free one) */
  readonly observe?: { readonly port: number } | undefined
}

const FORMATION_TIMEOUT = Duration.seconds(60)

interface NodeProcess {
  readonly name: string
  readonly color: number
  child: ChildProcess | undefined
  up: boolean
  stats: Record<string, number> | undefined
  exited: Promise<void> | undefined
  /** this node's restarts, for its own intensity */
  history: RestartPolicy.History
  /** why the launcher gave up on this node, if it did */
  failed: string | undefined
}

/**
 * The launcher's output may go away while its nodes run (`telex start | head`, a log shipper or
 * journald restarted): a write then fails (EPIPE) and, unheard, that error would end the launcher
 * and with it the whole cluster. The cluster keeps running, its output lost, until it is stopped.
 */
const keepRunningWithoutOutput = Effect.acquireRelease(
  Effect.sync(() => {
    const ignore = () => {}
    process.stdout.on("error", ignore)
    process.stderr.on("error", ignore)
    return ignore
  }),
  (ignore) =>
    Effect.sync(() => {
      process.stdout.off("error", ignore)
      process.stderr.off("error", ignore)
    })
)

export const launch = Effect.fnUntraced(function*(configFile: string, options: LaunchOptions) {
  yield* keepRunningWithoutOutput
  const path = resolve(process.cwd(), configFile)
  const { config, dir } = yield* Config.load(path)
  // fail before starting anything if the app does not load or lacks what a node names
  const app = yield* loadApp(config, dir)
  for (const node of config.nodes) yield* checkNode(app, node)
  for (const node of config.nodes) {
    if (!(yield* portFree(node.host ?? "127.0.0.1", node.port))) {
      return yield* new Config.ConfigError({
        path: `nodes[${node.name}].port`,
        message: `port ${node.port} on ${node.host ?? "127.0.0.1"} is already in use (is another cluster running?)`
      })
    }
    if (node.metricsPort !== undefined && !(yield* portFree("127.0.0.1", node.metricsPort))) {
      return yield* new Config.ConfigError({
        path: `nodes[${node.name}].metricsPort`,
        message: `metricsPort ${node.metricsPort} of node ${node.name} on 127.0.0.1 is already in use`
      })
    }
  }
  const secretEnv = config.secretEnv ?? "TELEX_SECRET"
  let secret = process.env[secretEnv]
  if (secret === undefined || secret.length === 0) {
    secret = randomBytes(24).toString("base64url")
    const file = secretFile(config.cluster)
    mkdirSync(join(process.cwd(), ".telex"), { recursive: true, mode: 0o700 })
    writeFileSync(file, secret, { mode: 0o600 })
    // `mode` applies only to a new file: one left by an earlier run keeps its mode otherwise
    chmodSync(file, 0o600)
    yield* Console.log(paint(90, `telex: ${secretEnv} is not set; generated a secret for this run, saved in ${file} (mode 0600; keep .telex/ out of version control)`))
  }

  const policy: RestartPolicy.Policy = {
    strategy: "one_for_one",
    intensity: config.launcher?.intensity ?? 5,
    periodMillis: config.launcher?.period !== undefined
      ? Duration.toMillis(Option.getOrThrow(ShortDuration.parse(config.launcher.period)))
      : 30_000,
    backoff: { initialMillis: 500, maxMillis: 5_000, factor: 2, jitter: 0.2, resetAfterMillis: 30_000 }
  }
  let stopping = false
  let failure: string | undefined
  const total = config.nodes.length
  const procs: Array<NodeProcess> = config.nodes.map((n, i) => ({
    name: n.name,
    color: COLORS[i % COLORS.length]!,
    child: undefined,
    up: false,
    stats: undefined,
    exited: undefined,
    history: RestartPolicy.emptyHistory,
    failed: undefined
  }))
  const width = Math.max(...procs.map((p) => p.name.length))
  const out = (p: NodeProcess, line: string) => process.stdout.write(`${paint(p.color, p.name.padEnd(width))} │ ${line}\n`)
  let formed = false
  let onFormed: () => void = () => {}
  const progress = () => {
    const up = procs.filter((p) => p.up).length
    const failed = procs.filter((p) => p.failed !== undefined).map((p) => p.name)
    // the nodes given up on are not waited for: the others form the cluster
    const complete = up > 0 && up === total - failed.length
    const gaveUp = failed.length > 0 ? ` (given up: ${failed.join(", ")})` : ""
    process.stdout.write(paint(1, `telex: nodes up ${up}/${total}${gaveUp}${complete ? " — cluster formed" : ""}\n`))
    if (complete && !formed) {
      formed = true
      onFormed()
    }
  }

  // a node can be given up before `fatal` below listens (a spawn failing at once): kept until then
  let fatalReason: string | undefined
  let onFatal: (reason: string) => void = (reason) => {
    fatalReason ??= reason
  }
  /**
   * The node process of `p` is gone (`why`): restart it under its own intensity and backoff, or
   * give up on it. A process that could not be started at all (the spawn failed: EAGAIN, EMFILE,
   * ENOENT, E2BIG) ends here too, so a node whose spawns keep failing is given up as one that
   * keeps dying, instead of the launcher ending with an unhandled error.
   */
  const ended = (p: NodeProcess, why: string, wasUp: boolean) => {
    out(p, paint(31, `node process ${why}`))
    if (wasUp) progress()
    // one_for_one, with the intensity counted for this node alone, on the monotonic clock (as
    // actor supervisors): a step of the wall clock back would count old restarts as recent
    const [decision, next] = RestartPolicy.decide(
      policy,
      [{ id: p.name, restart: "permanent" as const, running: false }],
      p.name,
      { _tag: "Error", message: why },
      performance.now(),
      p.history,
      Math.random()
    )
    p.history = next
    if (decision._tag === "Escalate") {
      p.failed = `more than ${policy.intensity} restarts within ${policy.periodMillis} ms, last ${why}`
      out(p, paint(31, `node ${p.name} keeps dying (${p.failed}): giving up on it; the other nodes keep running`))
      progress()
      if (procs.every((q) => q.failed !== undefined)) return onFatal("every node keeps dying; giving up")
      return
    }
    const delay = decision._tag === "Restart" ? decision.delayMillis : 0
    out(p, paint(33, `restarting node process${delay > 0 ? ` in ${delay} ms` : ""}`))
    setTimeout(() => {
      if (!stopping) start(p)
    }, delay)
  }

  const start = (p: NodeProcess) => {
    p.up = false
    let child: ChildProcess
    try {
      // the launcher's own Node and flags: a user running under a loader (--import …) keeps it
      child = spawn(process.execPath, [...process.execArgv, BIN, "node", "--config", path, "--name", p.name], {
        env: { ...process.env, [secretEnv]: secret, [LAUNCHED_ENV]: "1" },
        // stdin: a pipe that ends when this process is gone, however it ends (the node then stops)
        stdio: ["pipe", "pipe", "pipe"]
      })
    } catch (e) {
      // some spawn failures throw (E2BIG, an unexpected errno) rather than emit 'error'
      p.child = undefined
      p.exited = undefined
      return ended(p, `could not be started: ${e instanceof Error ? e.message : String(e)}`, false)
    }
    p.child = child
    let resolveExit: () => void = () => {}
    p.exited = new Promise((resolve) => {
      resolveExit = resolve
    })
    let gone = false
    const exit = (why: string) => {
      if (gone) return
      gone = true
      resolveExit()
      if (p.child === child) p.child = undefined
      const wasUp = p.up
      p.up = false
      if (!stopping) ended(p, why, wasUp)
    }
    // a spawn that fails (EAGAIN, EMFILE, ENOENT) emits 'error' and never 'exit'; later errors
    // (a signal that cannot be sent) leave the process running, and its 'exit' still comes
    child.on("error", (e) => {
      if (child.pid === undefined) exit(`could not be started: ${e.message}`)
      else out(p, paint(31, `node process: ${e.message}`))
    })
    const onLine = (line: string) => {
      if (line.startsWith(READY_PREFIX)) {
        p.up = true
        return progress()
      }
      if (line.startsWith(STATS_PREFIX)) {
        try {
          p.stats = JSON.parse(line.slice(STATS_PREFIX.length))
        } catch {
          // a broken stats line is not worth failing for
        }
        return
      }
      out(p, line)
    }
    // a spawn that fails with EMFILE or ENFILE sets up no pipes
    if (child.stdout !== null) createInterface({ input: child.stdout }).on("line", onLine)
    if (child.stderr !== null) createInterface({ input: child.stderr }).on("line", onLine)
    child.once("exit", (code, signal) => exit(signal !== null ? `killed by ${signal}` : `exited with code ${code}`))
  }

  const stopAll = Effect.promise(async () => {
    stopping = true
    for (const p of [...procs].reverse()) {
      const child = p.child
      if (child === undefined) continue
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await p.exited
      clearTimeout(timer)
    }
  })

  yield* Console.log(paint(1, `telex: starting cluster ${JSON.stringify(config.cluster)} with ${total} node${total === 1 ? "" : "s"} (${config.nodes.map((n) => `${n.name}:${n.port}`).join(", ")})`))
  yield* Effect.addFinalizer(() => stopAll)
  for (const p of procs) start(p)
  if (options.observe !== undefined) {
    // a client of the cluster like `telex observe`: it finds the nodes as they come up
    const observer = yield* Observer.serve(path, { port: options.observe.port, secret: Redacted.make(secret) })
    yield* Console.log(paint(1, `telex: observer on ${observer.url}`))
  }

  const fatal = Effect.callback<string>((resume) => {
    if (fatalReason !== undefined) return resume(Effect.succeed(fatalReason))
    onFatal = (reason) => resume(Effect.succeed(reason))
  })
  // --duration counts from the moment the cluster has formed (node start-up takes seconds, more on
  // a loaded machine), so the run and its summary cover a working cluster; if it does not form
  // within FORMATION_TIMEOUT, the clock starts anyway
  const clusterFormed = Effect.callback<void>((resume) => {
    if (formed) return resume(Effect.void)
    onFormed = () => resume(Effect.void)
  }).pipe(
    Effect.timeoutOrElse({
      duration: FORMATION_TIMEOUT,
      orElse: () => Console.error(paint(33, `telex: the cluster has not formed within ${Duration.format(FORMATION_TIMEOUT)}; the --duration clock starts now`))
    })
  )
  const outcome = Option.isSome(options.duration)
    ? yield* Effect.raceFirst(clusterFormed.pipe(Effect.andThen(Effect.sleep(options.duration.value)), Effect.as(undefined)), fatal)
    : yield* fatal
  if (outcome !== undefined) failure = outcome
  yield* stopAll
  if (failure !== undefined) {
    // printed once, by the command line, as any launcher failure
    return yield* Effect.fail(new Config.ConfigError({ path: "launcher", message: failure }))
  }
  const sum = (key: string) => procs.reduce((acc, p) => acc + (p.stats?.[key] ?? 0), 0)
  const nodesFailed = procs.filter((p) => p.failed !== undefined)
  // generic fields first, then whatever the app's modules counted through NodeStats (summed
  // over the nodes that reported it)
  const summary: Record<string, number | ReadonlyArray<string>> = {
    nodes: total,
    nodesFailed: nodesFailed.map((p) => p.name),
    messages: sum("messages"),
    deadLetters: sum("deadLetters"),
    restarts: sum("restarts")
  }
  for (const p of procs) {
    for (const key of Object.keys(p.stats ?? {})) if (!(key in summary)) summary[key] = sum(key)
  }
  yield* Console.log(JSON.stringify(summary))
  if (nodesFailed.length > 0) {
    const message = `gave up on ${nodesFailed.map((p) => `node ${p.name} (${p.failed})`).join(", ")}`
    // printed once, by the command line, as any launcher failure
    return yield* Effect.fail(new Config.ConfigError({ path: "launcher", message }))
  }
})
