/**
 * `telex observe`: a web page showing a running cluster live, served on 127.0.0.1 behind a
 * random token. The server is a client of the cluster like `telex status`: one short-lived
 * client node, authenticated with the cluster secret, asking each node's admin actor over its
 * authenticated connection (see `AdminObserve.ts`); nodes open no new port.
 *
 * Each node is polled once per second for its figures and its links' counters (rates are the
 * differences between two polls) and twice per second for its new events. What a view needs
 * beyond that (a tree, a page of actors, a protocol) is asked when the page asks. The HTTP API
 * is documented in `docs/observer.md`; the page itself lives in `observer-web/`.
 *
 * @since 0.1.0
 */
import { randomBytes, timingSafeEqual } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import * as Http from "node:http"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { ActorRef } from "../actors/ActorRef.ts"
import * as Admin from "./Admin.ts"
import type { CommandFailed } from "./AdminCommands.ts"
import type { ActorSort, NodeEventEntry, NodeInfo } from "./AdminObserve.ts"
import * as Config from "./Config.ts"
import * as Status from "./Status.ts"

/** The observer could not start (its port is taken). */
export class ObserverError extends Schema.TaggedError<ObserverError>()("ObserverError", {
  message: Schema.String
}) {}

export interface ObserverOptions {
  /** default 0: a free port */
  readonly port?: number | undefined
  /** default: 24 random bytes */
  readonly token?: string | undefined
  /** the cluster secret (default: as `telex status` finds it) */
  readonly secret?: Redacted.Redacted<string> | undefined
  /** default 1000 */
  readonly pollMillis?: number | undefined
}

export interface Observer {
  readonly port: number
  readonly token: string
  /** `http://127.0.0.1:PORT/?token=TOKEN` */
  readonly url: string
  /** bytes written to and read from each node's admin connection so far (for the cost benchmark) */
  readonly traffic: () => ReadonlyArray<{ readonly node: string; readonly bytesOut: number; readonly bytesIn: number }>
}

export type EventKind = NodeEventEntry["kind"] | "NodeUp" | "NodeDown"

export interface ObservedEvent {
  readonly id: number
  readonly at: number
  readonly node: string
  readonly kind: EventKind
  readonly text: string
  readonly actor?: string | undefined
  readonly peer?: string | undefined
  readonly reason?: string | undefined
}

export interface ClusterView {
  readonly at: number
  readonly nodes: ReadonlyArray<{
    readonly node: string
    readonly incarnation: number | null
    readonly pid: number | null
    readonly address: string
    readonly up: boolean
    readonly uptimeMs: number
    readonly actors: number
    readonly rssBytes: number
    readonly eventLoopDelayMs: number
    readonly eventLoopDelayP99Ms: number
    readonly msgsPerSec: number
    readonly cpuPercent: number
  }>
  readonly links: ReadonlyArray<{
    readonly from: string
    readonly to: string
    readonly state: "up" | "connecting" | "down"
    readonly rttMs: number | null
    readonly bytesOutPerSec: number
    readonly bytesInPerSec: number
    readonly msgsOutPerSec: number
    readonly msgsInPerSec: number
    readonly gaps: number
  }>
}

const EVENTS_KEPT = 2000
/**
 * What one event stream may have queued in this process, unread by its client, at a tick before
 * it is closed: a client that stops reading (a stalled tab, a stuck proxy) would otherwise have every
 * frame kept here. An `EventSource` reconnects by itself, and the page then fetches the events it
 * missed (`/api/events`).
 */
const STREAM_BACKLOG_BYTES = 1024 * 1024
const COOKIE = "telex_observer"
const round1 = (x: number) => Math.round(x * 10) / 10

/** Where the page's files are: next to this module in the sources, or the package's `src/` copy when it runs compiled. */
const assetsDir = (): string => {
  const here = fileURLToPath(new URL("./observer-web/", import.meta.url))
  if (existsSync(here)) return here
  return fileURLToPath(new URL("../../src/cluster/observer-web/", import.meta.url))
}

