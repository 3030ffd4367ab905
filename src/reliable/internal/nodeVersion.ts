/**
 * The Node.js versions Telex runs on (`engines` in package.json; bin/telex.js checks the same),
 * checked before loading better-sqlite3: a native module built for another Node.js ABI can crash
 * the process instead of throwing.
 *
 * @since 0.1.0
 */

/** the oldest supported Node.js: type stripping of the user's `.ts` files by default, `import.meta.main` */
export const MIN_NODE = [22, 19] as const

/** whether `version` (`process.versions.node`) is at least `MIN_NODE` */
export const supported = (version: string): boolean => {
  const [major = 0, minor = 0] = version.split(".").map(Number)
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])
}

/** An Error whose printed form is its one-line message (no stack: the message says it all). */
export const oneLineError = (message: string): Error => {
  const error = new Error(message)
  error.stack = `Error: ${message}`
  return error
}

/** Throws a one-line error naming `what` when this Node.js is older than `MIN_NODE`. */
export const check = (what: string): void => {
  if (!supported(process.versions.node)) {
    throw oneLineError(`${what} needs Node.js >= ${MIN_NODE.join(".")} (this is ${process.version})`)
  }
}
