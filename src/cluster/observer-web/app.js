// The Telex observer page: one live stream (server-sent events) for the cluster, rates and events,
// and small JSON requests for what only one view needs (a node's supervision tree, one page of a
// node's actors, an actor's protocol). Nothing here fetches every actor of a node.
import uPlot from "./uplot/uPlot.esm.js"
import { buildForm, readForm } from "./schema-form.js"

// ---------------------------------------------------------------------------------------------
// requests

const token = new URLSearchParams(location.search).get("token")

class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

/** A JSON request to the observer; the token travels as a header when the page has one (else the cookie does). */
const api = async (path, init = {}) => {
  const headers = { accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}) }
  if (token) headers.authorization = `Bearer ${token}`
  const res = await fetch(path, { ...init, headers: { ...headers, ...init.headers } })
  let body = null
  try {
    body = await res.json()
  } catch {
    // not JSON: the status says enough
  }
  if (res.status === 401) showBanner("Not authorised: open the URL telex observe printed, with its token.")
  if (!res.ok) {
    const error = new ApiError(res.status, body?.error ?? `HTTP ${res.status}`)
    if (body && "reply" in body) error.reply = body.reply
    throw error
  }
  return body
}

const enc = encodeURIComponent
const actorPath = (node, actor) => `api/nodes/${enc(node)}/actors/${enc(actor)}`

// ---------------------------------------------------------------------------------------------
// state

const EVENT_KINDS = ["NodeUp", "NodeDown", "LinkUp", "LinkDown", "LinkGap", "Partition", "Restart", "GiveUp", "DeadLetter"]
const MAX_EVENTS = 1000
const MAX_POINTS = 300 // five minutes of 1 s samples
const TREE_CHILDREN_SHOWN = 200
const TREE_OPEN_UP_TO = 50 // a supervisor with more children starts collapsed

const state = {
  view: "cluster",
  cluster: null,
  nodeNames: [],
  treeNode: null,
  tree: null,
  treeToggled: new Set(), // supervisors whose default open/closed state the user flipped
  actors: { node: null, offset: 0, limit: 100, sort: "name", dir: "asc", filter: "", data: null, seq: 0 },
  events: [],
  eventIds: new Set(),
  eventKinds: new Set(EVENT_KINDS),
  eventNode: "",
  eventFilter: "",
  unseen: 0,
  rates: { t: [], nodes: new Map(), links: new Map() },
  linksOf: "",
  selected: null, // { node, actor, name?, protocol? }
  mailbox: { t: [], v: [] },
  protocol: null
}

// ---------------------------------------------------------------------------------------------
// helpers

const $ = (id) => document.getElementById(id)

/**
 * Markup an element was last given. A re-render that would give the same markup keeps the element's
 * nodes: a row replaced between a user's mouse down and up gets no click, and a hover or a text
 * selection on it is lost.
 */
const lastMarkup = new WeakMap()
const setHTML = (el, html) => {
  if (lastMarkup.get(el) === html) return
  lastMarkup.set(el, html)
  el.innerHTML = html
}
/** Sets a table body to `rows` (one `<tr>` each), replacing only the rows whose markup changed. */
const setRows = (body, rows) => {
  const prev = lastMarkup.get(body)
  if (!Array.isArray(prev) || prev.length !== body.rows.length) {
    lastMarkup.set(body, rows)
    body.innerHTML = rows.join("")
    return
  }
  const parse = document.createElement("tbody")
  for (let i = 0; i < rows.length; i++) {
    if (i < prev.length && prev[i] === rows[i]) continue
    parse.innerHTML = rows[i]
    const row = parse.querySelector("tr")
    if (i < prev.length) body.rows[i].replaceWith(row)
    else body.appendChild(row)
  }
  while (body.rows.length > rows.length) body.rows[body.rows.length - 1].remove()
  lastMarkup.set(body, rows)
}
const esc = (v) =>
  String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c])

const num = (n, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? "—" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits })
const compact = (n) => Number(n ?? 0).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 })
const rate = (n) => (n === null || n === undefined ? "—" : n >= 100 ? num(n) : num(n, 1))
const bytes = (n) => {
  if (n === null || n === undefined) return "—"
  const units = ["B", "KiB", "MiB", "GiB"]
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${i === 0 ? num(n) : num(n, 1)} ${units[i]}`
}
const ms = (n) => (n === null || n === undefined ? "—" : n < 10 ? `${num(n, 2)} ms` : `${num(n)} ms`)
const duration = (millis) => {
  if (millis === null || millis === undefined) return "—"
  const s = Math.floor(millis / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} m`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}
const clock = (at) => {
  const d = new Date(at)
  return Number.isNaN(d.getTime())
    ? esc(at)
    : `${d.toLocaleTimeString("en-GB", { hour12: false })}.${String(d.getMilliseconds()).padStart(3, "0")}`
}

const natural = (a, b) => String(a).localeCompare(String(b), "en", { numeric: true })

const showBanner = (text) => {
  const b = $("banner")
  b.textContent = text
  b.hidden = false
}
const hideBanner = () => {
  $("banner").hidden = true
}

/** Coalesces renders to one per frame (or per 100 ms: a tab in the background gets no frames, a window beside it may). */
const dirty = new Set()
let scheduled = false
const invalidate = (...what) => {
  for (const w of what) dirty.add(w)
  if (scheduled) return
  scheduled = true
  requestAnimationFrame(flush)
  setTimeout(flush, 100)
}
const renderers = {}
function flush() {
  if (!scheduled) return
  scheduled = false
  const todo = [...dirty]
  dirty.clear()
  for (const w of todo) renderers[w]?.()
}

