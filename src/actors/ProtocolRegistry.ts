/**
 * Every protocol made with `Actor.make` is known to its process by name, with a fingerprint of
 * its Schemas. The transport uses this to encode messages for remote actors (a sender needs the
 * protocol's Schema, and addresses carry only its name) and to refuse sends whose protocol
 * differs from the receiving node's version of it, instead of mis-decoding them.
 *
 * The fingerprint is the SHA-256 (first 16 hex digits) of a canonical JSON description: per
 * message tag, its kind and the JSON Schema of its message, success and error schemas. Two
 * protocols have the same fingerprint exactly when those descriptions are equal; a field added,
 * removed, renamed or retyped changes it. (Version 1 is deliberately strict: no compatible
 * evolution rules yet.)
 *
 * The registry is per process, not per actor system, on purpose: a protocol is a module-level
 * definition (made once, when its module is imported, like a Schema), it holds no state of any
 * system, and every system of a process runs the same code, so "which protocol is called X"
 * has one answer per process. What must be per system — refs, which are bound to the system
 * that decoded them — is. Protocols made `{ local: true }` (asked only inside their own node,
 * as the supervisor's and the transport link's) are not registered, so no node advertises them.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Schema from "effect/Schema"
import type { AnyProtocol as ActorProtocol } from "./Actor.ts"

const byName = new Map<string, ActorProtocol>()
/** every protocol registered (not `local`), including one a later one of its name replaced */
const registered = new WeakSet<object>()
const fingerprints = new WeakMap<object, string>()
const listeners = new Set<(protocol: ActorProtocol) => void>()

/** @internal called by Actor.make */
export const register = (protocol: ActorProtocol): void => {
  const existing = byName.get(protocol.name)
  byName.set(protocol.name, protocol)
  registered.add(protocol)
  if (existing === undefined || fingerprint(existing) !== fingerprint(protocol)) {
    for (const f of listeners) f(protocol)
  }
}

export const get = (name: string): ActorProtocol | undefined => byName.get(name)

/** Whether `protocol` may be spoken across nodes: it was registered (it is not `local`). */
export const isRegistered = (protocol: object): boolean => registered.has(protocol)

export const all = (): ReadonlyArray<ActorProtocol> => Array.from(byName.values())

/** @internal the transport re-advertises protocols registered after a handshake */
export const onRegister = (f: (protocol: ActorProtocol) => void): () => void => {
  listeners.add(f)
  return () => listeners.delete(f)
}

const describe = (schema: Schema.Top): unknown => {
  try {
    return Schema.toJsonSchemaDocument(schema as any)
  } catch {
    return String(schema.ast)
  }
}

export const fingerprint = (protocol: ActorProtocol): string => {
  let fp = fingerprints.get(protocol)
  if (fp !== undefined) return fp
  const tags = Object.keys(protocol.defs).sort()
  const description = tags.map((tag) => {
    const def = protocol.defs[tag]!
    return [
      tag,
      def._kind,
      describe((protocol.messages as any)[tag]),
      def._kind === "ask" ? describe(def.success) : null,
      def._kind === "ask" ? describe(def.error) : null
    ]
  })
  fp = createHash("sha256").update(JSON.stringify([protocol.name, description])).digest("hex").slice(0, 16)
  fingerprints.set(protocol, fp)
  return fp
}

/** name → fingerprint of every protocol known to this process (advertised in the handshake). */
export const table = (): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const p of byName.values()) out[p.name] = fingerprint(p)
  return out
}
