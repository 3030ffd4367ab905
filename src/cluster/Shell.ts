/**
 * `telex shell`: a prompt attached to one running node, through its admin actor (the same
 * authenticated client connection `telex status` makes). Commands:
 *
 * ```
 * actors                       every actor of the node: address, protocol, name, mailbox, restarts
 * names                        registered names: cluster-wide (the registry) and this node's own
 * tree                         the node's supervision tree
 * tell NAME TAG {json}         send a one-way message (fields as JSON; {} when left out)
 * ask NAME TAG {json}          send a request and print its reply as JSON
 * deadletters                  print the node's dead letters as they come (until Ctrl-C, or Enter at the prompt)
 * help, quit
 * ```
 *
 * The node decodes the message by the target protocol's Schema and says what is wrong when it
 * does not fit. With `-c COMMAND` the shell runs one command, prints its result as JSON on
 * stdout (one JSON line per dead letter) and exits 0, or prints one `telex: ...` message on
 * stderr and exits 1. Interactively, results are text and an error does not end the session.
 *
 * @since 0.1.0
 */
import * as Readline from "node:readline"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Admin from "./Admin.ts"
import type { DeadLetterEntry } from "./AdminCommands.ts"
import * as Config from "./Config.ts"
import * as Status from "./Status.ts"

/** A shell command that failed: why, for a person. */
export class ShellError extends Schema.TaggedError<ShellError>()("ShellError", {
  message: Schema.String
}) {}

export type Command =
  | { readonly _tag: "Help" }
  | { readonly _tag: "Quit" }
  | { readonly _tag: "Actors" }
  | { readonly _tag: "Names" }
  | { readonly _tag: "Tree" }
  | { readonly _tag: "DeadLetters" }
  | { readonly _tag: "Send"; readonly kind: "tell" | "ask"; readonly name: string; readonly tag: string; readonly json: string }

export const HELP = [
  "actors                  list the node's actors (address, protocol, name, mailbox, restarts)",
  "names                   list registered names (cluster-wide and this node's own)",
  "tree                    show the node's supervision tree",
  "tell NAME TAG {json}    send a one-way message, its fields as JSON ({} when left out)",
  "ask NAME TAG {json}     send a request and print the reply as JSON",
  "deadletters             print dead letters as they come (Ctrl-C, or Enter in the shell, stops)",
  "help                    this list",
  "quit                    leave the shell"
].join("\n")

/** Parses one command line; `undefined` for a blank line. */
export const parse = (input: string): Command | ShellError | undefined => {
  const line = input.trim()
  if (line.length === 0) return undefined
  const verb = line.split(/\s+/)[0] ?? ""
  switch (verb) {
    case "help":
    case "?":
      return { _tag: "Help" }
    case "quit":
    case "exit":
      return { _tag: "Quit" }
    case "actors":
      return { _tag: "Actors" }
    case "names":
      return { _tag: "Names" }
    case "tree":
      return { _tag: "Tree" }
    case "deadletters":
      return { _tag: "DeadLetters" }
    case "tell":
    case "ask": {
      const m = /^\S+\s+(\S+)\s+(\S+)\s*(.*)$/s.exec(line)
      if (m === null) return new ShellError({ message: `usage: ${verb} NAME TAG {json fields}` })
      return { _tag: "Send", kind: verb, name: m[1]!, tag: m[2]!, json: m[3]!.trim() || "{}" }
    }
    default:
      return new ShellError({ message: `unknown command ${JSON.stringify(verb)} (commands: actors, names, tree, tell, ask, deadletters, help, quit)` })
  }
}

const describe = (e: unknown): string => {
  const any = e as any
  if (any?._tag === "CommandFailed" || any?._tag === "ShellError") return String(any.message)
  if (typeof any?._tag === "string") {
    const details = Object.entries(any).filter(([k]) => k !== "_tag" && k !== "stack").map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    return `${any._tag}${details.length > 0 ? ` (${details.join(", ")})` : ""}`
  }
  return String(any?.message ?? any)
}