// ---------------------------------------------------------------------------------------------
// views and tabs

const VIEWS = ["cluster", "supervision", "actors", "events", "charts"]

const showView = (view) => {
  if (!VIEWS.includes(view)) view = "cluster"
  state.view = view
  for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.view === view))
  for (const s of document.querySelectorAll("main .view")) s.hidden = s.dataset.view !== view
  history.replaceState(null, "", `${location.pathname}${location.search}#${view}`)
  if (view === "events") {
    state.unseen = 0
    invalidate("unseen", "events")
  }
  if (view === "supervision") {
    invalidate("treeNodes", "tree")
    refreshTree()
  }
  if (view === "actors") {
    invalidate("actors")
    refreshActors()
  }
  if (view === "charts") invalidate("charts")
}

for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showView(b.dataset.view))
window.addEventListener("hashchange", () => showView(location.hash.slice(1)))

// ---------------------------------------------------------------------------------------------
// the cluster: summary, map, node cards, links

const onCluster = (cluster) => {
  state.cluster = cluster
  const names = cluster.nodes.map((n) => n.node)
  if (names.join("\n") !== state.nodeNames.join("\n")) {
    state.nodeNames = names
    invalidate("nodeSelects")
  }
  invalidate("summary", "map", "nodeCards", "links", "treeNodes")
}

renderers.summary = () => {
  const c = state.cluster
  if (!c) return
  const up = c.nodes.filter((n) => n.up).length
  const linksUp = c.links.filter((l) => l.state === "up").length
  const down = c.links.filter((l) => l.state === "down").length
  const actors = c.nodes.reduce((s, n) => s + (n.actors ?? 0), 0)
  setHTML($("summary"), [
    `<span class="pill${up < c.nodes.length ? " bad" : ""}"><b>${up}</b>/${c.nodes.length} nodes up</span>`,
    `<span class="pill"><b>${linksUp}</b>/${c.links.length} links up</span>`,
    down > 0 ? `<span class="pill bad"><b>${down}</b> link${down === 1 ? "" : "s"} down</span>` : "",
    `<span class="pill"><b>${num(actors)}</b> actors</span>`
  ].join(""))
}

const STATE_RANK = { up: 0, connecting: 1, down: 2 }

renderers.map = () => {
  const c = state.cluster
  if (!c) return
  const n = c.nodes.length
  const cx = 200, cy = 200, R = n <= 1 ? 0 : n > 10 ? 170 : 150
  const r = n > 10 ? 16 : n > 6 ? 22 : 28
  const pos = new Map(c.nodes.map((node, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1)
    return [node.node, [cx + R * Math.cos(a), cy + R * Math.sin(a)]]
  }))
  // one line per pair of nodes, in the worse of the two sides' states
  const pairs = new Map()
  for (const l of c.links) {
    if (!pos.has(l.from) || !pos.has(l.to)) continue
    const key = [l.from, l.to].sort().join("\u0000")
    const prev = pairs.get(key)
    if (!prev || STATE_RANK[l.state] > STATE_RANK[prev.state]) pairs.set(key, l)
  }
  const lines = []
  const labels = []
  // links that are not up are drawn last, over the others
  const ordered = [...pairs.values()].sort((a, b) => STATE_RANK[a.state] - STATE_RANK[b.state])
  for (const l of ordered) {
    const [x1, y1] = pos.get(l.from)
    const [x2, y2] = pos.get(l.to)
    lines.push(`<line class="link ${esc(l.state)}" data-pair="${esc([l.from, l.to].sort().join("-"))}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"><title>${esc(l.from)} – ${esc(l.to)}: ${esc(l.state)}</title></line>`)
    if (l.state !== "up") {
      labels.push(`<text class="link-label" x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 4}">${l.state === "down" ? "DOWN" : "connecting"}</text>`)
    }
  }
  const nodes = c.nodes.map((node) => {
    const [x, y] = pos.get(node.node)
    return `<g class="node${node.up ? "" : " down"}" data-node="${esc(node.node)}"><circle cx="${x}" cy="${y}" r="${r}"></circle>` +
      `<text x="${x}" y="${y - (n > 10 ? 0 : 5)}">${esc(node.node)}</text>` +
      (n > 10 ? "" : `<text class="sub" x="${x}" y="${y + 10}">${node.up ? `${compact(node.actors)} actors` : "DOWN"}</text>`) +
      `<title>${esc(node.node)} (${esc(node.address ?? "")})</title></g>`
  })
  $("map").classList.toggle("dense", n > 8)
  setHTML($("map"), lines.join("") + nodes.join("") + labels.join(""))
}

