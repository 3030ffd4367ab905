/**
 * Mutual TLS between nodes: certificates from one CA talk; another CA's, or plain TCP, are
 * refused. Connections that never finish the TLS handshake are bounded as those in the node's
 * own handshake are: closed after the handshake timeout, at most `maxPendingHandshakes` at once.
 */
import { execFileSync } from "node:child_process"
import * as Net from "node:net"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { startNode } from "../../src/testing/TestNode.ts"

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

  it.live("silent TCP connections to a TLS node: at most maxPendingHandshakes, each closed after the handshake timeout; a node connects meanwhile", () =>
    Effect.gen(function*() {
      const b = yield* startNode("b", { tls, maxPendingHandshakes: 8, handshakeTimeout: "1 second" })
      yield* b.system.spawn(CounterLive, { name: "counter" })
      const port = b.node.address.port
      let closed = 0
      const sockets = Array.from({ length: 100 }, () => {
        const s = Net.connect({ host: "127.0.0.1", port })
        s.on("error", () => {})
        s.on("close", () => closed++)
        return s
      })
      try {
        yield* Effect.promise(async () => {
          for (let i = 0; i < 200 && closed < 92; i++) await new Promise((resolve) => setTimeout(resolve, 10))
        })
        assert.isAtLeast(closed, 92, "all but 8 closed at once")
        const a = yield* startNode("a", { tls })
        yield* a.node.connect({ name: "b", host: "127.0.0.1", port })
        const counter = yield* a.node.lookup("b", Counter, "counter")
        yield* counter.tell(Counter.Increment({ by: 2 }))
        assert.strictEqual(yield* counter.ask(Counter.Get()), 2)
        // the rest are closed by the handshake timeout (the TLS default is 2 minutes)
        yield* Effect.promise(async () => {
          for (let i = 0; i < 500 && closed < 100; i++) await new Promise((resolve) => setTimeout(resolve, 10))
        })
        assert.strictEqual(closed, 100)
      } finally {
        for (const s of sockets) s.destroy()
      }
    }).pipe(Effect.scoped))
})
