/**
 * The observer page in a real browser (Debian's chromium, driven by playwright-core) against a
 * real cluster: three `telex node` processes whose links each go through a `FaultProxy` (so a
 * partition is a real one: traffic held on the wire), and `telex observe` joined to them. The
 * page shows the nodes and their links; a worker crashed from the page's own send form shows
 * its restart count and a Restart event within 2 s; a partition turns the link down on the
 * page and the heal brings it back; a request without the token gets 401. Every view is saved
 * as a screenshot under test/observer/artifacts/.
 *
 * Without /usr/bin/chromium the file says so in one line and skips.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { FaultProxy } from "../../src/testing/FaultProxy.ts"
import { freePorts, killAll, telex, type TelexProcess } from "../cluster/_process.ts"
import { startFake } from "./_fake-observer.ts"

const CHROMIUM = "/usr/bin/chromium"
const available = existsSync(CHROMIUM)
if (!available) console.log(`observer browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium)`)

const APP = fileURLToPath(new URL("../fixtures/observer-app.ts", import.meta.url))
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url))
const SECRET = { TELEX_SECRET: "observer-browser-test-secret-0123456789" }
const NAMES = ["n1", "n2", "n3"] as const
/** how long the issue allows between a restart and the page showing it */
const VISIBLE_WITHIN = 2_000

let dir = ""
let base = ""
let url = ""
let observer: TelexProcess
const nodes = new Map<string, TelexProcess>()
const proxies = new Map<string, FaultProxy>()
let browser: BrowserContext
let page: Page
/** script errors on any page of the browser: there should be none */
const pageErrors: Array<string> = []

const why = () =>
  [...nodes.entries()].map(([n, p]) => `=== ${n} ===\n${p.describe()}`).join("\n") +
  (observer ? `\n=== observer ===\n${observer.describe()}` : "")

const shot = (p: Page, name: string) => p.screenshot({ path: join(ARTIFACTS, `${name}.png`) })

const showView = async (p: Page, view: string) => {
  await p.click(`.tabs button[data-view="${view}"]`)
  await p.locator(`#view-${view}`).waitFor({ state: "visible" })
}

/** the link row between a and b (one row per pair, in either order) */
const linkRow = (p: Page, a: string, b: string) => p.locator(`#links tr[data-link="${a}->${b}"], #links tr[data-link="${b}->${a}"]`)