renderers.nodeCards = () => {
  const c = state.cluster
  if (!c) return
  if (c.nodes.length > 6) {
    // many nodes: one line each
    $("node-cards").className = "node-rows"
    setHTML($("node-cards"), `<table class="data"><thead><tr><th>Node</th><th>State</th><th class="num">Incarnation</th><th class="num">Uptime</th>
      <th class="num">Actors</th><th class="num">Msgs/s</th><th class="num">CPU</th><th class="num">RSS</th><th class="num">Loop delay</th></tr></thead><tbody>${
      c.nodes.map((n) => `<tr class="clickable node-card${n.up ? "" : " down"}" data-node="${esc(n.node)}" title="${esc(n.address ?? "")}">
        <td><b>${esc(n.node)}</b></td><td><span class="badge ${n.up ? "up" : "down"}">${n.up ? "up" : "down"}</span></td>
        <td class="num">${esc(n.incarnation ?? "—")}</td><td class="num">${n.up ? duration(n.uptimeMs) : "—"}</td>
        <td class="num" data-field="actors">${n.up ? num(n.actors) : "—"}</td><td class="num">${n.up ? rate(n.msgsPerSec) : "—"}</td>
        <td class="num">${n.up && n.cpuPercent !== undefined ? `${num(n.cpuPercent, 1)} %` : "—"}</td><td class="num">${n.up ? bytes(n.rssBytes) : "—"}</td>
        <td class="num">${n.up ? ms(n.eventLoopDelayMs) : "—"}</td></tr>`).join("")
    }</tbody></table>`)
    return
  }
  $("node-cards").className = "node-cards"
  setHTML($("node-cards"), c.nodes.map((n) => `
    <div class="node-card${n.up ? "" : " down"}" data-node="${esc(n.node)}" title="open its supervision tree">
      <div class="name"><span>${esc(n.node)}</span><span class="badge ${n.up ? "up" : "down"}">${n.up ? "up" : "down"}</span></div>
      <dl>
        <dt>address</dt><dd>${esc(n.address ?? "—")}</dd>
        <dt>incarnation</dt><dd>${esc(n.incarnation ?? "—")}</dd>
        <dt>uptime</dt><dd>${n.up ? duration(n.uptimeMs) : "—"}</dd>
        <dt>actors</dt><dd data-field="actors">${n.up ? num(n.actors) : "—"}</dd>
        <dt>RSS</dt><dd>${n.up ? bytes(n.rssBytes) : "—"}</dd>
        <dt title="event-loop delay, mean over the last second">loop delay</dt><dd>${n.up ? ms(n.eventLoopDelayMs) : "—"}</dd>
        ${n.eventLoopDelayP99Ms !== undefined ? `<dt title="event-loop delay, 99th percentile">loop delay p99</dt><dd>${n.up ? ms(n.eventLoopDelayP99Ms) : "—"}</dd>` : ""}
        ${n.cpuPercent !== undefined ? `<dt>CPU</dt><dd>${n.up ? `${num(n.cpuPercent, 1)} %` : "—"}</dd>` : ""}
        ${n.msgsPerSec !== undefined ? `<dt>messages/s</dt><dd>${n.up ? rate(n.msgsPerSec) : "—"}</dd>` : ""}
      </dl>
    </div>`).join(""))
}

$("node-cards").addEventListener("click", (e) => {
  const card = e.target.closest(".node-card")
  if (!card) return
  state.treeNode = card.dataset.node
  showView("supervision")
})

renderers.links = () => {
  const c = state.cluster
  if (!c) return
  const links = [...c.links].sort((a, b) => natural(a.from, b.from) || natural(a.to, b.to))
  setRows($("links").tBodies[0], links.length === 0
    ? [`<tr><td class="empty" colspan="9">no links</td></tr>`]
    : links.map((l) => `<tr class="${l.state === "down" ? "down" : ""}" data-link="${esc(`${l.from}->${l.to}`)}" data-state="${esc(l.state)}">
      <td>${esc(l.from)}</td><td>${esc(l.to)}</td>
      <td><span class="badge ${esc(l.state)}">${esc(l.state)}</span></td>
      <td class="num">${ms(l.rttMs)}</td>
      <td class="num">${rate(l.msgsOutPerSec)}</td><td class="num">${rate(l.msgsInPerSec)}</td>
      <td class="num">${bytes(l.bytesOutPerSec)}/s</td><td class="num">${bytes(l.bytesInPerSec)}/s</td>
      <td class="num">${num(l.gaps)}</td>
    </tr>`))
}

renderers.nodeSelects = () => {
  const names = state.nodeNames
  const options = (selected) => names.map((n) => `<option${n === selected ? " selected" : ""}>${esc(n)}</option>`).join("")
  if (state.actors.node === null || !names.includes(state.actors.node)) state.actors.node = names[0] ?? null
  $("actors-node").innerHTML = options(state.actors.node)
  $("events-node").innerHTML = `<option value="">all</option>${options(state.eventNode)}`
  $("chart-links-node").innerHTML = `<option value="">all nodes</option>${options(state.linksOf)}`
  if (state.treeNode === null || !names.includes(state.treeNode)) state.treeNode = names[0] ?? null
  if (state.view === "actors") refreshActors()
  if (state.view === "supervision") refreshTree()
}

// ---------------------------------------------------------------------------------------------
// supervision trees

renderers.treeNodes = () => {
  const c = state.cluster
  if (!c) return
  setHTML($("tree-nodes"), c.nodes.map((n) =>
    `<li class="${n.node === state.treeNode ? "active" : ""}${n.up ? "" : " down"}" data-node="${esc(n.node)}"><span class="dot"></span>${esc(n.node)}<span class="muted">${n.up ? num(n.actors) : "down"}</span></li>`
  ).join(""))
}

$("tree-nodes").addEventListener("click", (e) => {
  const li = e.target.closest("li")
  if (!li) return
  state.treeNode = li.dataset.node
  state.tree = null
  invalidate("treeNodes", "tree")
  refreshTree()
})

let treeInFlight = false
let treeAgain = false
/** Fetches the tree of the selected node; `poll`: skipped while a fetch is on its way (else that one is followed by another). */
const refreshTree = async (poll = false) => {
  if (state.treeNode === null) return
  if (treeInFlight) {
    if (!poll) treeAgain = true
    return
  }
  treeInFlight = true
  const node = state.treeNode
  try {
    const tree = await api(`api/nodes/${enc(node)}/tree`)
    if (node === state.treeNode) {
      state.tree = tree
      state.treeError = null
    }
  } catch (e) {
    if (node === state.treeNode) state.treeError = e.message
  } finally {
    treeInFlight = false
    invalidate("tree")
    if (treeAgain) {
      treeAgain = false
      refreshTree()
    }
  }
}

