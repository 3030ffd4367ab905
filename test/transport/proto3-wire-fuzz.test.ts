/**
 * A seeded fuzz of the wire against a model written from docs/protocol.md alone (sections 6, 8
 * and 10): envelopes of every kind, each with one position replaced by a value of another type
 * (strings where numbers go, negative, fractional and huge numbers, null, objects, addresses of
 * other nodes), cut short or with extra elements, over both codecs. Each case's envelope either
 * closes its connection (a malformed envelope) or is handled with the connection up and gets
 * exactly the answers the spec lists (a Reply per Ask, Found per Lookup, Spawned per Spawn, Down
 * per Monitor of an actor that is gone, Exit per Link to one); a probe Lookup after it tells which.
 * Each goes as one MESSAGE, as FRAGMENTs (4.3: the same envelope), as FRAGMENTs one of which is
 * misplaced (closed), or in a frame whose length lies (nothing answered until the rest comes).
 * A second, well-behaved client asks the counter between cases: the node never wedges.
 *
 * Seeded (`TELEX_SEED`, see ./_random.ts): a failure prints the seed and the case.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { CounterLive } from "../../examples/counter.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { routerOf } from "../../src/transport/Node.ts"
import { FrameType } from "../../src/transport/Frame.ts"
import { fragment, RawPeer } from "./_raw.ts"
import { baseSeed, forAllAsync, type Rng } from "./_random.ts"

const cluster = "proto3-fuzz"
const secret = "proto3-fuzz-secret"
const ME = { name: "fuzz", incarnation: 1 }

/** an id no actor of the node has (ids count from 1 and the node has a few dozen actors) */
const NO_ACTOR = 987_654

const isAddress = (u: any): boolean =>
  typeof u === "object" && u !== null && typeof u.id === "number" && typeof u.protocol === "string" &&
  typeof u.node === "object" && u.node !== null && typeof u.node.name === "string" && typeof u.node.incarnation === "number"
const onPeer = (u: any) => isAddress(u) && u.node.name === ME.name
const isObject = (u: unknown) => typeof u === "object" && u !== null && !Array.isArray(u)
const reasons = ["Normal", "Killed", "NoProc"]
/** section 7.2: an exit reason */
const isReason = (u: any): boolean =>
  isObject(u) && (reasons.includes(u._tag) ||
    (u._tag === "Shutdown" && (u.detail === undefined || typeof u.detail === "string")) ||
    (u._tag === "Error" && typeof u.message === "string") ||
    (u._tag === "NoConnection" && (u.node === undefined || typeof u.node === "string")))

/**
 * What the spec says a node does with an envelope: close the connection, or answer (an envelope
 * of `kind` holding `id` at `at`) or nothing.
 */
type Outcome = { close: true } | { close: false; answer?: readonly [kind: number, at: number, id: unknown] }

/** Sections 8 and 10, for targets that do not exist (`NO_ACTOR`) or the counter (tells and asks only). */
const model = (e: ReadonlyArray<unknown>): Outcome => {
  const up = (answer?: readonly [number, number, unknown]): Outcome => (answer === undefined ? { close: false } : { close: false, answer })
  const close: Outcome = { close: true }
  const num = (i: number) => typeof e[i] === "number"
  switch (e[0]) {
    case 0:
      return num(1) && typeof e[2] === "string" ? up() : close
    case 1:
      return num(1) && typeof e[2] === "string" && num(4) ? up([2, 1, e[4]]) : close
    case 2:
      return num(1) && num(2) ? up() : close
    case 10:
      if (!onPeer(e[1]) || !num(2)) return close
      // to an actor that is gone: an Exit NoProc back, if `from` is of this connection's incarnation
      return (e[1] as any).node.incarnation === ME.incarnation ? up([12, 2, (e[1] as any).id]) : up()
    case 11:
    case 12:
      return onPeer(e[1]) && num(2) ? up() : close
    case 13:
      return onPeer(e[1]) && num(2) && num(3) ? up([15, 1, e[3]]) : close
    case 14:
    case 15:
    case 21:
    case 23:
      return up()
    case 16:
      return num(1) && isReason(e[2]) ? up() : close
    case 20:
      return up([21, 1, e[1]])
    case 22:
      return up([23, 1, e[1]])
    case 24:
      return isObject(e[1]) ? up() : close
    case 25:
      return Array.isArray(e[1]) ? up() : close
    case 30:
    case 31:
      return num(1) ? up() : close
    default:
      return typeof e[0] === "number" ? up() : close
  }
}

