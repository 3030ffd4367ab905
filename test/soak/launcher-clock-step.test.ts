/**
 * `telex start` counts the restarts of a node process (its intensity per node) on the monotonic
 * clock: a step of the wall clock back does not make old restarts look recent. Here the
 * launcher's wall clock steps an hour back every half second (a preload replaces `Date.now`)
 * while its one node kills itself 1.5 s after each start, further apart than the intensity's
 * period (1 restart in 1 s): the node is restarted every time and never given up
 * (on the wall clock, its second death counted the first restart as recent and the launcher gave
 * up on every node at once).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { freePorts, killAll, telex } from "../cluster/_process.ts"

const APP = fileURLToPath(new URL("../fixtures/soak-launcher-app.ts", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "telex-soak-launcher-clock-"))
afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, "gm"))?.length ?? 0

describe("soak: the launcher and steps of the wall clock", () => {
  it("a node that dies further apart than the period is restarted every time, however the wall clock steps", async () => {
    const [port] = await freePorts(1)
    const file = join(dir, "cluster.json")
    writeFileSync(file, JSON.stringify({
      cluster: "launcher-clock",
      app: APP,
      nodes: [{ name: "n1", port, run: ["shortlived"] }],
      launcher: { intensity: 1, period: "1s" }
    }))
    const preload = join(dir, "step-back.mjs")
    writeFileSync(preload, "const real = Date.now; const t0 = real(); Date.now = () => real() - Math.floor((real() - t0) / 500) * 3_600_000\n")
    const launcher = telex(["start", file], {
      env: { TELEX_SECRET: "launcher-clock-secret-0123456789", NODE_OPTIONS: `--import=${preload}` },
      cwd: dir
    })
    await launcher.waitFor("n1 restarted after its second death", (out) => count(out, /^n1 +│ restarting node process/) >= 2, 60_000)
    const why = launcher.describe()
    assert.notMatch(launcher.stdout + launcher.stderr, /gave up|giving up|keeps dying/, why)
    assert.isTrue(launcher.groupAlive(), `the launcher still runs\n${why}`)
  }, 90_000)
})
