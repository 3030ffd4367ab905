/**
 * The observer's server as real processes over real TCP: a 3-node cluster launched with
 * `telex start --observe` (test/fixtures/observer-app.ts: a supervised worker `crashy` on every
 * node, traffic from n1 to the others), and a separate `telex observe`. Requests without the
 * token get 401; the cluster view lists the three nodes and their links; a crash shows in the
 * tree's restart count and as an event; the actor table pages, sorts and filters; stop, kill
 * and send act on a node (an invalid payload gets the Schema's message, an unknown actor a
 * 404); the event stream delivers cluster frames.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { freePorts, killAll, STACK_FRAME, telex, type TelexProcess } from "./_process.ts"

const dir = mkdtempSync(join(tmpdir(), "telex-observer-test-"))
const SECRET = { TELEX_SECRET: "observer-test-secret-0123456789" }
const APP = fileURLToPath(new URL("../fixtures/observer-app.ts", import.meta.url))
const URL_LINE = /observer on (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+))/

let launcher: TelexProcess
let base = ""
let token = ""
let config = ""

interface Response {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  readonly json: any
}

const request = (method: string, path: string, options: { body?: unknown; token?: string | null; headers?: Record<string, string>; base?: string } = {}) =>
  new Promise<Response>((resolve, reject) => {
    const t = options.token === undefined ? token : options.token
    const req = Http.request(`${options.base ?? base}${path}`, {
      method,
      headers: {
        ...(t !== null ? { authorization: `Bearer ${t}` } : {}),
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...options.headers
      }
    }, (res) => {
      let text = ""
      res.setEncoding("utf8").on("data", (s: string) => (text += s)).on("end", () => {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
    })
    req.on("error", reject)
    if (options.body !== undefined) req.write(typeof options.body === "string" ? options.body : JSON.stringify(options.body))
    req.end()
  })

const get = (path: string) => request("GET", path)
const post = (path: string, body?: unknown) => request("POST", path, { body })

const waitUntil = async <A>(what: string, f: () => Promise<A | undefined>, timeoutMillis = 60_000): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const a = await f()
      if (a !== undefined) return a
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what} (${String(last)})\n${launcher.describe().slice(-4000)}`)
}

const findTree = (trees: ReadonlyArray<any>, pred: (t: any) => boolean): any => {
  for (const t of trees) {
    if (pred(t)) return t
    const found = findTree(t.children, pred)
    if (found !== undefined) return found
  }
  return undefined
}

const actorOf = async (node: string, name: string): Promise<string> => {
  const page = await get(`/api/nodes/${node}/actors?filter=${encodeURIComponent(name)}`)
  const row = page.json?.rows?.find((r: any) => r.name === name)
  if (row === undefined) throw new Error(`no actor ${name} on ${node}: ${page.text}`)
  return row.actor
}
const at = (node: string, actor: string, what: string) => `/api/nodes/${encodeURIComponent(node)}/actors/${encodeURIComponent(actor)}/${what}`

beforeAll(async () => {
  const [p1, p2, p3] = await freePorts(3)
  config = join(dir, "cluster.json")
  writeFileSync(config, JSON.stringify({
    cluster: "observer-test",
    app: APP,
    nodes: [
      { name: "n1", port: p1, run: ["pool", "traffic"] },
      { name: "n2", port: p2, run: ["pool"] },
      { name: "n3", port: p3, run: ["pool"] }
    ],
    heartbeat: { interval: "500ms", acceptablePause: "10s" },
    reconnect: { initial: "200ms", max: "1s" }
  }))
  launcher = telex(["start", config, "--observe"], { env: SECRET, cwd: dir })
  await launcher.waitFor("the observer's URL", (out) => URL_LINE.test(out), 150_000)
  const m = URL_LINE.exec(launcher.stdout)!
  base = `http://127.0.0.1:${m[2]}`
  token = m[3]!
  await launcher.waitFor("the cluster to form", (out) => out.includes("nodes up 3/3"), 150_000)
  // the observer started with the nodes: until it has reached each one, its requests are 502
  await waitUntil("the observer to reach every node", async () => {
    const v = (await get("/api/cluster")).json
    return v.nodes.every((n: any) => n.up) ? v : undefined
  }, 120_000)
}, 300_000)

afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

describe.concurrent("telex observe (server)", () => {
  it("refuses a request without the token with 401 and one line; takes the query, the bearer header or the page's cookie", async () => {
    for (const path of ["/", "/api/cluster", "/api/stream", "/assets/app.js", "/api/nodes/n1/tree"]) {
      const r = await request("GET", path, { token: null })
      assert.strictEqual(r.status, 401, path)
      assert.match(r.text, /^401[^\n]*\n$/)
    }
    assert.strictEqual((await request("GET", "/api/cluster", { token: "wrong" })).status, 401)
    assert.strictEqual((await request("POST", at("n1", "x", "kill"), { token: null })).status, 401)
    assert.strictEqual((await request("GET", `/api/cluster?token=${token}`, { token: null })).status, 200)
    // the page, loaded with ?token=, sets a cookie that the page's own requests carry
    const page = await request("GET", `/?token=${token}`, { token: null })
    assert.strictEqual(page.status, 200)
    assert.match(String(page.headers["content-type"]), /text\/html/)
    const cookie = String(page.headers["set-cookie"]).split(";")[0]!
    assert.match(cookie, /^telex_observer=/)
    assert.match(String(page.headers["set-cookie"]), /HttpOnly/)
    assert.strictEqual((await request("GET", "/api/cluster", { token: null, headers: { cookie } })).status, 200)
    assert.strictEqual((await request("GET", "/api/cluster", { token: null, headers: { cookie: "telex_observer=nope" } })).status, 401)
    // uPlot comes from the installed package
    const uplot = await get("/assets/uplot/uPlot.iife.min.js")
    assert.strictEqual(uplot.status, 200)
    assert.match(String(uplot.headers["content-type"]), /javascript/)
    assert.strictEqual((await get("/assets/..%2Fpackage.json")).status, 404)
  }, 60_000)

  it("the cluster view lists the three nodes and their three links, up, with traffic", async () => {
    const view = await waitUntil("three nodes and links up with traffic", async () => {
      const r = await get("/api/cluster")
      const v = r.json
      const ok = v.nodes.length === 3 && v.nodes.every((n: any) => n.up) && v.links.length === 3 &&
        v.links.every((l: any) => l.state === "up") &&
        v.links.some((l: any) => l.to === "n2" && l.msgsOutPerSec > 0 && l.bytesOutPerSec > 0 && l.bytesInPerSec > 0 && l.rttMs !== null)
      return ok ? v : undefined
    })
    assert.deepStrictEqual(view.nodes.map((n: any) => n.node), ["n1", "n2", "n3"])
    assert.deepStrictEqual(view.links.map((l: any) => `${l.from}-${l.to}`), ["n1-n2", "n1-n3", "n2-n3"])
    for (const n of view.nodes) {
      assert.isNumber(n.incarnation)
      assert.isAbove(n.actors, 3)
      assert.isAbove(n.rssBytes, 0)
      assert.isAbove(n.uptimeMs, 0)
      assert.isAtLeast(n.eventLoopDelayMs, 0)
      assert.match(n.address, /^127\.0\.0\.1:\d+$/)
    }
    const n1n2 = view.links.find((l: any) => l.to === "n2")
    assert.isAbove(n1n2.bytesOutPerSec, 0)
    assert.isAbove(n1n2.bytesInPerSec, 0)
    // the observer's own client node is not a link of the cluster
    assert.isTrue(view.links.every((l: any) => !/observe/.test(l.from + l.to)))
  }, 90_000)

  it("a crash shows in the tree's restart count and as a Restart event", async () => {
    const crashy = await waitUntil("crashy on n3", () => actorOf("n3", "crashy"))
    const sent = await post(at("n3", crashy, "send"), { tag: "Crash", payload: {} })
    assert.strictEqual(sent.status, 200, sent.text)
    assert.deepStrictEqual(sent.json, { ok: true })
    const worker = await waitUntil("crashy restarted in n3's tree", async () => {
      const tree = (await get("/api/nodes/n3/tree")).json
      const w = findTree(tree.roots, (t) => t.child === "crashy")
      return w !== undefined && w.restarts >= 1 && w.state === "running" ? { tree, w } : undefined
    })
    assert.strictEqual(worker.tree.node, "n3")
    assert.strictEqual(worker.w.name, "crashy")
    assert.strictEqual(worker.w.restartType, "permanent")
    assert.strictEqual(worker.w.kind, "worker")
    assert.notStrictEqual(worker.w.actor, crashy)
    const pool = findTree(worker.tree.roots, (t) => t.child === "pool")
    assert.strictEqual(pool.kind, "supervisor")
    assert.strictEqual(pool.strategy, "one-for-one")
    assert.strictEqual(pool.intensity.max, 100)
    assert.strictEqual(pool.intensity.withinMs, 10_000)
    assert.isAtLeast(pool.intensity.recent, 1)
    const event = await waitUntil("the restart event", async () => {
      const events = (await get("/api/events?limit=1000")).json.events
      return events.find((e: any) => e.kind === "Restart" && e.node === "n3" && e.actor === worker.w.actor)
    })
    assert.include(event.reason, "crashed on request")
    assert.isNumber(event.id)
    // newest first
    const events = (await get("/api/events?limit=50")).json.events
    assert.isAtMost(events.length, 50)
    for (let i = 1; i < events.length; i++) assert.isAbove(events[i - 1].id, events[i].id)
  }, 90_000)

  it("the actor table pages, sorts and filters on the node", async () => {
    const all = (await get("/api/nodes/n2/actors?limit=2&sort=actor&dir=asc")).json
    assert.strictEqual(all.node, "n2")
    assert.isAbove(all.total, 3)
    assert.strictEqual(all.rows.length, 2)
    assert.strictEqual(all.offset, 0)
    const next = (await get("/api/nodes/n2/actors?offset=2&limit=2&sort=actor&dir=asc")).json
    assert.strictEqual(next.offset, 2)
    assert.notInclude(all.rows.map((r: any) => r.actor), next.rows[0].actor)
    const byName = (await get("/api/nodes/n2/actors?sort=name&dir=desc&limit=100")).json
    const names = byName.rows.filter((r: any) => r.name !== undefined).map((r: any) => r.name)
    assert.deepStrictEqual(names, [...names].sort().reverse())
    const filtered = (await get("/api/nodes/n2/actors?filter=CRASHY")).json
    assert.strictEqual(filtered.total, 1)
    const row = filtered.rows[0]
    assert.strictEqual(row.protocol, "ObsWorker")
    assert.strictEqual(row.capacity, 4096)
    assert.strictEqual(row.policy, "backpressure")
    // n1 tells n2's crashy every 100 ms: its rate shows once two reads are apart
    const rated = await waitUntil("crashy's message rate", async () => {
      const r = (await get("/api/nodes/n2/actors?sort=msgsPerSec&dir=desc&limit=1")).json.rows[0]
      return r.name === "crashy" && r.msgsPerSec > 0 ? r : undefined
    })
    assert.isBelow(rated.msgsPerSec, 1000)
    const bad = await get("/api/nodes/n2/actors?sort=size")
    assert.strictEqual(bad.status, 400)
    assert.match(bad.json.error, /sort must be one of/)
    assert.strictEqual((await get("/api/nodes/n2/actors?limit=-1")).status, 400)
    assert.strictEqual((await get("/api/nodes/nine/actors")).status, 404)
  }, 90_000)

  it("the protocol as JSON Schema; send: tell, ask with its reply, the Schema's message for an invalid payload, 404 for an unknown actor", async () => {
    const crashy = await waitUntil("crashy on n1", () => actorOf("n1", "crashy"))
    const protocol = (await get(at("n1", crashy, "protocol"))).json
    assert.strictEqual(protocol.protocol, "ObsWorker")
    assert.deepStrictEqual(protocol.messages.map((m: any) => [m.tag, m.kind]), [["Add", "tell"], ["Get", "ask"], ["Crash", "tell"]])
    assert.strictEqual(protocol.messages[0].schema.properties.by.type, "integer")
    assert.deepStrictEqual(protocol.messages[0].schema.required, ["by"])

    const before = (await post(at("n1", crashy, "send"), { tag: "Get", payload: {} })).json
    assert.strictEqual(before.ok, true)
    assert.deepStrictEqual(await post(at("n1", crashy, "send"), { tag: "Add", payload: { by: 5 } }).then((r) => r.json), { ok: true })
    const after = (await post(at("n1", crashy, "send"), { tag: "Get", payload: {} })).json
    assert.strictEqual(after.reply.count, before.reply.count + 5)

    const invalid = await post(at("n1", crashy, "send"), { tag: "Add", payload: { by: -3 } })
    assert.strictEqual(invalid.status, 400)
    assert.match(invalid.json.error, /invalid ObsWorker\.Add: Expected a value greater than 0 at \["by"\]/)
    const wrongType = await post(at("n1", crashy, "send"), { tag: "Add", payload: { by: "x" } })
    assert.strictEqual(wrongType.status, 400)
    assert.match(wrongType.json.error, /Expected/)
    const unknownTag = await post(at("n1", crashy, "send"), { tag: "Nope", payload: {} })
    assert.strictEqual(unknownTag.status, 400)
    assert.match(unknownTag.json.error, /has no message "Nope"/)
    const noBody = await request("POST", at("n1", crashy, "send"), { body: "{not json" })
    assert.strictEqual(noBody.status, 400)

    const unknown = await post(at("n1", `${crashy}999`, "send"), { tag: "Get", payload: {} })
    assert.strictEqual(unknown.status, 404)
    assert.match(unknown.json.error, /no live actor .* on node n1/)
    assert.strictEqual((await get(at("n1", "nobody/1", "protocol"))).status, 404)
  }, 90_000)

  it("stop and kill act on the node; the node's own actors are refused with 409; an unknown actor is 404", async () => {
    const admin = (await get("/api/nodes/n2/actors?filter=telex/admin")).json.rows[0].actor
    const refused = await post(at("n2", admin, "kill"))
    assert.strictEqual(refused.status, 409)
    assert.match(refused.json.error, /telex\/admin/)

    const first = await waitUntil("crashy on n2", () => actorOf("n2", "crashy"))
    const stopped = await post(at("n2", first, "stop"))
    assert.strictEqual(stopped.status, 200, stopped.text)
    assert.deepStrictEqual(stopped.json, { ok: true })
    // gone: the same address is 404 now, and its supervisor started a new one (stop is Shutdown: permanent restarts it)
    assert.strictEqual((await post(at("n2", first, "stop"))).status, 404)
    const second = await waitUntil("a new crashy on n2", async () => {
      const a = await actorOf("n2", "crashy")
      return a !== first ? a : undefined
    })
    const killed = await post(at("n2", second, "kill"))
    assert.strictEqual(killed.status, 200, killed.text)
    const event = await waitUntil("the kill's restart event", async () =>
      (await get("/api/events?limit=1000")).json.events.find((e: any) => e.kind === "Restart" && e.node === "n2" && e.reason === "killed"))
    assert.include(event.text, "crashy restarted")
    assert.strictEqual((await post(at("n2", second, "kill"))).status, 404)
  }, 90_000)

  it("the event stream: a cluster frame at once, then cluster and rates every second; mailbox frames for a chosen actor", async () => {
    const crashy = await waitUntil("crashy on n2", () => actorOf("n2", "crashy"))
    const frames = await new Promise<Array<{ event: string; data: any }>>((resolve, reject) => {
      const got: Array<{ event: string; data: any }> = []
      const req = Http.get(`${base}/api/stream?actor=${encodeURIComponent(`n2/${crashy}`)}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        assert.strictEqual(res.statusCode, 200)
        assert.match(String(res.headers["content-type"]), /text\/event-stream/)
        let buffer = ""
        res.setEncoding("utf8").on("data", (s: string) => {
          buffer += s
          let end: number
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const event = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            if (event !== undefined && data !== undefined) got.push({ event, data: JSON.parse(data) })
          }
          const count = (e: string) => got.filter((f) => f.event === e).length
          if (count("cluster") >= 3 && count("rates") >= 2 && count("mailbox") >= 2) {
            req.destroy()
            resolve(got)
          }
        })
      })
      req.on("error", (e) => (e.message.includes("aborted") ? undefined : reject(e)))
      setTimeout(() => reject(new Error(`not enough frames: ${JSON.stringify(got.map((f) => f.event))}`)), 30_000)
    })
    assert.strictEqual(frames[0]!.event, "cluster")
    const cluster = frames.find((f) => f.event === "cluster")!.data
    assert.deepStrictEqual(cluster.nodes.map((n: any) => n.node), ["n1", "n2", "n3"])
    const rates = frames.find((f) => f.event === "rates")!.data
    assert.deepStrictEqual(Object.keys(rates.nodes).sort(), ["n1", "n2", "n3"])
    assert.includeMembers(Object.keys(rates.links), ["n1->n2", "n2->n1", "n1->n3", "n3->n1", "n2->n3", "n3->n2"])
    const mailbox = frames.find((f) => f.event === "mailbox")!.data
    assert.strictEqual(mailbox.node, "n2")
    assert.strictEqual(mailbox.actor, crashy)
    assert.isNumber(mailbox.mailbox)
  }, 60_000)

  it("telex observe on a port in use: one line saying so, exit 1", async () => {
    const busy = Net.createServer()
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", () => resolve()))
    const port = (busy.address() as Net.AddressInfo).port
    try {
      const r = await telex(["observe", config, "--port", String(port)], { env: SECRET, cwd: dir }).result(60_000)
      assert.strictEqual(r.code, 1, r.stderr)
      assert.match(r.stderr.trim(), new RegExp(`^telex: cannot serve the observer on 127\\.0\\.0\\.1:${port}: [^\\n]+$`))
      assert.notMatch(r.stderr, STACK_FRAME)
      assert.strictEqual(r.stdout, "")
    } finally {
      busy.close()
    }
  }, 90_000)

  it("telex observe: a separate process prints its URL and serves the same cluster", async () => {
    const observer = telex(["observe", config], { env: SECRET, cwd: dir })
    try {
      await observer.waitFor("its URL", (out) => URL_LINE.test(out), 60_000)
      const m = URL_LINE.exec(observer.stdout)!
      const other = `http://127.0.0.1:${m[2]}`
      assert.notStrictEqual(m[3], token)
      assert.strictEqual((await request("GET", "/api/cluster", { base: other })).status, 401)
      const view = await waitUntil("the three nodes through telex observe", async () => {
        const v = (await request("GET", "/api/cluster", { base: other, token: m[3]! })).json
        return v.nodes.every((n: any) => n.up) && v.links.every((l: any) => l.state === "up") ? v : undefined
      })
      assert.strictEqual(view.nodes.length, 3)
      observer.signal("SIGINT")
      const r = await observer.result(30_000)
      assert.strictEqual(r.code, 0, observer.describe())
    } finally {
      observer.killGroup()
    }
  }, 120_000)
})

// after the tests above: it kills a node
describe("telex observe (server): a node that dies", () => {
  it("shows as NodeDown, then NodeUp with a new incarnation once the launcher has restarted it; its events are read again", async () => {
    const before = (await get("/api/cluster")).json.nodes.find((n: any) => n.node === "n3")
    assert.isTrue(before.up)
    assert.isNumber(before.pid)
    const lastId = Math.max(0, ...(await get("/api/events?limit=2000")).json.events.map((e: any) => e.id))
    process.kill(before.pid, "SIGKILL")
    const after = await waitUntil("n3 back with a new incarnation", async () => {
      const n3 = (await get("/api/cluster")).json.nodes.find((n: any) => n.node === "n3")
      return n3.up && n3.incarnation !== before.incarnation ? n3 : undefined
    }, 120_000)
    assert.notStrictEqual(after.pid, before.pid)
    const events = (await get("/api/events?limit=2000")).json.events.filter((e: any) => e.id > lastId).reverse()
    const down = events.findIndex((e: any) => e.kind === "NodeDown" && e.node === "n3")
    const up = events.findIndex((e: any) => e.kind === "NodeUp" && e.node === "n3")
    assert.isAtLeast(down, 0, JSON.stringify(events))
    assert.isAbove(up, down, JSON.stringify(events))
    assert.include(events[up].text, String(after.incarnation))
    // the other nodes saw their links to n3 go down
    assert.isTrue(events.some((e: any) => e.kind === "LinkDown" && e.peer === "n3"), JSON.stringify(events))
    // the new n3 answers for its actors
    const crashy = await waitUntil("crashy on the new n3", () => actorOf("n3", "crashy"))
    assert.include(crashy, `#${after.incarnation}/`)
  }, 150_000)
})
