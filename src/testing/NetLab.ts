/**
 * The real-kernel tier of the fault kit: a lab of Linux network namespaces joined by a bridge,
 * with `telex node` processes running inside them and faults injected by the kernel itself
 * (nftables, `ip link`, `tc`). Needs root, iproute2 and nftables; `NetLab.available()` says
 * whether this machine can run it (and why not).
 *
 * ```ts
 * const lab = yield* NetLab.make({ nodes: ["n1", "n2", "n3"] })      // scoped: cleaned up on close
 * const config = lab.writeClusterConfig({ app, nodes: [{ name: "n1", run: ["jobs"] }, ...] })
 * const n1 = yield* lab.startNode("n1", config)                       // waits for @@telex-ready
 * yield* lab.partition("n1", "n3", "drop")                            // nft DROP both ways
 * yield* n1.waitForLine(/connection to n3 lost/)
 * yield* lab.heal()
 * ```
 *
 * Topology: one namespace per node (`<prefix>n1`, …) with `eth0` at `10.231.0.<i>/24`, and a
 * switch namespace (`<prefix>sw`) holding the bridge `br0` with one veth port `p<i>` per node.
 * Every veth is created inside the lab's namespaces: nothing is added to the host's network.
 * Node namespaces have no default route, so stray traffic fails with ENETUNREACH instead of
 * leaving the machine.
 *
 * Safety rules the lab enforces:
 * - every lab process starts through `ip netns exec <lab namespace>` (`spawn`, `exec`,
 *   `startNode`); the test process itself never connects to a lab address (the host has a
 *   default route: such a connection would leave the machine). Observe nodes through their
 *   stdout instead.
 * - addresses are `10.231.x.y` only (the subnet option is checked).
 * - names carry a unique prefix, `tx<pid>-<k>-`; `make` first removes the namespaces of earlier
 *   runs whose process is gone (crashed runs), never those of a live process.
 * - cleanup on every exit path: the scope's finalizer, and `exit`/SIGINT/SIGTERM handlers kill the
 *   lab's processes (by pid and by `ip netns pids`) and delete the namespaces, which removes the
 *   veths, the bridge, nft tables and qdiscs with them. Every command has a timeout.
 *
 * Faults (all in the lab's namespaces): `partition` (nft DROP, silent; or REJECT, TCP reset and
 * ECONNREFUSED; both ways or one way), `linkDown`/`linkUp` (the node's switch port), `loss`
 * (nft `numgen random` on egress), `bandwidth` (tc tbf), `sysctl` (net.* keys only, checked to
 * be per-namespace). `delay` needs `sch_netem`, which kernels built without modules often lack
 * (the Firecracker kernel this project's CI uses has none): it then fails with a clear error —
 * use `FaultProxy`'s latency toxic (the loopback tier, `TestCluster`) for delay and jitter.
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFile, spawn as spawnChild, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { READY_PREFIX } from "../cluster/ClusterNode.ts"

const BIN = fileURLToPath(new URL("../../bin/telex.js", import.meta.url))

export class NetLabError extends Data.TaggedError("NetLabError")<{ readonly message: string }> {}

// ---------------------------------------------------------------------------------------------
// tools and availability

const SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
const tool = (name: string): string | undefined => {
  for (const dir of [...SBIN, ...(process.env.PATH ?? "").split(":")]) {
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

export type Availability = { readonly ok: true } | { readonly ok: false; readonly reason: string }

let availability: Availability | undefined

/**
 * Whether this machine can run a lab: Linux, root, `ip` and `nft` installed, and a namespace
 * (with a bridge, a veth and an nft table) can actually be created. Probed once per process.
 */
