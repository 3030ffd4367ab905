// Every `@example` in the sources' doc comments (what the API reference, `npm run docs`, shows)
// is a complete module that type-checks: each is written to a scratch folder of the repository
// with `telex`, `telex/testing` and `telex/sqlite` mapped to the sources, and tsc checks them all.
import { spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const REPO = fileURLToPath(new URL("../..", import.meta.url))
const SRC = join(REPO, "src")

const sources = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : []
  })

interface Example {
  readonly file: string
  readonly line: number
  readonly code: string
}

/** the `@example` sections of the doc comments of a file: up to the next tag or the comment's end */
export const examplesOf = (file: string, text: string): Array<Example> => {
  const out: Array<Example> = []
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split("\n")
    const startLine = text.slice(0, comment.index).split("\n").length
    for (let i = 0; i < lines.length; i++) {
      if (!/^\s*\*\s*@example\b/.test(lines[i]!)) continue
      const body: Array<string> = []
      let j = i + 1
      for (; j < lines.length; j++) {
        const line = lines[j]!.replace(/^\s*\*\/\s*$/, "").replace(/^\s*\* ?/, "")
        if (/^@\w+/.test(line)) break
        body.push(line)
      }
      out.push({ file, line: startLine + i, code: body.join("\n").replace(/^```\w*\n|```\s*$/gm, "").trim() + "\n" })
      i = j - 1
    }
  }
  return out
}

const ENTRIES: Record<string, string> = {
  "telex": "src/index.ts",
  "telex/testing": "src/testing/index.ts",
  "telex/sqlite": "src/sqlite.ts",
  "telex/postgres": "src/postgres.ts"
}

describe("doc-comment examples", () => {
  it("finds the examples (a comment's @example up to its next tag)", () => {
    const found = examplesOf("x.ts", "/**\n * Hi.\n *\n * @example\n * import { A } from \"telex\"\n * A.b()\n *\n * @since 0.1.0\n */\n")
    assert.deepStrictEqual(found, [{ file: "x.ts", line: 4, code: "import { A } from \"telex\"\nA.b()\n" }])
  })

  it("type-check, each as a module of its own", () => {
    const examples = sources(SRC).flatMap((file) => examplesOf(file, readFileSync(file, "utf8")))
    assert.isAtLeast(examples.length, 3)
    const dir = join(REPO, ".doc-examples")
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir)
    try {
      const names = examples.map((example, i) => {
        const name = `${relative(SRC, example.file).replace(/[/.]/g, "_")}_${example.line}_${i}.ts`
        const code = example.code.replace(/from "(telex(?:\/\w+)?)"/g, (whole, spec: string) =>
          ENTRIES[spec] !== undefined ? `from "../${ENTRIES[spec]}"` : whole)
        assert.include(code, "import ", `${example.file}:${example.line}: an example is a complete module, with its imports`)
        writeFileSync(join(dir, name), code)
        return `${name} ← ${relative(REPO, example.file)}:${example.line}`
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
      assert.strictEqual(tsc.status, 0, `${tsc.stdout}${tsc.stderr}\nexamples:\n${names.join("\n")}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
