/**
 * Cluster configuration errors: every bad input gives a `ConfigError` whose message names the
 * bad field and says what is wrong — schema validation, cross-field checks, files, the app
 * module, the node's `run` / `spawnable` lists and the secret.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as ClusterNode from "../../src/cluster/ClusterNode.ts"
import * as Config from "../../src/cluster/Config.ts"

const good = {
  cluster: "demo",
  nodes: [
    { name: "n1", port: 7101, run: ["jobs"] },
    { name: "n2", port: 7102 }
  ]
}

/** Validates `raw`, expecting a ConfigError; returns it. */
const invalid = (raw: unknown) =>
  Effect.gen(function*() {
    const result = yield* Effect.result(Config.validate(raw, "cluster.json"))
    if (result._tag === "Success") return assert.fail(`expected a ConfigError for ${JSON.stringify(raw)}`)
    const error = result.failure
    assert.instanceOf(error, Config.ConfigError)
    assert.strictEqual(error._tag, "ConfigError")
    return error
  })

/** Asserts that `text` contains every one of `parts`. */
const includesAll = (text: string, ...parts: Array<string>) => {
  for (const part of parts) assert.include(text, part)
}

const dir = mkdtempSync(join(tmpdir(), "telex-config-test-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** An app module in plain JS (no imports): ClusterNode.run only checks the names it lists. */
const appFile = write(
  "app.mjs",
  `export default { modules: { jobs: null, workers: null }, spawnable: [{ protocol: { name: "Counter" } }] }\n`
)

describe("Config.validate", () => {
  it.effect("accepts a good config, with defaults left unset", () =>
    Effect.gen(function*() {
      const config = yield* Config.validate(good)
      assert.strictEqual(config.cluster, "demo")
      assert.deepStrictEqual(config.nodes.map((n) => n.name), ["n1", "n2"])
      assert.isUndefined(config.seeds)
      const withAll = yield* Config.validate({
        ...good,
        seeds: ["n1"],
        heartbeat: { interval: "500ms", acceptablePause: "2s" },
        reconnect: { initial: "200ms", max: "1.5s" },
        supervision: { intensity: 3, period: "5s" },
        launcher: { intensity: 0, period: "1m" }
      })
      assert.strictEqual(withAll.heartbeat?.interval, "500ms")
    }))

  it.effect("missing cluster", () =>
    Effect.gen(function*() {
      const { cluster: _, ...rest } = good
      const e = yield* invalid(rest)
      includesAll(e.message, "invalid cluster config", `["cluster"]`, "Missing key")
    }))

  it.effect("cluster of the wrong type", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, cluster: 42 })
      includesAll(e.message, `["cluster"]`, "Expected string")
    }))

  it.effect("nodes empty", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, nodes: [] })
      includesAll(e.message, `["nodes"]`, "at least 1")
    }))

  it.effect("port 70000", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, nodes: [good.nodes[0], { name: "n2", port: 70000 }] })
      includesAll(e.message, `["nodes"][1]["port"]`, "between 1 and 65535")
    }))

  it.effect(`port "x"`, () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, nodes: [{ name: "n1", port: "x" }] })
      includesAll(e.message, `["nodes"][0]["port"]`, "Expected number")
    }))

  it.effect("a bad node name", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, nodes: [{ name: "1 bad", port: 7101 }] })
      includesAll(e.message, `["nodes"][0]["name"]`, "node name")
    }))

  it.effect("several errors are all reported", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ cluster: "", nodes: [{ name: "n1", port: 0 }] })
      includesAll(e.message, `["cluster"]`, `["nodes"][0]["port"]`)
    }))

  it.effect("duplicate node names", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ cluster: "c", nodes: [{ name: "n1", port: 7101 }, { name: "n1", port: 7102 }] })
      includesAll(e.message, "nodes[1].name", "duplicate node name", `"n1"`)
    }))

  it.effect("duplicate host:port", () =>
    Effect.gen(function*() {
      const e = yield* invalid({
        cluster: "c",
        nodes: [{ name: "n1", port: 7101 }, { name: "n2", port: 7102 }, { name: "n3", host: "127.0.0.1", port: 7101 }]
      })
      includesAll(e.message, "nodes[2].port", "127.0.0.1:7101", "two nodes")
      // the same port on another host is fine
      yield* Config.validate({ cluster: "c", nodes: [{ name: "n1", port: 7101 }, { name: "n2", host: "127.0.0.2", port: 7101 }] })
    }))

  it.effect("unknown seed", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, seeds: ["n1", "n9"] })
      includesAll(e.message, "seeds[1]", `"n9"`, "not a node of this config")
    }))

  it.effect(`bad duration "3 sec"`, () =>
    Effect.gen(function*() {
      const e = yield* invalid({ ...good, heartbeat: { interval: "3 sec" } })
      includesAll(e.message, `["heartbeat"]["interval"]`, "a duration such as")
      const e2 = yield* invalid({ ...good, supervision: { period: "soon" } })
      includesAll(e2.message, `["supervision"]["period"]`, "a duration such as")
    }))

  it.effect("sharding: store kind, shard count, a memory store only for one node", () =>
    Effect.gen(function*() {
      const ok = yield* Config.validate({ ...good, sharding: { store: "sqlite", path: "shards.db", shards: 256, leaseTtl: "3s" } })
      assert.strictEqual(ok.sharding?.shards, 256)
      includesAll((yield* invalid({ ...good, sharding: { store: "redis" } })).message, `["sharding"]["store"]`)
      includesAll((yield* invalid({ ...good, sharding: { shards: 0 } })).message, `["sharding"]["shards"]`)
      includesAll((yield* invalid({ ...good, sharding: { store: "memory" } })).message, "sharding.store", "sqlite")
    }))

  it.effect("not an object", () =>
    Effect.gen(function*() {
      const e = yield* invalid(undefined)
      includesAll(e.message, "invalid cluster config", "Expected")
    }))
})

