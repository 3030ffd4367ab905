/**
 * One-line log output for the CLI: `HH:MM:SS.mmm LEVEL message key=value …`. The node name is
 * left out of the annotations when the launcher already prefixes every line with it.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"

const colors: Record<string, number> = { Fatal: 31, Error: 31, Warn: 33, Info: 32, Debug: 90, Trace: 90 }
export interface Options {
  readonly omit?: ReadonlyArray<string> | undefined
  /** where the lines go; default stdout (a command whose stdout is its output logs to stderr) */
  readonly stderr?: boolean | undefined
  /** the least level written; default Info (Debug with TELEX_LOG_LEVEL=debug) */
  readonly minimum?: "Debug" | "Info" | "Warn" | "Error" | undefined
}

export const oneLine = (options?: Options) =>
  Logger.make<unknown, void>(({ message, logLevel, date, fiber, cause }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const annotations = fiber.getRef(References.CurrentLogAnnotations) as Record<string, unknown>
    const extra = Object.entries(annotations)
      .filter(([k]) => !(options?.omit ?? []).includes(k))
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ")
    const level = logLevel.toUpperCase().padEnd(5)
    const time = date.toISOString().slice(11, 23)
    const out = options?.stderr === true ? process.stderr : process.stdout
    const head = (out.isTTY === true) ? `\x1b[${colors[logLevel] ?? 0}m${level}\x1b[0m` : level
    const causeText = cause.reasons.length > 0 ? ` ${Cause.pretty(cause).split("\n")[0]}` : ""
    out.write(`${time} ${head} ${text}${causeText}${extra.length > 0 ? ` (${extra})` : ""}\n`)
  })

export const layer = (options?: Options) =>
  Layer.mergeAll(
    Logger.layer([oneLine(options)]),
    Layer.succeed(References.MinimumLogLevel, process.env.TELEX_LOG_LEVEL === "debug" ? "Debug" : options?.minimum ?? "Info")
  )
