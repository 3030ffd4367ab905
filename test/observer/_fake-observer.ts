/**
 * A stand-in for the observer's HTTP API with made-up, moving data: the page's own files, the
 * JSON endpoints and the event stream, shaped as docs/observer.md describes them. It lets the
 * page be looked at (and tested) at sizes a test machine cannot run for real: `nodes` nodes with
 * `actorsPerNode` actors each. Run it by hand with `node test/observer/_fake-observer.ts [port] [nodes] [actors]`.
 */
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { extname, join } from "node:path"
import { fileURLToPath } from "node:url"

const WEB = fileURLToPath(new URL("../../src/cluster/observer-web/", import.meta.url))
const UPLOT = fileURLToPath(new URL("../../node_modules/uplot/dist/", import.meta.url))
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" }

export interface FakeOptions {
  readonly nodes?: number
  readonly actorsPerNode?: number
  readonly token?: string
}

export const startFake = async (port: number, options: FakeOptions = {}) => {
  const token = options.token ?? "fake-token"
  const names = Array.from({ length: options.nodes ?? 3 }, (_, i) => `n${i + 1}`)
  const actorsPerNode = options.actorsPerNode ?? 40
  const started = Date.now()
  const down = new Set<string>() // "a|b" pairs
  const restarts = new Map<string, number>()
  const events: Array<any> = []
  let seq = 0
  const clients = new Set<Http.ServerResponse>()

  const pushEvent = (e: any) => {
    const ev = { id: ++seq, at: Date.now(), ...e }
    events.unshift(ev)
    if (events.length > 1000) events.pop()
    for (const c of clients) c.write(`event: event\ndata: ${JSON.stringify(ev)}\n\n`)
  }
  for (const n of names) pushEvent({ node: n, kind: "NodeUp", text: `${n} is up` })

  const linkState = (a: string, b: string) => (down.has([a, b].sort().join("|")) ? "down" : "up")
  const wave = (i: number) => Math.round(200 + 150 * Math.sin(Date.now() / 5000 + i))
  const cluster = () => ({
    at: Date.now(),
    nodes: names.map((node, i) => ({
      node,
      incarnation: 1733230000000 + i,
      address: `127.0.0.1:${7001 + i}`,
      up: true,
      uptimeMs: Date.now() - started + 3_600_000,
      actors: actorsPerNode + 12,
      rssBytes: (140 + i * 3) * 1024 * 1024,
      eventLoopDelayMs: 0.8 + (i % 3) * 0.4,
      eventLoopDelayP99Ms: 2.5 + (i % 3),
      msgsPerSec: wave(i) * 2,
      cpuPercent: 3 + (i % 4) * 1.5
    })),
    links: names.flatMap((from, i) =>
      names.slice(i + 1).map((to, j) => {
        const state = linkState(from, to)
        const r = state === "up" ? wave(i + j) : 0
        return { from, to, state, rttMs: state === "up" ? 0.3 + j * 0.05 : null, bytesOutPerSec: r * 110, bytesInPerSec: r * 95, msgsOutPerSec: r, msgsInPerSec: Math.round(r * 0.9), gaps: j === 1 ? 2 : 0 }
      })
    )
  })
  const worker = (node: string, i: number) => {
    const actor = `Worker@${node}#${1000 + i}`
    const r = restarts.get(actor) ?? 0
    return {
      actor, name: `worker-${i}`, protocol: "Worker", kind: "worker", child: `worker-${i}`, restartType: "permanent",
      state: i === 2 && r > 0 ? "backoff" : "running", ...(i === 2 && r > 0 ? { backoffLeftMs: 420 } : {}), restarts: r, mailbox: i * 3, children: []
    }
  }
  const tree = (node: string) => ({
    node,
    roots: [
      {
        actor: `telex/Supervisor@${node}#1`, name: "root", protocol: "telex/Supervisor", kind: "supervisor", strategy: "one-for-one", state: "running", restarts: 0,
        intensity: { max: 10, withinMs: 10_000, recent: 1 }, mailbox: 0,
        children: [
          {
            actor: `telex/Supervisor@${node}#2`, name: "workers", protocol: "telex/Supervisor", kind: "supervisor", child: "workers", strategy: "one-for-one",
            restartType: "permanent", state: "running", restarts: 0,
            intensity: { max: 5, withinMs: 10_000, recent: [...restarts.values()].reduce((a, b) => a + b, 0) % 6 }, mailbox: 0,
            children: [1, 2, 3].map((i) => worker(node, i))
          },
          { actor: `JobQueue@${node}#7`, name: "jobs", protocol: "JobQueue", kind: "worker", child: "jobs", restartType: "permanent", state: "running", restarts: 0, mailbox: 12, children: [] }
        ]
      },
      {
        actor: `telex/Supervisor@${node}#3`, name: "services", protocol: "telex/Supervisor", kind: "supervisor", strategy: "one-for-one", state: "running", restarts: 0,
        intensity: { max: 1000, withinMs: 1000, recent: 0 }, mailbox: 0,
        children: names.filter((n) => n !== node).map((peer, i) => ({
          actor: `telex/Link@${node}#${20 + i}`, protocol: "telex/Link", kind: "worker", child: `link:${peer}`, restartType: "permanent", state: "running", restarts: 0, mailbox: 0, children: []
        }))
      }
    ]
  })
  const actorRow = (node: string, i: number) => ({
    actor: `Counter@${node}#${100000 + i}`, ...(i % 7 === 0 ? { name: `counter-${i}` } : {}), protocol: i % 3 === 0 ? "Counter" : "Session",
    mailbox: (i * 37) % 90, capacity: i % 5 === 0 ? null : 4096, msgsPerSec: (i * 13) % 50, policy: i % 4 === 0 ? "dropNewest" : "backpressure"
  })
  // a node's rows in the order asked, kept per (node, sort, filter): the page asks for the same order every second
  const orders = new Map<string, Array<number>>()
  const ordered = (node: string, sort: string, dir: number, filter: string) => {
    const key = `${node}|${sort}|${dir}|${filter}`
    let ids = orders.get(key)
    if (ids === undefined) {
      ids = Array.from({ length: actorsPerNode }, (_, i) => i)
      if (filter !== "") ids = ids.filter((i) => JSON.stringify(actorRow(node, i)).toLowerCase().includes(filter))
      if (sort !== "actor" || dir === -1) {
        const keyed = ids.map((i) => [(actorRow(node, i) as any)[sort] ?? "", i] as const)
        keyed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0) * dir)
        ids = keyed.map(([, i]) => i)
      }
      orders.set(key, ids)
    }
    return ids
  }
  const actors = (node: string, q: URLSearchParams) => {
    const offset = Number(q.get("offset") ?? 0), limit = Math.min(500, Number(q.get("limit") ?? 100))
    const ids = ordered(node, q.get("sort") ?? "actor", q.get("dir") === "desc" ? -1 : 1, (q.get("filter") ?? "").toLowerCase())
    return { node, total: ids.length, offset, rows: ids.slice(offset, offset + limit).map((i) => actorRow(node, i)) }
  }
  const protocol = {
    protocol: "Counter",
    messages: [
      { tag: "Increment", kind: "tell", schema: { type: "object", properties: { _tag: { const: "Increment" }, by: { type: "integer", description: "how much" } }, required: ["_tag", "by"] } },
      { tag: "Get", kind: "ask", schema: { type: "object", properties: {}, required: [] } },
      { tag: "Configure", kind: "tell", schema: { type: "object", properties: { mode: { anyOf: [{ const: "fast" }, { const: "safe" }] }, label: { type: "string" }, verbose: { type: "boolean" }, tags: { type: "array", items: { type: "string" } } }, required: ["mode"] } }
    ]
  }

  const authorised = (req: Http.IncomingMessage, url: URL) =>
    url.searchParams.get("token") === token || req.headers.authorization === `Bearer ${token}` ||
    (req.headers.cookie ?? "").split(/;\s*/).includes(`telex_observer=${token}`)

  const json = (res: Http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" })
    res.end(JSON.stringify(body))
  }

  const server = Http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    if (!authorised(req, url)) return json(res, 401, { error: "unauthorised" })
    const path = url.pathname
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html", "set-cookie": `telex_observer=${token}; HttpOnly; SameSite=Strict; Path=/` })
      return res.end(readFileSync(join(WEB, "index.html")))
    }
    const asset = /^\/assets\/(uplot\/)?([\w.-]+)$/.exec(path)
    if (asset) {
      try {
        const body = readFileSync(join(asset[1] ? UPLOT : WEB, asset[2]!))
        res.writeHead(200, { "content-type": TYPES[extname(asset[2]!)] ?? "application/octet-stream" })
        return res.end(body)
      } catch {
        return json(res, 404, { error: "no such file" })
      }
    }
    if (path === "/api/cluster") return json(res, 200, cluster())
    if (path === "/api/events") return json(res, 200, { events: events.slice(0, Number(url.searchParams.get("limit") ?? 200)) })
    if (path === "/api/stream") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
      clients.add(res)
      const actor = url.searchParams.get("actor")
      const tick = () => {
        const c = cluster()
        res.write(`event: cluster\ndata: ${JSON.stringify(c)}\n\n`)
        const rates = { at: Date.now(), nodes: Object.fromEntries(names.map((n, i) => [n, wave(i) * 2])), links: Object.fromEntries(c.links.flatMap((l) => [[`${l.from}->${l.to}`, l.msgsOutPerSec], [`${l.to}->${l.from}`, l.msgsInPerSec]])) }
        res.write(`event: rates\ndata: ${JSON.stringify(rates)}\n\n`)
        if (actor !== null) {
          const slash = actor.indexOf("/")
          res.write(`event: mailbox\ndata: ${JSON.stringify({ at: Date.now(), node: actor.slice(0, slash), actor: actor.slice(slash + 1), mailbox: Math.round(40 + 35 * Math.sin(Date.now() / 3000)), alive: true })}\n\n`)
        }
      }
      tick()
      const timer = setInterval(tick, 1000)
      req.on("close", () => {
        clearInterval(timer)
        clients.delete(res)
      })
      return
    }
    const m = /^\/api\/nodes\/([^/]+)(?:\/(tree|actors)(?:\/([^/]+)\/(protocol|stop|kill|send))?)?$/.exec(path)
    if (m) {
      const node = decodeURIComponent(m[1]!)
      if (!names.includes(node)) return json(res, 404, { error: `no node ${node}` })
      if (m[2] === "tree") return json(res, 200, tree(node))
      if (m[2] === "actors" && m[3] === undefined) return json(res, 200, actors(node, url.searchParams))
      if (m[4] === "protocol") return json(res, 200, protocol)
      if (req.method === "POST") {
        let body = ""
        req.on("data", (c) => (body += c))
        req.on("end", () => {
          const actor = decodeURIComponent(m[3]!)
          if (m[4] === "send") {
            const { tag, payload } = JSON.parse(body || "{}")
            if (tag === "Increment" && !Number.isInteger(payload?.by)) return json(res, 400, { error: `Expected an integer, got ${JSON.stringify(payload?.by)}\n  at ["by"]` })
            return json(res, 200, tag === "Get" ? { ok: true, reply: 42 } : { ok: true })
          }
          restarts.set(actor, (restarts.get(actor) ?? 0) + 1)
          pushEvent({ node, kind: "Restart", text: `${actor} restarted (${m[4]})`, actor, reason: m[4] === "kill" ? "Killed" : "Shutdown" })
          json(res, 200, { ok: true })
        })
        return
      }
    }
    json(res, 404, { error: "not found" })
  })

  // some movement: a worker crashes now and then, a link goes down and comes back, dead letters
  const timers = [
    setInterval(() => {
      const node = names[Math.floor(Math.random() * names.length)]!
      const i = 1 + Math.floor(Math.random() * 3)
      const actor = `Worker@${node}#${1000 + i}`
      restarts.set(actor, (restarts.get(actor) ?? 0) + 1)
      pushEvent({ node, kind: "Restart", text: `worker-${i} restarted by workers`, actor, reason: "Error: job 17 failed" })
    }, 4000),
    setInterval(() => {
      pushEvent({ node: names[0], kind: "DeadLetter", text: "Ping to a stopped actor", actor: `Pinger@${names[0]}#9`, reason: "NoProc" })
    }, 2500),
    setInterval(() => {
      const [a, b] = [names[0]!, names[names.length - 1]!]
      const key = [a, b].sort().join("|")
      if (down.has(key)) {
        down.delete(key)
        pushEvent({ node: a, kind: "LinkUp", text: `link to ${b} up`, peer: b })
      } else {
        down.add(key)
        pushEvent({ node: a, kind: "Partition", text: `no heartbeat from ${b}`, peer: b })
        pushEvent({ node: a, kind: "LinkDown", text: `link to ${b} down`, peer: b, reason: "heartbeat deadline" })
      }
    }, 7000)
  ]
  pushEvent({ node: names[1], kind: "LinkGap", text: `gap of 3 frames from ${names[0]}`, peer: names[0] })

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  const address = server.address() as import("node:net").AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}/?token=${token}`,
    port: address.port,
    close: () => {
      for (const t of timers) clearInterval(t)
      for (const c of clients) c.end()
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

if (import.meta.main) {
  const [port, nodes, actors] = process.argv.slice(2).map(Number)
  const fake = await startFake(port || 8099, { nodes: nodes || 3, actorsPerNode: actors || 40 })
  console.log(fake.url)
}
