/**
 * `telex new <dir>`: writes a new project that works out of the box — an app module with a
 * supervised actor, `cluster.json`, a SimCluster test that partitions and heals the cluster, a
 * strict `tsconfig.json`, `.gitignore` and a `package.json` with `start` and `test` scripts.
 * The files come from the package's `templates/starter/` folder; the dependency versions from
 * this package's own `package.json`, so a new project asks for what this Telex supports.
 *
 * @since 0.1.0
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { basename, dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { ConfigError } from "../cluster/Config.ts"

const TEMPLATES = fileURLToPath(new URL("../../templates/starter/", import.meta.url))
const PACKAGE_JSON = fileURLToPath(new URL("../../package.json", import.meta.url))

/** template files whose name npm would not pack as is */
const RENAMED: Record<string, string> = { "_gitignore": ".gitignore" }

interface OwnPackage {
  readonly name: string
  readonly version: string
  readonly engines?: { readonly node?: string }
  readonly peerDependencies?: Record<string, string>
  readonly devDependencies?: Record<string, string>
}

const listFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? listFiles(path) : [path]
  })

/** a package name from a directory name: lower case, npm's allowed characters */
export const packageName = (dir: string): string =>
  basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+/, "") || "telex-app"

/** the new project's package.json */
export const packageJson = (name: string, own: OwnPackage): string => {
  const peer = own.peerDependencies ?? {}
  const dev = own.devDependencies ?? {}
  const pick = (from: Record<string, string>, names: ReadonlyArray<string>) =>
    Object.fromEntries(names.filter((n) => from[n] !== undefined).map((n) => [n, from[n]!]))
  return JSON.stringify(
    {
      name,
      version: "0.1.0",
      private: true,
      type: "module",
      engines: { node: own.engines?.node ?? ">=22.19" },
      scripts: {
        start: "telex start cluster.json",
        status: "telex status cluster.json",
        test: "tsc --noEmit -p . && vitest run"
      },
      dependencies: {
        [own.name]: `^${own.version}`,
        ...pick(peer, ["effect", "@effect/platform-node"])
      },
      devDependencies: pick(dev, ["@effect/vitest", "@types/node", "typescript", "vitest"])
    },
    null,
    2
  ) + "\n"
}

/** Writes the starter into `target` (created; must be empty if it exists); returns the files written. */
export const generate = (target: string): Effect.Effect<Array<string>, ConfigError> =>
  Effect.try({
    try: () => {
      if (existsSync(target) && readdirSync(target).length > 0) {
        throw new ConfigError({ path: target, message: `${target} exists and is not empty: give a new directory` })
      }
      const own = JSON.parse(readFileSync(PACKAGE_JSON, "utf8")) as OwnPackage
      const name = packageName(target)
      const files: Array<[string, string]> = listFiles(TEMPLATES).map((path) => {
        const rel = relative(TEMPLATES, path)
        const out = join(dirname(rel), RENAMED[basename(rel)] ?? basename(rel))
        return [out, readFileSync(path, "utf8").replaceAll("{{name}}", name)]
      })
      files.push(["package.json", packageJson(name, own)])
      for (const [rel, text] of files) {
        mkdirSync(dirname(join(target, rel)), { recursive: true })
        writeFileSync(join(target, rel), text, { flag: "wx" })
      }
      return files.map(([rel]) => rel).sort()
    },
    catch: (e) => e instanceof ConfigError ? e : new ConfigError({ path: target, message: `cannot write the project: ${(e as Error).message}` })
  })
