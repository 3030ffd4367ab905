/**
 * The `telex` command line.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, Option, References } from "effect"
import { Command, Flag } from "effect/cli"
import { ActorSystem } from "../actors/ActorSystem.ts"
import { runDemo } from "./demo.ts"
import * as ShortDuration from "./duration.ts"

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
    yield* runDemo({ duration: Option.flatten(parsed) }).pipe(
      Effect.provide(ActorSystem.layer({ node: "demo" })),
      Effect.scoped
    )
  })).pipe(Command.withDescription("Run the demo: a supervised worker pool on this machine"))

const notYet = (name: string, what: string) =>
  Command.make(name, {}, () => Console.log(`telex ${name}: ${what} is not available yet in this version.`)).pipe(
    Command.withDescription(`${what} (coming with the cluster runtime)`)
  )

export const telex = Command.make("telex").pipe(
  Command.withDescription("Telex: typed actors on Effect, supervised, clustered over TCP"),
  Command.withSubcommands([
    demo,
    notYet("start", "launching a cluster from a config"),
    notYet("node", "running one cluster node"),
    notYet("status", "cluster status")
  ])
)

const LoggingLive = Layer.mergeAll(
  Logger.layer([Logger.consolePretty()]),
  Layer.succeed(References.MinimumLogLevel, process.env.TELEX_LOG_LEVEL === "debug" ? "Debug" : "Info")
)

export const main = (): void =>
  telex.pipe(
    Command.run({ version: "0.1.0" }),
    Effect.provide(Layer.mergeAll(NodeServices.layer, LoggingLive)),
    NodeRuntime.runMain({ disableErrorReporting: true })
  )

if (import.meta.main) main()