/** a tree entry's key: its actor, or for a child waiting for its restart (no actor) its id */
const treeKey = (t) => (t.actor !== "" ? t.actor : `child:${t.child}`)
const isOpen = (t) => (t.children.length <= TREE_OPEN_UP_TO) !== state.treeToggled.has(treeKey(t))

const intensityCell = (i) => {
  if (!i) return ""
  if (!Number.isFinite(i.max) || i.max >= Number.MAX_SAFE_INTEGER) return `<span class="muted">${num(i.recent)} (no limit)</span>`
  const ratio = i.max > 0 ? i.recent / i.max : 0
  const level = ratio >= 0.8 ? "bad" : ratio >= 0.5 ? "warn" : ""
  const within = i.withinMs === null || i.withinMs === undefined ? "ever" : `in ${duration(i.withinMs)}`
  return `<span class="gauge intensity ${level}" title="restarts ${within} / the most allowed before the supervisor gives up">` +
    `<span class="bar ${level}"><span style="width:${Math.min(100, ratio * 100)}%"></span></span>${num(i.recent)}/${num(i.max)} ${within}</span>`
}

const stateCell = (t) => {
  const label = t.state === "backoff" && t.backoffLeftMs !== undefined ? `backoff ${ms(t.backoffLeftMs)}` : t.state
  return `<span class="badge ${esc(t.state)}">${esc(label)}</span>`
}

renderers.tree = () => {
  $("tree-title").textContent = state.treeNode ? `— ${state.treeNode}` : ""
  const body = $("tree").tBodies[0]
  if (state.treeError) {
    setRows(body, [`<tr><td class="empty" colspan="7">${esc(state.treeError)}</td></tr>`])
    return
  }
  if (!state.tree) {
    setRows(body, [`<tr><td class="empty" colspan="7">loading…</td></tr>`])
    return
  }
  const rows = []
  const walk = (t, depth) => {
    const open = isOpen(t)
    const caret = t.children.length > 0 ? `<span class="caret" data-toggle="${esc(treeKey(t))}">${open ? "▾" : "▸"}</span>` : `<span class="caret"></span>`
    const label = t.name ?? t.child ?? t.actor
    const selected = t.actor !== "" && state.selected?.actor === t.actor && state.selected?.node === state.treeNode
    rows.push(`<tr class="${t.actor !== "" ? "clickable" : ""}${selected ? " selected" : ""}" data-actor="${esc(t.actor)}"${t.child !== undefined ? ` data-child="${esc(t.child)}"` : ""}${t.name !== undefined ? ` data-name="${esc(t.name)}"` : ""}>
      <td class="tree-name" style="padding-left:${10 + depth * 18}px">${caret}${esc(label)}<span class="kind ${esc(t.kind)}">${esc(t.kind)}</span>
        ${label !== t.actor && t.actor !== "" ? `<div class="addr" style="padding-left:16px">${esc(t.actor)}</div>` : ""}</td>
      <td>${esc(t.protocol)}</td>
      <td>${esc([t.strategy, t.restartType].filter(Boolean).join(" · ") || "—")}${t.peer !== undefined ? ` <span class="muted">link to ${esc(t.peer)}</span>` : ""}</td>
      <td>${stateCell(t)}</td>
      <td class="num restarts" data-restarts="${esc(t.restarts)}">${t.restarts > 0 ? `<b class="intensity warn">${num(t.restarts)}</b>` : "0"}</td>
      <td>${intensityCell(t.intensity)}</td>
      <td class="num">${num(t.mailbox)}</td>
    </tr>`)
    if (!open) return
    const shown = t.children.slice(0, TREE_CHILDREN_SHOWN)
    for (const c of shown) walk(c, depth + 1)
    // children the page leaves out, and those the node left out of its answer
    moreRow(t.children.length - shown.length + (t.more ?? 0), depth + 1)
  }
  const moreRow = (more, depth) => {
    if (more > 0) {
      rows.push(`<tr class="more"><td colspan="7" style="padding-left:${28 + depth * 18}px">… and ${num(more)} more (the Actors view pages through them all)</td></tr>`)
    }
  }
  for (const root of state.tree.roots) walk(root, 0)
  moreRow(state.tree.more ?? 0, 0)
  setRows(body, rows.length > 0 ? rows : [`<tr><td class="empty" colspan="7">no actors</td></tr>`])
}

$("tree").addEventListener("click", (e) => {
  const toggle = e.target.closest("[data-toggle]")
  if (toggle) {
    const id = toggle.dataset.toggle
    if (state.treeToggled.has(id)) state.treeToggled.delete(id)
    else state.treeToggled.add(id)
    invalidate("tree")
    return
  }
  const row = e.target.closest("tr[data-actor]")
  if (!row || row.dataset.actor === "") return
  const t = findTree(row.dataset.actor)
  if (t) selectActor({ node: state.treeNode, actor: t.actor, name: t.name, protocol: t.protocol, mailbox: t.mailbox })
})

const findTree = (actor) => {
  const stack = [...(state.tree?.roots ?? [])]
  while (stack.length > 0) {
    const t = stack.pop()
    if (t.actor === actor) return t
    stack.push(...t.children)
  }
  return undefined
}