const uplotDir = (): string | undefined => {
  try {
    return dirname(createRequire(import.meta.url).resolve("uplot"))
  } catch {
    return undefined
  }
}

const PLACEHOLDER = `<!doctype html><meta charset="utf-8"><title>Telex observer</title>
<p>The observer's page is not installed here. The API answers under <code>/api/</code> (see docs/observer.md).</p>`

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".map": "application/json"
}
const typeOf = (file: string) => TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream"

/** per peer: counters of the previous poll, and the rates computed from them */
interface LinkSample {
  readonly bytesOut: number
  readonly bytesIn: number
  readonly sent: number
  readonly received: number
  rates: { bytesOut: number; bytesIn: number; msgsOut: number; msgsIn: number }
}

interface NodeState {
  readonly name: string
  readonly host: string
  readonly port: number
  admin: ActorRef<typeof Admin.Protocol.defs> | undefined
  up: boolean
  everUp: boolean
  info: NodeInfo | undefined
  infoAt: number
  incarnation: number | undefined
  msgsPerSec: number
  cpuPercent: number
  links: Map<string, LinkSample>
  /** the next `after` of its events; -1 before the first read of this incarnation */
  cursor: number
}

/** Counter difference between two polls; a counter that went down belongs to a new connection. */
const delta = (now: number, before: number) => (now >= before ? now - before : now)

const describe = (e: unknown): string => {
  const any = e as any
  if (typeof any?.message === "string" && any.message.length > 0) return any.message
  if (typeof any?._tag === "string") return any._tag
  return String(any)
}

interface HttpError {
  readonly status: number
  readonly error: string
  readonly reply?: unknown
}

const commandStatus = (e: CommandFailed): number => {
  switch (e.kind) {
    case "NoSuchActor":
    case "NoSuchName":
      return 404
    case "Refused":
      return 409
    case "AskFailed":
    case "SendFailed":
      return 502
    default:
      return 400
  }
}

/**
 * Serves the observer of the cluster in `configFile` until the scope closes. Fails with
 * `ObserverError` when the port is taken, or the config's errors.
 */
