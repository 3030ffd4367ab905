#!/usr/bin/env node
// The `telex` command. Installed as a package it runs the compiled JavaScript (dist/); inside the
// Telex repository (a checkout, not under node_modules) it runs the TypeScript sources directly,
// so development needs no build step (TELEX_FROM_DIST=1 runs dist/ there too).
import { existsSync } from "node:fs"
import * as Module from "node:module"
import { sep } from "node:path"
import { fileURLToPath } from "node:url"
import { setFlagsFromString } from "node:v8"

// keep in step with `engines` in package.json and src/reliable/internal/nodeVersion.ts (a test checks)
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`telex needs Node.js >= 22.19 (this is ${process.version})`)
  process.exit(1)
}

// `telex node`: module loading at start-up makes V8 grow the young generation to its maximum
// (tens of MiB an idle node keeps). The node holds it at its initial size until it is ready, then
// lets it grow as it would have (see heldNursery in src/cluster/ClusterNode.ts). Not when the
// user set the growth factor.
if (process.argv[2] === "node" && !process.execArgv.some((a) => a.startsWith("--semi-space-growth-factor"))) {
  setFlagsFromString("--semi-space-growth-factor=1")
  globalThis[Symbol.for("telex/heldNursery")] = true
}

// Node's on-disk compile cache (NODE_COMPILE_CACHE picks its directory, default under the OS temp
// dir; NODE_DISABLE_COMPILE_CACHE=1 turns it off): a start with a warm cache neither compiles the
// modules again nor, for TypeScript sources, strips their types again, so that the type stripper
// (tens of MiB a node would keep to its end) is not even loaded.
Module.enableCompileCache()

const sources = new URL("../src/cli/main.ts", import.meta.url)
const fromSources = process.env.TELEX_FROM_DIST !== "1" &&
  !fileURLToPath(import.meta.url).includes(`${sep}node_modules${sep}`) &&
  existsSync(sources)
const compiled = new URL("../dist/cli/main.js", import.meta.url)
if (!fromSources && !existsSync(compiled)) {
  console.error("telex: dist/ is missing: run `npm run build` in the telex package")
  process.exit(1)
}
const entry = (name) => new URL(fromSources ? `../src/cli/${name}.ts` : `../dist/cli/${name}.js`, import.meta.url).href
// `telex node --config <file> --name <node>` (as the launcher starts nodes) runs without loading
// the command-line parser: a node process keeps less memory; any other command line goes through it
const fast = process.argv[2] === "node" && (await import(entry("nodeCommand"))).main(process.argv.slice(2))
if (!fast) (await import(entry("main"))).main()