const setAllOpen = (open) => {
  state.treeToggled.clear()
  const stack = [...(state.tree?.roots ?? [])]
  while (stack.length > 0) {
    const t = stack.pop()
    if (t.children.length > 0 && (t.children.length <= TREE_OPEN_UP_TO) !== open) state.treeToggled.add(treeKey(t))
    stack.push(...t.children)
  }
  invalidate("tree")
}
$("tree-expand").addEventListener("click", () => setAllOpen(true))
$("tree-collapse").addEventListener("click", () => setAllOpen(false))

// ---------------------------------------------------------------------------------------------
// actors: one page at a time, sorted and filtered by the server

let actorsInFlight = 0
/** Fetches the page of actors the view asks for; `poll`: skipped while a fetch is on its way. */
const refreshActors = async (poll = false) => {
  const a = state.actors
  if (a.node === null || (poll && actorsInFlight > 0)) return
  const seq = ++a.seq
  actorsInFlight++
  const q = new URLSearchParams({ offset: String(a.offset), limit: String(a.limit), sort: a.sort, dir: a.dir, filter: a.filter })
  try {
    const page = await api(`api/nodes/${enc(a.node)}/actors?${q}`)
    if (seq !== a.seq) return // a newer request is on its way
    a.data = page
    a.error = null
  } catch (e) {
    if (seq !== a.seq) return
    a.error = e.message
  } finally {
    actorsInFlight--
  }
  invalidate("actors")
}

renderers.actors = () => {
  const a = state.actors
  for (const th of document.querySelectorAll("#actors th.sortable")) {
    if (th.dataset.sort === a.sort) th.dataset.dir = a.dir
    else delete th.dataset.dir
  }
  const body = $("actors").tBodies[0]
  if (a.error) {
    setRows(body, [`<tr><td class="empty" colspan="7">${esc(a.error)}</td></tr>`])
    return
  }
  if (!a.data) {
    setRows(body, [`<tr><td class="empty" colspan="7">loading…</td></tr>`])
    return
  }
  const { rows, total, offset } = a.data
  $("actors-range").textContent = total === 0 ? "0 of 0" : `${num(offset + 1)}–${num(offset + rows.length)} of ${num(total)}`
  $("actors-prev").disabled = offset === 0
  $("actors-next").disabled = offset + rows.length >= total
  setRows(body, rows.length === 0
    ? [`<tr><td class="empty" colspan="7">no actors${a.filter ? ` matching “${esc(a.filter)}”` : ""}</td></tr>`]
    : rows.map((r) => {
      const fill = r.capacity ? r.mailbox / r.capacity : 0
      const level = fill >= 0.8 ? "bad" : fill >= 0.5 ? "warn" : ""
      const selected = state.selected?.actor === r.actor && state.selected?.node === a.node
      return `<tr class="clickable${selected ? " selected" : ""}" data-actor="${esc(r.actor)}">
        <td>${r.name !== undefined ? esc(r.name) : `<span class="muted">—</span>`}</td>
        <td class="addr">${esc(r.actor)}</td>
        <td>${esc(r.protocol)}</td>
        <td class="num"><span class="gauge">${r.capacity ? `<span class="bar ${level}"><span style="width:${Math.min(100, fill * 100)}%"></span></span>` : ""}${num(r.mailbox)}</span></td>
        <td class="num">${r.capacity === null || r.capacity === undefined ? "∞" : num(r.capacity)}</td>
        <td class="num">${rate(r.msgsPerSec)}</td>
        <td>${esc(r.policy)}</td>
      </tr>`
    }))
}

$("actors").tHead.addEventListener("click", (e) => {
  const th = e.target.closest("th.sortable")
  if (!th) return
  const a = state.actors
  if (a.sort === th.dataset.sort) a.dir = a.dir === "asc" ? "desc" : "asc"
  else {
    a.sort = th.dataset.sort
    a.dir = a.sort === "mailbox" || a.sort === "msgsPerSec" ? "desc" : "asc"
  }
  a.offset = 0
  refreshActors()
})
$("actors").tBodies[0].addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-actor]")
  if (!row) return
  const r = state.actors.data?.rows.find((x) => x.actor === row.dataset.actor)
  if (r) selectActor({ node: state.actors.node, ...r })
})
$("actors-node").addEventListener("change", (e) => {
  state.actors.node = e.target.value
  state.actors.offset = 0
  state.actors.data = null
  invalidate("actors")
  refreshActors()
})
let filterTimer = 0
$("actors-filter").addEventListener("input", (e) => {
  clearTimeout(filterTimer)
  filterTimer = setTimeout(() => {
    state.actors.filter = e.target.value.trim()
    state.actors.offset = 0
    refreshActors()
  }, 200)
})
$("actors-limit").addEventListener("change", (e) => {
  state.actors.limit = Number(e.target.value)
  state.actors.offset = 0
  refreshActors()
})
$("actors-prev").addEventListener("click", () => {
  state.actors.offset = Math.max(0, state.actors.offset - state.actors.limit)
  refreshActors()
})
$("actors-next").addEventListener("click", () => {
  state.actors.offset += state.actors.limit
  refreshActors()
})

// ---------------------------------------------------------------------------------------------
// events