describe("Config.load", () => {
  it.effect("a valid JSON file, relative paths resolved against its directory", () =>
    Effect.gen(function*() {
      const file = write("ok.json", JSON.stringify(good))
      const { config, dir: configDir } = yield* Config.load(file)
      assert.strictEqual(config.cluster, "demo")
      assert.strictEqual(configDir, dir)
    }))

  it.effect("a JSON syntax error", () =>
    Effect.gen(function*() {
      const file = write("syntax.json", `{ "cluster": "c", nodes: [] }`)
      const e = yield* Effect.flip(Config.load(file))
      assert.strictEqual(e._tag, "ConfigError")
      assert.strictEqual(e.path, file)
      includesAll(e.message, "not valid JSON")
    }))

  it.effect("a missing file", () =>
    Effect.gen(function*() {
      const file = join(dir, "nope.json")
      const e = yield* Effect.flip(Config.load(file))
      assert.strictEqual(e._tag, "ConfigError")
      includesAll(e.message, "cannot read the config file", "nope.json")
    }))

  it.effect("validation errors name the file in the error's path", () =>
    Effect.gen(function*() {
      const file = write("port.json", JSON.stringify({ ...good, nodes: [{ name: "n1", port: 70000 }] }))
      const e = yield* Effect.flip(Config.load(file))
      assert.strictEqual(e.path, file)
      includesAll(e.message, `["nodes"][0]["port"]`)
    }))

  it.effect("a config module (default export) loads like JSON", () =>
    Effect.gen(function*() {
      const file = write("cluster.config.mjs", `export default ${JSON.stringify(good)}\n`)
      const { config } = yield* Config.load(file)
      assert.strictEqual(config.nodes.length, 2)
    }))
})

describe("Config.nodeOf", () => {
  it.effect("an unknown node name lists the names that exist", () =>
    Effect.gen(function*() {
      const config = yield* Config.validate(good)
      assert.strictEqual((yield* Config.nodeOf(config, "n2")).port, 7102)
      const e = yield* Effect.flip(Config.nodeOf(config, "n7"))
      assert.strictEqual(e._tag, "ConfigError")
      includesAll(e.message, `no node named "n7"`, "n1, n2")
    }))
})