/** Connects to node `nodeName` of the config and returns its admin actor (and the node's entry). */
export const connect = Effect.fnUntraced(function*(configFile: string, nodeName: string) {
  const { config } = yield* Config.load(configFile)
  const entry = config.nodes.find((n) => n.name === nodeName)
  if (entry === undefined) {
    return yield* new ShellError({
      message: `no node named ${JSON.stringify(nodeName)} in the config (nodes: ${config.nodes.map((n) => n.name).join(", ")})`
    })
  }
  const client = yield* Status.clientNode(config, "shell")
  const where = `node ${entry.name} at ${entry.host ?? "127.0.0.1"}:${entry.port}`
  const admin = yield* Status.adminOf(client, entry).pipe(
    Effect.mapError((e) => new ShellError({ message: `${where} is unreachable (${describe(e)})` }))
  )
  return { admin, node: entry.name }
})

type AdminRef = Effect.Success<ReturnType<typeof connect>>["admin"]

/** What a command printed: `json` for `-c`, `text` for a person. */
interface Output {
  readonly json: unknown
  readonly text: string
}

const adminAsk = <A>(node: string, effect: Effect.Effect<A, unknown>): Effect.Effect<A, ShellError> =>
  effect.pipe(Effect.mapError((e) => new ShellError({ message: (e as any)?._tag === "CommandFailed" ? describe(e) : `node ${node}: ${describe(e)}` })))

const status = (admin: AdminRef, node: string) => adminAsk(node, admin.ask(Admin.Protocol.Status(), { timeout: "10 seconds" }))

const flatten = (trees: ReadonlyArray<Admin.TreeNode>, out: Array<Omit<Admin.TreeNode, "children">> = []) => {
  for (const { children, ...actor } of trees) {
    out.push(actor)
    flatten(children, out)
  }
  return out
}

/** Runs one command other than `deadletters`, `help` and `quit`. */
export const run = (admin: AdminRef, node: string, command: Command, askTimeoutMillis = 5_000): Effect.Effect<Output, ShellError> =>
  Effect.gen(function*() {
    switch (command._tag) {
      case "Actors": {
        const actors = flatten((yield* status(admin, node)).tree)
        const text = actors.map((a) => `${a.actor}  ${a.protocol}${a.name !== undefined ? ` "${a.name}"` : ""}  mailbox ${a.mailbox}${a.restarts > 0 ? `, restarts ${a.restarts}` : ""}`)
        return { json: actors, text: text.join("\n") }
      }
      case "Names": {
        const s = yield* status(admin, node)
        const names = [
          ...s.names.map((n) => ({ name: n.name, actor: n.actor, scope: "cluster" as const })),
          ...flatten(s.tree).filter((a) => a.name !== undefined).map((a) => ({ name: a.name!, actor: a.actor, scope: "node" as const }))
        ].sort((a, b) => a.name.localeCompare(b.name) || a.scope.localeCompare(b.scope))
        return { json: names, text: names.map((n) => `${n.name}  ${n.actor}  (${n.scope})`).join("\n") || "no names" }
      }
      case "Tree": {
        const s = yield* status(admin, node)
        const peersUp = new Map(s.peers.map((p) => [p.name, p.up]))
        const out: Array<string> = []
        for (const tree of s.tree) Status.formatTree(tree, "", peersUp, out)
        return { json: s.tree, text: out.join("\n") }
      }
      case "Send": {
        const reply = yield* adminAsk(node, admin.ask(Admin.Protocol.Send({
          name: command.name,
          kind: command.kind,
          tag: command.tag,
          json: command.json,
          timeoutMillis: askTimeoutMillis
        }), { timeout: askTimeoutMillis + 5_000 }))
        const json = JSON.parse(reply)
        return { json, text: command.kind === "tell" ? `sent ${command.tag} to ${command.name}` : JSON.stringify(json, null, 2) }
      }
      default:
        return yield* new ShellError({ message: `${command._tag} is not a command to run here` })
    }
  })

const formatLetter = (d: DeadLetterEntry) => `#${d.seq} to ${d.recipient}: ${d.message} (${d.reason})`

