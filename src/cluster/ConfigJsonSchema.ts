/**
 * The JSON Schema of a cluster config (`cluster.schema.json`, shipped in the package), generated
 * from its Effect Schema (`Config.ClusterConfig`) so that editors validate and complete
 * `cluster.json` files: `"$schema": "./node_modules/telex/cluster.schema.json"`.
 *
 * `node src/cluster/ConfigJsonSchema.ts` (`npm run schema`) writes the file; a test checks that
 * the committed file is what the Schema generates.
 *
 * @since 0.1.0
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as JsonSchema from "effect/JsonSchema"
import * as Schema from "effect/Schema"
import { ClusterConfig } from "./Config.ts"

type Json = null | boolean | number | string | Array<Json> | { [key: string]: Json }

/**
 * JSON Schema generation describes the JSON codec, which reads `null` as an absent optional
 * field; `Config.load` decodes with the schema itself, which refuses `null`: the `null`
 * alternatives are dropped so that the JSON Schema accepts what Telex accepts.
 */
const withoutNull = (node: Json): Json => {
  if (Array.isArray(node)) return node.map(withoutNull)
  if (node === null || typeof node !== "object") return node
  const out: { [key: string]: Json } = {}
  for (const [key, value] of Object.entries(node)) out[key] = withoutNull(value)
  const anyOf = out["anyOf"]
  if (Array.isArray(anyOf)) {
    const kept = anyOf.filter((branch) => !(branch !== null && typeof branch === "object" && !Array.isArray(branch) && branch["type"] === "null" && Object.keys(branch).length === 1))
    if (kept.length === 1 && kept[0] !== null && typeof kept[0] === "object" && !Array.isArray(kept[0])) {
      const { anyOf: _, ...rest } = out
      return { ...kept[0], ...rest }
    }
    out["anyOf"] = kept
  }
  return out
}

/** the JSON Schema document (draft 2020-12) of a cluster config */
export const document = (): { [key: string]: Json } => {
  const doc = Schema.toJsonSchemaDocument(ClusterConfig, { onExcessProperty: "error", generateDescriptions: true })
  const out: { [key: string]: Json } = {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_2020_12,
    title: "Telex cluster config",
    description: "A Telex cluster: its name, the app module and the nodes (telex start / telex node / telex status).",
    ...(withoutNull(doc.schema as Json) as { [key: string]: Json })
  }
  if (Object.keys(doc.definitions).length > 0) out["$defs"] = withoutNull(doc.definitions as Json)
  return out
}

/** the text of `cluster.schema.json` */
export const text = (): string => JSON.stringify(document(), null, 2) + "\n"

/** where the package keeps it */
export const FILE = fileURLToPath(new URL("../../cluster.schema.json", import.meta.url))

if (import.meta.main) {
  writeFileSync(FILE, text())
  console.log(`wrote ${FILE}`)
}
