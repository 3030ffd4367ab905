/**
 * What a node was doing during its event loop's longest gaps: reads a CPU profile written by the
 * soak app (SOAK_CPU_PROF, `Probe.Profile`: the profile and the gaps over 50 ms) and prints, for
 * each of the `top` longest gaps, the functions by self and by inclusive time in it.
 *
 *   node bench/soak-busy.mjs /tmp/prof/n1-123-456.cpuprofile [top=3] [lines=30]
 */
import { readFileSync } from "node:fs"

const prof = JSON.parse(readFileSync(process.argv[2], "utf8"))
const top = Number(process.argv[3] ?? 3)
const lines = Number(process.argv[4] ?? 30)
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const label = (n) =>
  `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber + 1}`
let t = prof.startTime
const times = prof.timeDeltas.map((d) => (t += d))
const gaps = [...(prof.gaps ?? [])].sort((a, b) => (b[1] - b[0]) - (a[1] - a[0]))
const at = (us) => ((us - prof.startTime) / 1e6).toFixed(2)
console.log(`gaps over 50 ms: ${gaps.length}; longest (ms@s): ${gaps.slice(0, 12).map(([a, b]) => `${((b - a) / 1000).toFixed(0)}@${at(a)}`).join(" ")}`)
for (const [from, to] of gaps.slice(0, top)) {
  const self = new Map()
  const incl = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    if (times[i] < from || times[i] > to) continue
    const dt = (times[i + 1] ?? times[i]) - times[i]
    let id = prof.samples[i]
    const k0 = label(byId.get(id))
    self.set(k0, (self.get(k0) ?? 0) + dt)
    const seen = new Set()
    while (id !== undefined) {
      const k = label(byId.get(id))
      if (!seen.has(k)) {
        seen.add(k)
        incl.set(k, (incl.get(k) ?? 0) + dt)
      }
      id = parent.get(id)
    }
  }
  console.log(`\n=== gap of ${((to - from) / 1000).toFixed(0)} ms at ${at(from)} s`)
  console.log("self:")
  for (const [k, v] of [...self].sort((x, y) => y[1] - x[1]).slice(0, lines)) console.log(`  ${(v / 1000).toFixed(1).padStart(8)} ms  ${k}`)
  console.log("inclusive:")
  for (const [k, v] of [...incl].sort((x, y) => y[1] - x[1]).slice(0, lines * 2)) console.log(`  ${(v / 1000).toFixed(1).padStart(8)} ms  ${k}`)
}
