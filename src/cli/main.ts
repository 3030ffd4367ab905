/**
 * The `telex` command line.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import { ConfigError } from "../cluster/Config.ts"
import * as ShortDuration from "../cluster/ShortDuration.ts"
import * as Log from "./Log.ts"
import * as NodeCommand from "./nodeCommand.ts"

// Each command's implementation is loaded when that command runs: a `telex node` process keeps
// neither the launcher, the shell, the observer's web server nor the demo in memory.
const load = <M>(module: () => Promise<M>): Effect.Effect<M> => Effect.promise(module)

const duration = Flag.String("duration").pipe(
  Flag.withAlias("d"),
  Flag.withDescription("Stop after this long (e.g. 20s, 2m) and print a JSON summary; default: run until Ctrl-C"),
  Flag.optional
)

const demo = Command.make("demo", { duration }, ({ duration }) =>
  Effect.gen(function*() {
    const parsed = Option.map(duration, (d) => ShortDuration.parse(d))
    if (Option.isSome(parsed) && Option.isNone(parsed.value)) {
      yield* Console.error(`telex demo: --duration ${JSON.stringify(duration.pipe(Option.getOrElse(() => "")))} is not a duration (try 20s, 500ms, 2m)`)
      return yield* Effect.fail(new Error("bad --duration"))
    }
    const { runDemo } = yield* load(() => import("./demo/run.ts"))
    const { ActorSystem } = yield* load(() => import("../system/ActorSystem.ts"))
    yield* runDemo({ duration: Option.flatten(parsed) }).pipe(
      Effect.provide(ActorSystem.layer({ node: "demo" })),
      Effect.scoped
    )
  })).pipe(Command.withDescription("Run the demo: a supervised worker pool on this machine"))

const parseDuration = (flag: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(flag)) return Option.none()
    const parsed = ShortDuration.parse(flag.value)
    if (Option.isNone(parsed)) {
      return yield* new ConfigError({ path: "--duration", message: `${JSON.stringify(flag.value)} is not a duration (try 20s, 500ms, 2m)` })
    }
    return parsed
  })

const DEMO_CONFIG = fileURLToPath(new URL("../../examples/cluster/cluster.json", import.meta.url))

/** The config to use when none is given: ./cluster.json, else (in the Telex repository) the demo's. */
const defaultConfig = (given: Option.Option<string>): string => {
  if (Option.isSome(given)) return given.value
  const local = resolve(process.cwd(), "cluster.json")
  return existsSync(local) || !existsSync(DEMO_CONFIG) ? local : DEMO_CONFIG
}

const config = Argument.String("config").pipe(
  Argument.withDescription("cluster config (.json or a TS module); default: ./cluster.json (in the Telex repository: the demo cluster)"),
  Argument.optional
)

const reportConfigErrors = NodeCommand.reportConfigErrors

const observePort = Flag.Int("port").pipe(
  Flag.withDescription("the observer's port on 127.0.0.1 (default 0: a free port, printed)"),
  Flag.withDefault(0)
)

const start = Command.make("start", {
  config,
  duration,
  observe: Flag.Boolean("observe").pipe(
    Flag.withDescription("also serve the observer page (as telex observe) and print its URL"),
    Flag.withDefault(false)
  ),
  observePort: Flag.Int("observe-port").pipe(
    Flag.withDescription("with --observe: the observer's port on 127.0.0.1 (default 0: a free port)"),
    Flag.withDefault(0)
  )
}, ({ config, duration, observe, observePort }) =>
  reportConfigErrors(Effect.gen(function*() {
    const d = yield* parseDuration(duration)
    const Launcher = yield* load(() => import("../cluster/Launcher.ts"))
    yield* Launcher.launch(defaultConfig(config), { duration: d, ...(observe ? { observe: { port: observePort } } : {}) })
  }).pipe(Effect.scoped))).pipe(Command.withDescription("Launch every node of a cluster config on this machine (--observe: and serve the observer page)"))

const node = Command.make("node", {
  config: Flag.String("config").pipe(Flag.withAlias("c"), Flag.withDescription("cluster config file")),
  name: Flag.String("name").pipe(Flag.withAlias("n"), Flag.withDescription("this node's name in the config"))
}, ({ config, name }) => NodeCommand.runNode(config, name)).pipe(
    Command.withDescription("Run one node of a cluster config in the foreground")
  )

