/**
 * A `DeliveryStore` in a SQLite file (better-sqlite3 13, Node-API, synchronous): a producer's outbox and a
 * consumer's de-duplication state survive a crash of their process.
 *
 * Durability. The file is in WAL mode with `synchronous = NORMAL` (the default): every method has
 * committed its transaction to the write-ahead log when it returns, so what `append` and
 * `saveProgress` recorded survives the process being killed at any point (SIGKILL, OOM, a thrown
 * native error) — the promise of a reliable channel. The log is fsynced only at checkpoints, so
 * an OS crash or power loss may lose the last transactions before the crash (never corrupt the
 * file). `synchronous: "full"` fsyncs the log at every commit, which extends the promise to power
 * loss at the price of one fsync per message (milliseconds on most disks).
 *
 * Sharing a file. Several stores — different producer channels and consumer ids, in one or
 * several processes — may use one file: each `make` opens its own connection, SQLite serialises
 * writers and a writer waits up to `busyTimeoutMs` for the lock. Two processes must not use the
 * same file for the *same* producer channel or consumer id at the same time: each would overwrite
 * the other's session and progress (the store does not lock a channel; it trusts that a channel
 * or consumer id is owned by one process, as a registered name is).
 *
 * Payloads (the schema's encoded form) are serialised with msgpackr in plain MessagePack mode
 * (no records): nested objects, arrays, numbers, strings, booleans, `null`, `undefined` and
 * `Uint8Array` round-trip (binaries come back as `Uint8Array`).
 *
 *   const store = SqliteStore.make("/var/lib/app/delivery.db")
 *   const orders = yield* Reliable.producer({ ..., store })
 *
 * `make(":memory:")` gives a private in-memory database (not durable: `durable` is false), handy
 * in tests. After `close()` every method throws.
 *
 * @since 0.1.0
 */
import type BetterSqlite3 from "better-sqlite3"
import { Packr } from "msgpackr"
import type { ConsumerProgress, DeliveryStore, ProducerSnapshot, StoredMessage } from "./DeliveryStore.ts"
import * as SqliteDriver from "./internal/sqliteDriver.ts"

const Database = SqliteDriver.load()

export interface SqliteStoreOptions {
  /**
   * `"normal"` (default): durable across a crash of the process, an OS crash or power loss may
   * lose the last transactions. `"full"`: an fsync at every commit, durable across power loss too.
   */
  readonly synchronous?: "normal" | "full" | undefined
  /** how long a write waits for another connection's lock on the same file (default 5000 ms) */
  readonly busyTimeoutMs?: number | undefined
}

/**
 * the schema version written to `PRAGMA user_version`. 2: `telex_consumer.rejected` (a file of
 * version 1 gets the column when opened).
 */
const SCHEMA_VERSION = 2

/**
 * Rows are small and always reached by their primary key, hence WITHOUT ROWID (one b-tree per
 * table, no separate index to write). `deadline` is REAL: a message without deadline has Infinity.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS telex_producer (
  channel  TEXT    NOT NULL PRIMARY KEY,
  session  INTEGER NOT NULL,
  next_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS telex_outbox (
  channel  TEXT    NOT NULL,
  seq      INTEGER NOT NULL,
  payload  BLOB    NOT NULL,
  deadline REAL    NOT NULL,
  PRIMARY KEY (channel, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS telex_consumer (
  consumer  TEXT    NOT NULL,
  producer  TEXT    NOT NULL,
  session   INTEGER NOT NULL,
  processed INTEGER NOT NULL,
  rejected  TEXT,
  PRIMARY KEY (consumer, producer)
) WITHOUT ROWID;
`

interface ProducerRow {
  readonly session: number
  readonly next_seq: number
}
interface OutboxRow {
  readonly seq: number
  readonly payload: Buffer
  readonly deadline: number
}
interface ConsumerRow {
  readonly producer: string
  readonly session: number
  readonly processed: number
  /** JSON of the refused messages the producer may not have heard of yet; NULL when none */
  readonly rejected: string | null
}

