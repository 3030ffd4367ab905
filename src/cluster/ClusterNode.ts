/**
 * Runs one node of a cluster config in this process (`telex node --config F --name N`): the
 * actor system, the TCP node dialling its seeds, the cluster registry, the node's sharding (with
 * a `sharding` section or the app's `entities`), the admin actor, then the app modules the
 * config lists for this node. Runs until interrupted (SIGINT/SIGTERM), then
 * stops everything in order and prints its stats line.
 *
 * The app's tree is permanent, as an Erlang application started `permanent`: when the root
 * supervisor gives up (an app supervisor failed past its intensity, and the root past its own),
 * the node logs why, stops in order and fails with `NodeFailed` — the process exits non-zero,
 * so that `telex start` (or systemd, or Kubernetes) starts it again. It never lives on with its
 * services but without its app. The node's services (transport links, registry, admin) are not
 * under the root; if one of them ends (the services supervisor gives up, the registry or the
 * admin actor stops), the node ends the same way.
 *
 * @since 0.1.0
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { dirname, isAbsolute, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { setFlagsFromString } from "node:v8"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { ActorSystem, kernelOf } from "../system/ActorSystem.ts"
import * as ShortDuration from "./ShortDuration.ts"
import * as ExitReason from "../actors/ExitReason.ts"
import { Node } from "../transport/Node.ts"
import { Sharding } from "../sharding/Sharding.ts"
import * as ShardStore from "../sharding/ShardStore.ts"
import * as SqliteShardStore from "../sharding/SqliteShardStore.ts"
import * as Admin from "./Admin.ts"
import { type ClusterApp, copyOf, isClusterApp, PACKAGE_ROOT } from "./ClusterApp.ts"
import * as Config from "./Config.ts"
import * as NodeStats from "./NodeStats.ts"
import { Registry, REGISTRY_NAME } from "./Registry.ts"
import * as OtlpSettings from "./internal/otlpSettings.ts"

export const READY_PREFIX = "@@telex-ready "

/** Set to "1" by `telex start` in the environment of its nodes, whose stdin is a pipe from it. */
export const LAUNCHED_ENV = "TELEX_LAUNCHED"

/**
 * A node started by `telex start` stops as on SIGTERM when its launcher is gone, killed with
 * SIGKILL included: the pipe of its stdin then ends. Without this the nodes of a killed launcher
 * lived on as orphans holding their ports, until a log line failed on the launcher's closed pipe
 * (EPIPE) and crashed them. Writes to that pipe fail quietly meanwhile.
 */
const stopWithLauncher = (): void => {
  if (process.env[LAUNCHED_ENV] !== "1") return
  // not for the processes this one starts: their stdin is not that pipe
  delete process.env[LAUNCHED_ENV]
  const ignore = () => {}
  const stdin = process.stdin
  let gone = false
  const stop = () => {
    if (gone) return
    gone = true
    process.kill(process.pid, "SIGTERM")
  }
  stdin.on("error", ignore)
  stdin.once("end", stop)
  stdin.once("close", stop)
  stdin.resume()
  // the pipe alone does not keep the process running
  ;(stdin as { unref?: () => void }).unref?.()
}

/**
 * `bin/telex.js node` holds V8's young generation at its initial size while the node starts
 * (module loading would grow it to its maximum, which an idle node keeps: ~20 MiB of its
 * resident memory). Once ready, the nursery may grow again with V8's default factor, so a busy
 * node's garbage collection is as before.
 */
const releaseNursery = (): void => {
  const held = Symbol.for("telex/heldNursery")
  if ((globalThis as Record<symbol, unknown>)[held] !== true) return
  delete (globalThis as Record<symbol, unknown>)[held]
  setFlagsFromString("--semi-space-growth-factor=2")
}

/** The node gave up: its root or services supervisor, its registry or admin actor ended while it ran. */
export class NodeFailed extends Schema.TaggedError<NodeFailed>()("NodeFailed", {
  node: Schema.String,
  message: Schema.String
}) {}

