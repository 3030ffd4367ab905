// `telex new`: what the starter writes, and what it refuses. (That the project it writes installs,
// type-checks, tests and runs is checked on the packed package in pack.test.ts.)
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Starter from "../../src/cli/Starter.ts"
import * as NodeVersion from "../../src/reliable/internal/nodeVersion.ts"

const own = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))

describe("telex new", () => {
  it.effect("writes an app, cluster.json, a test, a strict tsconfig, .gitignore and package.json", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "telex-new-"))
      try {
        const dir = join(root, "My App")
        const files = yield* Starter.generate(dir)
        assert.deepStrictEqual(files, [
          ".gitignore", "README.md", "cluster.json", "package.json", "src/app.ts", "test/app.test.ts", "tsconfig.json"
        ])
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
        assert.strictEqual(pkg.name, "my-app")
        assert.strictEqual(pkg.dependencies.telex, `^${own.version}`)
        assert.strictEqual(pkg.dependencies.effect, own.peerDependencies.effect)
        assert.strictEqual(pkg.dependencies["@effect/platform-node"], own.peerDependencies["@effect/platform-node"])
        assert.ok(pkg.scripts.start.startsWith("telex start"))
        assert.ok(pkg.scripts.test.includes("vitest run"))
        for (const dev of ["typescript", "vitest", "@effect/vitest", "@types/node"]) {
          assert.strictEqual(pkg.devDependencies[dev], own.devDependencies[dev], dev)
        }
        assert.match(readFileSync(join(dir, ".gitignore"), "utf8"), /^\.telex\/$/m)
        const tsconfig = JSON.parse(readFileSync(join(dir, "tsconfig.json"), "utf8"))
        assert.strictEqual(tsconfig.compilerOptions.strict, true)
        assert.strictEqual(tsconfig.compilerOptions.skipLibCheck, undefined)
        const cluster = JSON.parse(readFileSync(join(dir, "cluster.json"), "utf8"))
        assert.strictEqual(cluster.cluster, "my-app")
        assert.strictEqual(cluster.nodes.length, 2)
        assert.ok(statSync(join(dir, cluster.app)).isFile())
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    }))

  it.effect("refuses a directory that is not empty, and writes nothing there", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "telex-new-"))
      try {
        writeFileSync(join(root, "keep.txt"), "mine")
        const exit = yield* Effect.exit(Starter.generate(root))
        assert.ok(Exit.isFailure(exit))
        assert.match(String((exit as any).cause), /not empty/)
        assert.strictEqual(readFileSync(join(root, "keep.txt"), "utf8"), "mine")
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    }))
})

describe("supported Node.js versions", () => {
  it("match engines in package.json and the bin's check", () => {
    assert.strictEqual(own.engines.node, `>=${NodeVersion.MIN_NODE.join(".")}`)
    const bin = readFileSync(new URL("../../bin/telex.js", import.meta.url), "utf8")
    assert.include(bin, `major < ${NodeVersion.MIN_NODE[0]} || (major === ${NodeVersion.MIN_NODE[0]} && minor < ${NodeVersion.MIN_NODE[1]})`)
    assert.isTrue(NodeVersion.supported("22.19.0"))
    assert.isTrue(NodeVersion.supported("24.0.1"))
    assert.isFalse(NodeVersion.supported("22.18.9"))
    assert.isFalse(NodeVersion.supported("20.20.2"))
  })
})