const huge = 2 ** 53 + 2
/** values that replace one position of an envelope */
const values = (rng: Rng): unknown => rng.pick<() => unknown>([
  () => "x",
  () => "",
  () => String(rng.int(0, 9)),
  () => -1,
  () => 0,
  () => 0.5,
  () => -2.5,
  () => huge,
  () => 1e300,
  () => -1e300,
  () => rng.int(1, 1000),
  () => null,
  () => true,
  () => false,
  () => [],
  () => [1, 2],
  () => ({}),
  () => ({ _tag: "Normal" }),
  () => ({ _tag: "Shutdown", detail: null }),
  () => ({ _tag: "Error" }),
  () => ({ node: ME, id: 5, protocol: "X" }),
  () => ({ node: { ...ME, incarnation: 2 }, id: 6, protocol: "X" }),
  () => ({ node: { name: "elsewhere", incarnation: 1 }, id: 7, protocol: "X" }),
  () => ({ node: ME, id: "5", protocol: "X" }),
  () => ({ node: { name: ME.name }, id: 5, protocol: "X" }),
  () => ({ id: 5 }),
  () => "y".repeat(rng.int(100, 3000)),
  () => ({ nested: [[[{ a: [1, { b: "c" }] }]]] }),
  // values only MessagePack carries as they are (JSON writes them as null, a string or an object)
  () => NaN,
  () => Infinity,
  () => -0,
  () => new Date(rng.int(0, 2 ** 31) * 1000),
  () => new Uint8Array([1, 2, 3]),
  () => 2 ** 64,
  () => -(2 ** 63)
])()