/** How an app module's start ended: its typed error, or its defect with the stack. */
const moduleFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    const e = error.value as any
    const text = typeof e?.message === "string" && e.message.length > 0
      ? (typeof e._tag === "string" && !e.message.startsWith(e._tag) ? `${e._tag}: ${e.message}` : e.message)
      : typeof e?._tag === "string"
      ? `${e._tag} ${JSON.stringify(e)}`
      : String(e)
    return `failed at start: ${text}`
  }
  return `died at start: ${Cause.pretty(cause)}`
}

const duration = (text: string | undefined) =>
  text === undefined ? undefined : ShortDuration.parse(text).pipe((o) => (o._tag === "Some" ? o.value : undefined))

/**
 * Where loading the app failed, when it can be told: the first place in the user's files that
 * the error's stack names (an exception thrown at import, TypeScript syntax Node does not strip),
 * else, for a JavaScript syntax error (whose stack names only Node's loader), the line that
 * `node --check` reports for the app file itself.
 */
const whereLoadFailed = (e: unknown, path: string): string => {
  // TypeScript's NodeNext style (`./counter.js` for ./counter.ts) needs a build; Node runs the .ts
  const missing = (e as NodeJS.ErrnoException)?.code === "ERR_MODULE_NOT_FOUND"
    ? /Cannot find module '([^']+)\.js' imported from (\S+\.[cm]?ts)\b/.exec((e as Error).message)
    : null
  if (missing !== null && existsSync(`${missing[1]}.ts`)) {
    return ` (${missing[2]} imports ${missing[1]}.js, and there is only ${missing[1]}.ts: import your own TypeScript modules with their .ts extension, or point "app" at the compiled .js)`
  }
  const stack = e instanceof Error && typeof e.stack === "string" ? e.stack : ""
  const frame = /(file:\/\/[^\s)]+?:\d+(?::\d+)?)(?=[\s)]|$)/.exec(stack)
  if (frame !== null) {
    const [, url] = frame
    const at = /^(.*?):(\d+(?::\d+)?)$/.exec(url!)
    if (at !== null) {
      try {
        return ` (at ${fileURLToPath(at[1]!)}:${at[2]})`
      } catch {
        return ""
      }
    }
  }
  if (e instanceof SyntaxError) {
    const check = spawnSync(process.execPath, ["--check", path], { encoding: "utf8", timeout: 10_000 })
    const line = /^(.+:\d+)$/m.exec(check.stderr ?? "")
    if (check.status !== 0 && line !== null) return ` (at ${line[1]})`
  }
  return ""
}

/** Loads the config's app module (default export). */
export const loadApp = (config: Config.ClusterConfig, dir: string): Effect.Effect<ClusterApp, Config.ConfigError> =>
  Effect.gen(function*() {
    if (config.app === undefined) return { modules: {} }
    const path = isAbsolute(config.app) ? config.app : resolve(dir, config.app)
    const mod = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(path).href),
      catch: (e) =>
        new Config.ConfigError({ path: "app", message: `cannot load the app module ${path}: ${(e as Error).message}${whereLoadFailed(e, path)}` })
    })
    const app = mod.default
    if (!isClusterApp(app)) {
      return yield* new Config.ConfigError({ path: "app", message: `${path} has no default export made with ClusterApp.make({ modules })` })
    }
    const copy = copyOf(app)
    if (copy !== undefined && copy !== PACKAGE_ROOT) {
      return yield* new Config.ConfigError({
        path: "app",
        message: `${path} imports telex from ${copy}, but this telex command is ${PACKAGE_ROOT}: the two copies do not know each other's actor protocols. Run the project's own telex (npx telex, or an npm script)`
      })
    }
    return app
  })

/**
 * A node's `run` and `spawnable` lists name what the app has: checked by the node, and by
 * `telex start` for every node before it starts any (a name the app lacks would fail every
 * restart of that node the same way).
 */
