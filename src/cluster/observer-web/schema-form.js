// A form for one message of a protocol, built from its JSON Schema: one field per property
// (text, number, checkbox, a list of choices, or JSON for anything nested). The form only turns
// the inputs into a payload; the server decodes it with the protocol's Schema and answers with
// the Schema's own error when it does not fit.

const esc = (v) =>
  String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c])

/** `schema` with `$ref`s to the root's definitions followed */
const deref = (schema, root) => {
  let s = schema ?? {}
  for (let i = 0; i < 32 && typeof s.$ref === "string"; i++) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref)
    const defs = root.$defs ?? root.definitions ?? {}
    s = (m ? defs[decodeURIComponent(m[2]).replace(/~1/g, "/").replace(/~0/g, "~")] : undefined) ?? {}
  }
  return s
}

/** the choices of a schema made of constants (an enum, or a union of literals), else undefined */
const choicesOf = (s, root) => {
  if (Array.isArray(s.enum)) return s.enum
  if ("const" in s) return [s.const]
  const union = s.anyOf ?? s.oneOf
  if (Array.isArray(union)) {
    const all = []
    for (const member of union) {
      const m = deref(member, root)
      const c = Array.isArray(m.enum) ? m.enum : "const" in m ? [m.const] : undefined
      if (c === undefined) return undefined
      all.push(...c)
    }
    return all
  }
  return undefined
}

const typeOf = (s, root) => {
  if (choicesOf(s, root) !== undefined) return "choice"
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type
  if (t === "string" || t === "integer" || t === "number" || t === "boolean") return t
  return "json"
}

const hintOf = (s, type) => {
  const parts = []
  if (s.description) parts.push(s.description)
  else if (s.title) parts.push(s.title)
  if (type === "json") parts.push(s.type === "array" ? "a JSON array" : "JSON")
  if (type === "integer") parts.push("an integer")
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`)
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`)
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`)
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`)
  if (s.minLength !== undefined) parts.push(`at least ${s.minLength} characters`)
  if (s.maxLength !== undefined) parts.push(`at most ${s.maxLength} characters`)
  if (s.pattern !== undefined) parts.push(`matches ${s.pattern}`)
  return parts.join(", ")
}

/** the properties of the message's payload, without its tag */
const fieldsOf = (schema) => {
  const root = schema ?? {}
  const s = deref(root, root)
  const props = s.properties ?? {}
  const required = new Set(s.required ?? [])
  return Object.entries(props)
    .filter(([name]) => name !== "_tag")
    .map(([name, raw]) => {
      const p = deref(raw, root)
      const type = typeOf(p, root)
      return { name, schema: p, type, required: required.has(name), choices: choicesOf(p, root) }
    })
}

/** Fills `container` with one labelled input per property of `schema`. */
export const buildForm = (container, schema) => {
  const fields = fieldsOf(schema)
  if (fields.length === 0) {
    container.innerHTML = `<span class="muted">no fields</span>`
    return
  }
  container.innerHTML = fields.map((f) => {
    const id = `field-${f.name}`
    const label = `${esc(f.name)}${f.required ? "" : ` <span class="muted">(optional)</span>`}`
    const hint = hintOf(f.schema, f.type)
    const attrs = `id="${esc(id)}" name="${esc(f.name)}" data-type="${f.type}"`
    let input
    switch (f.type) {
      case "choice":
        input = `<select ${attrs}>${f.required ? "" : `<option value="">—</option>`}${
          f.choices.map((c, i) => `<option value="${i}">${esc(JSON.stringify(c))}</option>`).join("")
        }</select>`
        break
      case "boolean":
        return `<label class="inline"><input type="checkbox" ${attrs}> ${label}</label>`
      case "integer":
      case "number":
        input = `<input type="text" inputmode="decimal" ${attrs}>`
        break
      case "string":
        input = `<input type="text" ${attrs}>`
        break
      default:
        input = `<textarea class="mono" rows="3" ${attrs} placeholder="${f.schema.type === "array" ? "[]" : "{}"}"></textarea>`
    }
    return `<label for="${esc(id)}">${label}${input}${hint ? `<span class="hint">${esc(hint)}</span>` : ""}</label>`
  }).join("")
}

/**
 * The payload the form's inputs say: `{ ok: true, value }`, or `{ ok: false, error }` when an
 * input cannot even be read (JSON that does not parse). Numbers that are not numbers are sent as
 * typed, for the server's Schema to reject with its own message.
 */
export const readForm = (container, schema) => {
  const value = {}
  for (const f of fieldsOf(schema)) {
    const el = container.querySelector(`[name="${CSS.escape(f.name)}"]`)
    if (!el) continue
    const raw = el.type === "checkbox" ? el.checked : el.value
    switch (f.type) {
      case "boolean":
        value[f.name] = raw
        break
      case "choice":
        if (raw === "") break
        value[f.name] = f.choices[Number(raw)]
        break
      case "integer":
      case "number": {
        const text = raw.trim()
        if (text === "" && !f.required) break
        value[f.name] = text !== "" && Number.isFinite(Number(text)) ? Number(text) : text
        break
      }
      case "string":
        if (raw === "" && !f.required) break
        value[f.name] = raw
        break
      default: {
        const text = raw.trim()
        if (text === "" && !f.required) break
        try {
          value[f.name] = JSON.parse(text === "" ? (f.schema.type === "array" ? "[]" : "{}") : text)
        } catch (e) {
          return { ok: false, error: `${f.name}: not JSON (${e.message})` }
        }
      }
    }
  }
  return { ok: true, value }
}