/** A well-formed envelope of a random kind; targets are actors that do not exist, but for tells and asks. */
const base = (rng: Rng, counter: number): Array<unknown> => {
  const from = { node: ME, id: rng.int(1, 50), protocol: "X" }
  const to = NO_ACTOR
  return rng.pick<() => Array<unknown>>([
    () => [0, rng.bool() ? counter : to, "Counter", { _tag: "Increment", by: 1 }],
    () => [1, rng.bool() ? counter : to, "Counter", { _tag: "Get" }, rng.int(1, 1e6), null],
    () => [1, counter, "Counter", { _tag: "Get" }, rng.int(1, 1e6), from, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
    () => [2, rng.int(1, 1e6), rng.int(0, 2), null],
    () => [10, from, to],
    () => [11, from, to],
    () => [12, from, to, { _tag: "Killed" }, false],
    () => [12, from, to, { _tag: "Normal" }, true, true],
    () => [13, from, to, rng.int(1, 1e6)],
    () => [14, to, rng.int(1, 1e6)],
    () => [15, rng.int(1, 1e6), from, { _tag: "Normal" }],
    () => [16, to, { _tag: "Shutdown", detail: "fuzz" }],
    () => [20, rng.int(1, 1e6), "NotSpawnable", null],
    () => [21, rng.int(1, 1e6), null, "no"],
    () => [22, rng.int(1, 1e6), rng.pick(["counter", "nobody"])],
    () => [23, rng.int(1, 1e6), null],
    () => [24, { "proto3/Fuzz": "0123456789abcdef" }],
    () => [25, [{ name: 5 }]],
    () => [30, rng.int(1, 1e6), "backpressure", 10],
    () => [31, rng.int(1, 1e6), rng.int(1, 10)],
    () => [rng.pick([3, 9, 17, 99, 0.5, -1, 1e9]), "x"]
  ])()
}

/** One position replaced, the array cut short, elements appended, or the kind mangled. */
const mutate = (rng: Rng, e: Array<unknown>, counter: number): Array<unknown> => {
  const out = e.slice()
  const how = rng.weighted([[6, "replace"], [2, "cut"], [1, "append"], [1, "kind"], [2, "none"]] as const)
  if (how === "replace") out[rng.int(1, Math.max(1, out.length - 1))] = values(rng)
  else if (how === "cut") out.length = rng.int(1, Math.max(1, out.length - 1))
  else if (how === "append") out.push(values(rng), values(rng))
  else if (how === "kind") out[0] = values(rng)
  // never aim a signal at an actor of the node (a Stop or Exit to the counter or a supervisor
  // would end it): signals keep targets that do not exist
  const signal = [10, 11, 12, 13, 16].includes(out[0] as number)
  const toAt = out[0] === 16 ? 1 : 2
  if (signal && typeof out[toAt] === "number" && (out[toAt] as number) >= 1 && (out[toAt] as number) < 100_000) out[toAt] = NO_ACTOR
  if (out[0] === 14 && typeof out[1] === "number" && out[1] === counter) out[1] = NO_ACTOR
  return out
}

/** JSON text as both codecs bring a value back (undefined as null, -0 as 0) */
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

describe("a seeded fuzz of envelopes against section 10's model", () => {
  it.live(`every envelope closes or answers as the spec says; another client is served throughout (seed ${baseSeed})`, () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
      const counterRef = yield* b.system.spawn(CounterLive, { name: "counter" })
      const counter = counterRef.address.id
      const port = b.node.address.port
      const witness = yield* Effect.acquireRelease(
        Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name: "witness" })),
        (p) => Effect.sync(() => p.destroy())
      )
      let current: RawPeer | undefined
      yield* Effect.addFinalizer(() => Effect.sync(() => current?.destroy()))
      const stats = { close: 0, up: 0, answered: 0, lying: 0 }
      let witnessAsks = 0
      yield* Effect.promise(() =>
        forAllAsync("envelope fuzz", Number(process.env.FUZZ_CASES ?? 240), async (rng, i) => {
          const codec = rng.bool() ? "json" : "msgpack"
          if (current === undefined || current.closed || current.codec !== codec) {
            current?.destroy()
            current = await RawPeer.authenticated(port, { cluster, secret, name: ME.name, incarnation: ME.incarnation, codec })
          }
          const peer = current
          // the model reads what the node reads: the envelope as the codec brings it back
          const sent = mutate(rng, base(rng, counter), counter)
          const bytes = peer.encode(sent)
          const envelope = peer.decode(bytes)
          const want = model(envelope)
          // as one MESSAGE, as FRAGMENTs (the same envelope: 4.3), as FRAGMENTs one of which is
          // misplaced (a fragment error closes), or in a frame whose length lies (waits for the rest)
          const framing = rng.weighted([[24, "message"], [8, "fragments"], [3, "misplaced"], [1, "lying"]] as const)
          const what = `${codec} ${framing} ${JSON.stringify(envelope).slice(0, 300)}`
          if (framing === "lying") {
            const header = Buffer.alloc(5)
            // more than the probe that follows: the frame stays unfinished
            const probe = peer.encode([22, `probe-${i}`, "counter"])
            header.writeUInt32BE(1 + bytes.length + 5 + probe.length + rng.int(1, 200), 0)
            header[4] = FrameType.Message
            peer.socket.write(Buffer.concat([header, bytes]))
            peer.sendEnvelope([22, `probe-${i}`, "counter"])
            // the probe is read as part of the body: nothing is answered, the connection waits
            const answered = await peer.envelope(23, 150).then(() => true, () => false)
            assert.isFalse(answered, `${what}: a probe inside an unfinished frame was answered`)
            assert.isFalse(peer.closed, `${what}: closed while a frame was unfinished`)
            peer.destroy()
            current = undefined
            stats.lying++
            return
          }
          let misplacedAny = false
          if (framing === "message") peer.send(FrameType.Message, bytes)
          else {
            const id = rng.int(0, 0xffff_ffff)
            // pieces of at least a byte (a piece at offset 0 starts a message: after an empty first
            // piece, the next one at offset 0 would be a second message in progress)
            const inner = new Set(Array.from({ length: rng.int(1, 4) }, () => rng.int(1, bytes.length - 1)))
            const cuts = [0, ...Array.from(inner).sort((x, y) => x - y), bytes.length]
            const misplaced = framing === "misplaced" && cuts.length > 2 ? rng.int(1, cuts.length - 2) : -1
            for (let k = 0; k + 1 < cuts.length; k++) {
              const offset = k === misplaced ? cuts[k]! + rng.pick([-1, 1]) : cuts[k]!
              if (k === misplaced) misplacedAny = true
              peer.send(FrameType.Fragment, fragment(id, bytes.length, Math.max(0, offset), bytes.subarray(cuts[k]!, cuts[k + 1]!)))
            }
          }
          peer.sendEnvelope([22, `probe-${i}`, "counter"])
          if (want.close || misplacedAny) {
            stats.close++
            assert.isTrue(await peer.closesWithin(5000), `${what}: want the connection closed`)
            const early = peer.frames.map((f) => peer.decode(f.body)).find((x) => x[0] === 23 && x[1] === `probe-${i}`)
            assert.isUndefined(early, `${what}: the probe after it was answered`)
          } else {
            stats.up++
            // everything the node sent up to the probe's answer (and a reply that comes later)
            const got: Array<Array<any>> = []
            const deadline = Date.now() + 5000
            let probed = false
            while (!probed) {
              assert.isFalse(peer.closed, `${what}: want up, closed`)
              const frame = await peer.next(undefined, Math.max(1, deadline - Date.now()))
              const x = peer.decode(frame.body)
              if (x[0] === 23 && x[1] === `probe-${i}`) probed = true
              else got.push(x)
            }
            if (want.answer !== undefined) {
              const [kind, at, id] = want.answer
              const match = (x: Array<any>) => x[0] === kind && same(x[at], id)
              let answer = got.find(match)
              // a Reply of an ask the counter handles comes once it has handled it
              if (answer === undefined && kind === 2) answer = await peer.envelope(2, 5000)
              assert.isDefined(answer, `${what}: want [${kind}, ${JSON.stringify(id)}, ...], got ${JSON.stringify(got)}`)
              assert.isTrue(match(answer!), `${what}: want [${kind}, ${JSON.stringify(id)}, ...], got ${JSON.stringify(answer)}`)
              stats.answered++
            }
          }
          if (i % 20 === 0) {
            witness.sendEnvelope([1, counter, "Counter", { _tag: "Get" }, ++witnessAsks, null])
            const reply = await witness.envelope(2)
            assert.strictEqual(reply[1], witnessAsks, "the witness's ask is answered")
            assert.strictEqual(reply[2], 0, "the witness's ask succeeds")
          }
        })
      )
      assert.isFalse(witness.closed, "the witness stays connected")
      assert.isAbove(stats.close, 20, JSON.stringify(stats))
      assert.isAbove(stats.up, 60, JSON.stringify(stats))
      // one connection name, reconnected: no peer entry per case
      assert.isAtMost(routerOf(b.node).peers.size, 2, Array.from(routerOf(b.node).peers.keys()).join(", "))
    }).pipe(Effect.scoped), 120_000)
})

