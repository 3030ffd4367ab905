/**
 * Parses short durations as people type them on a command line: `500ms`, `20s`, `2m`, `1h`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const SHORT = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/

export const parse = (input: string): Option.Option<Duration.Duration> => {
  const m = SHORT.exec(input.trim())
  if (m !== null) {
    const n = Number(m[1])
    switch (m[2]) {
      case "ms":
        return Option.some(Duration.millis(n))
      case "m":
        return Option.some(Duration.minutes(n))
      case "h":
        return Option.some(Duration.hours(n))
      default:
        return Option.some(Duration.seconds(n))
    }
  }
  return Option.none()
}
