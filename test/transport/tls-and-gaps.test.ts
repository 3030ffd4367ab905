import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { ActorSystem } from "../../src/index.ts"
import { Node, routerOf, type NodeOptions } from "../../src/transport/Node.ts"

const secret = Redacted.make("tls-test-secret")

const startNode = (name: string, extra?: Partial<NodeOptions>) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(Node.layerWithSystem({ name, cluster: "t", secret, ...extra }))
    return {
      node: ctx.mapUnsafe.get(Node.key) as Node["Service"],
      system: ctx.mapUnsafe.get(ActorSystem.key) as ActorSystem["Service"]
    }
  })

let dir = ""
let tls: { key: string; cert: string; ca: string } | undefined
let otherCa: { key: string; cert: string; ca: string } | undefined

const openssl = (args: ReadonlyArray<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })

/** A CA and a node certificate signed by it (certificates are made here, for this test run). */
const makePki = (prefix: string) => {
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${prefix}-ca.key`, "-out", `${prefix}-ca.pem`, "-days", "1", "-subj", `/CN=${prefix}-ca`])
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${prefix}-node.key`, "-out", `${prefix}-node.csr`, "-subj", `/CN=${prefix}-node`])
  openssl(["x509", "-req", "-in", `${prefix}-node.csr`, "-CA", `${prefix}-ca.pem`, "-CAkey", `${prefix}-ca.key`, "-CAcreateserial", "-out", `${prefix}-node.pem`, "-days", "1"])
  return {
    key: readFileSync(join(dir, `${prefix}-node.key`), "utf8"),
    cert: readFileSync(join(dir, `${prefix}-node.pem`), "utf8"),
    ca: readFileSync(join(dir, `${prefix}-ca.pem`), "utf8")
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "telex-tls-"))
  tls = makePki("good")
  otherCa = makePki("other")
})
afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

describe("TLS", () => {
  it.live("nodes with certificates from the same CA talk over mutual TLS", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b", { tls })
      const a = yield* startNode("a", { tls })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      yield* counter.tell(Counter.Increment({ by: 2 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
    }).pipe(Effect.scoped))

  it.live("a peer whose certificate is from another CA is refused", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b", { tls })
      const a = yield* startNode("a", { tls: otherCa, connectTimeout: "1 second" })
      const exit = yield* Effect.exit(a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "1500 millis"))
      assert.isTrue(Exit.isFailure(exit))
      assert.isFalse(b.node.peers().some((p) => p.up))
    }).pipe(Effect.scoped))

  it.live("a plain TCP peer cannot talk to a TLS node", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b", { tls })
      const a = yield* startNode("a", { connectTimeout: "1 second", handshakeTimeout: "1 second" })
      const exit = yield* Effect.exit(a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "1500 millis"))
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(Effect.scoped))
})

describe("link sequence numbers", () => {
  it.live("after a lost connection, the sender learns how many envelopes never arrived", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b")
      const a = yield* startNode("a", { reconnect: { initial: "10 millis", max: "50 millis" } })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const gap = yield* a.node.events.pipe(
        Stream.filter((e) => e._tag === "LinkGap"),
        Stream.runHead,
        Effect.forkScoped
      )
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
      const counter = yield* a.node.lookup("b", Counter, "counter")
      yield* counter.tell(Counter.Increment({ by: 1 }))
      assert.strictEqual(yield* counter.ask(Counter.Get()), 1) // 2 envelopes delivered so far
      // queue 500 tells and cut the connection before the batch is written
      for (let i = 0; i < 500; i++) counter.tellUnsafe(Counter.Increment({ by: 1 }))
      routerOf(a.node).peers.get("b")!.conn!.close("cut by the test")
      const event = yield* Fiber.join(gap).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(event._tag === "Some" && event.value._tag === "LinkGap")
      if (event._tag === "Some" && event.value._tag === "LinkGap") {
        assert.strictEqual(event.value.node.name, "b")
        assert.strictEqual(event.value.lost, 500)
        assert.strictEqual(event.value.sent - event.value.received, 500)
      }
      // the link is back and the 500 tells are gone (at-most-once), not delivered late
      const again = yield* a.node.lookup("b", Counter, "counter")
      assert.strictEqual(yield* again.ask(Counter.Get()), 1)
    }).pipe(Effect.scoped))
})
