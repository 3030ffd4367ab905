/**
 * Real node processes on loopback, with a fault proxy in front of every link — for testing
 * actor modules against partitions, latency, resets, kills and pauses.
 *
 * ```ts
 * it.live("jobs survive a partition", () =>
 *   Effect.gen(function*() {
 *     const cluster = yield* TestCluster.start({
 *       app: new URL("./app.ts", import.meta.url).pathname,
 *       nodes: [{ name: "n1", run: ["jobs"] }, { name: "n2", run: ["workers"] }]
 *     })
 *     yield* cluster.partition("n1", "n2")
 *     yield* cluster.eventually(...)           // assert behaviour during the partition
 *     yield* cluster.heal()
 *     yield* cluster.eventually(...)           // and recovery
 *   }).pipe(Effect.scoped))
 * ```
 *
 * Every node runs `telex node` (`process.execPath`, so the project's Node) with a config of its
 * own in which each other node's address is the port of a `FaultProxy` dedicated to that ordered
 * pair: node `a` reaches `b` through proxy `a→b`, `b` reaches `a` through `b→a`. A partition of
 * `a | b` partitions both. The test process itself joins the cluster as a client node (`client`,
 * with a registry) connected directly, so faults between the nodes do not blind the test.
 *
 * Everything is torn down when the scope closes: processes killed, proxies closed, the temporary
 * directory removed.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { ActorSystem } from "../system/ActorSystem.ts"
import { LAUNCHED_ENV, READY_PREFIX } from "../cluster/ClusterNode.ts"
import type { ClusterConfig } from "../cluster/Config.ts"
import { STATS_PREFIX } from "../cluster/NodeStats.ts"
import { Registry } from "../cluster/Registry.ts"
import { Node } from "../transport/Node.ts"
import { type Direction, FaultProxy, type Toxic } from "./FaultProxy.ts"
import type { ClusterHandle } from "./Scenario.ts"

const BIN = fileURLToPath(new URL("../../bin/telex.js", import.meta.url))

export interface TestNode {
  readonly name: string
  readonly run?: ReadonlyArray<string>
  readonly spawnable?: ReadonlyArray<string>
}

export interface TestClusterOptions {
  /** absolute path of the app module (default export made with ClusterApp.make) */
  readonly app: string
  readonly nodes: ReadonlyArray<TestNode>
  readonly seed?: number
  /** default 250 ms / 1 s, so that tests see failures quickly */
  readonly heartbeat?: { readonly interval: string; readonly acceptablePause: string }
  readonly reconnect?: { readonly initial: string; readonly max: string }
  /** how long to wait for every node to be ready, default 60 s */
  readonly startTimeout?: Duration.Input
  /** the config's `sharding` section (the shard store and lease timing of the app's entities) */
  readonly sharding?: ClusterConfig["sharding"]
  /** extra environment variables of the node processes */
  readonly env?: Readonly<Record<string, string>>
  /**
   * the port to try first for some nodes (default: a free port picked at start). A node whose
   * port turns out to be taken when it starts is moved to another free port (up to 3 times),
   * and the proxies to it follow.
   */
  readonly ports?: Readonly<Record<string, number>>
}

interface Proc {
  readonly name: string
  port: number
  readonly configFile: string
  child: ChildProcess | undefined
  ready: boolean
  exited: Promise<number | null> | undefined
  readonly log: Array<string>
  stats: Record<string, number> | undefined
}

export class TestClusterError extends Error {}

/** A free port, held (listened on) until `release`: no other listen(0) of this process gets it meanwhile. */
const reservePort = (): Promise<{ readonly port: number; readonly release: () => Promise<void> }> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      let released: Promise<void> | undefined
      resolve({ port, release: () => released ??= new Promise((done) => server.close(() => done())) })
    })
  })

const freePort = async (): Promise<number> => {
  const { port, release } = await reservePort()
  await release()
  return port
}