export const available = (): Availability => {
  if (availability !== undefined) return availability
  const no = (reason: string): Availability => (availability = { ok: false, reason })
  if (process.platform !== "linux") return no(`network namespaces need Linux (this is ${process.platform})`)
  if (process.getuid?.() !== 0) return no("network namespaces need root (run as root, as CI does)")
  const ip = tool("ip")
  const nft = tool("nft")
  const tc = tool("tc")
  if (ip === undefined) return no("`ip` is not installed (apt-get install iproute2)")
  if (nft === undefined) return no("`nft` is not installed (apt-get install nftables)")
  if (tc === undefined) return no("`tc` is not installed (apt-get install iproute2)")
  const probe = `tx${process.pid}-probe`
  const run = (args: Array<string>) => spawnSync(ip, args, { encoding: "utf8", timeout: 10_000 })
  const add = run(["netns", "add", probe])
  if (add.status !== 0) return no(`\`ip netns add\` fails: ${(add.stderr || add.error?.message || "").trim()}`)
  try {
    const steps: Array<[string, Array<string>]> = [
      ["a bridge", ["-n", probe, "link", "add", "br0", "type", "bridge"]],
      ["a veth pair", ["-n", probe, "link", "add", "va", "type", "veth", "peer", "name", "vb"]],
      ["nft in a namespace", ["netns", "exec", probe, nft, "add", "table", "inet", "telex_probe"]]
    ]
    for (const [what, args] of steps) {
      const r = run(args)
      if (r.status !== 0) return no(`cannot create ${what} in a namespace: ${(r.stderr || r.error?.message || "").trim()}`)
    }
  } finally {
    run(["netns", "del", probe])
  }
  return (availability = { ok: true })
}

// ---------------------------------------------------------------------------------------------
// process-wide cleanup registry (exit paths)

const active = new Set<() => void>()
let handlersInstalled = false
const onExit = () => {
  for (const f of active) f()
}
const onSignal = (signal: NodeJS.Signals) => {
  onExit()
  // our (once) listener is gone: unless someone else handles the signal, re-raise it so that
  // the process dies of it as it would have (process.exit may be stubbed, e.g. by vitest)
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}
const installHandlers = () => {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on("exit", onExit)
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
}
const removeHandlers = () => {
  if (!handlersInstalled || active.size > 0) return
  handlersInstalled = false
  process.off("exit", onExit)
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const killQuietly = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal)
  } catch { /* gone */ }
}

const listNamespaces = (ip: string): Array<string> =>
  (spawnSync(ip, ["netns", "list"], { encoding: "utf8", timeout: 10_000 }).stdout ?? "")
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.length > 0)

/** Kills what runs in a namespace and deletes it (synchronous: usable in exit handlers). */
const destroyNamespace = (ip: string, ns: string) => {
  const pids = (spawnSync(ip, ["netns", "pids", ns], { encoding: "utf8", timeout: 10_000 }).stdout ?? "")
    .split(/\s+/)
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
  for (const pid of pids) {
    killQuietly(pid, "SIGCONT")
    killQuietly(pid, "SIGKILL")
  }
  spawnSync(ip, ["netns", "del", ns], { timeout: 10_000 })
}

const STALE = /^tx(\d+)-/

const STALE_DIR = /^telex-netlab-tx(\d+)-/

/**
 * Removes lab namespaces (`tx<pid>-…`) and temporary directories left by runs whose process is
 * gone (killed with SIGKILL, say). Those of a live process (another run in progress) are left
 * alone. Returns the namespaces removed.
 */
export const removeStale = (): Array<string> => {
  for (const entry of readdirSync(tmpdir())) {
    const m = STALE_DIR.exec(entry)
    if (m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      rmSync(join(tmpdir(), entry), { recursive: true, force: true })
    }
  }
  const ip = tool("ip")
  if (ip === undefined) return []
  const removed: Array<string> = []
  for (const ns of listNamespaces(ip)) {
    const m = STALE.exec(ns)
    if (m === null) continue
    const pid = Number(m[1])
    if (pid === process.pid || pidAlive(pid)) continue
    destroyNamespace(ip, ns)
    removed.push(ns)
  }
  return removed
}

// ---------------------------------------------------------------------------------------------
// the lab

export interface NetLabOptions {
  /** node names (letters and digits, at most 8), in address order: the i-th gets `<subnet>.<i+1>` */
  readonly nodes: ReadonlyArray<string>
  /** the first three octets of the lab's /24, within 10.231.0.0/16; default `10.231.0` */
  readonly subnet?: string
}

export interface LabLine {
  /** `Date.now()` when the test process read the line */
  readonly at: number
  readonly text: string
}