export const serve = Effect.fnUntraced(function*(configFile: string, options?: ObserverOptions) {
  const { config } = yield* Config.load(configFile)
  const client = yield* Status.clientNode(config, "observe", options?.secret)
  const run = yield* FiberSet.makeRuntimePromise<never>()
  const pollMillis = options?.pollMillis ?? 1000
  const token = options?.token ?? randomBytes(24).toString("base64url")
  const tokenBytes = Buffer.from(token)

  const nodes: Array<NodeState> = config.nodes.map((n) => ({
    name: n.name,
    host: n.host ?? "127.0.0.1",
    port: n.port,
    admin: undefined,
    up: false,
    everUp: false,
    info: undefined,
    infoAt: 0,
    incarnation: undefined,
    msgsPerSec: 0,
    cpuPercent: 0,
    links: new Map(),
    cursor: -1
  }))
  const byName = new Map(nodes.map((n) => [n.name, n]))

  // --- events --------------------------------------------------------------------------------
  const events: Array<ObservedEvent> = []
  let nextEventId = 1
  const streams = new Set<Stream>()
  const addEvent = (e: Omit<ObservedEvent, "id">) => {
    const event: ObservedEvent = { id: nextEventId++, ...e }
    events.push(event)
    if (events.length > EVENTS_KEPT) events.splice(0, events.length - EVENTS_KEPT)
    for (const s of streams) s.send("event", event)
  }

  // --- polling -------------------------------------------------------------------------------
  const adminOf = (n: NodeState) =>
    n.admin !== undefined
      ? Effect.succeed(n.admin)
      : Status.adminOf(client, n).pipe(Effect.tap((admin) => Effect.sync(() => {
        n.admin = admin
      })))

  const markDown = (n: NodeState, why: string) => {
    n.admin = undefined
    if (!n.up) return
    n.up = false
    n.msgsPerSec = 0
    n.cpuPercent = 0
    n.links.clear()
    addEvent({ at: Date.now(), node: n.name, kind: "NodeDown", text: `node ${n.name} does not answer (${why})`, reason: why })
  }

  const pollInfo = (n: NodeState) =>
    Effect.gen(function*() {
      const admin = yield* adminOf(n)
      const info = yield* admin.ask(Admin.Protocol.NodeInfo(), { timeout: "3 seconds" })
      const now = Date.now()
      const previous = n.info !== undefined && n.incarnation === info.incarnation ? n.info : undefined
      if (n.incarnation !== info.incarnation) n.cursor = -1
      if (!n.up) {
        n.up = true
        n.everUp = true
        addEvent({ at: now, node: n.name, kind: "NodeUp", text: `node ${n.name} up (incarnation ${info.incarnation})` })
      }
      n.incarnation = info.incarnation
      const seconds = (now - n.infoAt) / 1000
      const links = new Map<string, LinkSample>()
      for (const l of info.links) {
        const before = previous !== undefined ? n.links.get(l.peer) : undefined
        links.set(l.peer, {
          bytesOut: l.bytesOut,
          bytesIn: l.bytesIn,
          sent: l.sent,
          received: l.received,
          rates: before === undefined || seconds <= 0
            ? { bytesOut: 0, bytesIn: 0, msgsOut: 0, msgsIn: 0 }
            : {
              bytesOut: delta(l.bytesOut, before.bytesOut) / seconds,
              bytesIn: delta(l.bytesIn, before.bytesIn) / seconds,
              msgsOut: delta(l.sent, before.sent) / seconds,
              msgsIn: delta(l.received, before.received) / seconds
            }
        })
      }
      n.links = links
      if (previous !== undefined && seconds > 0) {
        n.msgsPerSec = delta(info.delivered, previous.delivered) / seconds
        const cpuMicros = delta(info.cpuUserMicros + info.cpuSystemMicros, previous.cpuUserMicros + previous.cpuSystemMicros)
        n.cpuPercent = (cpuMicros / 1e6 / seconds) * 100
      }
      n.info = info
      n.infoAt = now
    }).pipe(
      Effect.catchCause((cause) => Effect.sync(() => markDown(n, describe(cause.reasons[0] !== undefined && "error" in cause.reasons[0] ? cause.reasons[0].error : cause)))),
    )

  const pollEvents = (n: NodeState) =>
    Effect.gen(function*() {
      if (!n.up || n.admin === undefined) return
      // a node's own ring from its start (the newest it keeps) the first time, then what is new
      const page = yield* n.admin.ask(Admin.Protocol.Events({ after: Math.max(n.cursor, 0) }), { timeout: "3 seconds" })
      n.cursor = page.next
      if (page.missed > 0) {
        addEvent({ at: Date.now(), node: n.name, kind: "DeadLetter", text: `${page.missed} events of node ${n.name} missed (the node keeps only the newest)` })
      }
      for (const e of page.events) {
        addEvent({
          at: e.at,
          node: n.name,
          kind: e.kind,
          text: e.text,
          ...(e.actor !== undefined ? { actor: e.actor } : {}),
          ...(e.peer !== undefined ? { peer: e.peer } : {}),
          ...(e.reason !== undefined ? { reason: e.reason } : {})
        })
      }
    }).pipe(Effect.ignore)

  const every = (millis: number, effect: Effect.Effect<void>) =>
    effect.pipe(Effect.andThen(Effect.sleep(millis)), Effect.forever, Effect.forkScoped)
  for (const n of nodes) {
    yield* every(pollMillis, pollInfo(n))
    yield* every(pollMillis / 2, pollEvents(n))
  }

  // --- the views -----------------------------------------------------------------------------
  const clusterView = (): ClusterView => {
    const at = Date.now()
    const links: Array<ClusterView["links"][number]> = []
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i]!
        const b = nodes[j]!
        // a's view of the link, else b's (mirrored), else it is down as far as anyone can tell
        const fromA = a.up ? a.info?.links.find((l) => l.peer === b.name) : undefined
        const fromB = fromA === undefined && b.up ? b.info?.links.find((l) => l.peer === a.name) : undefined
        const view = fromA ?? fromB
        const rates = fromA !== undefined ? a.links.get(b.name)?.rates : fromB !== undefined ? b.links.get(a.name)?.rates : undefined
        if (view === undefined) {
          const never = !a.everUp || !b.everUp
          links.push({
            from: a.name,
            to: b.name,
            state: never && (a.up || b.up) ? "connecting" : "down",
            rttMs: null,
            bytesOutPerSec: 0,
            bytesInPerSec: 0,
            msgsOutPerSec: 0,
            msgsInPerSec: 0,
            gaps: 0
          })
          continue
        }
        const mirrored = fromA === undefined
        links.push({
          from: a.name,
          to: b.name,
          state: view.up ? "up" : view.everUp ? "down" : "connecting",
          rttMs: view.rttMillis === null ? null : round1(view.rttMillis),
          bytesOutPerSec: Math.round((mirrored ? rates?.bytesIn : rates?.bytesOut) ?? 0),
          bytesInPerSec: Math.round((mirrored ? rates?.bytesOut : rates?.bytesIn) ?? 0),
          msgsOutPerSec: round1((mirrored ? rates?.msgsIn : rates?.msgsOut) ?? 0),
          msgsInPerSec: round1((mirrored ? rates?.msgsOut : rates?.msgsIn) ?? 0),
          gaps: (a.info?.links.find((l) => l.peer === b.name)?.gaps ?? 0) + (b.info?.links.find((l) => l.peer === a.name)?.gaps ?? 0)
        })
      }
    }
    return {
      at,
      nodes: nodes.map((n) => {
        const i = n.up ? n.info : undefined
        const entry = config.nodes.find((c) => c.name === n.name)!
        return {
          node: n.name,
          incarnation: n.incarnation ?? null,
          pid: n.info?.pid ?? null,
          address: `${entry.host ?? "127.0.0.1"}:${entry.port}`,
          up: n.up,
          uptimeMs: i?.uptimeMillis ?? 0,
          actors: i?.actors ?? 0,
          rssBytes: i?.rssBytes ?? 0,
          eventLoopDelayMs: round1(i?.eventLoopDelayMillis ?? 0),
          eventLoopDelayP99Ms: round1(i?.eventLoopDelayP99Millis ?? 0),
          msgsPerSec: round1(n.up ? n.msgsPerSec : 0),
          cpuPercent: round1(n.up ? n.cpuPercent : 0)
        }
      }),
      links
    }
  }

  const ratesView = (view: ClusterView) => {
    const rates = { at: view.at, nodes: {} as Record<string, number>, links: {} as Record<string, number> }
    for (const n of view.nodes) rates.nodes[n.node] = n.msgsPerSec
    for (const l of view.links) {
      rates.links[`${l.from}->${l.to}`] = l.msgsOutPerSec
      rates.links[`${l.to}->${l.from}`] = l.msgsInPerSec
    }
    return rates
  }

  // --- requests to one node ------------------------------------------------------------------
  const nodeFor = (name: string): Effect.Effect<NodeState & { admin: NonNullable<NodeState["admin"]> }, HttpError> => {
    const n = byName.get(name)
    if (n === undefined) return Effect.fail({ status: 404, error: `no node named ${JSON.stringify(name)} in the cluster (nodes: ${nodes.map((x) => x.name).join(", ")})` })
    return adminOf(n).pipe(
      Effect.map(() => n as NodeState & { admin: NonNullable<NodeState["admin"]> }),
      Effect.mapError((e) => ({ status: 502, error: `node ${name} is unreachable (${describe(e)})` }))
    )
  }
  /** an admin request's failure as an HTTP error: the node's CommandFailed, or the node not answering */
  const asHttp = (node: string) => (e: unknown): HttpError => {
    const any = e as any
    if (any?._tag === "CommandFailed") {
      const failed = any as CommandFailed
      const reply = failed.error !== undefined ? JSON.parse(failed.error) : undefined
      return { status: commandStatus(failed), error: failed.message, ...(reply !== undefined ? { reply } : {}) }
    }
    const n = byName.get(node)
    if (n !== undefined) n.admin = undefined
    return { status: 502, error: `node ${node} did not answer (${describe(e)})` }
  }

  const SORTS: ReadonlyArray<ActorSort> = ["actor", "name", "protocol", "mailbox", "msgsPerSec"]
  const intParam = (q: URLSearchParams, key: string, fallback: number): number | HttpError => {
    const raw = q.get(key)
    if (raw === null || raw === "") return fallback
    const v = Number(raw)
    return Number.isInteger(v) && v >= 0 ? v : { status: 400, error: `${key} must be a non-negative integer, got ${JSON.stringify(raw)}` }
  }
  const isHttpError = (x: unknown): x is HttpError => typeof x === "object" && x !== null && "status" in x

  const api = (method: string, parts: ReadonlyArray<string>, q: URLSearchParams, body: unknown): Effect.Effect<unknown, HttpError> =>
    Effect.gen(function*() {
      if (method === "GET" && parts.length === 1 && parts[0] === "cluster") return clusterView()
      if (method === "GET" && parts.length === 1 && parts[0] === "events") {
        const limit = intParam(q, "limit", 200)
        if (isHttpError(limit)) return yield* Effect.fail(limit)
        const n = Math.min(limit, EVENTS_KEPT)
        return { events: n === 0 ? [] : events.slice(-n).reverse() }
      }
      if (parts[0] !== "nodes" || parts.length < 3) return yield* Effect.fail({ status: 404, error: `no such API: ${method} /api/${parts.join("/")}` })
      const name = parts[1]!
      const n = yield* nodeFor(name)
      const ask = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Effect.mapError(asHttp(name)))
      if (method === "GET" && parts.length === 3 && parts[2] === "tree") {
        const tree = yield* ask(n.admin.ask(Admin.Protocol.Tree(), { timeout: "10 seconds" }))
        return { node: name, roots: tree.roots, ...(tree.more > 0 ? { more: tree.more } : {}) }
      }
      if (method === "GET" && parts.length === 3 && parts[2] === "actors") {
        const offset = intParam(q, "offset", 0)
        if (isHttpError(offset)) return yield* Effect.fail(offset)
        const limit = intParam(q, "limit", 100)
        if (isHttpError(limit)) return yield* Effect.fail(limit)
        const sort = (q.get("sort") || "actor") as ActorSort
        if (!SORTS.includes(sort)) return yield* Effect.fail({ status: 400, error: `sort must be one of ${SORTS.join(", ")}, got ${JSON.stringify(sort)}` })
        const dir = q.get("dir") || "asc"
        if (dir !== "asc" && dir !== "desc") return yield* Effect.fail({ status: 400, error: `dir must be asc or desc, got ${JSON.stringify(dir)}` })
        const page = yield* ask(n.admin.ask(Admin.Protocol.Actors({ offset, limit, sort, descending: dir === "desc", filter: q.get("filter") ?? "" }), { timeout: "10 seconds" }))
        return { node: name, ...page }
      }
      if (parts[2] !== "actors" || parts.length !== 5) return yield* Effect.fail({ status: 404, error: `no such API: ${method} /api/${parts.join("/")}` })
      const actor = parts[3]!
      const action = parts[4]
      if (method === "GET" && action === "protocol") {
        const p = yield* ask(n.admin.ask(Admin.Protocol.ActorProtocol({ actor }), { timeout: "5 seconds" }))
        return { protocol: p.protocol, messages: p.messages.map((m) => ({ tag: m.tag, kind: m.kind, schema: JSON.parse(m.schema) })) }
      }
      if (method === "POST" && (action === "stop" || action === "kill")) {
        yield* ask(n.admin.ask(Admin.Protocol.StopActor({ actor, kill: action === "kill" }), { timeout: "30 seconds" }))
        return { ok: true }
      }
      if (method === "POST" && action === "send") {
        const b = body as { tag?: unknown; payload?: unknown; timeoutMs?: unknown } | undefined
        if (typeof b !== "object" || b === null || typeof b.tag !== "string") {
          return yield* Effect.fail({ status: 400, error: `the body must be a JSON object { "tag": string, "payload": object }` })
        }
        const timeoutMillis = typeof b.timeoutMs === "number" && Number.isInteger(b.timeoutMs) && b.timeoutMs > 0 ? Math.min(b.timeoutMs, 60_000) : 5_000
        const sent = yield* ask(n.admin.ask(
          Admin.Protocol.SendTo({ actor, tag: b.tag, json: JSON.stringify(b.payload ?? {}), timeoutMillis }),
          { timeout: timeoutMillis + 5_000 }
        ))
        return sent.kind === "ask" ? { ok: true, reply: JSON.parse(sent.reply) } : { ok: true }
      }
      return yield* Effect.fail({ status: 404, error: `no such API: ${method} /api/${parts.join("/")}` })
    })

  // --- server-sent events --------------------------------------------------------------------
  interface Stream {
    send(event: string, data: unknown): void
    /** bytes written to it that its client has not read yet (queued in this process) */
    backlog(): number
    close(): void
    readonly mailbox: { readonly node: string; readonly actor: string } | undefined
  }
  const tick = Effect.gen(function*() {
    // judged once a tick, not per frame: one frame may be larger than the bound (the cluster view
    // of a large cluster), and a client that reads has a whole tick to take it
    for (const s of streams) if (s.backlog() > STREAM_BACKLOG_BYTES) s.close()
    if (streams.size === 0) return
    const view = clusterView()
    const rates = ratesView(view)
    for (const s of streams) {
      s.send("cluster", view)
      s.send("rates", rates)
    }
    yield* Effect.forEach(streams, (s) => {
      const m = s.mailbox
      const n = m !== undefined ? byName.get(m.node) : undefined
      if (m === undefined || n?.admin === undefined) return Effect.void
      return n.admin.ask(Admin.Protocol.ActorMailbox({ actor: m.actor }), { timeout: "2 seconds" }).pipe(
        Effect.tap((r) => Effect.sync(() => s.send("mailbox", { at: Date.now(), node: m.node, actor: m.actor, mailbox: r.mailbox, alive: r.alive }))),
        Effect.ignore
      )
    }, { concurrency: "unbounded", discard: true })
  })
  yield* every(pollMillis, tick)

  const openStream = (req: Http.IncomingMessage, res: Http.ServerResponse, q: URLSearchParams) => {
    let mailbox: Stream["mailbox"]
    const pair = q.get("actor")
    if (q.get("node") !== null && pair !== null) mailbox = { node: q.get("node")!, actor: pair }
    else if (pair !== null && pair.includes("/")) {
      const slash = pair.indexOf("/")
      mailbox = { node: pair.slice(0, slash), actor: pair.slice(slash + 1) }
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" })
    res.write(": telex observer\n\n")
    const stream: Stream = {
      send: (event, data) => {
        if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      },
      backlog: () => res.writableLength,
      close: () => {
        streams.delete(stream)
        res.destroy()
      },
      mailbox
    }
    streams.add(stream)
    stream.send("cluster", clusterView())
    req.on("close", () => streams.delete(stream))
  }

  // --- HTTP ----------------------------------------------------------------------------------
  const authorized = (req: Http.IncomingMessage, q: URLSearchParams): { ok: boolean; viaQuery: boolean } => {
    const same = (given: string | undefined | null) => {
      if (given === undefined || given === null) return false
      const b = Buffer.from(given)
      return b.length === tokenBytes.length && timingSafeEqual(b, tokenBytes)
    }
    if (same(q.get("token"))) return { ok: true, viaQuery: true }
    const auth = req.headers.authorization
    if (auth !== undefined && auth.startsWith("Bearer ") && same(auth.slice(7).trim())) return { ok: true, viaQuery: false }
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const [k, ...v] = part.trim().split("=")
      if (k === COOKIE && same(decodeURIComponent(v.join("=")))) return { ok: true, viaQuery: false }
    }
    return { ok: false, viaQuery: false }
  }

  const sendJson = (res: Http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
    res.end(text)
  }
  const sendFile = (res: Http.ServerResponse, path: string, headers?: Record<string, string>) => {
    let content: Buffer
    try {
      content = readFileSync(path)
    } catch {
      return sendJson(res, 404, { error: `no such file: ${path.slice(path.lastIndexOf("/") + 1)}` })
    }
    res.writeHead(200, { "content-type": typeOf(path), "cache-control": "no-cache", ...headers })
    res.end(content)
  }
  const pages = assetsDir()
  const uplot = uplotDir()
  const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

  const readBody = (req: Http.IncomingMessage): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const chunks: Array<Buffer> = []
      let size = 0
      req.on("data", (c: Buffer) => {
        size += c.length
        if (size > 1024 * 1024) {
          reject(new Error("the body is larger than 1 MiB"))
          req.destroy()
        } else chunks.push(c)
      })
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        if (text.trim().length === 0) return resolve(undefined)
        try {
          resolve(JSON.parse(text))
        } catch (e) {
          reject(new Error(`the body is not valid JSON: ${(e as Error).message}`))
        }
      })
      req.on("error", reject)
    })

  const handle = async (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const q = url.searchParams
    const auth = authorized(req, q)
    if (!auth.ok) {
      res.writeHead(401, { "content-type": "text/plain; charset=utf-8" })
      return res.end("401: this observer needs its access token (open the URL telex observe printed)\n")
    }
    const method = req.method ?? "GET"
    const path = url.pathname
    if (method === "GET" && (path === "/" || path === "/index.html")) {
      const index = join(pages, "index.html")
      const cookie = auth.viaQuery ? { "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` } : undefined
      if (!existsSync(index)) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", ...cookie })
        return res.end(PLACEHOLDER)
      }
      return sendFile(res, index, cookie)
    }
    if (method === "GET" && path.startsWith("/assets/")) {
      const rest = path.slice("/assets/".length).split("/").map((s) => decodeURIComponent(s))
      if (rest.length === 1 && FILE_NAME.test(rest[0]!)) return sendFile(res, join(pages, rest[0]!))
      if (rest.length === 2 && rest[0] === "uplot" && FILE_NAME.test(rest[1]!) && uplot !== undefined) return sendFile(res, join(uplot, rest[1]!))
      return sendJson(res, 404, { error: `no such asset: ${path}` })
    }
    if (method === "GET" && path === "/api/stream") return openStream(req, res, q)
    if (path.startsWith("/api/")) {
      let parts: Array<string>
      try {
        parts = path.slice("/api/".length).split("/").map((s) => decodeURIComponent(s))
      } catch {
        return sendJson(res, 400, { error: `bad URL encoding in ${path}` })
      }
      let body: unknown
      if (method === "POST") {
        try {
          body = await readBody(req)
        } catch (e) {
          return sendJson(res, 400, { error: (e as Error).message })
        }
      }
      const exit = await run(Effect.exit(api(method, parts, q, body)))
      if (Exit.isSuccess(exit)) return sendJson(res, 200, exit.value)
      const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
      if (failure !== undefined && failure._tag === "Fail") {
        const e = failure.error as HttpError
        return sendJson(res, e.status, { error: e.error, ...(e.reply !== undefined ? { reply: e.reply } : {}) })
      }
      return sendJson(res, 500, { error: "the observer failed on this request" })
    }
    return sendJson(res, 404, { error: `no such page: ${path}` })
  }

  const server = Http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendJson(res, 500, { error: describe(e) })
      else res.end()
    })
  })
  const port = yield* Effect.callback<number, ObserverError>((resume) => {
    server.once("error", (e) => resume(Effect.fail(new ObserverError({ message: `cannot serve the observer on 127.0.0.1:${options?.port ?? 0}: ${e.message}` }))))
    server.listen(options?.port ?? 0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
  })
  yield* Effect.addFinalizer(() =>
    Effect.callback<void>((resume) => {
      for (const s of streams) streams.delete(s)
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
  )
  const traffic = () =>
    client.linkStats().filter((l) => byName.has(l.name)).map((l) => ({ node: l.name, bytesOut: l.bytesOut, bytesIn: l.bytesIn }))
  return { port, token, url: `http://127.0.0.1:${port}/?token=${token}`, traffic } satisfies Observer
})