export const checkNode = (app: ClusterApp, self: Config.NodeConfig): Effect.Effect<void, Config.ConfigError> =>
  Effect.gen(function*() {
    const name = self.name
    for (const m of self.run ?? []) {
      if (app.modules[m] === undefined) {
        return yield* new Config.ConfigError({
          path: `nodes[${name}].run`,
          message: `unknown module ${JSON.stringify(m)} (the app has: ${Object.keys(app.modules).join(", ") || "none"})`
        })
      }
    }
    for (const protocolName of self.spawnable ?? []) {
      if (!(app.spawnable ?? []).some((b) => b.protocol.name === protocolName)) {
        return yield* new Config.ConfigError({
          path: `nodes[${name}].spawnable`,
          message: `${JSON.stringify(protocolName)} is not among the app's spawnable modules (${(app.spawnable ?? []).map((b) => b.protocol.name).join(", ") || "none"})`
        })
      }
    }
  })

export const secretOf = (config: Config.ClusterConfig): Effect.Effect<Redacted.Redacted<string>, Config.ConfigError> => {
  const variable = config.secretEnv ?? "TELEX_SECRET"
  const value = process.env[variable]
  return value === undefined || value.length === 0
    ? Effect.fail(new Config.ConfigError({
      path: "secretEnv",
      message: `the cluster secret is not set: export ${variable}=<a long random string> on every node (telex start does this for you)`
    }))
    : Effect.succeed(Redacted.make(value))
}

/** The config's shard store (default: a SQLite file next to the config, in `.telex/`). */
const shardStoreLayer = (config: Config.ClusterConfig, dir: string): Layer.Layer<ShardStore.Service, Config.ConfigError | ShardStore.ShardStoreError> => {
  const sharding = config.sharding
  switch (sharding?.store ?? "sqlite") {
    case "memory":
      return ShardStore.Service.layer(ShardStore.memory())
    case "postgres": {
      const variable = sharding?.urlEnv ?? "TELEX_PG_URL"
      const url = sharding?.url ?? process.env[variable]
      if (url === undefined || url.length === 0) {
        return Layer.effect(ShardStore.Service, Effect.fail(new Config.ConfigError({ path: "sharding.url", message: `the PostgreSQL URL is not set: sharding.url, or export ${variable}` })))
      }
      // loaded only here: its client (@effect/sql-pg) is an optional peer dependency
      return Layer.unwrap(Effect.map(Effect.promise(() => import("../sharding/PgShardStore.ts")), (Pg) => Pg.layer({ url })))
    }
    default: {
      const path = sharding?.path !== undefined ? resolve(dir, sharding.path) : resolve(dir, ".telex", `${config.cluster}.shards.db`)
      return Layer.unwrap(Effect.sync(() => {
        mkdirSync(dirname(path), { recursive: true })
        return SqliteShardStore.layer(path)
      }))
    }
  }
}

/**
 * The node's sharding, when the config has a `sharding` section or the app declares entities:
 * every node hosts the app's entity types.
 */
const shardingLayer = (config: Config.ClusterConfig, dir: string, app: ClusterApp) => {
  if (config.sharding === undefined && (app.entities ?? []).length === 0) return Layer.empty
  return Sharding.layer({
    entities: app.entities,
    shards: config.sharding?.shards,
    leaseTtl: duration(config.sharding?.leaseTtl),
    stopBudget: duration(config.sharding?.stopBudget),
    minMembers: config.sharding?.minMembers
  }).pipe(Layer.provide(shardStoreLayer(config, dir)))
}

/**
 * A node runs on when its output goes away (`telex node … | tee log` with tee gone, a log
 * collector restarted, its launcher killed): a write then fails (EPIPE) and, unheard, that error
 * would end the node. Its log lines are lost meanwhile.
 */
