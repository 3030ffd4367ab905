/**
 * `telex status`: joins a running cluster as a short-lived client node (authenticated like any
 * node, with the cluster secret from the environment or from the file `telex start` saved),
 * asks every node's admin actor for its status, and prints nodes, links, registered names,
 * supervision trees with restart counts, and mailbox depths (as text, or JSON with `--json`).
 * Its stdout holds the report only (logs go to stderr); it changes nothing in the cluster; with
 * no node answering it says so at once and exits non-zero.
 *
 * @since 0.1.0
 */
import { existsSync, readFileSync } from "node:fs"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Node } from "../transport/Node.ts"
import * as Admin from "./Admin.ts"
import { CLIENT_NAME } from "./AdminObserve.ts"
import * as Config from "./Config.ts"
import { secretFile } from "./Launcher.ts"

const secretFor = (config: Config.ClusterConfig) =>
  Effect.suspend(() => {
    const variable = config.secretEnv ?? "TELEX_SECRET"
    const env = process.env[variable]
    if (env !== undefined && env.length > 0) return Effect.succeed(Redacted.make(env))
    const file = secretFile(config.cluster)
    if (existsSync(file)) return Effect.succeed(Redacted.make(readFileSync(file, "utf8").trim()))
    return Effect.fail(new Config.ConfigError({ path: "secretEnv", message: `set ${variable} to the cluster secret (or run from the directory where telex start saved it)` }))
  })

/** A supervision tree as indented lines, one per actor (appended to `out`). */
export const formatTree = (tree: Admin.TreeNode, indent: string, peersUp: ReadonlyMap<string, boolean>, out: Array<string>) => {
  const name = tree.name !== undefined ? ` "${tree.name}"` : ""
  const restarts = tree.restarts > 0 ? `, restarts ${tree.restarts}` : ""
  const what = tree.peer !== undefined
    ? `  link to ${tree.peer} ${peersUp.get(tree.peer) === true ? "up" : "DOWN"}`
    : tree.child !== undefined
    ? `  child ${tree.child}`
    : ""
  out.push(`${indent}${tree.protocol}${name}  ${tree.actor}  mailbox ${tree.mailbox}${restarts}${what}`)
  for (const child of tree.children) formatTree(child, `${indent}  `, peersUp, out)
}

/** One node's answer, or why there is none. */
export type NodeReport =
  | { readonly name: string; readonly host: string; readonly port: number; readonly reachable: true; readonly status: Admin.NodeStatus }
  | { readonly name: string; readonly host: string; readonly port: number; readonly reachable: false; readonly reason: string }

export interface ClusterReport {
  readonly cluster: string
  readonly nodes: ReadonlyArray<NodeReport>
}

/** No node of the cluster answered: nothing runs, or not with this secret. */
export class ClusterUnreachable extends Schema.TaggedError<ClusterUnreachable>()("ClusterUnreachable", {
  message: Schema.String
}) {}


/**
 * A short-lived client node of the config's cluster, authenticated with the cluster secret. It
 * advertises no address and gossips no members: nodes do not dial it, nor each other because of it.
 */
export const clientNode = Effect.fnUntraced(function*(
  config: Config.ClusterConfig,
  kind: "status" | "shell" | "observe",
  knownSecret?: Redacted.Redacted<string>
) {
  const secret = knownSecret ?? (yield* secretFor(config))
  const ctx = yield* Layer.build(Node.layerWithSystem({
    name: `${kind}-${process.pid}`,
    cluster: config.cluster,
    secret,
    handshakeTimeout: "2 seconds",
    advertise: false,
    connectTimeout: "2 seconds"
  }))
  return Context.get(ctx, Node)
})

/** The admin actor of node `n`, reached from a client node; a node that refuses or has nothing listening fails at once. */
export const adminOf = (node: Node["Service"], n: { readonly name: string; readonly host?: string | undefined; readonly port: number }) =>
  node.connect({ name: n.name, host: n.host ?? "127.0.0.1", port: n.port }, "3 seconds", { failFast: true }).pipe(
    Effect.andThen(node.lookup(n.name, Admin.Protocol, Admin.ADMIN_NAME))
  )

/**
 * Asks every node of the config for its status, all at once. Read-only: the client node
 * advertises no address and gossips no members (nodes do not dial it, nor each other because
 * of it), and a node that refuses the connection or has nothing listening fails at once.
 */
export const report = Effect.fnUntraced(function*(configFile: string) {
  const { config } = yield* Config.load(configFile)
  const node = yield* clientNode(config, "status")
  const nodes = yield* Effect.forEach(config.nodes, (n) =>
    Effect.gen(function*() {
      const host = n.host ?? "127.0.0.1"
      const result = yield* Effect.result(adminOf(node, n).pipe(
        Effect.flatMap((admin) => admin.ask(Admin.Protocol.Status(), { timeout: "3 seconds" }))
      ))
      if (result._tag === "Success") {
        const status = { ...result.success, peers: result.success.peers.filter((p) => !CLIENT_NAME.test(p.name)) }
        return { name: n.name, host, port: n.port, reachable: true, status } as NodeReport
      }
      const failure = result.failure as any
      const reason = String(failure?.reason ?? failure?.message ?? failure?._tag ?? failure)
      return { name: n.name, host, port: n.port, reachable: false, reason } as NodeReport
    }), { concurrency: "unbounded" })
  return { cluster: config.cluster, nodes } satisfies ClusterReport
})

/** The report as text: per node its links, counts, names and supervision tree. */
export const format = (report: ClusterReport): string => {
  const out: Array<string> = [`cluster ${report.cluster}`]
  for (const n of report.nodes) {
    if (!n.reachable) {
      out.push(`\nnode ${n.name} (${n.host}:${n.port}): unreachable (${n.reason})`)
      continue
    }
    const s = n.status
    const peersUp = new Map(s.peers.map((p) => [p.name, p.up]))
    out.push(
      `\nnode ${s.node} (incarnation ${s.incarnation}, pid ${s.pid}, up ${Math.round(s.uptimeMillis / 1000)} s)`,
      `  links: ${s.peers.map((p) => `${p.name} ${p.up ? "up" : "DOWN"}`).join(", ") || "none"}`,
      `  actors: ${s.actors}, messages delivered: ${s.messagesDelivered}, dead letters: ${s.deadLetters}`,
      `  registered names: ${s.names.map((x) => x.name).join(", ") || "none"}`,
      `  supervision:`
    )
    for (const tree of s.tree) formatTree(tree, "    ", peersUp, out)
  }
  return out.join("\n")
}

/**
 * `telex status`: the report on stdout (text, or JSON with `json`), nothing else there. Fails
 * with `ClusterUnreachable` when no node answers.
 */
export const print = Effect.fnUntraced(function*(configFile: string, options?: { readonly json?: boolean }) {
  const r = yield* report(configFile)
  yield* Console.log(options?.json === true ? JSON.stringify(r, null, 2) : format(r))
  if (r.nodes.length > 0 && r.nodes.every((n) => !n.reachable)) {
    const where = r.nodes.map((n) => `${n.name} at ${n.host}:${n.port}: ${n.reachable ? "" : n.reason}`).join("; ")
    return yield* new ClusterUnreachable({ message: `no node of cluster ${JSON.stringify(r.cluster)} answers (${where})` })
  }
})