const addEvents = (events, fresh) => {
  let added = 0
  let treeChanged = false
  for (const e of events) {
    if (state.eventIds.has(e.id)) continue
    state.eventIds.add(e.id)
    state.events.push({ ...e, fresh })
    added++
    if ((e.kind === "Restart" || e.kind === "GiveUp") && e.node === state.treeNode) treeChanged = true
  }
  if (added === 0) return
  if (treeChanged && state.view === "supervision") {
    // now, and once more shortly: the event can reach the page before the node's tree shows the new child
    refreshTree()
    setTimeout(() => refreshTree(), 300)
  }
  // newest first in the observer's own numbering (arrival order), not by the nodes' clocks
  state.events.sort((a, b) => Number(b.id) - Number(a.id))
  while (state.events.length > MAX_EVENTS) state.eventIds.delete(state.events.pop().id)
  if (fresh && state.view !== "events") {
    state.unseen += added
    invalidate("unseen")
  }
  invalidate("events", "recent")
}

const eventMatches = (e) => {
  if (!state.eventKinds.has(e.kind)) return false
  if (state.eventNode !== "" && e.node !== state.eventNode) return false
  if (state.eventFilter === "") return true
  const text = `${e.text} ${e.actor ?? ""} ${e.peer ?? ""} ${e.reason ?? ""} ${e.node}`.toLowerCase()
  return text.includes(state.eventFilter.toLowerCase())
}

renderers.recent = () => {
  const recent = state.events.slice(0, 8)
  setHTML($("recent-events"), recent.length === 0
    ? `<li class="muted">nothing yet</li>`
    : recent.map((e) => `<li data-kind="${esc(e.kind)}"><span class="mono muted">${clock(e.at)}</span><span class="ev ${esc(e.kind)}">${esc(e.kind)}</span><b>${esc(e.node)}</b><span class="text">${esc(e.text)}</span></li>`).join(""))
}

renderers.events = () => {
  if (state.view !== "events") return
  const shown = state.events.filter(eventMatches).slice(0, 500)
  setRows($("events").tBodies[0], shown.length === 0
    ? [`<tr><td class="empty" colspan="6">no events</td></tr>`]
    : shown.map((e) => {
      const row = `<tr class="${e.fresh ? "fresh" : ""}" data-kind="${esc(e.kind)}" data-event="${esc(e.id)}">
        <td class="mono" title="${esc(new Date(e.at).toISOString?.() ?? e.at)}">${clock(e.at)}</td>
        <td>${esc(e.node)}</td>
        <td><span class="ev ${esc(e.kind)}">${esc(e.kind)}</span></td>
        <td class="wrap">${esc(e.text)}</td>
        <td class="addr wrap">${esc([e.actor, e.peer].filter(Boolean).join(" → "))}</td>
        <td class="wrap">${esc(e.reason ?? "")}</td>
      </tr>`
      e.fresh = false
      return row
    }))
}

renderers.unseen = () => {
  const badge = $("events-unseen")
  badge.hidden = state.unseen === 0
  badge.textContent = state.unseen > 999 ? "999+" : String(state.unseen)
}

$("event-kinds").innerHTML = EVENT_KINDS.map((k) => `<button class="chip" aria-pressed="true" data-kind="${k}">${k}</button>`).join("")
$("event-kinds").addEventListener("click", (e) => {
  const chip = e.target.closest(".chip")
  if (!chip) return
  const on = chip.getAttribute("aria-pressed") !== "true"
  chip.setAttribute("aria-pressed", String(on))
  if (on) state.eventKinds.add(chip.dataset.kind)
  else state.eventKinds.delete(chip.dataset.kind)
  invalidate("events")
})
$("events-node").addEventListener("change", (e) => {
  state.eventNode = e.target.value
  invalidate("events")
})
$("events-filter").addEventListener("input", (e) => {
  state.eventFilter = e.target.value.trim()
  invalidate("events")
})

// ---------------------------------------------------------------------------------------------
// charts (uPlot)

const PALETTE = ["#4c9aff", "#3fb950", "#d29922", "#f85149", "#a371f7", "#39c5cf", "#ff7b72", "#e3b341", "#56d364", "#79c0ff", "#d2a8ff", "#ffa657"]
const AXIS = { stroke: "#8b97a7", grid: { stroke: "#222b36", width: 1 }, ticks: { stroke: "#222b36", width: 1 } }
const TIME_AXIS = {
  ...AXIS,
  space: 70,
  incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600],
  values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false }))
}

/** A uPlot chart in `el`, made again when its series change. */
class Chart {
  constructor(el, unit) {
    this.el = el
    this.unit = unit
    this.plot = null
    this.keys = ""
    new ResizeObserver(() => this.resize()).observe(el)
  }
  size() {
    return { width: Math.max(200, this.el.clientWidth), height: this.el.classList.contains("small") ? 160 : 240 }
  }
  resize() {
    if (this.plot && this.el.clientWidth > 0) this.plot.setSize(this.size())
  }
  update(t, series, empty = "waiting for the first samples…") {
    if (this.el.offsetParent === null) return // hidden: drawn when shown
    const keys = series.map((s) => s.label).join("\n")
    if (series.length === 0 || t.length === 0) {
      this.plot?.destroy()
      this.plot = null
      this.keys = ""
      this.el.innerHTML = `<div class="placeholder">${esc(empty)}</div>`
      return
    }
    const data = [t, ...series.map((s) => s.values)]
    if (this.plot && keys === this.keys) {
      this.plot.setData(data)
      return
    }
    this.plot?.destroy()
    this.el.innerHTML = ""
    this.keys = keys
    const unit = this.unit
    this.plot = new uPlot({
      ...this.size(),
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [TIME_AXIS, { ...AXIS, size: 56, values: (_u, ticks) => ticks.map((v) => num(v, v < 10 ? 1 : 0)) }],
      series: [
        { value: (_u, t) => (t === null || t === undefined ? "—" : new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false })) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          points: { show: false },
          value: (_u, v) => (v === null || v === undefined ? "—" : `${num(v, 1)} ${unit}`)
        }))
      ]
    }, data, this.el)
  }
}

