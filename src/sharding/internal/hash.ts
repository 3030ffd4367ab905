/**
 * Placement hashes. `shardOf` is part of the wire contract (docs/protocol.md, "Sharded
 * entities"): a foreign client computes the same shard for a key. `owner` (rendezvous hashing)
 * is each node's own placement decision; only its determinism across nodes matters.
 */

const encoder = new TextEncoder()

/** FNV-1a, 32 bits, over bytes: offset basis 0x811c9dc5, prime 0x01000193. */
export const fnv1a32 = (bytes: Uint8Array): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** FNV-1a 32 of the string's UTF-8 bytes. */
export const fnv1a32String = (s: string): number => {
  // ASCII fast path: a UTF-8 byte per code unit
  let ascii = true
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false
      break
    }
  }
  if (!ascii) return fnv1a32(encoder.encode(s))
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The shard of a key: FNV-1a 32 of its UTF-8 bytes, as an unsigned integer, modulo `shards`. */
export const shardOf = (key: string, shards: number): number => fnv1a32String(key) % shards

/** murmur3's 32-bit finaliser: FNV's low bits are weak for short inputs that differ at the end. */
const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The rendezvous score of `member` for `shard`. */
export const score = (member: string, shard: number): number => fmix32(fnv1a32String(`${member}/${shard}`))

/**
 * Rendezvous (highest random weight) hashing: the member with the highest score owns the shard
 * (ties: the smaller name). A member joining takes about 1/n of the shards, each from its
 * previous owner; one leaving gives its shards out evenly; the others move nothing.
 */
export const owner = (members: ReadonlyArray<string>, shard: number): string | undefined => {
  let best: string | undefined
  let bestScore = -1
  for (const m of members) {
    const s = score(m, shard)
    if (s > bestScore || (s === bestScore && best !== undefined && m < best)) {
      best = m
      bestScore = s
    }
  }
  return best
}