const FRAME_TYPES = new Set([1, 2, 3, 4, 5, 16, 32, 33])
const UNAUTHENTICATED_MAX = 16_384

/** A random frame header and (part of) its body; a body never parses as JSON (it starts with 0xff). */
const rawFrame = (rng: Rng) => {
  const type = rng.weighted([[6, rng.pick([1, 2, 3, 4, 5, 16, 32, 33])], [2, rng.int(0, 255)]] as const)
  const length = rng.weighted([
    [1, 0],
    [4, rng.int(1, 64)],
    [2, rng.int(65, UNAUTHENTICATED_MAX)],
    [1, UNAUTHENTICATED_MAX],
    [1, UNAUTHENTICATED_MAX + 1],
    [1, rng.int(UNAUTHENTICATED_MAX + 1, 0xffff_ffff)],
    [1, 0xffff_ffff]
  ] as const)
  const complete = length >= 1 && length <= UNAUTHENTICATED_MAX && (length === 1 || rng.bool(0.7))
  // cut short: at least one byte of the body missing
  const bodyLength = length === 0 ? 0 : complete ? length - 1 : rng.int(0, Math.min(length - 2, 4096))
  const body = Buffer.from(rng.bytes(bodyLength))
  if (body.length > 0) body[0] = 0xff
  const header = Buffer.alloc(5)
  header.writeUInt32BE(length, 0)
  header[4] = type
  return { type, length, complete, bytes: Buffer.concat([header, body]) }
}

