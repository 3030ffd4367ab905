// Every TypeScript block of the README type-checks, and the complete ones run. A complete block
// (one with its imports) is a module as it stands: it must run to its end, printing what its
// `console.log(...) // value` comments say. A fragment is compiled inside `Effect.gen` after the
// prelude in the HTML comment just above it (`<!-- prelude ... -->`, invisible on the rendered
// page), which declares what the fragment takes from its context. `telex`, `telex/testing` and
// `telex/sqlite` are mapped to the sources, and `./` paths in preludes to the repository.
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const REPO = fileURLToPath(new URL("../..", import.meta.url))

interface Block {
  readonly line: number
  readonly code: string
  /** declarations a fragment takes from its context; undefined for a complete block */
  readonly prelude: string | undefined
}

/** The ```ts blocks of a markdown text, each with the prelude comment right above it, if any. */
export const blocksOf = (text: string): Array<Block> => {
  const lines = text.split("\n")
  const out: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    let end = i + 1
    while (end < lines.length && lines[end]!.trim() !== "```") end++
    let prelude: string | undefined
    if (lines[i - 1]?.trim() === "-->") {
      let start = i - 2
      while (start >= 0 && !lines[start]!.startsWith("<!-- prelude")) start--
      if (start >= 0) prelude = lines.slice(start + 1, i - 1).join("\n")
    }
    out.push({ line: i + 1, code: lines.slice(i + 1, end).join("\n") + "\n", prelude })
    i = end
  }
  return out
}

const ENTRIES: Record<string, string> = {
  "telex": "../src/index.ts",
  "telex/testing": "../src/testing/index.ts",
  "telex/sqlite": "../src/sqlite.ts"
}

const mapImports = (code: string): string =>
  code
    .replace(/from "(telex(?:\/\w+)?)"/g, (whole, spec: string) => ENTRIES[spec] !== undefined ? `from "${ENTRIES[spec]}"` : whole)
    .replace(/from "\.\//g, `from "../`)

const isComplete = (code: string): boolean => /^import /m.test(code)

/** What a complete block's `console.log(...) // value` comments say it prints, in order. */
const expectedOutput = (code: string): Array<string> =>
  Array.from(code.matchAll(/console\.log\(.*\)\s*\/\/\s*(.+?)\s*$/gm), (m) => m[1]!)

describe("README code blocks", () => {
  it("finds blocks and their preludes", () => {
    const md = "text\n\n```ts\nimport { A } from \"telex\"\n```\n\n<!-- prelude\ndeclare const x: number\n-->\n```ts\nx + 1\n```\n"
    assert.deepStrictEqual(blocksOf(md), [
      { line: 3, code: "import { A } from \"telex\"\n", prelude: undefined },
      { line: 10, code: "x + 1\n", prelude: "declare const x: number" }
    ])
  })

  it("type-check; the complete ones run", () => {
    const blocks = blocksOf(readFileSync(join(REPO, "README.md"), "utf8"))
    assert.isAtLeast(blocks.length, 4)
    const dir = join(REPO, ".readme-examples")
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir)
    try {
      const files = blocks.map((block) => {
        const name = `readme_${block.line}.ts`
        const complete = isComplete(block.code)
        assert.isTrue(
          complete || block.prelude !== undefined,
          `README.md:${block.line}: a fragment needs a <!-- prelude ... --> comment right above it`
        )
        const code = complete
          ? mapImports(block.code)
          : `${mapImports(block.prelude!)}\n\nexport const fragment = Effect.gen(function*() {\n${block.code}})\n`
        writeFileSync(join(dir, name), code)
        return { name, block, complete }
      })
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        extends: "../tsconfig.json",
        compilerOptions: { noUnusedLocals: false, skipLibCheck: true },
        include: ["*.ts"]
      }))
      const tsc = spawnSync(process.execPath, [join(REPO, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", dir], {
        cwd: REPO,
        encoding: "utf8",
        timeout: 120_000
      })
      const list = files.map((f) => `${f.name} ← README.md:${f.block.line}`).join("\n")
      assert.strictEqual(tsc.status, 0, `${tsc.stdout}${tsc.stderr}\nblocks:\n${list}`)
      for (const f of files.filter((f) => f.complete)) {
        const run = spawnSync(process.execPath, [join(dir, f.name)], { cwd: REPO, encoding: "utf8", timeout: 60_000 })
        assert.strictEqual(run.status, 0, `README.md:${f.block.line} exited with ${run.status}: ${run.stderr}`)
        assert.deepStrictEqual(
          run.stdout.split("\n").filter((l) => l.length > 0),
          expectedOutput(f.block.code),
          `README.md:${f.block.line}: what it prints`
        )
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