const charts = {
  nodes: new Chart($("chart-nodes"), "msg/s"),
  links: new Chart($("chart-links"), "msg/s"),
  mailbox: new Chart($("chart-mailbox"), "queued"),
  drawer: new Chart($("drawer-chart"), "queued")
}

const pushSeries = (map, key, value, length) => {
  let values = map.get(key)
  if (!values) {
    values = Array.from({ length: length - 1 }, () => null)
    map.set(key, values)
  }
  values.push(value ?? null)
}

const onRates = (r) => {
  const rates = state.rates
  rates.t.push(new Date(r.at).getTime() / 1000)
  const length = rates.t.length
  for (const [key, value] of Object.entries(r.nodes ?? {})) pushSeries(rates.nodes, key, value, length)
  for (const [key, value] of Object.entries(r.links ?? {})) pushSeries(rates.links, key, value, length)
  for (const map of [rates.nodes, rates.links]) {
    for (const values of map.values()) if (values.length < length) values.push(null)
  }
  if (length > MAX_POINTS) {
    rates.t.shift()
    for (const map of [rates.nodes, rates.links]) for (const values of map.values()) values.shift()
  }
  invalidate("charts")
}

renderers.charts = () => {
  if (state.view === "charts") {
    const r = state.rates
    const sorted = (map, keep) => [...map.entries()].filter(([k]) => keep(k)).sort(([a], [b]) => natural(a, b)).map(([label, values]) => ({ label, values }))
    charts.nodes.update(r.t, sorted(r.nodes, () => true))
    charts.links.update(r.t, sorted(r.links, (k) => state.linksOf === "" || k.split("->")[0] === state.linksOf))
    if (state.selected) charts.mailbox.update(state.mailbox.t, [{ label: state.selected.name ?? state.selected.actor, values: state.mailbox.v }])
    else charts.mailbox.update([], [], "no actor selected: click one in Supervision or Actors")
  }
  if (state.selected) charts.drawer.update(state.mailbox.t, [{ label: "mailbox", values: state.mailbox.v }])
}

$("chart-links-node").addEventListener("change", (e) => {
  state.linksOf = e.target.value
  invalidate("charts")
})

const onMailbox = (m) => {
  const s = state.selected
  if (!s || m.node !== s.node || m.actor !== s.actor) return
  state.mailbox.t.push(new Date(m.at).getTime() / 1000)
  state.mailbox.v.push(m.mailbox)
  if (state.mailbox.t.length > MAX_POINTS) {
    state.mailbox.t.shift()
    state.mailbox.v.shift()
  }
  s.mailbox = m.mailbox
  if (m.alive !== undefined) s.alive = m.alive
  invalidate("charts", "facts")
}

// ---------------------------------------------------------------------------------------------
// the selected actor: facts, mailbox chart, stop / kill, send a message

const selectActor = (actor) => {
  const same = state.selected && state.selected.node === actor.node && state.selected.actor === actor.actor
  state.selected = { ...actor }
  $("drawer").hidden = false
  $("drawer-title").textContent = actor.name ?? actor.actor
  $("drawer-sub").textContent = `${actor.actor} on ${actor.node}`
  $("chart-mailbox-title").textContent = `— ${actor.name ?? actor.actor} on ${actor.node}`
  invalidate("facts", "actors", "tree")
  if (same) return
  state.mailbox = { t: [], v: [] }
  invalidate("charts")
  hideResult()
  loadProtocol()
  openStream()
}

const closeDrawer = () => {
  $("drawer").hidden = true
  state.selected = null
  state.protocol = null
  $("chart-mailbox-title").textContent = "— select an actor in Actors or Supervision"
  invalidate("actors", "tree")
  openStream()
}
$("drawer-close").addEventListener("click", closeDrawer)
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("drawer").hidden) closeDrawer()
})

renderers.facts = () => {
  const s = state.selected
  if (!s) return
  const facts = [
    ["node", s.node],
    ["address", s.actor],
    ["state", s.alive === false ? "stopped (no longer alive)" : undefined],
    ["protocol", s.protocol ?? state.protocol?.protocol],
    ["mailbox", s.mailbox !== undefined ? `${num(s.mailbox)}${s.capacity ? ` / ${num(s.capacity)}` : ""}` : undefined],
    ["msgs/s", s.msgsPerSec !== undefined ? rate(s.msgsPerSec) : undefined],
    ["policy", s.policy]
  ].filter(([, v]) => v !== undefined && v !== null)
  setHTML($("drawer-facts"), facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join(""))
}

const showResult = (ok, text) => {
  const r = $("action-result")
  r.hidden = false
  r.className = `result ${ok ? "ok" : "error"}`
  r.textContent = text
}
const hideResult = () => {
  $("action-result").hidden = true
}

const act = async (what) => {
  const s = state.selected
  if (!s) return
  const label = s.name ?? s.actor
  const warning = what === "kill"
    ? `Kill ${label} on ${s.node}? It exits with Killed at once (untrappable); its supervisor decides what next.`
    : `Stop ${label} on ${s.node}? Its queued messages become dead letters.`
  if (!confirm(warning)) return
  try {
    await api(`${actorPath(s.node, s.actor)}/${what}`, { method: "POST", body: "{}" })
    showResult(true, `${what === "kill" ? "killed" : "stopped"} ${label}`)
  } catch (e) {
    showResult(false, e.message)
  }
  if (state.view === "supervision") refreshTree()
  if (state.view === "actors") refreshActors()
}
$("action-stop").addEventListener("click", () => act("stop"))
$("action-kill").addEventListener("click", () => act("kill"))

