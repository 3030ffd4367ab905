/**
 * A small seeded generator for property tests (fast-check is not installed).
 *
 * Every property runs `runs` cases; case `i` draws from its own generator seeded from the run's
 * base seed and `i`, so a failure is reproduced by the base seed alone:
 *
 *   TELEX_SEED=123456789 npx vitest run test/transport/frame.test.ts
 *
 * The base seed is random unless `TELEX_SEED` is set; a failing case reports it together with the
 * case number (and `TELEX_CASE=<n>` reruns only that case).
 */

const envSeed = process.env.TELEX_SEED
export const baseSeed: number = envSeed !== undefined && envSeed !== ""
  ? Number(envSeed) >>> 0
  : (Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000)) >>> 0
const onlyCase = process.env.TELEX_CASE !== undefined && process.env.TELEX_CASE !== ""
  ? Number(process.env.TELEX_CASE)
  : undefined

/** splitmix32: mixes the base seed and a case number into a case seed */
const mix = (a: number, b: number): number => {
  let z = (a + Math.imul(b + 1, 0x9e3779b9)) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/** sfc32 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  readonly seed: number

  constructor(seed: number) {
    this.seed = seed
    this.a = 0x9e3779b9
    this.b = 0x243f6a88
    this.c = 0xb7e15162
    this.d = seed >>> 0
    for (let i = 0; i < 15; i++) this.u32()
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** uniform float in [0, 1) */
  float(): number {
    return this.u32() / 0x1_0000_0000
  }

  /** uniform integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1))
  }

  bool(p = 0.5): boolean {
    return this.float() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    return items[this.int(0, items.length - 1)]!
  }

  /** picks by weight: `[[weight, value], ...]` */
  weighted<A>(table: ReadonlyArray<readonly [number, A]>): A {
    const total = table.reduce((s, [w]) => s + w, 0)
    let x = this.float() * total
    for (const [w, v] of table) {
      if (x < w) return v
      x -= w
    }
    return table[table.length - 1]![1]
  }

  /**
   * `n` random bytes: drawn one by one for short arrays, otherwise copied from a random offset of
   * a fixed random pool (drawing megabytes byte by byte would dominate the tests).
   */
  bytes(n: number): Uint8Array {
    if (n <= 64) return this.fill(new Uint8Array(n))
    const out = new Uint8Array(n)
    for (let o = 0; o < n;) {
      const take = Math.min(n - o, this.int(1, POOL_SIZE))
      const from = this.int(0, POOL_SIZE - take)
      out.set(pool().subarray(from, from + take), o)
      o += take
    }
    return out
  }

  private fill(out: Uint8Array): Uint8Array {
    const n = out.length
    let i = 0
    for (; i + 4 <= n; i += 4) {
      const x = this.u32()
      out[i] = x
      out[i + 1] = x >>> 8
      out[i + 2] = x >>> 16
      out[i + 3] = x >>> 24
    }
    for (; i < n; i++) out[i] = this.u32()
    return out
  }
}

const POOL_SIZE = 1024 * 1024
let poolBytes: Uint8Array | undefined
const pool = (): Uint8Array => {
  if (poolBytes === undefined) {
    const rng = new Rng(0x5eed)
    const words = new Uint32Array(POOL_SIZE / 4)
    for (let i = 0; i < words.length; i++) words[i] = rng.u32()
    poolBytes = new Uint8Array(words.buffer)
  }
  return poolBytes
}

const describeFailure = (name: string, i: number, seed: number, e: unknown): Error => {
  const message = e instanceof Error ? e.message : String(e)
  const error = new Error(
    `property "${name}" failed at case ${i} (case seed ${seed}): ${message}\n` +
      `  reproduce with TELEX_SEED=${baseSeed} (only this case: TELEX_SEED=${baseSeed} TELEX_CASE=${i})`,
    { cause: e }
  )
  console.error(`[${name}] seed TELEX_SEED=${baseSeed}, failing case ${i}`)
  return error
}

/** Runs a synchronous property `runs` times; throws with the seed on the first failing case. */
export const forAll = (name: string, runs: number, property: (rng: Rng, i: number) => void): number => {
  let ran = 0
  for (let i = 0; i < runs; i++) {
    if (onlyCase !== undefined && i !== onlyCase) continue
    const seed = mix(baseSeed, i)
    try {
      property(new Rng(seed), i)
    } catch (e) {
      throw describeFailure(name, i, seed, e)
    }
    ran++
  }
  return ran
}

/** Runs an asynchronous property `runs` times, one case after the other. */
export const forAllAsync = async (
  name: string,
  runs: number,
  property: (rng: Rng, i: number) => Promise<void>
): Promise<number> => {
  let ran = 0
  for (let i = 0; i < runs; i++) {
    if (onlyCase !== undefined && i !== onlyCase) continue
    const seed = mix(baseSeed, i)
    try {
      await property(new Rng(seed), i)
    } catch (e) {
      throw describeFailure(name, i, seed, e)
    }
    ran++
  }
  return ran
}

/** Cuts `total` bytes into chunk lengths by one of several strategies (down to 1-byte chunks). */
export const chunkLengths = (rng: Rng, total: number, boundaries: ReadonlyArray<number> = []): Array<number> => {
  const mode = rng.weighted([
    [1, "whole"],
    [3, "uniform"],
    [2, "small"],
    [1, "ones"],
    [2, "boundaries"],
    [2, "mixed"]
  ] as const)
  const cuts: Array<number> = []
  switch (mode) {
    case "whole":
      break
    case "uniform": {
      const pieces = rng.int(1, 12)
      for (let i = 1; i < pieces; i++) cuts.push(rng.int(0, total))
      break
    }
    case "small":
    case "ones": {
      // 1-byte (or tiny) chunks everywhere would be slow for large inputs: use them on a window
      const max = mode === "ones" ? 1 : rng.int(2, 16)
      const window = Math.min(total, mode === "ones" ? 2048 : 4096)
      const start = rng.int(0, total - window)
      for (let p = start; p < start + window;) {
        p += rng.int(1, max)
        cuts.push(Math.min(p, total))
      }
      cuts.push(start)
      break
    }
    case "boundaries": {
      // cut right around frame starts: inside and just after the 5-byte header
      for (const b of boundaries) {
        if (rng.bool(0.7)) cuts.push(b + rng.int(-2, 6))
      }
      break
    }
    case "mixed": {
      for (let p = 0; p < total;) {
        p += rng.weighted([[3, rng.int(1, 6)], [2, rng.int(1, 300)], [1, rng.int(1, 80_000)]])
        cuts.push(p)
      }
      break
    }
  }
  const sorted = Array.from(new Set(cuts.map((c) => Math.max(0, Math.min(total, c))))).sort((a, b) => a - b)
  const lengths: Array<number> = []
  let prev = 0
  for (const c of sorted) {
    if (c > prev) lengths.push(c - prev)
    prev = Math.max(prev, c)
  }
  if (total > prev) lengths.push(total - prev)
  return lengths
}