/** Prints the node's dead letters as they come (polling its admin actor), until interrupted. */
export const watchDeadLetters = (admin: AdminRef, node: string, print: (d: DeadLetterEntry) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    let after = (yield* adminAsk(node, admin.ask(Admin.Protocol.DeadLetters({ after: -1 })))).next
    while (true) {
      const page = yield* adminAsk(node, admin.ask(Admin.Protocol.DeadLetters({ after })))
      if (page.missed > 0) yield* Console.error(`(${page.missed} dead letters missed: the node keeps only the newest)`)
      for (const d of page.letters) yield* print(d)
      after = page.next
      yield* Effect.sleep("250 millis")
    }
  })

/** `telex shell -c COMMAND`: one command, its result as JSON on stdout. */
export const runOnce = Effect.fnUntraced(function*(configFile: string, nodeName: string, input: string) {
  const command = parse(input)
  if (command === undefined) return yield* new ShellError({ message: "the command is empty (try -c help)" })
  if (command instanceof ShellError) return yield* command
  if (command._tag === "Help") return yield* Console.log(HELP)
  if (command._tag === "Quit") return
  const { admin, node } = yield* connect(configFile, nodeName)
  if (command._tag === "DeadLetters") {
    yield* Console.error(`watching dead letters on node ${node} (Ctrl-C stops)`)
    return yield* watchDeadLetters(admin, node, (d) => Console.log(JSON.stringify(d)))
  }
  const output = yield* run(admin, node, command)
  yield* Console.log(JSON.stringify(output.json, null, 2))
})

/**
 * The interactive shell: reads commands from stdin until `quit` or its end. Results go to stdout
 * as text, errors to stderr (the session goes on). The prompt is shown only on a terminal.
 */
export const interactive = Effect.fnUntraced(function*(configFile: string, nodeName: string) {
  const { admin, node } = yield* connect(configFile, nodeName)
  const terminal = process.stdin.isTTY === true
  const lines = yield* Queue.unbounded<string, Cause.Done>()
  const rl = yield* Effect.acquireRelease(
    Effect.sync(() => Readline.createInterface({ input: process.stdin, output: process.stdout, terminal, prompt: `${node}> ` })),
    (rl) => Effect.sync(() => rl.close())
  )
  rl.on("line", (l) => Queue.offerUnsafe(lines, l))
  rl.on("close", () => Queue.endUnsafe(lines))
  /** Ctrl-C on a terminal: stops a watch, else ends the shell (as the end of stdin does) */
  let onInterrupt = () => rl.close()
  rl.on("SIGINT", () => onInterrupt())
  if (terminal) yield* Console.log(`connected to node ${node}; type help for the commands`)
  const prompt = Effect.sync(() => {
    if (terminal) rl.prompt()
  })
  yield* prompt
  while (true) {
    const next = yield* Effect.result(Queue.take(lines))
    if (next._tag === "Failure") return
    const command = parse(next.success)
    if (command === undefined) {
      yield* prompt
      continue
    }
    if (command instanceof ShellError) yield* Console.error(`error: ${command.message}`)
    else if (command._tag === "Quit") return
    else if (command._tag === "Help") yield* Console.log(HELP)
    else if (command._tag === "DeadLetters") {
      yield* Console.log(`watching dead letters on node ${node} (Ctrl-C or Enter stops)`)
      // the watch ends at the next line typed (or Ctrl-C), or when the node stops answering
      const stop = Effect.callback<void>((resume) => {
        onInterrupt = () => resume(Effect.void)
        return Effect.sync(() => {
          onInterrupt = () => rl.close()
        })
      })
      const watch = watchDeadLetters(admin, node, (d) => Console.log(formatLetter(d))).pipe(
        Effect.catch((e: ShellError) => Console.error(`error: ${e.message}`))
      )
      yield* Effect.raceFirst(watch, Effect.raceFirst(stop, Queue.take(lines).pipe(Effect.ignore)))
      yield* Console.log("stopped watching")
    } else {
      const result = yield* Effect.result(run(admin, node, command))
      if (result._tag === "Success") yield* Console.log(result.success.text)
      else yield* Console.error(`error: ${result.failure.message}`)
    }
    yield* prompt
  }
})