describe("a seeded fuzz of frames before the peer's proof (sections 2 and 3.6)", () => {
  it.live(`bad headers are refused with protocol at once; a REFUSE or a cut frame gets no answer (seed ${baseSeed})`, () =>
    Effect.gen(function*() {
      const b = yield* TestNode.startNode("b", { cluster, secret: Redacted.make(secret), port: 0 })
      const counterRef = yield* b.system.spawn(CounterLive, { name: "counter" })
      const port = b.node.address.port
      const stats = { refused: 0, silent: 0 }
      yield* Effect.promise(() =>
        forAllAsync("frame fuzz", Number(process.env.FUZZ_CASES ?? 120) / 2, async (rng, i) => {
          const peer = await RawPeer.connect(port)
          try {
            const afterHello = rng.bool()
            if (afterHello) {
              peer.sendJson(FrameType.Hello, {
                protocol: "telex",
                version: 1,
                cluster,
                node: { name: `frames-${i}`, incarnation: 1 },
                listen: null,
                codecs: ["json"],
                nonce: "bm9uY2U="
              })
              await peer.next(FrameType.Challenge)
            }
            const f = rawFrame(rng)
            const what = `${afterHello ? "after HELLO" : "first frame"}: type ${f.type}, length ${f.length}, ${f.bytes.length - 5} body bytes sent`
            // in pieces cut anywhere (the header too)
            for (let at = 0; at < f.bytes.length;) {
              const n = rng.int(1, f.bytes.length - at)
              peer.socket.write(f.bytes.subarray(at, at + n))
              at += n
            }
            const headerError = f.length === 0 || f.length > UNAUTHENTICATED_MAX || !FRAME_TYPES.has(f.type)
            if (headerError || (f.complete && f.type !== FrameType.Refuse)) {
              // refused as soon as the header is read (a frame error), or as a frame that is not the step's
              const frame = await peer.next(undefined, 5000).catch((e) => e as Error)
              assert.notInstanceOf(frame, Error, `${what}: want REFUSE protocol`)
              const refusal = frame as { type: number; body: Uint8Array }
              assert.strictEqual(refusal.type, FrameType.Refuse, what)
              assert.strictEqual(JSON.parse(Buffer.from(refusal.body).toString()).code, "protocol", what)
              assert.isTrue(await peer.closesWithin(5000), `${what}: closed after its REFUSE`)
              stats.refused++
            } else if (f.complete) {
              // a REFUSE from the client ends the handshake: closed, nothing answered
              assert.isTrue(await peer.closesWithin(5000), `${what}: want closed`)
              assert.strictEqual(peer.frames.length, 0, `${what}: want no answer`)
              stats.silent++
            } else {
              // a frame cut short, then the client goes away: nothing to answer
              peer.socket.end()
              assert.isTrue(await peer.closesWithin(5000), `${what}: want closed`)
              assert.strictEqual(peer.frames.length, 0, `${what}: want no answer, got type ${peer.frames[0]?.type}`)
              stats.silent++
            }
          } finally {
            peer.destroy()
          }
        })
      )
      // the node still serves a well-behaved client
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => RawPeer.authenticated(port, { cluster, secret, name: "after" })),
        (p) => Effect.sync(() => p.destroy())
      )
      client.sendEnvelope([1, counterRef.address.id, "Counter", { _tag: "Get" }, 1, null])
      assert.deepStrictEqual(yield* Effect.promise(() => client.envelope(2)), [2, 1, 0, 0])
      assert.isAbove(stats.refused, 10, JSON.stringify(stats))
    }).pipe(Effect.scoped), 120_000)
})
