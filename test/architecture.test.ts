/**
 * The shape of `src/`: each folder is a layer, imports between folders point one way only (no
 * cycle between folders), a folder's `internal/` is private to it (`src/internal/` is shared by
 * the whole package), and nothing in `src/` reaches outside `src/` (examples and tests build on
 * the library, never the reverse).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const SRC = fileURLToPath(new URL("../src", import.meta.url))

const sourceFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith(".ts") ? [p] : []
  })

const SPECIFIER = /(?:^|[\s;}])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm

interface Edge {
  readonly from: string // path under src/
  readonly to: string // resolved path (under src/ when inside)
}

const edges: Array<Edge> = sourceFiles(SRC).flatMap((file) => {
  const text = fs.readFileSync(file, "utf8")
  const out: Array<Edge> = []
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3]
    if (spec === undefined || !spec.startsWith(".")) continue
    out.push({
      from: path.relative(SRC, file).split(path.sep).join("/"),
      to: path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep).join("/")
    })
  }
  return out
})

/** The folder of a path under src/ (`undefined` for the package entry points at the top). */
const folderOf = (p: string): string | undefined => (p.includes("/") ? p.split("/")[0] : undefined)

const folderGraph = (): Map<string, Set<string>> => {
  const graph = new Map<string, Set<string>>()
  for (const { from, to } of edges) {
    const a = folderOf(from)
    const b = folderOf(to)
    if (a === undefined || b === undefined || a === b || to.startsWith("..")) continue
    if (!graph.has(a)) graph.set(a, new Set())
    graph.get(a)!.add(b)
  }
  return graph
}

/** Strongly connected components with more than one folder (Tarjan). */
const cycles = (graph: Map<string, Set<string>>): Array<Array<string>> => {
  let index = 0
  const indices = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const out: Array<Array<string>> = []
  const visit = (v: string) => {
    indices.set(v, index)
    low.set(v, index++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!))
    }
    if (low.get(v) === indices.get(v)) {
      const component: Array<string> = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) out.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!indices.has(v)) visit(v)
  return out
}

describe("architecture", () => {
  it("the import scanner sees the imports", () => {
    // guards the checks below against a scanner that silently finds nothing
    expect(edges.some((e) => e.from === "index.ts" && e.to === "actors/Actor.ts")).toBe(true)
    expect(folderGraph().get("transport")?.has("actors")).toBe(true)
  })

  it("no cycle between src/ folders", () => {
    expect(cycles(folderGraph())).toEqual([])
  })

  it("no import of another folder's internal/", () => {
    // `<folder>/internal/` is private to that folder; the top-level `internal/` is the package's
    const crossing = edges
      .filter(({ from, to }) => !to.startsWith("internal/") && to.split("/").includes("internal") && folderOf(from) !== folderOf(to))
      .map(({ from, to }) => `${from} -> ${to}`)
    expect(crossing).toEqual([])
  })

  it("only src/actors knows the actor cell (other folders go through Kernel and ActorContext)", () => {
    const naming = sourceFiles(SRC)
      .filter((file) => folderOf(path.relative(SRC, file).split(path.sep).join("/")) !== "actors")
      .filter((file) => /\bCell\b/.test(fs.readFileSync(file, "utf8")))
      .map((file) => path.relative(SRC, file))
    expect(naming).toEqual([])
  })

  it("outside src/actors a ref's delivery target is reached through Kernel.targetOf", () => {
    const targetCall = /\.target\.(isAlive|capacity|validate|offer|waitForSpace|signal|exitSignal|addLink|removeLink|addMonitor|removeMonitor|shutdown|onExit|cancelAsk)\b|=\s*\w+\.target\s*$/m
    const reaching = sourceFiles(SRC)
      .filter((file) => folderOf(path.relative(SRC, file).split(path.sep).join("/")) !== "actors")
      .filter((file) => targetCall.test(fs.readFileSync(file, "utf8")))
      .map((file) => path.relative(SRC, file))
    expect(reaching).toEqual([])
  })

  it("nothing in src/ imports from outside src/", () => {
    expect(edges.filter(({ to }) => to.startsWith("..")).map(({ from, to }) => `${from} -> ${to}`)).toEqual([])
  })
})