describe.skipIf(!available)("the observer page in chromium", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "telex-observer-browser-"))
    mkdirSync(ARTIFACTS, { recursive: true })
    // every port at once (the nodes', the observer's, the proxies'), so that none is handed out twice
    const ports = await freePorts(NAMES.length + 1 + NAMES.length * (NAMES.length - 1))
    const port = new Map(NAMES.map((n, i) => [n, ports[i]!]))
    const observerPort = ports[NAMES.length]!
    const proxyPorts = ports.slice(NAMES.length + 1)
    // node a reaches b through proxy a→b: partitioning both proxies of a pair cuts it both ways
    for (const a of NAMES) {
      for (const b of NAMES) {
        if (a === b) continue
        const proxy = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: port.get(b)! }, listen: { host: "127.0.0.1", port: proxyPorts.pop()! }, name: `${a}→${b}` })
        proxies.set(`${a}→${b}`, proxy)
      }
    }
    const common = {
      cluster: "observer-test",
      app: APP,
      heartbeat: { interval: "250ms", acceptablePause: "1s" },
      reconnect: { initial: "100ms", max: "500ms" }
    }
    for (const n of NAMES) {
      const config = join(dir, `${n}.json`)
      writeFileSync(config, JSON.stringify({
        ...common,
        nodes: NAMES.map((m) =>
          m === n
            ? { name: m, port: port.get(m), run: m === "n1" ? ["pool", "traffic"] : ["pool"] }
            : { name: m, port: proxies.get(`${n}→${m}`)!.address.port })
      }))
      nodes.set(n, telex(["node", "--config", config, "--name", n], { env: SECRET, cwd: dir }))
    }
    // the observer reaches every node directly, not through the proxies
    const observed = join(dir, "observed.json")
    writeFileSync(observed, JSON.stringify({ ...common, nodes: NAMES.map((n) => ({ name: n, port: port.get(n) })) }))
    await Promise.all([...nodes].map(([n, p]) => p.waitFor(`${n} ready`, (out) => out.includes(`node ${n} ready`), 120_000)))
    observer = telex(["observe", observed, "--port", String(observerPort)], { env: SECRET, cwd: dir })
    await observer.waitFor("the observer's URL", (out) => /https?:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.test(out), 60_000)
    url = /https?:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(observer.stdout)![0]
    base = new URL(url).origin

    browser = await chromium.launchPersistentContext(join(dir, "chromium"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1440, height: 900 }
    })
    browser.on("page", (p) => p.on("pageerror", (e) => pageErrors.push(`${p.url()}: ${e.message}`)))
    page = browser.pages()[0] ?? await browser.newPage()
    page.on("pageerror", (e) => pageErrors.push(`${page.url()}: ${e.message}`))
    page.on("dialog", (d) => void d.accept())
  }, 240_000)

  afterAll(async () => {
    await browser?.close().catch(() => {})
    killAll()
    await Promise.all([...proxies.values()].map((p) => p.close()))
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  it("shows the three nodes and their links, all up", async () => {
    await page.goto(url)
    for (const n of NAMES) {
      await page.locator(`#node-cards [data-node="${n}"] .badge.up`).waitFor({ timeout: 30_000 })
      await page.locator(`#map g.node[data-node="${n}"]`).waitFor()
    }
    // the links form once the nodes have dialled each other through their proxies
    for (const [a, b] of [["n1", "n2"], ["n1", "n3"], ["n2", "n3"]] as const) {
      await linkRow(page, a, b).and(page.locator(`[data-state="up"]`)).waitFor({ timeout: 60_000 })
    }
    assert.strictEqual(await page.locator("#links tbody tr[data-link]").count(), 3, why())
    assert.strictEqual(await page.locator("#map line.link.up").count(), 3)
    await page.locator(`#stream-status[data-state="live"]`).waitFor({ timeout: 10_000 })
    await shot(page, "cluster")

    await showView(page, "actors")
    await page.locator("#actors tbody tr[data-actor]").first().waitFor({ timeout: 10_000 })
    await shot(page, "actors")
  }, 120_000)

  it("a worker crashed from the page's send form: its restart count and a Restart event appear within 2 s", async () => {
    await showView(page, "supervision")
    await page.click(`#tree-nodes li[data-node="n2"]`)
    const worker = page.locator(`#tree tr[data-child="crashy"]`)
    await worker.waitFor({ timeout: 10_000 })
    const before = Number(await worker.locator("td.restarts").getAttribute("data-restarts"))
    // the tree is fetched again every second; a row whose markup did not change is kept, not
    // replaced (a row replaced between a user's mouse down and up gets no click)
    await worker.evaluate((row) => { (row as any).kept = true })
    for (let i = 0; i < 2; i++) await page.waitForResponse((r) => /\/api\/nodes\/n2\/tree$/.test(new URL(r.url()).pathname))
    await page.waitForTimeout(200)
    assert.isTrue(await worker.evaluate((row) => (row as any).kept === true), "the unchanged row was replaced")
    // a second tab on the events view: both are watched from the same instant
    const events = await browser.newPage()
    await events.goto(`${url}#events`)
    await events.locator("#events tbody tr").first().waitFor({ timeout: 10_000 })
    await events.locator(`#stream-status[data-state="live"]`).waitFor({ timeout: 10_000 })
    const workerRestarts = `#events tr[data-kind="Restart"]:has-text("crashy")`
    const restartsBefore = await events.locator(workerRestarts).count()

    // the events tab opened in front of this one: a tab in the background gets no animation frames,
    // which a click waits on (the element must be seen stable over two frames)
    await page.bringToFront()
    await worker.click()
    await page.locator("#send-tag option", { hasText: "Crash" }).waitFor({ state: "attached", timeout: 10_000 })
    // the form is built from the protocol's JSON Schema; the node's Schema judges what is sent
    await page.selectOption("#send-tag", { label: "Add (tell)" })
    await page.fill("#field-by", "0")
    await page.click("#send-submit")
    await page.locator("#action-result.error").waitFor({ timeout: 10_000 })
    assert.include(await page.locator("#action-result").textContent(), "greater than 0")
    await page.selectOption("#send-tag", { label: "Get (ask)" })
    await page.click("#send-submit")
    await page.locator("#action-result.ok", { hasText: "reply" }).waitFor({ timeout: 10_000 })
    assert.match((await page.locator("#action-result").textContent())!, /reply:\s+\{\s+"count": \d+/)
    await page.selectOption("#send-tag", { label: "Crash (tell)" })
    // selecting the worker reopened the page's stream (with its mailbox samples): wait until it is back
    await page.locator(`#stream-status[data-state="live"]`).waitFor({ timeout: 10_000 })
    // the reopened stream carries the worker's mailbox samples: its chart is drawn
    await page.locator("#drawer-chart .uplot").waitFor({ timeout: 10_000 })
    await shot(page, "actor")
    // both pages are watched from the instant the crash is sent
    const sent = Date.now()
    const shown = Promise.all([
      page.waitForFunction(
        (n) => Number((globalThis as any).document.querySelector(`#tree tr[data-child="crashy"] td.restarts`)?.getAttribute("data-restarts")) > n,
        before,
        // polled on a timer: a page in a background tab gets no animation frames to poll on
        { timeout: VISIBLE_WITHIN, polling: 50 }
      ).then(() => Date.now() - sent),
      events.waitForFunction(
        (n) => [...(globalThis as any).document.querySelectorAll(`#events tr[data-kind="Restart"]`)].filter((r: any) => r.textContent.includes("crashy")).length > n,
        restartsBefore,
        { timeout: VISIBLE_WITHIN, polling: 50 }
      ).then(() => Date.now() - sent)
    ])
    shown.catch(() => {}) // awaited below; a failure before then must not go unhandled
    await page.click("#send-submit")
    await page.locator("#action-result.ok", { hasText: "sent Crash" }).waitFor({ timeout: 10_000 })
    const [count, event] = await shown
    console.log(`observer: restart count shown ${count} ms, Restart event shown ${event} ms after the crash was sent`)
    const row = events.locator(workerRestarts).first()
    assert.include(await row.locator("td").nth(1).textContent(), "n2")
    await shot(events, "events")
    await events.close()
    await page.bringToFront()

    // kill, from the actor panel (after a confirm), n3's worker: its supervisor restarts it too
    await page.click(`#tree-nodes li[data-node="n3"]`)
    await page.locator(`#tree-title`, { hasText: "n3" }).waitFor()
    const other = page.locator(`#tree tr[data-child="crashy"]`)
    await other.waitFor({ timeout: 10_000 })
    const killedBefore = Number(await other.locator("td.restarts").getAttribute("data-restarts"))
    await other.click()
    await page.click("#action-kill")
    await page.locator("#action-result.ok", { hasText: "killed" }).waitFor({ timeout: 10_000 })
    await page.waitForFunction(
      (n) => Number((globalThis as any).document.querySelector(`#tree tr[data-child="crashy"] td.restarts`)?.getAttribute("data-restarts")) > n,
      killedBefore,
      { timeout: 10_000 }
    )

    await page.click("#drawer-close")
    await page.locator(`#stream-status[data-state="live"]`).waitFor({ timeout: 10_000 })
    await shot(page, "supervision")
  }, 60_000)

  it("a partition of n1 and n3 turns their link down on the page, and the heal brings it back", async () => {
    await showView(page, "cluster")
    await linkRow(page, "n1", "n3").and(page.locator(`[data-state="up"]`)).waitFor({ timeout: 10_000 })
    proxies.get("n1→n3")!.partition()
    proxies.get("n3→n1")!.partition()
    try {
      // heartbeats stop; past the acceptable pause (1 s) the nodes drop the link
      await linkRow(page, "n1", "n3").and(page.locator(`[data-state="down"]`)).waitFor({ timeout: 20_000 })
      const row = linkRow(page, "n1", "n3")
      assert.include((await row.locator(".badge").textContent())?.toLowerCase(), "down")
      assert.strictEqual(await page.locator(`#map line.link.down`).count(), 1)
      assert.include(await page.locator("#map").textContent(), "DOWN")
      // the other links are untouched
      await linkRow(page, "n1", "n2").and(page.locator(`[data-state="up"]`)).waitFor({ timeout: 5_000 })
      await shot(page, "cluster-partitioned")
    } finally {
      proxies.get("n1→n3")!.heal()
      proxies.get("n3→n1")!.heal()
    }
    await linkRow(page, "n1", "n3").and(page.locator(`[data-state="up"]`)).waitFor({ timeout: 30_000 })
    assert.strictEqual(await page.locator(`#map line.link.down`).count(), 0)

    await showView(page, "events")
    await page.locator(`#events tr[data-kind="LinkDown"]`).first().waitFor({ timeout: 10_000 })
    await showView(page, "charts")
    await page.locator("#chart-nodes .uplot").waitFor({ timeout: 10_000 })
    await shot(page, "charts")
  }, 90_000)

  it("16 nodes of 100 000 actors each (a fake observer's API): all nodes and links drawn, one page of actors fetched at a time", async () => {
    const fake = await startFake(0, { nodes: 16, actorsPerNode: 100_000 })
    const p = await browser.newPage()
    const fetched: Array<URL> = []
    p.on("request", (r) => {
      const u = new URL(r.url())
      if (/^\/api\/nodes\/[^/]+\/actors$/.test(u.pathname)) fetched.push(u)
    })
    try {
      await p.goto(fake.url)
      await p.locator("#links tbody tr[data-link]").nth(119).waitFor({ timeout: 15_000 })
      assert.strictEqual(await p.locator("#map g.node").count(), 16)
      assert.strictEqual(await p.locator("#node-cards [data-node]").count(), 16)
      assert.strictEqual(await p.locator("#links tbody tr[data-link]").count(), 16 * 15 / 2)
      await showView(p, "actors")
      await p.locator("#actors-range", { hasText: "1–100 of 100,000" }).waitFor({ timeout: 15_000 })
      assert.strictEqual(await p.locator("#actors tbody tr[data-actor]").count(), 100)
      await p.click(`#actors th[data-sort="mailbox"]`)
      await p.locator(`#actors th[data-sort="mailbox"][data-dir="desc"]`).waitFor({ timeout: 15_000 })
      await p.click("#actors-next")
      await p.locator("#actors-range", { hasText: "101–200 of 100,000" }).waitFor({ timeout: 15_000 })
      await p.selectOption("#actors-node", "n16")
      await p.fill("#actors-filter", "counter-7")
      await p.locator("#actors-range", { hasText: /^1–\d+ of \d[\d,]*$/ }).waitFor({ timeout: 15_000 })
      await p.locator(`#actors tbody tr[data-actor^="Counter@n16#"]`).first().waitFor({ timeout: 15_000 })
      await shot(p, "actors-16-nodes")
      await showView(p, "cluster")
      await shot(p, "cluster-16-nodes")
      // only pages were asked for, sorted and filtered by the server
      assert.isAbove(fetched.length, 0)
      for (const u of fetched) assert.isAtMost(Number(u.searchParams.get("limit")), 200, u.href)
      assert.ok(fetched.some((u) => u.searchParams.get("sort") === "mailbox" && u.searchParams.get("dir") === "desc" && u.searchParams.get("offset") === "100"))
      assert.ok(fetched.some((u) => u.pathname.includes("/n16/") && u.searchParams.get("filter") === "counter-7" && u.searchParams.get("offset") === "0"))
    } finally {
      await p.close()
      await fake.close()
    }
  }, 60_000)

  it("refuses a request without the token (401), also with a wrong one", async () => {
    const token = new URL(url).searchParams.get("token")!
    for (const path of ["/", "/api/cluster", "/api/events", "/api/nodes/n2/tree", "/assets/app.js"]) {
      assert.strictEqual((await fetch(`${base}${path}`)).status, 401, path)
      assert.strictEqual((await fetch(`${base}${path}?token=wrong-${token}`)).status, 401, path)
      assert.strictEqual((await fetch(`${base}${path}`, { headers: { authorization: "Bearer nope" } })).status, 401, path)
    }
    const post = await fetch(`${base}/api/nodes/n2/actors/${encodeURIComponent("x")}/kill`, { method: "POST" })
    assert.strictEqual(post.status, 401)
    // the same requests with it are answered
    assert.strictEqual((await fetch(`${base}/api/cluster`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
    assert.strictEqual((await fetch(`${base}/?token=${encodeURIComponent(token)}`)).status, 200)
    // a browser without the token gets no page
    const fresh = await browser.newPage()
    await fresh.context().clearCookies()
    const response = await fresh.goto(base)
    assert.strictEqual(response?.status(), 401)
    await fresh.close()
    // and no page had a script error along the way
    assert.deepStrictEqual(pageErrors, [])
  }, 30_000)
})