const status = Command.make("status", {
  config,
  json: Flag.Boolean("json").pipe(Flag.withDescription("print the report as JSON"), Flag.withDefault(false))
}, ({ config, json }) =>
  reportConfigErrors(load(() => import("../cluster/Status.ts")).pipe(
    Effect.flatMap((Status) => Status.print(defaultConfig(config), { json })),
    Effect.scoped,
    Effect.catchTag("ClusterUnreachable", (e) => Console.error(`telex: ${e.message}`).pipe(Effect.andThen(Effect.fail(e)))),
    // stdout is the report: the client node's own log lines (warnings only) go to stderr
    Effect.provide(Log.layer({ stderr: true, minimum: "Warn" }))
  ))).pipe(
    Command.withDescription(
      "Show the nodes, links, actors and supervision trees of a running cluster (exit 1 when no node answers)"
    )
  )

const shell = Command.make("shell", {
  config: Flag.String("config").pipe(Flag.withDescription("cluster config file (default: ./cluster.json, as the other commands)"), Flag.optional),
  node: Flag.String("node").pipe(Flag.withAlias("n"), Flag.withDescription("the node to attach to (its name in the config)")),
  command: Flag.String("command").pipe(
    Flag.withAlias("c"),
    Flag.withDescription("run this one command, print its result as JSON and exit (e.g. -c \"ask jobs GetStats {}\")"),
    Flag.optional
  )
}, ({ config, node, command }) =>
  reportConfigErrors(
    load(() => import("../cluster/Shell.ts")).pipe(
      Effect.flatMap((Shell) =>
        Option.isSome(command)
          ? Shell.runOnce(defaultConfig(config), node, command.value)
          : Shell.interactive(defaultConfig(config), node)
      ),
      Effect.scoped,
      Effect.catchTag("ShellError", (e) => Console.error(`telex: ${e.message}`).pipe(Effect.andThen(Effect.fail(e)))),
      // stdout carries results only: the client node's own log lines (warnings only) go to stderr
      Effect.provide(Log.layer({ stderr: true, minimum: "Warn" }))
    )
  )).pipe(
    Command.withDescription(
      "Attach to a running node: list actors and names, show its supervision tree, tell or ask a named actor (JSON), watch dead letters"
    )
  )

const observe = Command.make("observe", { config, port: observePort }, ({ config, port }) =>
  reportConfigErrors(Effect.gen(function*() {
    const Observer = yield* load(() => import("../cluster/Observer.ts"))
    const observer = yield* Observer.serve(defaultConfig(config), { port })
    yield* Console.log(`telex: observer on ${observer.url}`)
    yield* Console.log(`telex: serving on 127.0.0.1 only; the token in the URL is required (Ctrl-C stops)`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.catchTag("ObserverError", (e) => Console.error(`telex: ${e.message}`).pipe(Effect.andThen(Effect.fail(e)))),
    // stdout carries the URL: the client node's own log lines (warnings only) go to stderr
    Effect.provide(Log.layer({ stderr: true, minimum: "Warn" }))
  ))).pipe(
    Command.withDescription(
      "Serve a live web page of a running cluster (nodes, links, supervision trees, actors, events, charts; stop, kill, send) on 127.0.0.1, behind a token printed in its URL"
    )
  )

const newProject = Command.make("new", {
  dir: Argument.String("dir").pipe(Argument.withDescription("directory for the new project (created; must be empty if it exists)"))
}, ({ dir }) =>
  reportConfigErrors(Effect.gen(function*() {
    const target = resolve(process.cwd(), dir)
    const Starter = yield* load(() => import("./Starter.ts"))
    const written = yield* Starter.generate(target)
    yield* Console.log(`telex: created ${written.length} files in ${target}:\n${written.map((f) => `  ${f}`).join("\n")}`)
    yield* Console.log(`next:\n  cd ${dir}\n  npm install\n  npm test          # a SimCluster test: partition and heal\n  npm start         # the 2-node cluster of cluster.json; Ctrl-C to stop`)
  }))).pipe(Command.withDescription("Create a new Telex project: an app module, cluster.json, a test, tsconfig, package.json"))

export const telex = Command.make("telex").pipe(
  Command.withDescription("Telex: typed actors on Effect, supervised, clustered over TCP"),
  Command.withSubcommands([
    start,
    node,
    status,
    shell,
    observe,
    newProject,
    demo
  ])
)

export const main = (): void => NodeCommand.runMain(telex.pipe(Command.run({ version: "0.1.0" })))

if (import.meta.main) main()
