/**
 * `telex status`: joins a running cluster as a short-lived client node (authenticated like any
 * node, with the cluster secret from the environment or from the file `telex start` saved),
 * asks every node's admin actor for its status, and prints nodes, links, registered names,
 * supervision trees with restart counts, and mailbox depths.
 *
 * @since 0.1.0
 */
import { existsSync, readFileSync } from "node:fs"
import { Console, Effect, Layer, Redacted } from "effect"
import { Node } from "../transport/Node.ts"
import * as Admin from "./Admin.ts"
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

const line = (tree: Admin.TreeNode, indent: string, out: Array<string>) => {
  const name = tree.name !== undefined ? ` "${tree.name}"` : ""
  const restarts = tree.restarts > 0 ? `, restarts ${tree.restarts}` : ""
  out.push(`${indent}${tree.protocol}${name}  ${tree.actor}  mailbox ${tree.mailbox}${restarts}`)
  for (const child of tree.children) line(child, `${indent}  `, out)
}

export const print = Effect.fnUntraced(function*(configFile: string) {
  const { config } = yield* Config.load(configFile)
  const secret = yield* secretFor(config)
  const name = `status-${process.pid}`
  const ctx = yield* Layer.build(Node.layerWithSystem({
    name,
    cluster: config.cluster,
    secret,
    handshakeTimeout: "2 seconds",
    advertise: false,
    connectTimeout: "2 seconds"
  }))
  const node = ctx.mapUnsafe.get(Node.key) as Node["Service"]
  const out: Array<string> = [`cluster ${config.cluster}`]
  for (const n of config.nodes) {
    const result = yield* Effect.result(Effect.gen(function*() {
      yield* node.connect({ name: n.name, host: n.host ?? "127.0.0.1", port: n.port }, "3 seconds")
      const admin = yield* node.lookup(n.name, Admin.Protocol, Admin.ADMIN_NAME)
      return yield* admin.ask(Admin.Protocol.Status(), { timeout: "3 seconds" })
    }))
    if (result._tag === "Failure") {
      out.push(`\nnode ${n.name} (${n.host ?? "127.0.0.1"}:${n.port}): unreachable (${(result.failure as any).reason ?? (result.failure as any)._tag})`)
      continue
    }
    const s = result.success
    const peers = s.peers.filter((p) => !p.name.startsWith("status-"))
    out.push(
      `\nnode ${s.node} (incarnation ${s.incarnation}, pid ${s.pid}, up ${Math.round(s.uptimeMillis / 1000)} s)`,
      `  links: ${peers.map((p) => `${p.name} ${p.up ? "up" : "DOWN"}`).join(", ") || "none"}`,
      `  actors: ${s.actors}, messages delivered: ${s.messagesDelivered}, dead letters: ${s.deadLetters}`,
      `  registered names: ${s.names.map((x) => x.name).join(", ") || "none"}`,
      `  supervision:`
    )
    for (const tree of s.tree) line(tree, "    ", out)
  }
  yield* Console.log(out.join("\n"))
})
