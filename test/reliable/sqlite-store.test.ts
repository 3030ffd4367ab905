/**
 * The `DeliveryStore` contract, run against both implementations (`DeliveryStore.memory()` and
 * `SqliteStore.make(file)`), then what only the SQLite store promises: data persisted across
 * close and reopen, a file shared by several stores, errors after close, and durability across a
 * real crash — a child process (`test/fixtures/sqlite-store-child.ts`) appends messages, prints
 * `ok` and is killed with SIGKILL; the parent reopens the file and finds every message. Files live
 * in a temp dir under `os.tmpdir()`, removed at the end.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import Database from "better-sqlite3"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as DeliveryStore from "../../src/reliable/DeliveryStore.ts"
import * as SqliteStore from "../../src/reliable/SqliteStore.ts"

const child = fileURLToPath(new URL("../fixtures/sqlite-store-child.ts", import.meta.url))

let dir = ""
let fileCount = 0
const freshFile = () => join(dir, `store-${++fileCount}.db`)
const opened: Array<DeliveryStore.DeliveryStore> = []
const track = (store: DeliveryStore.DeliveryStore) => {
  opened.push(store)
  return store
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "telex-sqlite-store-"))
})
afterEach(() => {
  for (const store of opened.splice(0)) store.close()
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const byProducer = (ps: ReadonlyArray<DeliveryStore.ConsumerProgress>) =>
  ps.slice().sort((a, b) => (a.producer < b.producer ? -1 : a.producer > b.producer ? 1 : 0))

const implementations: ReadonlyArray<readonly [string, () => DeliveryStore.DeliveryStore]> = [
  ["memory", () => track(DeliveryStore.memory())],
  ["sqlite", () => track(SqliteStore.make(freshFile()))]
]

describe.each(implementations)("DeliveryStore contract: %s", (_name, make) => {
  it("has no snapshot for a channel never seen, and none of its progress", () => {
    const store = make()
    expect(store.loadProducer("nope")).toBeUndefined()
    expect(store.loadConsumer("nope")).toEqual([])
  })

  it("starts a session: the snapshot has the session, nextSeq and no messages", () => {
    const store = make()
    store.startSession("a", 1_764_000_000_000_123, 1)
    expect(store.loadProducer("a")).toEqual({ session: 1_764_000_000_000_123, nextSeq: 1, messages: [] })
  })

  it("round-trips appended messages in sequence order, with binary and nested payloads", () => {
    const store = make()
    store.startSession("a", 5, 1)
    const payload = (seq: number) => ({
      seq,
      bytes: new Uint8Array([seq, 0, 255, 128]),
      nested: { list: [1, 2.5, "three", null, true, { deep: new Uint8Array([9]) }], empty: {}, text: "é ✓" },
      big: 2 ** 40 + seq,
      negative: -seq
    })
    // 12 messages: a text ordering would put 10 before 2
    for (let seq = 1; seq <= 12; seq++) store.append("a", { seq, payload: payload(seq), deadline: 1_000 + seq })
    const snapshot = store.loadProducer("a")!
    expect(snapshot.session).toBe(5)
    expect(snapshot.nextSeq).toBe(13)
    expect(snapshot.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(snapshot.messages.map((m) => m.deadline)).toEqual(snapshot.messages.map((m) => 1_000 + m.seq))
    snapshot.messages.forEach((m) => {
      expect(m.payload).toEqual(payload(m.seq))
      const p = m.payload as ReturnType<typeof payload>
      expect(p.bytes).toBeInstanceOf(Uint8Array)
      expect(Array.from(p.bytes)).toEqual([m.seq, 0, 255, 128])
      expect(Array.from((p.nested.list[5] as { deep: Uint8Array }).deep)).toEqual([9])
    })
  })

  it("keeps non-object payloads and an infinite deadline", () => {
    const store = make()
    store.startSession("a", 1, 1)
    const payloads: Array<unknown> = ["text", 42, null, [1, "x"], new Uint8Array([1, 2, 3]), true]
    payloads.forEach((payload, i) => store.append("a", { seq: i + 1, payload, deadline: Infinity }))
    const messages = store.loadProducer("a")!.messages
    expect(messages.map((m) => m.payload)).toEqual(payloads)
    expect(messages.every((m) => m.deadline === Infinity)).toBe(true)
  })

  it("refuses an append to a channel without a session", () => {
    const store = make()
    expect(() => store.append("ghost", { seq: 1, payload: "x", deadline: 0 })).toThrow(/no session/)
    expect(store.loadProducer("ghost")).toBeUndefined()
  })

  it("appendAll stores consecutive messages together, after single appends, and advances nextSeq", () => {
    const store = make()
    store.startSession("bulk", 7, 1)
    store.append("bulk", { seq: 1, payload: { n: 1 }, deadline: 10 })
    store.appendAll("bulk", [2, 3, 4].map((seq) => ({ seq, payload: { n: seq, b: new Uint8Array([seq]) }, deadline: 10 + seq })))
    store.appendAll("bulk", [])
    const snapshot = store.loadProducer("bulk")!
    expect(snapshot.nextSeq).toBe(5)
    expect(snapshot.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4])
    expect(Array.from((snapshot.messages[3]!.payload as { b: Uint8Array }).b)).toEqual([4])
    expect(() => store.appendAll("ghost", [{ seq: 1, payload: "x", deadline: 0 }])).toThrow(/no session/)
    expect(store.loadProducer("ghost")).toBeUndefined()
  })

  it("keeps channels apart", () => {
    const store = make()
    store.startSession("a", 1, 1)
    store.startSession("b", 2, 100)
    for (let i = 0; i < 5; i++) {
      store.append("a", { seq: 1 + i, payload: `a${1 + i}`, deadline: 0 })
      store.append("b", { seq: 100 + i, payload: `b${100 + i}`, deadline: 0 })
    }
    store.removeUpTo("a", 3)
    expect(store.loadProducer("a")!.messages.map((m) => m.payload)).toEqual(["a4", "a5"])
    expect(store.loadProducer("b")!.messages.map((m) => m.payload)).toEqual(["b100", "b101", "b102", "b103", "b104"])
    expect(store.loadProducer("b")!.nextSeq).toBe(105)
  })

  it("removeUpTo forgets exactly the messages with seq <= upTo and keeps nextSeq", () => {
    const store = make()
    store.startSession("a", 1, 1)
    for (let seq = 1; seq <= 10; seq++) store.append("a", { seq, payload: seq, deadline: 0 })
    store.removeUpTo("a", 0)
    expect(store.loadProducer("a")!.messages).toHaveLength(10)
    store.removeUpTo("a", 4)
    expect(store.loadProducer("a")!.messages.map((m) => m.seq)).toEqual([5, 6, 7, 8, 9, 10])
    store.removeUpTo("a", 4) // again: nothing more
    expect(store.loadProducer("a")!.messages.map((m) => m.seq)).toEqual([5, 6, 7, 8, 9, 10])
    store.removeUpTo("a", 1_000)
    expect(store.loadProducer("a")).toEqual({ session: 1, nextSeq: 11, messages: [] })
    store.append("a", { seq: 11, payload: 11, deadline: 0 })
    expect(store.loadProducer("a")!.messages.map((m) => m.seq)).toEqual([11])
    store.removeUpTo("unknown", 5) // a channel never seen: nothing to do
  })

  it("restarting a session replaces session and nextSeq and keeps the unconfirmed messages", () => {
    const store = make()
    store.startSession("a", 1, 1)
    store.append("a", { seq: 1, payload: "one", deadline: 0 })
    store.append("a", { seq: 2, payload: "two", deadline: 0 })
    store.startSession("a", 2, 3)
    expect(store.loadProducer("a")).toEqual({
      session: 2,
      nextSeq: 3,
      messages: [{ seq: 1, payload: "one", deadline: 0 }, { seq: 2, payload: "two", deadline: 0 }]
    })
  })

  it("saves consumer progress as an upsert per producer, apart per consumer", () => {
    const store = make()
    store.saveProgress("c1", { producer: "p1", session: 10, processed: 1 })
    store.saveProgress("c1", { producer: "p2", session: 20, processed: 5 })
    store.saveProgress("c1", { producer: "p1", session: 10, processed: 2 })
    store.saveProgress("c2", { producer: "p1", session: 30, processed: 9 })
    expect(byProducer(store.loadConsumer("c1"))).toEqual([
      { producer: "p1", session: 10, processed: 2 },
      { producer: "p2", session: 20, processed: 5 }
    ])
    // a new session of the producer replaces the old one
    store.saveProgress("c1", { producer: "p1", session: 11, processed: 0 })
    expect(byProducer(store.loadConsumer("c1"))[0]).toEqual({ producer: "p1", session: 11, processed: 0 })
    expect(store.loadConsumer("c2")).toEqual([{ producer: "p1", session: 30, processed: 9 }])
    expect(store.loadConsumer("c3")).toEqual([])
  })

  it("keeps the refused messages with the progress, until a save without them", () => {
    const store = make()
    const rejected = [{ seq: 2, issue: "Expected a value less than or equal to 100\n  at [\"n\"]" }, { seq: 4, issue: "x" }]
    store.saveProgress("c", { producer: "p", session: 1, processed: 4, rejected })
    expect(store.loadConsumer("c")).toEqual([{ producer: "p", session: 1, processed: 4, rejected }])
    store.saveProgress("c", { producer: "p", session: 1, processed: 5 })
    expect(store.loadConsumer("c")).toStrictEqual([{ producer: "p", session: 1, processed: 5 }])
  })
})

describe("SqliteStore", () => {
  it("is durable, in WAL mode; the memory store is not durable", () => {
    const file = freshFile()
    const store = track(SqliteStore.make(file))
    expect(store.durable).toBe(true)
    store.startSession("a", 1, 1)
    expect(existsSync(`${file}-wal`)).toBe(true)
    expect(DeliveryStore.memory().durable).toBe(false)
    expect(track(SqliteStore.make(":memory:")).durable).toBe(false)
  })

  it("keeps everything across close and reopen", () => {
    const file = freshFile()
    const first = SqliteStore.make(file)
    first.startSession("a", 77, 1)
    for (let seq = 1; seq <= 5; seq++) first.append("a", { seq, payload: { seq, b: new Uint8Array([seq]) }, deadline: seq * 10 })
    first.removeUpTo("a", 2)
    first.saveProgress("c", { producer: "p", session: 3, processed: 8 })
    first.close()

    const again = track(SqliteStore.make(file))
    const snapshot = again.loadProducer("a")!
    expect(snapshot.session).toBe(77)
    expect(snapshot.nextSeq).toBe(6)
    expect(snapshot.messages.map((m) => [m.seq, m.deadline])).toEqual([[3, 30], [4, 40], [5, 50]])
    expect(snapshot.messages.map((m) => Array.from((m.payload as { b: Uint8Array }).b))).toEqual([[3], [4], [5]])
    expect(again.loadConsumer("c")).toEqual([{ producer: "p", session: 3, processed: 8 }])
  })

  it("opens a file of schema version 1, adding the column for refused messages", () => {
    const file = freshFile()
    const v1 = new Database(file)
    v1.exec(`CREATE TABLE telex_consumer (
      consumer TEXT NOT NULL, producer TEXT NOT NULL, session INTEGER NOT NULL, processed INTEGER NOT NULL,
      PRIMARY KEY (consumer, producer)) WITHOUT ROWID;
      INSERT INTO telex_consumer VALUES ('c', 'p', 1, 3);
      PRAGMA user_version = 1;`)
    v1.close()
    const store = track(SqliteStore.make(file))
    expect(store.loadConsumer("c")).toStrictEqual([{ producer: "p", session: 1, processed: 3 }])
    store.saveProgress("c", { producer: "p", session: 1, processed: 4, rejected: [{ seq: 4, issue: "bad" }] })
    expect(store.loadConsumer("c")).toEqual([{ producer: "p", session: 1, processed: 4, rejected: [{ seq: 4, issue: "bad" }] }])
  })

  it("lets several stores share one file, each with its own channels", () => {
    const file = freshFile()
    const producerSide = SqliteStore.make(file)
    const consumerSide = SqliteStore.make(file, { synchronous: "full" })
    producerSide.startSession("orders", 1, 1)
    producerSide.append("orders", { seq: 1, payload: "o1", deadline: 0 })
    consumerSide.startSession("replies", 2, 1)
    consumerSide.append("replies", { seq: 1, payload: "r1", deadline: 0 })
    consumerSide.saveProgress("billing", { producer: "orders", session: 1, processed: 1 })
    // each sees the other's commits
    expect(producerSide.loadProducer("replies")!.messages.map((m) => m.payload)).toEqual(["r1"])
    expect(consumerSide.loadProducer("orders")!.messages.map((m) => m.payload)).toEqual(["o1"])
    producerSide.close()
    consumerSide.close()

    const reopened = track(SqliteStore.make(file))
    expect(reopened.loadProducer("orders")!.messages.map((m) => m.payload)).toEqual(["o1"])
    expect(reopened.loadProducer("replies")!.messages.map((m) => m.payload)).toEqual(["r1"])
    expect(reopened.loadConsumer("billing")).toEqual([{ producer: "orders", session: 1, processed: 1 }])
  })

  it("throws a clear error from every method after close (closing twice is harmless)", () => {
    const store = SqliteStore.make(freshFile())
    store.startSession("a", 1, 1)
    store.close()
    store.close()
    const calls: Array<[string, () => unknown]> = [
      ["loadProducer", () => store.loadProducer("a")],
      ["startSession", () => store.startSession("a", 1, 1)],
      ["append", () => store.append("a", { seq: 1, payload: 1, deadline: 0 })],
      ["removeUpTo", () => store.removeUpTo("a", 1)],
      ["loadConsumer", () => store.loadConsumer("c")],
      ["saveProgress", () => store.saveProgress("c", { producer: "p", session: 1, processed: 1 })]
    ]
    for (const [method, call] of calls) expect(call).toThrow(new RegExp(`SqliteStore: ${method} called after close`))
  })

  it("reports a file it cannot open", () => {
    expect(() => SqliteStore.make(join(dir, "no-such-dir", "x.db"))).toThrow()
  })
})

/** Runs the child fixture; resolves with its stdout, its exit code and signal. */
const runChild = (args: ReadonlyArray<string>, options: { killOnOk?: boolean; execArgv?: ReadonlyArray<string> } = {}) =>
  new Promise<{ stdout: string; stderr: string; code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const proc = spawn(process.execPath, [...(options.execArgv ?? []), child, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      if (options.killOnOk && stdout.includes("ok\n")) proc.kill("SIGKILL")
    })
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      proc.kill("SIGKILL")
      reject(new Error(`child timed out; stdout: ${stdout}; stderr: ${stderr}`))
    }, 25_000)
    proc.on("error", reject)
    proc.on("exit", (code, signal) => {
      clearTimeout(timer)
      resolve({ stdout, stderr, code, signal })
    })
  })

