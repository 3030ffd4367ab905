/**
 * Cluster configuration: a JSON file (or a TypeScript module whose default export is the same
 * object), validated with Schema. Errors name the path of the bad field.
 *
 * ```json
 * {
 *   "cluster": "demo",
 *   "app": "./app.ts",
 *   "nodes": [
 *     { "name": "n1", "port": 7101, "run": ["jobs"] },
 *     { "name": "n2", "port": 7102, "run": ["workers"], "spawnable": ["Worker"] }
 *   ]
 * }
 * ```
 *
 * - `app`: a module (path relative to the config file) whose default export is a `ClusterApp`:
 *   named modules a node can `run`, and the actor modules it may allow to be spawned remotely.
 * - `secretEnv`: the environment variable holding the shared cluster secret (default
 *   `TELEX_SECRET`). The secret is never written in the config.
 * - `seeds`: nodes a node dials at start (default: every other node of the config). Nodes dial
 *   their seeds and form a full mesh.
 * - `heartbeat` / `reconnect` / `supervision`: failure detection and restart settings, with the
 *   transport's and supervisor's documented defaults.
 * - `otlp`: `{ "endpoint": "http://127.0.0.1:4318" }` exports every node's spans to that
 *   OpenTelemetry collector (as does `OTEL_EXPORTER_OTLP_ENDPOINT`, which wins).
 * - `sharding`: the shard store of the app's entities (`sqlite` file, `postgres` URL, or
 *   `memory` for a one-node cluster), the shard count and lease timing. Every node runs sharding
 *   when the config has this section or the app declares `entities`.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { dirname, isAbsolute, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { isLoopbackHost } from "../transport/Node.ts"

const Name = Schema.String.check(Schema.isPattern(/^[A-Za-z][A-Za-z0-9_.-]{0,62}$/u, {
  message: "a node name: a letter, then letters, digits, '_', '.' or '-' (at most 63)"
}))
const Port = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }))
const DurationText = Schema.String.check(Schema.isPattern(/^\d+(\.\d+)?\s*(ms|s|m|h)$/u, {
  message: "a duration such as 500ms, 3s, 2m"
}))

// the descriptions also go into the config's JSON Schema (cluster.schema.json, see ConfigJsonSchema.ts)
export const NodeConfig = Schema.Struct({
  name: Name.annotate({ description: "the node's name, unique in the cluster" }),
  host: Schema.optional(Schema.String.annotate({ description: "the address it listens on (default 127.0.0.1)" })),
  port: Port.annotate({ description: "the TCP port it listens on" }),
  /** `host` may be an address other than loopback (the transport refuses one otherwise) */
  allowNonLoopback: Schema.optional(Schema.Boolean.annotate({ description: "allow a host other than loopback" })),
  /** app modules this node runs, by name */
  run: Schema.optional(Schema.Array(Schema.String).annotate({ description: "the app modules this node runs, by name" })),
  /** actor protocols other nodes may spawn here, by protocol name */
  spawnable: Schema.optional(Schema.Array(Schema.String).annotate({
    description: "actor protocols other nodes may spawn here, by protocol name"
  })),
  /** serve Prometheus metrics on this port (loopback) */
  metricsPort: Schema.optional(Port.annotate({ description: "serve Prometheus metrics on this port (loopback)" }))
})
export type NodeConfig = typeof NodeConfig.Type

