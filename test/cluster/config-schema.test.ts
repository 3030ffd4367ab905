// cluster.schema.json (shipped in the package, for editors) is what the config's Effect Schema
// generates, and describes what `Config.validate` accepts.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { readFileSync } from "node:fs"
import * as Config from "../../src/cluster/Config.ts"
import * as ConfigJsonSchema from "../../src/cluster/ConfigJsonSchema.ts"

const committed = readFileSync(ConfigJsonSchema.FILE, "utf8")
const schema = JSON.parse(committed)

describe("cluster.schema.json", () => {
  it("is what the Schema of the config generates (after a change to Config.ts: npm run schema)", () => {
    assert.strictEqual(committed, ConfigJsonSchema.text(), "cluster.schema.json is stale: run `npm run schema` and commit it")
  })

  it("lists every field of the config, requires what the decoder requires, and refuses unknown fields", () => {
    assert.deepStrictEqual(Object.keys(schema.properties).sort(), Object.keys(Config.ClusterConfig.fields).sort())
    assert.deepStrictEqual(schema.required.sort(), ["cluster", "nodes"])
    assert.strictEqual(schema.additionalProperties, false)
    const node = schema.properties.nodes.items
    assert.deepStrictEqual(Object.keys(node.properties).sort(), Object.keys(Config.NodeConfig.fields).sort())
    assert.deepStrictEqual(node.required.sort(), ["name", "port"])
    // optional fields are absent or of their type: the decoder refuses null, so does the schema
    assert.notInclude(committed, `"null"`)
    assert.strictEqual(node.properties.name.pattern, "^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
  })

  it.effect("the configs shipped (the demo's, the starter's with its $schema) are valid", () =>
    Effect.gen(function*() {
      for (const file of ["../../examples/cluster/cluster.json", "../../templates/starter/cluster.json"]) {
        const raw = JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8"))
        const exit = yield* Effect.exit(Config.validate(raw, file))
        assert.ok(Exit.isSuccess(exit), `${file}: ${String(exit)}`)
      }
    }))
})