export interface LabProcess {
  readonly node: string
  readonly pid: number | undefined
  /** every line the process printed (stdout and stderr), oldest first */
  readonly lines: ReadonlyArray<LabLine>
  readonly running: boolean
  /** Writes a line to the process's stdin. */
  send(line: string): Effect.Effect<void>
  signal(signal: NodeJS.Signals): Effect.Effect<void>
  /** SIGKILL (after SIGCONT) and wait until it has exited. */
  kill(): Effect.Effect<void>
  /** The first line at or after `since` (ms timestamp, default 0) matching `pattern`. */
  waitForLine(pattern: RegExp, options?: { readonly since?: number; readonly timeout?: Duration.Input }): Effect.Effect<LabLine, NetLabError>
  /** The last lines, for failure messages. */
  tail(n?: number): string
}

export interface ClusterConfigOptions {
  /** absolute path of the app module */
  readonly app: string
  readonly cluster?: string
  readonly port?: number
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly run?: ReadonlyArray<string>; readonly spawnable?: ReadonlyArray<string> }>
  readonly heartbeat?: { readonly interval: string; readonly acceptablePause: string }
  readonly reconnect?: { readonly initial: string; readonly max: string }
}

export type PartitionMode = "drop" | "reject"

export interface StartNodeOptions {
  /** the node's name in the config (default: the lab node's name) */
  readonly name?: string
  /** extra environment (e.g. `TELEX_LOG_LEVEL: "debug"`); `TELEX_SECRET` is the lab's */
  readonly env?: Record<string, string>
  /** default 60 s */
  readonly readyTimeout?: Duration.Input
}

export interface NetLab {
  readonly nodes: ReadonlyArray<string>
  /** the lab's namespace names, by node, and the switch's */
  namespace(node: string): string
  readonly switchNamespace: string
  /** the node's address (inside the lab only) */
  address(node: string): string
  /** a temporary directory removed with the lab */
  readonly dir: string
  /** the cluster secret passed to `startNode`'s processes */
  readonly secret: string
  /** Writes a cluster config whose nodes listen on their lab addresses; returns its path. */
  writeClusterConfig(options: ClusterConfigOptions): string
  /** Runs a command inside a node's namespace and waits for it (timeout default 15 s). */
  exec(node: string, argv: ReadonlyArray<string>, options?: { readonly timeout?: Duration.Input }): Effect.Effect<ExecResult, NetLabError>
  /** Starts a long-running process inside a node's namespace (killed when the lab closes). */
  spawn(node: string, argv: ReadonlyArray<string>, options?: { readonly env?: Record<string, string> }): Effect.Effect<LabProcess, NetLabError>
  /** `telex node --config <config> --name <name>` inside the node's namespace; waits until ready. */
  startNode(node: string, config: string, options?: StartNodeOptions): Effect.Effect<LabProcess, NetLabError>
  /**
   * Cuts `a` from `b` with nftables in a table of its own in each namespace. `drop` is silent
   * (packets vanish; TCP sees nothing); `reject` answers TCP with a reset (ECONNRESET on open
   * connections, ECONNREFUSED on connects). `oneWay` (drop only): only packets from `a` to `b`
   * vanish, `b` to `a` still arrive (an asymmetric partition).
   */
  partition(a: string, b: string, mode?: PartitionMode, options?: { readonly oneWay?: boolean }): Effect.Effect<void, NetLabError>
  /** Removes the partitions between `a` and `b`, or every partition. */
  heal(a?: string, b?: string): Effect.Effect<void, NetLabError>
  /** Takes the node's switch port down (the node sees NO-CARRIER) / up again. */
  linkDown(node: string): Effect.Effect<void, NetLabError>
  linkUp(node: string): Effect.Effect<void, NetLabError>
  /** Drops `percent` % of the node's egress packets at random (nft numgen). */
  loss(node: string, percent: number): Effect.Effect<void, NetLabError>
  clearLoss(node: string): Effect.Effect<void, NetLabError>
  /** Packets dropped so far by the node's loss rule. */
  lossDropped(node: string): Effect.Effect<number, NetLabError>
  /** Caps the node's egress with tc tbf (rate such as `1mbit`, `500kbit`). */
  bandwidth(node: string, rate: string): Effect.Effect<void, NetLabError>
  clearBandwidth(node: string): Effect.Effect<void, NetLabError>
  /** Egress delay with netem. Fails with a clear NetLabError where the kernel has no netem. */
  delay(node: string, millis: number): Effect.Effect<void, NetLabError>
  /** Sets a `net.*` sysctl in the node's namespace only (checked: the host's value is unchanged). */
  sysctl(node: string, key: string, value: string | number): Effect.Effect<void, NetLabError>
  readSysctl(node: string, key: string): Effect.Effect<string, NetLabError>
  /** Heals partitions, brings links up, removes loss, bandwidth caps and delays. */
  clearFaults(): Effect.Effect<void, NetLabError>
  /** Tears the lab down now (also done when the scope closes). Idempotent. */
  close(): Effect.Effect<void>
}