describe("SqliteStore in real processes", () => {
  it("keeps every appended message and the saved progress when its process is killed (SIGKILL)", async () => {
    const file = freshFile()
    const n = 500
    const result = await runChild(["crash", file, String(n)], { killOnOk: true })
    expect(result.stdout, result.stderr).toBe("ok\n")
    expect(result.signal).toBe("SIGKILL")

    const store = track(SqliteStore.make(file))
    const snapshot = store.loadProducer("crash")!
    expect(snapshot.session).toBe(42)
    expect(snapshot.nextSeq).toBe(n + 1)
    expect(snapshot.messages).toHaveLength(n)
    snapshot.messages.forEach((m, i) => {
      expect(m.seq).toBe(i + 1)
      expect(m.deadline).toBe(1_000_000 + m.seq)
      expect(m.payload).toEqual({ seq: m.seq, bytes: new Uint8Array([m.seq & 0xff, 1, 2, 3]), nested: { tag: `m${m.seq}` } })
    })
    expect(store.loadConsumer("crash-consumer")).toEqual([{ producer: "crash-producer", session: 7, processed: n }])
  })

  it("does not abort the process when closed stores are garbage collected", async () => {
    const churnDir = mkdtempSync(join(dir, "churn-"))
    const result = await runChild(["churn", churnDir, "300"], { execArgv: ["--expose-gc"] })
    expect({ code: result.code, signal: result.signal, stdout: result.stdout }, result.stderr).toEqual({
      code: 0,
      signal: null,
      stdout: "ok\n"
    })
  })
})