const loadProtocol = async () => {
  const s = state.selected
  $("send-tag").innerHTML = ""
  $("send-fields").innerHTML = `<span class="muted">loading the protocol…</span>`
  $("send-submit").disabled = true
  try {
    const protocol = await api(`${actorPath(s.node, s.actor)}/protocol`)
    if (state.selected !== s) return
    state.protocol = protocol
    $("send-tag").innerHTML = protocol.messages.map((m, i) => `<option value="${i}">${esc(m.tag)} (${esc(m.kind)})</option>`).join("")
    $("send-submit").disabled = protocol.messages.length === 0
    renderFields()
    invalidate("facts")
  } catch (e) {
    if (state.selected !== s) return
    state.protocol = null
    $("send-fields").innerHTML = `<span class="muted">${esc(e.message)}</span>`
  }
}

const currentMessage = () => state.protocol?.messages[Number($("send-tag").value)]

const renderFields = () => {
  const m = currentMessage()
  $("send-raw").checked = false
  $("send-json").hidden = true
  $("send-fields").hidden = false
  if (!m) {
    $("send-fields").innerHTML = `<span class="muted">this protocol has no messages</span>`
    return
  }
  buildForm($("send-fields"), m.schema)
  $("send-submit").textContent = m.kind === "ask" ? "Ask" : "Tell"
}
$("send-tag").addEventListener("change", () => {
  hideResult()
  renderFields()
})

$("send-raw").addEventListener("change", (e) => {
  const m = currentMessage()
  if (!m) return
  if (e.target.checked) {
    const read = readForm($("send-fields"), m.schema)
    $("send-json").value = JSON.stringify(read.ok ? read.value : {}, null, 2)
  }
  $("send-json").hidden = !e.target.checked
  $("send-fields").hidden = e.target.checked
})

$("send-form").addEventListener("submit", async (e) => {
  e.preventDefault()
  const s = state.selected
  const m = currentMessage()
  if (!s || !m) return
  let payload
  if ($("send-raw").checked) {
    try {
      payload = JSON.parse($("send-json").value || "{}")
    } catch (err) {
      showResult(false, `the payload is not JSON: ${err.message}`)
      return
    }
  } else {
    const read = readForm($("send-fields"), m.schema)
    if (!read.ok) {
      showResult(false, read.error)
      return
    }
    payload = read.value
  }
  $("send-submit").disabled = true
  try {
    const answer = await api(`${actorPath(s.node, s.actor)}/send`, { method: "POST", body: JSON.stringify({ tag: m.tag, payload }) })
    showResult(true, "reply" in answer ? `reply:\n${JSON.stringify(answer.reply, null, 2)}` : `sent ${m.tag}`)
  } catch (err) {
    showResult(false, "reply" in err ? `${err.message}\n${JSON.stringify(err.reply, null, 2)}` : err.message)
  } finally {
    $("send-submit").disabled = false
  }
})

// ---------------------------------------------------------------------------------------------
// the live stream

let source = null
let retryTimer = 0

const setStreamState = (s, label) => {
  const el = $("stream-status")
  el.dataset.state = s
  el.querySelector(".label").textContent = label
}

function openStream() {
  clearTimeout(retryTimer)
  source?.close()
  const q = new URLSearchParams()
  if (token) q.set("token", token)
  if (state.selected) q.set("actor", `${state.selected.node}/${state.selected.actor}`)
  const query = q.toString()
  const es = new EventSource(`api/stream${query ? `?${query}` : ""}`)
  source = es
  setStreamState("connecting", "connecting")
  const parse = (handler) => (msg) => {
    if (source !== es) return
    try {
      handler(JSON.parse(msg.data))
    } catch (e) {
      console.error("observer: bad stream message", e)
    }
  }
  es.addEventListener("open", () => {
    if (source !== es) return
    setStreamState("live", "live")
    hideBanner()
    // what happened while the stream was away
    api("api/events?limit=200").then((r) => addEvents(r.events, false), () => {})
  })
  es.addEventListener("cluster", parse(onCluster))
  es.addEventListener("event", parse((e) => addEvents([e], true)))
  es.addEventListener("rates", parse(onRates))
  es.addEventListener("mailbox", parse(onMailbox))
  es.addEventListener("error", () => {
    if (source !== es) return
    if (es.readyState === EventSource.CLOSED) {
      // refused (a 401, or the observer went away): ask again in a moment, and say why if we can
      setStreamState("down", "disconnected")
      api("api/cluster").then(onCluster, (e) => {
        if (e.status !== 401) showBanner(`The observer does not answer (${e.message}); retrying…`)
      })
      retryTimer = setTimeout(openStream, 2000)
    } else {
      setStreamState("connecting", "reconnecting")
    }
  })
}

// views that poll while they are shown: the tree of one node, one page of actors
setInterval(() => {
  if (document.hidden) return
  if (state.view === "supervision") refreshTree(true)
  if (state.view === "actors") refreshActors(true)
}, 1000)

// ---------------------------------------------------------------------------------------------
// start

const start = async () => {
  const initial = (location.hash || "#cluster").slice(1)
  try {
    onCluster(await api("api/cluster"))
    addEvents((await api("api/events?limit=200")).events, false)
  } catch (e) {
    if (e.status !== 401) showBanner(`Could not reach the observer: ${e.message}`)
  }
  showView(initial)
  openStream()
}
start()
