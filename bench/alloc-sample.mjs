/**
 * Bytes allocated per ask, by allocating function (V8's sampling heap profiler, with the objects
 * already collected by the GC counted): less sensitive to a loaded machine than CPU time.
 *
 *   PROBE_ONLY=plain PROBE_ASKS=100000 node --expose-gc bench/alloc-sample.mjs bench/sharding-probe.ts 1 ask
 *
 * Sampling starts when the probe calls `globalThis.probeMeasured` (after its set-up) and ends at
 * its `process.exit`; it prints bytes per ask (PROBE_ASKS) and the top allocation sites (a
 * built-in, such as a Map's `set`, with the function that called it); HEAP_FOCUS=text also prints
 * the heaviest stacks through a frame containing `text`.
 */
import { Session } from "node:inspector"
import path from "node:path"
import { pathToFileURL } from "node:url"

const session = new Session()
session.connect()
globalThis.probeMeasured = () =>
  session.post("HeapProfiler.startSampling", {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  })
const asks = Number(process.env.PROBE_ASKS ?? 400_000)
const name = (cf) => `${cf.functionName || "(anon)"} ${cf.url.split("/").slice(-2).join("/")}:${cf.lineNumber}`
const exit = process.exit.bind(process)
process.exit = (code) => {
  session.post("HeapProfiler.stopSampling", {}, (error, result) => {
    if (error) {
      console.error(error)
      return exit(1)
    }
    const sites = new Map()
    const stacks = new Map()
    const focus = process.env.HEAP_FOCUS
    let total = 0
    const walk = (node, caller, stack) => {
      const here = node.callFrame.url ? name(node.callFrame) : `${name(node.callFrame)} <- ${caller}`
      const frames = focus === undefined ? stack : [...stack, name(node.callFrame)]
      sites.set(here, (sites.get(here) ?? 0) + node.selfSize)
      total += node.selfSize
      if (focus !== undefined && node.selfSize > 0 && frames.some((f) => f.includes(focus))) {
        const key = frames.slice(-12).reverse().join(" < ")
        stacks.set(key, (stacks.get(key) ?? 0) + node.selfSize)
      }
      for (const child of node.children) walk(child, here, frames)
    }
    walk(result.profile.head, "", [])
    console.log(`bytes per ask ${(total / asks).toFixed(0)}`)
    for (const [site, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      console.log(`${(bytes / asks).toFixed(1).padStart(8)}  ${site}`)
    }
    for (const [stack, bytes] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
      console.log(`${(bytes / asks).toFixed(1).padStart(8)}  ${stack}`)
    }
    exit(code)
  })
}
process.argv.splice(1, 1)
await import(pathToFileURL(path.resolve(process.argv[1])).href)
