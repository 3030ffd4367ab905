/**
 * What the two processes of the `reliable` benchmark group share: the payload (the same ~100-byte
 * struct as the remote group's `Bench.Tell`), the plain actor the reliable channel is compared
 * with (tells, asks answered with the payload's `seq`, a count barrier), and the names and
 * windows of the consumers the peer hosts.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../src/index.ts"
import { ACCOUNT, AMOUNT, NOTE } from "./remote-protocol.ts"

/** The message of every measurement: plain tells, plain asks and the reliable channel's payload. */
export const Payload = Schema.Struct({ seq: Schema.Int, account: Schema.String, amount: Schema.Number, note: Schema.String })
export type Payload = typeof Payload.Type

export const payload = (seq: number): Payload => ({ seq, account: ACCOUNT, amount: AMOUNT, note: NOTE })

/** counters of the peer process, shared by the plain actor and the reliable consumers' handlers */
export const counters = { tells: 0, reliable: 0 }

export const Plain = Actor.make("ReliableBench", {
  /** the plain remote tell (at most once), same fields as the reliable payload */
  Tell: Actor.tell(Payload.fields),
  /** a plain remote ask with the same payload, answered with its `seq` */
  Echo: Actor.ask(Payload.fields, { success: Schema.Int }),
  /** tells handled so far (FIFO: a barrier after a run of tells) */
  Count: Actor.ask({}, { success: Schema.Int }),
  /** messages the reliable consumers' handlers completed so far (a check, not a barrier) */
  Processed: Actor.ask({}, { success: Schema.Int })
})

export const PlainLive = Plain.behavior(Effect.sync(() => {
  let check = 0
  return {
    Tell: ({ seq }) =>
      Effect.sync(() => {
        counters.tells++
        check += seq
      }),
    Echo: ({ seq }) => Effect.succeed(seq),
    Count: () => Effect.succeed(counters.tells),
    Processed: () => Effect.succeed(counters.reliable)
  }
}))

/** Name under which the peer registers the plain actor. */
export const PLAIN = "reliable-bench-plain"

/**
 * The consumers on the peer: a reliable consumer's `window` is what it grants (the producer's
 * own `window` only covers the messages before the first grant), so each window the group
 * measures has its own consumer, and the producer uses the same value.
 */
export const CONSUMERS = {
  w50: { name: "reliable-bench-w50", window: 50 },
  /** the default window (256) */
  wDefault: { name: "reliable-bench-default", window: 256 },
  w500: { name: "reliable-bench-w500", window: 500 },
  durable: { name: "reliable-bench-durable", window: 256 }
} as const

/** The module of the durable store, if it exists in this checkout (loaded by path, see `loadSqliteStore`). */
export const SQLITE_STORE_MODULE = new URL("../src/reliable/SqliteStore.ts", import.meta.url)

/** What the group needs of `src/reliable/SqliteStore.ts` (written separately; loaded only if present). */
export interface SqliteStoreModule {
  readonly make: (path: string) => import("../src/reliable/DeliveryStore.ts").DeliveryStore
}

/** `SqliteStore`, or undefined when `src/reliable/SqliteStore.ts` is not in this checkout. */
export const loadSqliteStore = async (): Promise<SqliteStoreModule | undefined> => {
  const { existsSync } = await import("node:fs")
  if (!existsSync(SQLITE_STORE_MODULE)) return undefined
  const mod = (await import(SQLITE_STORE_MODULE.href)) as Record<string, unknown>
  const candidate = (mod["SqliteStore"] ?? mod) as Partial<SqliteStoreModule>
  return typeof candidate.make === "function" ? (candidate as SqliteStoreModule) : undefined
}