export const ClusterConfig = Schema.Struct({
  /** the JSON Schema an editor validates the file with (ignored by Telex) */
  $schema: Schema.optional(Schema.String.annotate({ description: "the JSON Schema of this file (ignored by Telex)" })),
  cluster: Schema.String.check(Schema.isNonEmpty()).annotate({
    description: "the cluster's name: nodes of different clusters refuse each other"
  }),
  app: Schema.optional(Schema.String.annotate({
    description: "the app module (path relative to this file, .js or .ts) whose default export is made with ClusterApp.make"
  })),
  secretEnv: Schema.optional(Schema.String.annotate({
    description: "the environment variable holding the shared cluster secret (default TELEX_SECRET)"
  })),
  nodes: Schema.Array(NodeConfig).check(Schema.isMinLength(1)).annotate({ description: "the nodes: one process each" }),
  seeds: Schema.optional(Schema.Array(Schema.String).annotate({
    description: "nodes a node dials at start (default: every other node)"
  })),
  heartbeat: Schema.optional(Schema.Struct({
    interval: Schema.optional(DurationText),
    acceptablePause: Schema.optional(DurationText)
  }).annotate({ description: "failure detection: a heartbeat every interval (1s); a peer silent longer than acceptablePause (3s) is down" })),
  reconnect: Schema.optional(Schema.Struct({ initial: Schema.optional(DurationText), max: Schema.optional(DurationText) }).annotate({
    description: "backoff between attempts to reconnect a lost peer (100ms doubling to 5s)"
  })),
  supervision: Schema.optional(Schema.Struct({
    intensity: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
    period: Schema.optional(DurationText)
  }).annotate({ description: "restart intensity of each node's root supervisor: restarts allowed within period (10 in 10s)" })),
  /**
   * export spans to an OpenTelemetry collector (OTLP over HTTP); the `OTEL_EXPORTER_OTLP_*`
   * environment variables take precedence (see `Tracing.ts`)
   */
  otlp: Schema.optional(Schema.Struct({
    /** the collector's base URL, e.g. `http://127.0.0.1:4318` (`/v1/traces` is appended) */
    endpoint: Schema.optional(Schema.String),
    protocol: Schema.optional(Schema.Literals(["http/protobuf", "http/json"]))
  }).annotate({ description: "export spans to an OpenTelemetry collector (OTLP over HTTP), e.g. { \"endpoint\": \"http://127.0.0.1:4318\" }" })),
  sharding: Schema.optional(Schema.Struct({
    /** where shard leases and entity state live: `sqlite` (a file shared by the nodes of one host), `postgres`, `memory` (one node only) */
    store: Schema.optional(Schema.Literals(["sqlite", "postgres", "memory"]).annotate({
      description: "the shard store: sqlite (default; a file shared by the nodes of one host), postgres (multi-host), memory (a single node)"
    })),
    /** the SQLite file, relative to the config (default `.telex/<cluster>.shards.db`) */
    path: Schema.optional(Schema.String.annotate({ description: "sqlite: the file, relative to this file (default .telex/<cluster>.shards.db)" })),
    /** the PostgreSQL URL (better: `urlEnv`, so that the password is not in the file) */
    url: Schema.optional(Schema.String.annotate({ description: "postgres: the server's URL, postgres://user:password@host:port/database" })),
    /** the environment variable holding the PostgreSQL URL (default `TELEX_PG_URL`) */
    urlEnv: Schema.optional(Schema.String.annotate({ description: "postgres: the environment variable holding the URL, when url is not given (default TELEX_PG_URL)" })),
    shards: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65536 })).annotate({
      description: "the number of shards, the same on every node (default 1024)"
    })),
    leaseTtl: Schema.optional(DurationText.annotate({ description: "how long a shard lease lasts without renewal (default 3s; renewed every third of it)" })),
    stopBudget: Schema.optional(DurationText.annotate({ description: "the time an entity has to stop when its shard moves (default 500ms)" })),
    /** members a node waits to see before it takes its first shards (Akka's `min-nr-of-members`) */
    minMembers: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
      description: "members (the node included) a node waits to see before it takes its first shards, so that nodes started together do not hand shards over at once (default 1)"
    }))
  }).annotate({ description: "sharded entities (the app's entities): where the shard leases and entity state are kept, and the lease timing" })),
  launcher: Schema.optional(Schema.Struct({
    /** restarts of one node process allowed within `period` before the launcher gives up on that node (the others keep running) */
    intensity: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
    period: Schema.optional(DurationText)
  }).annotate({ description: "telex start: restarts of one node process allowed within period (5 in 30s) before it gives up on that node" }))
})
export type ClusterConfig = typeof ClusterConfig.Type

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  message: Schema.String
}) {}

const decode = Schema.decodeUnknownExit(ClusterConfig)