export interface TestCluster extends ClusterHandle {
  readonly names: ReadonlyArray<string>
  /** the client node inside the test process, connected directly to every node */
  readonly client: { readonly node: Node["Service"]; readonly system: ActorSystem["Service"]; readonly registry: Registry["Service"] }
  /** the proxy carrying `from`'s connections to `to` */
  proxy(from: string, to: string): FaultProxy
  /** Cuts `a` from `b` both ways (traffic held, as a kernel DROP partition). */
  partition(a: string, b: string): Effect.Effect<void>
  /** Cuts `name` from every other node. */
  isolate(name: string): Effect.Effect<void>
  /** Heals every partition and removes every toxic. */
  heal(): Effect.Effect<void>
  toxic(from: string, to: string, name: string, direction: Direction, toxic: Toxic): Effect.Effect<void>
  /** Resets the connections between `a` and `b` (both proxies). */
  reset(a: string, b: string): Effect.Effect<void>
  /**
   * Sends `signal` (SIGKILL by default) to a node's process and waits until it has exited; a
   * paused node is resumed to receive it (SIGTERM: its graceful stop runs).
   */
  kill(name: string, signal?: NodeJS.Signals): Effect.Effect<void>
  /** Freezes a node's process (SIGSTOP): its timers and I/O wait; `resume` (SIGCONT) lets them go. */
  pause(name: string): Effect.Effect<void>
  resume(name: string): Effect.Effect<void>
  /** Starts a killed node again (a new incarnation) and waits until it is ready. */
  restart(name: string): Effect.Effect<void, TestClusterError>
  /** Retries `check` until it succeeds (every 50 ms), or fails with its last error after `timeout`. */
  eventually<A, E, R>(check: Effect.Effect<A, E, R>, timeout?: Duration.Input): Effect.Effect<A, E | TestClusterError, R>
  /** The last lines a node printed (for failure messages). */
  logs(name: string): ReadonlyArray<string>
  /** Stops every node gracefully (SIGTERM) and returns their stats lines. */
  stop(): Effect.Effect<Record<string, Record<string, number>>>
}