describe("ClusterNode: app, run, spawnable, secret", () => {
  it.effect("an app module without a default export", () =>
    Effect.gen(function*() {
      const app = write("no-default.mjs", `export const modules = {}\n`)
      const config = yield* Config.validate({ ...good, app: "./no-default.mjs" })
      const e = yield* Effect.flip(ClusterNode.loadApp(config, dir))
      assert.strictEqual(e._tag, "ConfigError")
      assert.strictEqual(e.path, "app")
      includesAll(e.message, app, "no default export")
    }))

  it.effect("an app module that does not exist", () =>
    Effect.gen(function*() {
      const config = yield* Config.validate({ ...good, app: "./missing-app.mjs" })
      const e = yield* Effect.flip(ClusterNode.loadApp(config, dir))
      assert.strictEqual(e.path, "app")
      includesAll(e.message, "cannot load the app module", "missing-app.mjs")
    }))

  it.effect("a good app module loads", () =>
    Effect.gen(function*() {
      const config = yield* Config.validate({ ...good, app: appFile })
      const app = yield* ClusterNode.loadApp(config, "/elsewhere") // absolute path: dir unused
      assert.deepStrictEqual(Object.keys(app.modules), ["jobs", "workers"])
    }))

  const secretEnv = `TELEX_CONFIG_TEST_SECRET_${process.pid}`
  const withSecret = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        process.env[secretEnv] = "a-test-secret"
      }),
      () => effect,
      () => Effect.sync(() => delete process.env[secretEnv])
    )

  /** Runs a node of a config file, expecting it to fail with a ConfigError before it starts. */
  const runFails = (config: object, name: string) =>
    Effect.gen(function*() {
      const file = write(`run-${name}-${Math.random().toString(36).slice(2)}.json`, JSON.stringify({ secretEnv, app: appFile, ...config }))
      const exit = yield* withSecret(
        ClusterNode.run(file, name).pipe(Effect.scoped, Effect.timeout("20 seconds"), Effect.exit)
      )
      assert.isTrue(Exit.isFailure(exit), "the node must not start")
      const error = yield* Effect.flip(exit)
      assert.strictEqual((error as any)._tag, "ConfigError", String(error))
      return error as Config.ConfigError
    })

  it.live("unknown module in run", () =>
    Effect.gen(function*() {
      const e = yield* runFails({ cluster: "c", nodes: [{ name: "n1", port: 7101, run: ["jobs", "billing"] }] }, "n1")
      assert.strictEqual(e.path, "nodes[n1].run")
      includesAll(e.message, `unknown module "billing"`, "jobs, workers")
    }))

  it.live("unknown spawnable", () =>
    Effect.gen(function*() {
      const e = yield* runFails({ cluster: "c", nodes: [{ name: "n1", port: 7101, spawnable: ["Counter", "Printer"] }] }, "n1")
      assert.strictEqual(e.path, "nodes[n1].spawnable")
      includesAll(e.message, `"Printer"`, "not among the app's spawnable modules", "Counter")
    }))

  it.live("unknown node name", () =>
    Effect.gen(function*() {
      const e = yield* runFails({ cluster: "c", nodes: [{ name: "n1", port: 7101 }, { name: "n2", port: 7102 }] }, "n3")
      includesAll(e.message, `no node named "n3"`, "n1, n2")
    }))

  it.effect("missing secret", () =>
    Effect.gen(function*() {
      const variable = `TELEX_CONFIG_TEST_UNSET_${process.pid}`
      delete process.env[variable]
      const config = yield* Config.validate({ ...good, secretEnv: variable })
      const e = yield* Effect.flip(ClusterNode.secretOf(config))
      assert.strictEqual(e._tag, "ConfigError")
      assert.strictEqual(e.path, "secretEnv")
      includesAll(e.message, "secret is not set", variable)
      // an empty value counts as unset
      process.env[variable] = ""
      const empty = yield* Effect.flip(ClusterNode.secretOf(config))
      includesAll(empty.message, variable)
      process.env[variable] = "s3cret"
      assert.strictEqual(Redacted.value(yield* ClusterNode.secretOf(config)), "s3cret")
      delete process.env[variable]
    }))

  it.effect("the default secret variable is TELEX_SECRET", () =>
    Effect.gen(function*() {
      const saved = process.env.TELEX_SECRET
      delete process.env.TELEX_SECRET
      const e = yield* Effect.flip(ClusterNode.secretOf(yield* Config.validate(good))).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (saved !== undefined) process.env.TELEX_SECRET = saved
        }))
      )
      includesAll(e.message, "TELEX_SECRET")
    }))
})