/** Validates a parsed config, with cross-field checks (unique names and ports, known seeds). */
export const validate = (raw: unknown, source = "config"): Effect.Effect<ClusterConfig, ConfigError> =>
  Effect.suspend(() => {
    const exit = decode(raw, { errors: "all", onExcessProperty: "error" })
    if (Exit.isFailure(exit)) {
      const error = exit.cause.reasons.find((r) => r._tag === "Fail")
      const message = error !== undefined ? (error as any).error.message : "invalid"
      return Effect.fail(new ConfigError({ path: source, message: `invalid cluster config:\n${message}` }))
    }
    const config = exit.value
    const names = new Set<string>()
    const endpoints = new Set<string>()
    for (const [i, node] of config.nodes.entries()) {
      if (names.has(node.name)) {
        return Effect.fail(new ConfigError({ path: source, message: `nodes[${i}].name: duplicate node name ${JSON.stringify(node.name)}` }))
      }
      names.add(node.name)
      const endpoint = `${node.host ?? "127.0.0.1"}:${node.port}`
      if (endpoints.has(endpoint)) {
        return Effect.fail(new ConfigError({ path: source, message: `nodes[${i}].port: ${endpoint} is used by two nodes` }))
      }
      endpoints.add(endpoint)
      if (node.host !== undefined && !isLoopbackHost(node.host) && node.allowNonLoopback !== true) {
        return Effect.fail(new ConfigError({
          path: source,
          message: `nodes[${i}].host: ${node.host} is not a loopback address: set "allowNonLoopback": true on node ${node.name} to listen there`
        }))
      }
    }
    // metrics are served on loopback: their ports must not meet a node's or another node's metrics
    for (const [i, node] of config.nodes.entries()) {
      if (node.metricsPort === undefined) continue
      const endpoint = `127.0.0.1:${node.metricsPort}`
      if (endpoints.has(endpoint)) {
        return Effect.fail(new ConfigError({ path: source, message: `nodes[${i}].metricsPort: ${endpoint} is used twice in this config` }))
      }
      endpoints.add(endpoint)
    }
    if (config.sharding?.store === "memory" && config.nodes.length > 1) {
      return Effect.fail(new ConfigError({
        path: source,
        message: "sharding.store: memory keeps leases in one process: with several nodes use sqlite (one host) or postgres"
      }))
    }
    for (const [i, seed] of (config.seeds ?? []).entries()) {
      if (!names.has(seed)) {
        return Effect.fail(new ConfigError({ path: source, message: `seeds[${i}]: ${JSON.stringify(seed)} is not a node of this config` }))
      }
    }
    return Effect.succeed(config)
  })

/** Loads a config from a `.json` file or a TS/JS module (default export). */
export const load = (file: string): Effect.Effect<{ readonly config: ClusterConfig; readonly dir: string }, ConfigError> =>
  Effect.gen(function*() {
    const path = isAbsolute(file) ? file : resolve(process.cwd(), file)
    let raw: unknown
    if (path.endsWith(".json")) {
      const text = yield* Effect.try({
        try: () => readFileSync(path, "utf8"),
        catch: (e) =>
          new ConfigError({
            path,
            message: (e as NodeJS.ErrnoException).code === "ENOENT"
              ? `cannot read the config file: ${path} does not exist (the telex commands read ./cluster.json unless given a config; telex new writes a project with one)`
              : `cannot read the config file: ${(e as Error).message}`
          })
      })
      raw = yield* Effect.try({
        try: () => JSON.parse(text),
        catch: (e) => new ConfigError({ path, message: `the config file is not valid JSON: ${(e as Error).message}` })
      })
    } else {
      const mod = yield* Effect.tryPromise({
        try: () => import(pathToFileURL(path).href),
        catch: (e) => new ConfigError({ path, message: `cannot load the config module: ${(e as Error).message}` })
      })
      raw = mod.default
    }
    const config = yield* validate(raw, path)
    return { config, dir: dirname(path) }
  })

/** The node entry of the config, or a ConfigError listing the names that exist. */
export const nodeOf = (config: ClusterConfig, name: string): Effect.Effect<NodeConfig, ConfigError> => {
  const node = config.nodes.find((n) => n.name === name)
  return node !== undefined
    ? Effect.succeed(node)
    : Effect.fail(new ConfigError({ path: "nodes", message: `no node named ${JSON.stringify(name)} (nodes: ${config.nodes.map((n) => n.name).join(", ")})` }))
}