export interface ExecResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

let labCounter = 0

const NODE_NAME = /^[a-z][a-z0-9]{0,7}$/
const SUBNET = /^10\.231\.(\d{1,3})$/
const RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/
const SYSCTL_KEY = /^net\.[A-Za-z0-9_.]+$/
const SYSCTL_VALUE = /^[A-Za-z0-9 _.-]+$/

const millisOf = (d: Duration.Input | undefined, fallback: number) =>
  d === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(d))

/** Runs a host-side tool (ip/nft/tc management commands, never lab traffic) with a timeout. */
const run = (file: string, args: ReadonlyArray<string>, timeoutMillis = 15_000): Effect.Effect<ExecResult> =>
  Effect.callback<ExecResult>((resume) => {
    const child = execFile(file, [...args], { encoding: "utf8", timeout: timeoutMillis, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as any).code === "number" ? (error as any).code : null
      resume(Effect.succeed({ code, stdout, stderr: stderr || (error !== null && code === null ? error.message : "") }))
    })
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

export const make = (options: NetLabOptions): Effect.Effect<NetLab, NetLabError, Scope.Scope> =>
  Effect.gen(function*() {
    const avail = available()
    if (!avail.ok) return yield* new NetLabError({ message: `network lab unavailable: ${avail.reason}` })
    const ip = tool("ip")!
    const nft = tool("nft")!
    const tc = tool("tc")!
    const sysctlBin = tool("sysctl")

    const subnet = options.subnet ?? "10.231.0"
    const sm = SUBNET.exec(subnet)
    if (sm === null || Number(sm[1]) > 255) {
      return yield* new NetLabError({ message: `subnet ${subnet}: the lab uses 10.231.x (x.y/24) addresses only` })
    }
    const names = [...options.nodes]
    if (names.length < 1 || names.length > 200) return yield* new NetLabError({ message: "a lab has 1 to 200 nodes" })
    for (const n of names) {
      if (!NODE_NAME.test(n)) return yield* new NetLabError({ message: `node name ${JSON.stringify(n)}: lowercase letters and digits, at most 8` })
    }
    if (new Set(names).size !== names.length) return yield* new NetLabError({ message: "duplicate node names" })

    removeStale()

    const tag = `tx${process.pid}-${++labCounter}-`
    const sw = `${tag}sw`
    const nsOf = new Map(names.map((n) => [n, `${tag}${n}`]))
    const indexOf = new Map(names.map((n, i) => [n, i + 1]))
    const dir = mkdtempSync(join(tmpdir(), `telex-netlab-${tag}`))
    const secret = `netlab-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
    const procs = new Set<ChildProcess>()
    const partitions = new Set<string>() // `${node}\t${table}`
    let closed = false

    const cleanupSync = () => {
      if (closed) return
      closed = true
      active.delete(cleanupSync)
      for (const child of procs) {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          killQuietly(child.pid, "SIGCONT")
          killQuietly(child.pid, "SIGKILL")
        }
      }
      for (const ns of nsOf.values()) destroyNamespace(ip, ns)
      destroyNamespace(ip, sw)
      rmSync(dir, { recursive: true, force: true })
      removeHandlers()
    }
    const close = Effect.gen(function*() {
      if (closed) return
      // kill our processes and wait (bounded) for them to go, then delete the namespaces
      const exits = [...procs].filter((c) => c.exitCode === null && c.signalCode === null).map((c) =>
        new Promise<void>((resolve) => {
          c.once("exit", () => resolve())
          killQuietly(c.pid!, "SIGCONT")
          killQuietly(c.pid!, "SIGKILL")
        })
      )
      yield* Effect.promise(() => Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5000))]))
      cleanupSync()
    })
    active.add(cleanupSync)
    installHandlers()
    yield* Effect.addFinalizer(() => close)

    const node = (n: string) => {
      const ns = nsOf.get(n)
      if (ns === undefined) throw new NetLabError({ message: `no node ${n} in the lab (nodes: ${names.join(", ")})` })
      return ns
    }
    const nodeE = (n: string) => Effect.try({ try: () => node(n), catch: (e) => e as NetLabError })
    const address = (n: string) => `${subnet}.${indexOf.get(n) ?? node(n)}`

    const ok = (file: string, args: ReadonlyArray<string>, what: string) =>
      Effect.gen(function*() {
        if (closed) return yield* new NetLabError({ message: `${what}: the lab is closed` })
        const r = yield* run(file, args)
        if (r.code !== 0) {
          return yield* new NetLabError({ message: `${what} failed (${[file, ...args].join(" ")}): ${r.stderr.trim() || `exit ${r.code}`}` })
        }
        return r
      })
    const inNs = (n: string, argv: ReadonlyArray<string>, what: string) =>
      nodeE(n).pipe(Effect.flatMap((ns) => ok(ip, ["netns", "exec", ns, ...argv], what)))
    const nftScript = (n: string, script: string, what: string) =>
      Effect.gen(function*() {
        const file = join(dir, `nft-${Math.random().toString(36).slice(2)}.nft`)
        writeFileSync(file, script)
        yield* inNs(n, [nft, "-f", file], what).pipe(Effect.ensuring(Effect.sync(() => rmSync(file, { force: true }))))
      })

    // ---- topology ----------------------------------------------------------------------------
    yield* ok(ip, ["netns", "add", sw], "create the switch namespace")
    yield* ok(ip, ["-n", sw, "link", "set", "lo", "up"], "switch lo up")
    yield* ok(ip, ["-n", sw, "link", "add", "br0", "type", "bridge"], "create the bridge")
    yield* ok(ip, ["-n", sw, "link", "set", "br0", "up"], "bridge up")
    for (const n of names) {
      const ns = node(n)
      const i = indexOf.get(n)!
      yield* ok(ip, ["netns", "add", ns], `create namespace ${ns}`)
      // the veth is created in the switch namespace, its peer placed straight into the node's
      yield* ok(ip, ["-n", sw, "link", "add", `p${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns], `veth for ${n}`)
      yield* ok(ip, ["-n", sw, "link", "set", `p${i}`, "master", "br0", "up"], `switch port of ${n}`)
      yield* ok(ip, ["-n", ns, "link", "set", "lo", "up"], `${n} lo up`)
      yield* ok(ip, ["-n", ns, "addr", "add", `${address(n)}/24`, "dev", "eth0"], `${n} address`)
      yield* ok(ip, ["-n", ns, "link", "set", "eth0", "up"], `${n} eth0 up`)
      const routes = yield* ok(ip, ["-n", ns, "route", "show", "default"], `${n} routes`)
      if (routes.stdout.trim() !== "") {
        return yield* new NetLabError({ message: `${ns} has a default route (${routes.stdout.trim()}): refusing to run` })
      }
    }

    // ---- processes -----------------------------------------------------------------------------
    const spawn = (n: string, argv: ReadonlyArray<string>, spawnOptions?: { readonly env?: Record<string, string> }) =>
      Effect.gen(function*() {
        const ns = yield* nodeE(n)
        if (closed) return yield* new NetLabError({ message: "the lab is closed" })
        if (argv.length === 0) return yield* new NetLabError({ message: "spawn: empty command" })
        // the only way lab processes start: inside the node's namespace
        const child = spawnChild(ip, ["netns", "exec", ns, ...argv], {
          env: { ...process.env, ...spawnOptions?.env },
          stdio: ["pipe", "pipe", "pipe"]
        })
        procs.add(child)
        const lines: Array<LabLine> = []
        let trimmed = 0 // lines dropped from the front (the buffer keeps the last 50 000 or so)
        const waiters = new Set<() => void>()
        const push = (text: string) => {
          lines.push({ at: Date.now(), text })
          if (lines.length > 50_000) {
            lines.splice(0, 10_000)
            trimmed += 10_000
          }
          for (const w of waiters) w()
        }
        createInterface({ input: child.stdout! }).on("line", push)
        createInterface({ input: child.stderr! }).on("line", push)
        child.stdin!.on("error", () => {})
        let running = true
        const exited = new Promise<void>((resolve) => {
          child.once("exit", (code, signal) => {
            running = false
            push(`[netlab] ${n}: process exited (${signal ?? code})`)
            resolve()
          })
          child.once("error", (e) => {
            running = false
            push(`[netlab] ${n}: cannot start: ${e.message}`)
            resolve()
          })
        })
        const proc: LabProcess = {
          node: n,
          pid: child.pid,
          lines,
          get running() {
            return running
          },
          send: (line) => Effect.sync(() => void (running && child.stdin!.write(`${line}\n`))),
          signal: (signal) => Effect.sync(() => void (running && child.pid !== undefined && killQuietly(child.pid, signal))),
          kill: () =>
            Effect.promise(async () => {
              if (!running || child.pid === undefined) return
              killQuietly(child.pid, "SIGCONT")
              killQuietly(child.pid, "SIGKILL")
              await exited
            }),
          waitForLine: (pattern, waitOptions) =>
            Effect.callback<LabLine, NetLabError>((resume) => {
              const since = waitOptions?.since ?? 0
              const timeoutMillis = millisOf(waitOptions?.timeout, 15_000)
              let scanned = trimmed // absolute index of the next line to look at
              let timer: ReturnType<typeof setTimeout> | undefined
              const check = () => {
                if (scanned < trimmed) scanned = trimmed
                for (; scanned - trimmed < lines.length; scanned++) {
                  const l = lines[scanned - trimmed]!
                  if (l.at >= since && pattern.test(l.text)) {
                    waiters.delete(check)
                    clearTimeout(timer)
                    resume(Effect.succeed(l))
                    return
                  }
                }
              }
              waiters.add(check)
              timer = setTimeout(() => {
                waiters.delete(check)
                resume(Effect.fail(new NetLabError({
                  message: `${n}: no line matching ${pattern} within ${timeoutMillis} ms; last lines:\n${proc.tail(25)}`
                })))
              }, timeoutMillis)
              check()
              return Effect.sync(() => {
                waiters.delete(check)
                clearTimeout(timer)
              })
            }),
          tail: (count = 20) => lines.slice(-count).map((l) => `  [${n}] ${l.text}`).join("\n")
        }
        return proc
      })

    const startNode = (n: string, config: string, startOptions?: StartNodeOptions) =>
      Effect.gen(function*() {
        const proc = yield* spawn(n, [process.execPath, BIN, "node", "--config", config, "--name", startOptions?.name ?? n], {
          env: { ...startOptions?.env, TELEX_SECRET: secret }
        })
        const timeout = millisOf(startOptions?.readyTimeout, 60_000)
        yield* proc.waitForLine(new RegExp(`^${READY_PREFIX}|^\\[netlab\\] ${n}: (process exited|cannot start)`), { timeout }).pipe(
          Effect.flatMap((l) =>
            l.text.startsWith(READY_PREFIX)
              ? Effect.void
              : Effect.fail(new NetLabError({ message: `node ${n} exited before it was ready:\n${proc.tail(30)}` }))
          ),
          Effect.tapError(() => proc.kill())
        )
        return proc
      })

    const writeClusterConfig = (c: ClusterConfigOptions) => {
      const port = c.port ?? 7100
      const config = {
        cluster: c.cluster ?? "telex-netlab",
        app: c.app,
        heartbeat: c.heartbeat ?? { interval: "500ms", acceptablePause: "2s" },
        reconnect: c.reconnect ?? { initial: "200ms", max: "1s" },
        nodes: c.nodes.map((m) => ({
          name: m.name,
          host: address(m.name),
          allowNonLoopback: true,
          port,
          run: [...(m.run ?? [])],
          spawnable: [...(m.spawnable ?? [])]
        }))
      }
      const file = join(dir, `cluster-${Math.random().toString(36).slice(2)}.json`)
      writeFileSync(file, JSON.stringify(config, null, 2))
      return file
    }

    // ---- faults --------------------------------------------------------------------------------
    const partTable = (peer: string) => `telex_part_${peer}`
    const cut = (x: string, y: string, mode: PartitionMode, directions: { readonly input: boolean; readonly output: boolean }) => {
      const peer = address(y)
      const table = partTable(y)
      const input = !directions.input
        ? ""
        : mode === "reject"
        ? `ip saddr ${peer} tcp flags rst accept\n    ip saddr ${peer} meta l4proto tcp reject with tcp reset\n    ip saddr ${peer} drop`
        : `ip saddr ${peer} drop`
      const output = !directions.output ? "" : mode === "reject" ? `ip daddr ${peer} meta l4proto != tcp drop` : `ip daddr ${peer} drop`
      const script = `table inet ${table}
delete table inet ${table}
table inet ${table} {
  chain in {
    type filter hook input priority 0; policy accept;
    ${input}
  }
  chain out {
    type filter hook output priority 0; policy accept;
    ${output}
  }
}
`
      partitions.add(`${x}\t${table}`)
      return nftScript(x, script, `partition ${x} from ${y}`)
    }
    const partition = (a: string, b: string, mode: PartitionMode = "drop", partOptions?: { readonly oneWay?: boolean }) =>
      Effect.gen(function*() {
        yield* nodeE(a)
        yield* nodeE(b)
        if (a === b) return yield* new NetLabError({ message: "partition: a node cannot be cut from itself" })
        if (partOptions?.oneWay === true) {
          // only a → b: a's packets to b vanish; b → a still arrives (a TCP reset cannot be
          // one-way: every connection needs both directions, so reject is both ways only)
          if (mode !== "drop") return yield* new NetLabError({ message: "partition: oneWay is for drop mode only" })
          yield* cut(a, b, "drop", { input: false, output: true })
        } else {
          // both sides at once: each side's table alone already cuts the pair
          yield* Effect.all([cut(a, b, mode, { input: true, output: true }), cut(b, a, mode, { input: true, output: true })], {
            concurrency: 2,
            discard: true
          })
        }
      })
    const dropTable = (n: string, table: string) =>
      Effect.gen(function*() {
        const ns = node(n)
        const r = yield* run(ip, ["netns", "exec", ns, nft, "delete", "table", "inet", table])
        if (r.code !== 0 && !/No such file|does not exist/i.test(r.stderr)) {
          return yield* new NetLabError({ message: `heal: cannot delete table ${table} in ${ns}: ${r.stderr.trim()}` })
        }
      })
    const heal = (a?: string, b?: string) =>
      Effect.gen(function*() {
        if (closed) return
        const entries = [...partitions].filter((entry) => {
          const [n, table] = entry.split("\t") as [string, string]
          return a === undefined ||
            (b === undefined
              ? n === a || table === partTable(a)
              : (n === a && table === partTable(b)) || (n === b && table === partTable(a)))
        })
        yield* Effect.forEach(entries, (entry) => {
          const [n, table] = entry.split("\t") as [string, string]
          return dropTable(n, table).pipe(Effect.tap(() => Effect.sync(() => partitions.delete(entry))))
        }, { concurrency: "unbounded", discard: true })
      })
    const link = (n: string, state: "up" | "down") =>
      nodeE(n).pipe(Effect.flatMap(() => ok(ip, ["-n", sw, "link", "set", `p${indexOf.get(n)}`, state], `switch port of ${n} ${state}`)), Effect.asVoid)
    const loss = (n: string, percent: number) =>
      Effect.gen(function*() {
        if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
          return yield* new NetLabError({ message: `loss: percent must be an integer 0..100, got ${percent}` })
        }
        yield* nftScript(n, `table inet telex_loss
delete table inet telex_loss
table inet telex_loss {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "eth0" numgen random mod 100 < ${percent} counter drop
  }
}
`, `loss on ${n}`)
      })
    const clearLoss = (n: string) => nodeE(n).pipe(Effect.flatMap(() => dropTable(n, "telex_loss")))
    const lossDropped = (n: string) =>
      inNs(n, [nft, "list", "table", "inet", "telex_loss"], `read the loss counter of ${n}`).pipe(
        Effect.map((r) => Number(/counter packets (\d+)/.exec(r.stdout)?.[1] ?? 0))
      )
    const bandwidth = (n: string, rate: string) =>
      RATE.test(rate)
        ? inNs(n, [tc, "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"], `bandwidth on ${n}`).pipe(Effect.asVoid)
        : Effect.fail(new NetLabError({ message: `bandwidth: rate ${JSON.stringify(rate)} is not like 1mbit, 500kbit` }))
    const clearRoot = (n: string) =>
      Effect.gen(function*() {
        const ns = yield* nodeE(n)
        const shown = yield* run(ip, ["netns", "exec", ns, tc, "qdisc", "show", "dev", "eth0", "root"])
        if (/qdisc (tbf|netem)/.test(shown.stdout)) yield* inNs(n, [tc, "qdisc", "del", "dev", "eth0", "root"], `clear the qdisc of ${n}`)
      })
    const delay = (n: string, ms: number) =>
      Effect.gen(function*() {
        const ns = yield* nodeE(n)
        if (!Number.isFinite(ms) || ms < 0) return yield* new NetLabError({ message: `delay: ${ms} ms` })
        const r = yield* run(ip, ["netns", "exec", ns, tc, "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", `${ms}ms`])
        if (r.code !== 0) {
          return yield* new NetLabError({
            message: `delay is not available in this kernel: tc netem fails (${r.stderr.trim()}); ` +
              "use FaultProxy's latency toxic (TestCluster, on loopback) for delay and jitter"
          })
        }
      })
    const hostSysctl = (key: string) => {
      try {
        return readFileSync(`/proc/sys/${key.replaceAll(".", "/")}`, "utf8").trim()
      } catch {
        return undefined
      }
    }
    const sysctlArgs = (key: string) => sysctlBin !== undefined ? [sysctlBin, "-n", key] : ["cat", `/proc/sys/${key.replaceAll(".", "/")}`]
    const readSysctl = (n: string, key: string) =>
      SYSCTL_KEY.test(key)
        ? inNs(n, sysctlArgs(key), `read ${key} in ${n}`).pipe(Effect.map((r) => r.stdout.trim()))
        : Effect.fail(new NetLabError({ message: `sysctl: only net.* keys (${key})` }))
    const sysctl = (n: string, key: string, value: string | number) =>
      Effect.gen(function*() {
        const text = String(value)
        if (!SYSCTL_KEY.test(key) || !SYSCTL_VALUE.test(text)) {
          return yield* new NetLabError({ message: `sysctl: only net.* keys with plain values (${key}=${text})` })
        }
        const before = hostSysctl(key)
        yield* inNs(n, sysctlBin !== undefined ? [sysctlBin, "-q", "-w", `${key}=${text}`] : ["sh", "-c", `echo '${text}' > /proc/sys/${key.replaceAll(".", "/")}`], `sysctl ${key} in ${n}`)
        const after = hostSysctl(key)
        if (before !== after) {
          // not a per-namespace key: put the host's value back and refuse
          if (before !== undefined) writeFileSync(`/proc/sys/${key.replaceAll(".", "/")}`, before)
          return yield* new NetLabError({ message: `sysctl ${key} is not per-namespace (it changed the host's value; restored)` })
        }
      })
    const clearFaults = () =>
      Effect.gen(function*() {
        yield* heal()
        for (const n of names) {
          yield* link(n, "up")
          yield* clearLoss(n)
          yield* clearRoot(n)
        }
      })

    const lab: NetLab = {
      nodes: names,
      namespace: node,
      switchNamespace: sw,
      address,
      dir,
      secret,
      writeClusterConfig,
      exec: (n, argv, execOptions) =>
        Effect.gen(function*() {
          const ns = yield* nodeE(n)
          if (closed) return yield* new NetLabError({ message: "the lab is closed" })
          return yield* run(ip, ["netns", "exec", ns, ...argv], millisOf(execOptions?.timeout, 15_000))
        }),
      spawn,
      startNode,
      partition,
      heal,
      linkDown: (n) => link(n, "down"),
      linkUp: (n) => link(n, "up"),
      loss,
      clearLoss,
      lossDropped,
      bandwidth,
      clearBandwidth: clearRoot,
      delay,
      sysctl,
      readSysctl,
      clearFaults,
      close: () => close
    }
    return lab
  })