export const start = (options: TestClusterOptions): Effect.Effect<TestCluster, TestClusterError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "telex-testcluster-"))
    const secret = `test-${Math.random().toString(36).slice(2)}`
    const names = options.nodes.map((n) => n.name)
    const ports = new Map<string, number>()
    // the nodes' ports stay held until the proxies listen: a port let go at once could be the one
    // the kernel gives a proxy next, and two nodes' configs would then name the same port
    const held: Array<() => Promise<void>> = []
    for (const n of options.nodes) {
      const given = options.ports?.[n.name]
      if (given !== undefined) ports.set(n.name, given)
      else {
        const { port, release } = yield* Effect.promise(reservePort)
        ports.set(n.name, port)
        held.push(release)
        yield* Effect.addFinalizer(() => Effect.promise(release))
      }
    }
    const proxies = new Map<string, FaultProxy>()
    let seed = options.seed ?? 1
    for (const a of names) {
      for (const b of names) {
        if (a === b) continue
        const proxy = yield* Effect.promise(() =>
          FaultProxy.start({ upstream: { host: "127.0.0.1", port: ports.get(b)! }, seed: seed++, name: `${a}→${b}` })
        )
        proxies.set(`${a}→${b}`, proxy)
      }
    }
    yield* Effect.promise(() => Promise.all(held.map((release) => release())))
    const procs = new Map<string, Proc>()
    const writeConfig = (n: TestClusterOptions["nodes"][number]) => {
      const config = {
        cluster: "telex-test",
        app: options.app,
        heartbeat: options.heartbeat ?? { interval: "250ms", acceptablePause: "1s" },
        reconnect: options.reconnect ?? { initial: "100ms", max: "500ms" },
        ...(options.sharding === undefined ? {} : { sharding: options.sharding }),
        nodes: options.nodes.map((m) =>
          m.name === n.name
            ? { name: m.name, port: ports.get(m.name)!, run: [...(m.run ?? [])], spawnable: [...(m.spawnable ?? [])] }
            : { name: m.name, port: proxies.get(`${n.name}→${m.name}`)!.address.port }
        )
      }
      const configFile = join(dir, `${n.name}.json`)
      writeFileSync(configFile, JSON.stringify(config, null, 2))
      return configFile
    }
    for (const n of options.nodes) {
      const configFile = writeConfig(n)
      procs.set(n.name, { name: n.name, port: ports.get(n.name)!, configFile, child: undefined, ready: false, exited: undefined, log: [], stats: undefined })
    }
    /**
     * A node's port was taken between `freePort` and the node's start (another process's
     * ephemeral port): the node gets another one, and the proxies to it forward there.
     */
    const movePort = async (p: Proc) => {
      const port = await freePort()
      ports.set(p.name, port)
      p.port = port
      writeConfig(options.nodes.find((n) => n.name === p.name)!)
      for (const a of names) if (a !== p.name) proxies.get(`${a}→${p.name}`)!.setUpstream({ host: "127.0.0.1", port })
    }

    const launch = async (p: Proc): Promise<void> => {
      for (let attempt = 1;; attempt++) {
        try {
          return await launchOnce(p)
        } catch (e) {
          if (!(e instanceof TestClusterError && e.message.includes("is already in use") && attempt < 4)) throw e
          await movePort(p)
        }
      }
    }
    const launchOnce = (p: Proc) =>
      new Promise<void>((resolve, reject) => {
        let child: ChildProcess
        try {
          child = spawn(process.execPath, [BIN, "node", "--config", p.configFile, "--name", p.name], {
            env: { ...process.env, ...options.env, TELEX_SECRET: secret, [LAUNCHED_ENV]: "1" },
            // stdin: a pipe that ends with this process, however it ends (as `telex start`'s nodes,
            // the node then stops): a test run killed before its scope closed leaves no node behind
            stdio: ["pipe", "pipe", "pipe"]
          })
        } catch (e) {
          // some spawn failures throw (E2BIG, an unexpected errno) rather than emit 'error'
          return reject(new TestClusterError(`node ${p.name} could not be started: ${e instanceof Error ? e.message : String(e)}`))
        }
        p.child = child
        p.ready = false
        p.exited = new Promise((r) => {
          child.once("exit", (code) => r(code))
          // a spawn that fails (EAGAIN, EMFILE, ENOENT) emits 'error' and never 'exit': the test
          // sees the failure instead of its process ending with an unhandled 'error'
          child.on("error", (e) => {
            if (child.pid !== undefined) return
            if (p.child === child) p.child = undefined
            r(null)
            reject(new TestClusterError(`node ${p.name} could not be started: ${e.message}`))
          })
        })
        /** this process's last lines, for the error of a start that fails */
        const own: Array<string> = []
        const onLine = (line: string) => {
          if (line.startsWith(READY_PREFIX)) {
            p.ready = true
            resolve()
          } else if (line.startsWith(STATS_PREFIX)) {
            try {
              p.stats = JSON.parse(line.slice(STATS_PREFIX.length))
            } catch { /* ignore */ }
          }
          p.log.push(line)
          if (p.log.length > 200) p.log.shift()
          own.push(line)
          if (own.length > 20) own.shift()
        }
        // a spawn that fails with EMFILE or ENFILE sets up no pipes
        if (child.stdout !== null) createInterface({ input: child.stdout }).on("line", onLine)
        if (child.stderr !== null) createInterface({ input: child.stderr }).on("line", onLine)
        child.once("exit", (code, signal) => {
          p.child = undefined
          if (p.ready) return
          // its last lines (why it failed) may be read after its exit: 'close' comes once they are
          child.once("close", () =>
            reject(new TestClusterError(`node ${p.name} exited before it was ready (${signal ?? code}):\n${own.join("\n")}`)))
        })
      })

    const startTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.startTimeout ?? "60 seconds"))
    const killAll = Effect.promise(async () => {
      for (const p of procs.values()) {
        if (p.child !== undefined) {
          p.child.kill("SIGCONT")
          p.child.kill("SIGKILL")
          await p.exited
        }
      }
      for (const proxy of proxies.values()) await proxy.close()
      rmSync(dir, { recursive: true, force: true })
    })
    yield* Effect.addFinalizer(() => killAll)

    yield* Effect.tryPromise({
      try: () => Promise.all(Array.from(procs.values(), launch)),
      catch: (e) => (e instanceof TestClusterError ? e : new TestClusterError(String(e)))
    }).pipe(
      Effect.timeoutOrElse({
        duration: startTimeout,
        orElse: () => Effect.fail(new TestClusterError(`the cluster did not start within ${startTimeout} ms`))
      })
    )

    // the test's own node, connected directly to every node
    const ctx = yield* Layer.build(
      Registry.layer.pipe(
        Layer.provideMerge(Node.layerWithSystem({ name: "client", cluster: "telex-test", secret: Redacted.make(secret), advertise: false }))
      )
    ).pipe(Effect.mapError((e) => new TestClusterError(e.message)))
    const client = {
      node: Context.get(ctx, Node),
      system: Context.get(ctx, ActorSystem),
      registry: Context.get(ctx, Registry)
    }
    for (const p of procs.values()) {
      yield* client.node.connect({ name: p.name, host: "127.0.0.1", port: p.port }, "10 seconds").pipe(
        Effect.mapError((e) => new TestClusterError(`cannot connect to ${p.name}: ${e.reason}`))
      )
    }

    const proc = (name: string) => {
      const p = procs.get(name)
      if (p === undefined) throw new TestClusterError(`no node ${name} (nodes: ${names.join(", ")})`)
      return p
    }
    const proxy = (from: string, to: string) => {
      const p = proxies.get(`${from}→${to}`)
      if (p === undefined) throw new TestClusterError(`no link ${from}→${to}`)
      return p
    }

    const cluster: TestCluster = {
      names,
      client,
      proxy,
      partition: (a, b) => Effect.sync(() => {
        proxy(a, b).partition()
        proxy(b, a).partition()
      }),
      isolate: (name) => Effect.sync(() => {
        for (const other of names) {
          if (other === name) continue
          proxy(name, other).partition()
          proxy(other, name).partition()
        }
      }),
      heal: () => Effect.sync(() => {
        for (const p of proxies.values()) {
          p.clearToxics()
          p.heal()
        }
      }),
      toxic: (from, to, name, direction, toxic) => Effect.sync(() => proxy(from, to).addToxic(name, direction, toxic)),
      reset: (a, b) => Effect.sync(() => {
        proxy(a, b).resetAll()
        proxy(b, a).resetAll()
      }),
      kill: (name, signal = "SIGKILL") =>
        Effect.promise(async () => {
          const p = proc(name)
          if (p.child === undefined) return
          p.child.kill(signal)
          // a paused node receives the signal only once it runs again: resumed, or this waits for good
          if (signal !== "SIGKILL") p.child.kill("SIGCONT")
          await p.exited
        }),
      pause: (name) => Effect.sync(() => void proc(name).child?.kill("SIGSTOP")),
      resume: (name) => Effect.sync(() => void proc(name).child?.kill("SIGCONT")),
      restart: (name) =>
        Effect.tryPromise({
          try: () => launch(proc(name)),
          catch: (e) => (e instanceof TestClusterError ? e : new TestClusterError(String(e)))
        }),
      eventually: (check, timeout = "20 seconds") =>
        Effect.gen(function*() {
          const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
          while (true) {
            const result = yield* Effect.result(check)
            if (result._tag === "Success") return result.success
            if (Date.now() > deadline) return yield* Effect.fail(result.failure)
            yield* Effect.sleep("50 millis")
          }
        }),
      logs: (name) => [...proc(name).log],
      stop: () =>
        Effect.promise(async () => {
          for (const p of [...procs.values()].reverse()) {
            if (p.child === undefined) continue
            p.child.kill("SIGCONT")
            p.child.kill("SIGTERM")
            await p.exited
          }
          const out: Record<string, Record<string, number>> = {}
          for (const p of procs.values()) if (p.stats !== undefined) out[p.name] = p.stats
          return out
        })
    }
    return cluster
  })