/** Opens (creating if needed) the store in the SQLite file at `path`. */
export const make = (path: string, options?: SqliteStoreOptions): DeliveryStore => {
  const inMemory = path === ":memory:" || path === ""
  const db = new Database(path, { timeout: options?.busyTimeoutMs ?? 5000 })
  // every statement is prepared once (`db.pragma` would prepare a new one per call)
  const prepare = <P extends Array<unknown> = Array<unknown>, R = unknown>(source: string): BetterSqlite3.Statement<P, R> => {
    return db.prepare<P, R>(source)
  }
  try {
    if (!inMemory) {
      const mode = prepare("PRAGMA journal_mode = WAL").pluck().get()
      if (mode !== "wal") throw new Error(`SqliteStore: could not put ${path} in WAL mode (got ${String(mode)})`)
    }
    db.exec(`PRAGMA synchronous = ${options?.synchronous === "full" ? "FULL" : "NORMAL"}`)
    const userVersion = prepare("PRAGMA user_version").pluck()
    db.transaction(() => {
      const version = userVersion.get() as number
      if (version > SCHEMA_VERSION) {
        throw new Error(`SqliteStore: ${path} has schema version ${version}, newer than this Telex's (${SCHEMA_VERSION})`)
      }
      db.exec(SCHEMA)
      if (version === 1) db.exec("ALTER TABLE telex_consumer ADD COLUMN rejected TEXT")
      if (version < SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`)
    }).immediate()
  } catch (e) {
    db.close()
    throw e
  }

  const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: "number" })
  const encode = (payload: unknown): Uint8Array => packr.pack(payload)
  // unpacking from a plain Uint8Array view (not the row's Buffer) makes binaries Uint8Arrays;
  // they share the row's fresh buffer, which nothing else holds
  const decode = (blob: Buffer): unknown => packr.unpack(new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength))

  const selectProducer = prepare<[string], ProducerRow>("SELECT session, next_seq FROM telex_producer WHERE channel = ?")
  const selectOutbox = prepare<[string], OutboxRow>(
    "SELECT seq, payload, deadline FROM telex_outbox WHERE channel = ? ORDER BY seq"
  )
  const upsertProducer = prepare<[string, number, number], void>(
    "INSERT INTO telex_producer (channel, session, next_seq) VALUES (?, ?, ?) " +
      "ON CONFLICT (channel) DO UPDATE SET session = excluded.session, next_seq = excluded.next_seq"
  )
  const advanceProducer = prepare<[number, string], void>("UPDATE telex_producer SET next_seq = ? WHERE channel = ?")
  const insertMessage = prepare<[string, number, Uint8Array, number], void>(
    "INSERT INTO telex_outbox (channel, seq, payload, deadline) VALUES (?, ?, ?, ?)"
  )
  const deleteUpTo = prepare<[string, number], void>("DELETE FROM telex_outbox WHERE channel = ? AND seq <= ?")
  const selectConsumer = prepare<[string], ConsumerRow>(
    "SELECT producer, session, processed, rejected FROM telex_consumer WHERE consumer = ? ORDER BY producer"
  )
  const upsertProgress = prepare<[string, string, number, number, string | null], void>(
    "INSERT INTO telex_consumer (consumer, producer, session, processed, rejected) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (consumer, producer) DO UPDATE SET session = excluded.session, processed = excluded.processed, " +
      "rejected = excluded.rejected"
  )

  // one transaction: the message and the producer's next sequence number commit together
  const appendTx = db.transaction((channel: string, message: StoredMessage) => {
    if (advanceProducer.run(message.seq + 1, channel).changes === 0) {
      throw new Error(`SqliteStore: no session started for channel ${channel}`)
    }
    insertMessage.run(channel, message.seq, encode(message.payload), message.deadline)
  })

  // all or none, one commit for the lot
  const appendAllTx = db.transaction((channel: string, messages: ReadonlyArray<StoredMessage>) => {
    if (messages.length === 0) return
    if (advanceProducer.run(messages[messages.length - 1]!.seq + 1, channel).changes === 0) {
      throw new Error(`SqliteStore: no session started for channel ${channel}`)
    }
    for (const m of messages) insertMessage.run(channel, m.seq, encode(m.payload), m.deadline)
  })

  // one read transaction, so the session row and the messages are from the same commit
  const loadProducerTx = db.transaction((channel: string): ProducerSnapshot | undefined => {
    const p = selectProducer.get(channel)
    if (p === undefined) return undefined
    const messages = selectOutbox.all(channel).map((r): StoredMessage => ({
      seq: r.seq,
      payload: decode(r.payload),
      deadline: r.deadline
    }))
    return { session: p.session, nextSeq: p.next_seq, messages }
  })

  let closed = false
  const open = (method: string): void => {
    if (closed) throw new Error(`SqliteStore: ${method} called after close (${path})`)
  }

  return {
    durable: !inMemory,
    loadProducer: (channel) => {
      open("loadProducer")
      return loadProducerTx(channel)
    },
    startSession: (channel, session, nextSeq) => {
      open("startSession")
      upsertProducer.run(channel, session, nextSeq)
    },
    append: (channel, message) => {
      open("append")
      appendTx(channel, message)
    },
    appendAll: (channel, messages) => {
      open("appendAll")
      appendAllTx(channel, messages)
    },
    removeUpTo: (channel, upTo) => {
      open("removeUpTo")
      deleteUpTo.run(channel, upTo)
    },
    loadConsumer: (consumer): ReadonlyArray<ConsumerProgress> => {
      open("loadConsumer")
      return selectConsumer.all(consumer).map((r) => ({
        producer: r.producer,
        session: r.session,
        processed: r.processed,
        ...(r.rejected === null ? {} : { rejected: JSON.parse(r.rejected) })
      }))
    },
    saveProgress: (consumer, progress) => {
      open("saveProgress")
      const rejected = progress.rejected !== undefined && progress.rejected.length > 0
        ? JSON.stringify(progress.rejected.map((r) => ({ seq: r.seq, issue: r.issue })))
        : null
      upsertProgress.run(consumer, progress.producer, progress.session, progress.processed, rejected)
    },
    close: () => {
      if (closed) return
      closed = true
      db.close()
    }
  }
}
