/**
 * `telex node`: one node of a cluster config in the foreground, and the runtime every `telex`
 * command runs in. Apart from the rest of the command line so that a node started the way the
 * launcher starts one (`telex node --config <file> --name <node>`) loads neither the command-line
 * parser nor the other commands: an idle node keeps ~5 MiB less.
 *
 * @since 0.1.0
 */
// deep imports: the package index loads every module it has (a Redis client, WebSockets, ...)
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as ClusterNode from "../cluster/ClusterNode.ts"
import type { ConfigError } from "../cluster/Config.ts"
import type { NodeStartError } from "../transport/Node.ts"
import * as Log from "./Log.ts"

/** Prints a ConfigError as one clear message (no stack trace) and fails. */
export const reportConfigErrors = <A, R>(effect: Effect.Effect<A, unknown, R>) =>
  effect.pipe(
    Effect.catchTags({
      ConfigError: (e: ConfigError) => Console.error(`telex: ${e.message}`).pipe(Effect.andThen(Effect.fail(e))),
      NodeStartError: (e: NodeStartError) => Console.error(`telex: ${e.message}`).pipe(Effect.andThen(Effect.fail(e))),
      NodeFailed: (e: ClusterNode.NodeFailed) => Console.error(`telex: ${e.message}`).pipe(Effect.andThen(Effect.fail(e)))
    } as any)
  )

/** The `node` command's work: runs the node named `name` of the config `config` until interrupted. */
export const runNode = (config: string, name: string) =>
  reportConfigErrors(
    Effect.promise(() => import("../cluster/ClusterNode.ts")).pipe(
      Effect.flatMap((ClusterNode) => ClusterNode.run(config, name)),
      Effect.scoped
    )
  )

// the launcher prefixes each node's lines with its name: no need to repeat it
const LoggingLive = Log.layer({ omit: ["node"] })

/** Runs a command's effect as the `telex` process: Node services, logging, exit code. */
export const runMain = (effect: Effect.Effect<unknown, unknown, any>): void =>
  (effect.pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, LoggingLive))) as Effect.Effect<unknown, unknown>).pipe(
    NodeRuntime.runMain({
      disableErrorReporting: true,
      // Ctrl-C / SIGTERM is the normal way to stop a node or a cluster: exit 0 once stopped
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
    })
  )

const CONFIG_FLAGS = new Set(["--config", "-c"])
const NAME_FLAGS = new Set(["--name", "-n"])

/**
 * The config and node of `node --config <file> --name <node>` (either order, short flags too);
 * `undefined` for anything else, which the full command line parses (help, errors, other forms).
 */
export const nodeArgs = (args: ReadonlyArray<string>): { readonly config: string; readonly name: string } | undefined => {
  if (args.length !== 5 || args[0] !== "node") return undefined
  let config: string | undefined
  let name: string | undefined
  for (const i of [1, 3]) {
    const flag = args[i]!
    const value = args[i + 1]!
    if (value === "" || value.startsWith("-")) return undefined
    if (CONFIG_FLAGS.has(flag) && config === undefined) config = value
    else if (NAME_FLAGS.has(flag) && name === undefined) name = value
    else return undefined
  }
  return config !== undefined && name !== undefined ? { config, name } : undefined
}

/**
 * Runs `telex node --config <file> --name <node>` without the command-line parser; returns false
 * (having done nothing) for any other command line.
 */
export const main = (args: ReadonlyArray<string> = process.argv.slice(2)): boolean => {
  const parsed = nodeArgs(args)
  if (parsed === undefined) return false
  runMain(runNode(parsed.config, parsed.name))
  return true
}
