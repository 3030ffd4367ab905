/**
 * The shard stores the contract runs against: how to make a fresh one (in the test's scope) and
 * whether it runs on real time. A backend that cannot run here says why in `skip`.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { Scope } from "effect"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import * as SqliteShardStore from "../../src/sharding/SqliteShardStore.ts"

/** a fresh directory, removed when the scope closes */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

export interface Backend {
  readonly name: string
  /** a fresh, empty store */
  readonly make: Effect.Effect<ShardStore.ShardStore, unknown, Scope.Scope>
  /** true: real time (the store's own clock); false: Effect's Clock (TestClock under it.effect) */
  readonly live: boolean
  /** why this backend is skipped here, if it is */
  readonly skip?: string | undefined
}

export const backends: ReadonlyArray<Backend> = [
  { name: "memory", make: Effect.sync(() => ShardStore.memory()), live: false },
  {
    name: "sqlite",
    make: Effect.flatMap(tempDir("telex-shard-store-"), (dir) => SqliteShardStore.make(join(dir, "shards.db"))),
    live: true
  }
]