let outputErrorsIgnored = false
const runWithoutOutput = (): void => {
  if (outputErrorsIgnored) return
  outputErrorsIgnored = true
  const ignore = () => {}
  process.stdout.on("error", ignore)
  process.stderr.on("error", ignore)
}

export const run = Effect.fnUntraced(function*(configFile: string, name: string) {
  runWithoutOutput()
  stopWithLauncher()
  const { config, dir } = yield* Config.load(configFile)
  const self = yield* Config.nodeOf(config, name)
  const app = yield* loadApp(config, dir)
  const secret = yield* secretOf(config)
  const otlp = OtlpSettings.settings(config.otlp)
  yield* checkNode(app, self)
  const spawnable = (self.spawnable ?? []).map((protocolName) => ({
    protocolName,
    behavior: (app.spawnable ?? []).find((b) => b.protocol.name === protocolName)!
  }))
  const seeds = config.seeds ?? config.nodes.map((n) => n.name)
  const peers = config.nodes
    .filter((n) => n.name !== name && seeds.includes(n.name))
    .map((n) => ({ name: n.name, host: n.host ?? "127.0.0.1", port: n.port }))

  const NodeLive = Node.layerWithSystem({
    name,
    host: self.host ?? "127.0.0.1",
    port: self.port,
    allowNonLoopback: self.allowNonLoopback,
    cluster: config.cluster,
    secret,
    peers,
    spawnable: spawnable.map((s) => s.behavior!),
    heartbeatInterval: duration(config.heartbeat?.interval),
    acceptablePause: duration(config.heartbeat?.acceptablePause),
    reconnect: {
      ...(config.reconnect?.initial !== undefined ? { initial: duration(config.reconnect.initial)! } : {}),
      ...(config.reconnect?.max !== undefined ? { max: duration(config.reconnect.max)! } : {})
    },
    system: {
      root: {
        ...(config.supervision?.intensity !== undefined ? { intensity: config.supervision.intensity } : {}),
        ...(config.supervision?.period !== undefined ? { period: duration(config.supervision.period)! } : {})
      }
    }
  })
  const Live = Layer.mergeAll(Registry.layer, NodeStats.NodeStats.layer, shardingLayer(config, dir, app)).pipe(
    Layer.provideMerge(NodeLive)
  )

  yield* Effect.gen(function*() {
    const system = yield* ActorSystem
    const node = yield* Node
    const stats = yield* NodeStats.NodeStats
    // the last failure in the app's tree that was not a supervisor giving up: the likely cause
    // when the root gives up; and the root's escalation, once the log above has caught up to it
    let lastFailure: string | undefined
    const rootEscalated = yield* Deferred.make<void>()
    const cause = (childId: string, what: string) => {
      if (!what.includes("supervisor gave up")) lastFailure = `${childId} ${what}`
    }
    // show what the supervisors do, and count restarts for the launcher's summary
    yield* system.supervisionEvents.pipe(
      // link children are the transport's connections: it logs those itself
      Stream.filter((e) => !("childId" in e) || !e.childId.startsWith("link:")),
      Stream.runForEach((e) => {
        switch (e._tag) {
          case "ChildStartFailed":
            cause(e.childId, `failed to start: ${e.message.split("\n")[0]}`)
            return Effect.logWarning(`${e.childId} failed to start: ${e.message.split("\n")[0]}`)
          case "ChildExited":
            if (e.reason._tag === "Shutdown" || e.reason._tag === "Normal") return Effect.void
            cause(e.childId, `exited: ${ExitReason.format(e.reason)}`)
            return Effect.logWarning(`${e.childId} exited: ${ExitReason.format(e.reason)}`)
          case "Escalated":
            return e.supervisor === system.root.key ? Deferred.succeed(rootEscalated, undefined) : Effect.void
          case "ChildRestarted":
            stats.add("restarts")
            return Effect.logInfo(`supervisor restarted ${e.childId} (restart #${e.restarts})`)
          case "IntensityExceeded":
            return Effect.logError(`supervisor ${e.supervisor} gave up after ${e.restarts} restarts`)
          default:
            return Effect.void
        }
      }),
      Effect.forkScoped
    )
    const admin = yield* Admin.start
    const registry = system.whereis(REGISTRY_NAME)
    if (otlp !== undefined) yield* Effect.logInfo(`exporting spans to ${otlp.url} (OTLP ${otlp.protocol})`)
    if (self.metricsPort !== undefined) {
      // loaded only here, as the OTLP exporter below: their HTTP stacks are not kept by a node without them
      const Metrics = yield* Effect.promise(() => import("./Metrics.ts"))
      const metrics = yield* Metrics.serve(self.metricsPort).pipe(
        Effect.mapError((e) => new Config.ConfigError({ path: `nodes[${name}].metricsPort`, message: `cannot serve metrics: ${e.message}` }))
      )
      yield* Effect.logInfo(`metrics on http://127.0.0.1:${metrics.port}/metrics`)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const counters = kernelOf(system).counters()
        NodeStats.write(stats, { messages: counters.delivered, deadLetters: counters.deadLetters })
      })
    )
    // the node runs until interrupted, or until a head supervisor exits (even while the modules
    // start): then it ends, non-zero
    const headExit = Effect.gen(function*() {
      const exitOf = (what: string, exit: Effect.Effect<ExitReason.ExitReason>) =>
        exit.pipe(Effect.map((r) => [what, r] as const))
      const [which, reason] = yield* Effect.raceAll([
        exitOf("the root supervisor gave up", system.rootExit),
        exitOf("the services supervisor gave up", system.awaitExit(system.services)),
        // the node's own actors outside the supervisors: a node without them is not whole
        exitOf("the registry stopped", Option.isSome(registry) ? system.awaitExit(registry.value) : Effect.never),
        exitOf("the admin actor stopped", system.awaitExit(admin))
      ])
      // let the supervision log above reach the root's escalation, so that the failures leading
      // to it are printed before the node stops (bounded: the node must end anyway)
      const isRoot = which.startsWith("the root")
      if (isRoot) yield* Deferred.await(rootEscalated).pipe(Effect.timeoutOption("1 second"))
      const why = reason._tag === "Error"
        ? reason.message.split("\n")[0]
        : reason._tag === "Shutdown" && reason.detail !== undefined
        ? reason.detail
        : ExitReason.format(reason)
      const message = `${which} (${why}${
        isRoot && lastFailure !== undefined ? `; last failure: ${lastFailure}` : ""
      }): stopping node ${name} with exit code 1, to be restarted by its launcher`
      yield* Effect.logError(message)
      return yield* new NodeFailed({ node: name, message })
    })
    const body = Effect.gen(function*() {
      for (const m of self.run ?? []) {
        yield* app.modules[m]!.pipe(
          Effect.annotateLogs({ module: m }),
          // the process exits 1 at once: the cause is all a user gets, so it names the module
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.failCause(cause)
              : Effect.fail(new NodeFailed({ node: name, message: `node ${name}: app module ${JSON.stringify(m)} ${moduleFailure(cause)}` }))
          )
        )
      }
      releaseNursery()
      process.stdout.write(`${READY_PREFIX}${name} ${node.address.host}:${node.address.port}\n`)
      yield* Effect.logInfo(`node ${name} ready on ${node.address.host}:${node.address.port} (running: ${(self.run ?? []).join(", ") || "nothing"})`)
      return yield* Effect.never
    })
    return yield* Effect.raceFirst(body, headExit)
  }).pipe(
    Effect.provide(Live),
    // outside the node's layers, so that the actors they spawn trace with it
    Effect.provide(
      otlp === undefined
        ? Layer.empty
        : Layer.unwrap(Effect.map(Effect.promise(() => import("./Tracing.ts")), (Tracing) => Tracing.layer({ ...otlp, node: name })))
    ),
    Effect.annotateLogs({ node: name })
  )
})
