/**
 * Shared pieces of the sharding runtime tests: a counter entity and a sequence-checking entity
 * (order of numbered tells) with durable state, short lease
 * timings (real time, small), nodes with sharding over loopback TCP.
 */
import { Clock, Context, Effect, Exit, Layer, Redacted, References, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Actor from "../../src/actors/Actor.ts"
import { ActorSystem } from "../../src/system/ActorSystem.ts"
import * as Entity from "../../src/sharding/Entity.ts"
import { Sharding, type ShardingEvent } from "../../src/sharding/Sharding.ts"
import * as ShardStore from "../../src/sharding/ShardStore.ts"
import { Node } from "../../src/transport/Node.ts"

export const Counter = Actor.make("test/ShardedCounter", {
  Add: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int }),
  Key: Actor.ask({}, { success: Schema.String }),
  Where: Actor.ask({}, { success: Schema.String }),
  Fail: Actor.ask({ reason: Schema.String }, { success: Schema.Int, error: Schema.String }),
  Crash: Actor.tell({})
})

export const CounterEntity = Entity.make(
  Counter,
  Counter.behavior(Effect.gen(function*() {
    const ctx = yield* Entity.EntityContext
    const count = yield* Entity.state(Schema.Int)
    return {
      Add: ({ by }) => count.update((n) => n + by),
      Get: () => count.get,
      Key: () => Effect.succeed(ctx.entityKey),
      Where: () => Effect.succeed(ctx.node),
      Fail: ({ reason }) => Effect.fail(reason),
      Crash: () => Effect.die(new Error("crash on purpose"))
    }
  })),
  { passivateAfter: "400 millis", state: { schema: Schema.Int, initial: 0 } }
)

const SeqReport = Schema.Struct({ last: Schema.Int, count: Schema.Int, gaps: Schema.Int })
/** numbered tells to a key, for order checks */
/** a protocol of numbered tells and a report of them (see `seqEntity`) */
export const seqProtocol = (name: string) =>
  Actor.make(name, {
    Next: Actor.tell({ n: Schema.Int }),
    Report: Actor.ask({}, { success: SeqReport })
  })

/**
 * Counts the tells and those that did not follow the previous one (durable: kept across moves).
 * On node `slowOn` each tell takes 11 ms more than its senders take to send it: that node's
 * mailbox grows, and its handoff or graceful stop drains a backlog, holding what comes meanwhile.
 */
export const seqEntity = (seq: ReturnType<typeof seqProtocol>, slowOn?: string) =>
  Entity.make(
    seq,
    seq.behavior(Effect.gen(function*() {
      const state = yield* Entity.state(SeqReport)
      const { node } = yield* Entity.EntityContext
      const next = (n: number) => state.update((s) => ({ last: n, count: s.count + 1, gaps: s.gaps + (n === s.last + 1 ? 0 : 1) }))
      return {
        Next: ({ n }) => node === slowOn ? Effect.andThen(Effect.sleep("11 millis"), next(n)) : next(n),
        Report: () => state.get
      }
    })),
    { state: { schema: SeqReport, initial: { last: 0, count: 0, gaps: 0 } } }
  )

export const Seq = seqProtocol("test/ShardedSeq")
export const SeqEntity = seqEntity(Seq)

/** the timing of the SimCluster sharding tests (virtual time: leases of a second) */
export const simTiming = { leaseTtl: "1 second", renewInterval: "250 millis", stopBudget: "200 millis", clockMargin: "100 millis" } as const

/** SimCluster's `sharding.layer`: each node's Sharding of `entities` (`simTiming`), recorded in `into` by node */
export const recordingSharding = (into: Map<string, Sharding["Service"]>, entities: ReadonlyArray<Entity.Entity<any, any>>, shards: number) =>
  (node: string) =>
    Layer.effectDiscard(Effect.map(Sharding, (s) => void into.set(node, s))).pipe(
      Layer.provideMerge(Sharding.layer({ ...simTiming, shards, entities }))
    )

/** Moves virtual time on by `millis`, `by` at a time, so that what each step wakes runs before the next. */
export const stepClock = (millis: number, by = 10) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += by) yield* TestClock.adjust(`${by} millis`)
  })

/** short leases, so that moves happen within a test */
export const fast = {
  leaseTtl: "900 millis",
  renewInterval: "150 millis",
  stopBudget: "200 millis",
  clockMargin: "100 millis",
  shards: 64
} as const

export const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, References.MinimumLogLevel, "Error")

export const eventually = (what: string, check: () => boolean, timeoutMillis = 20_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${timeoutMillis} ms waiting for: ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

export interface ShardNode {
  readonly name: string
  readonly node: Node["Service"]
  readonly system: ActorSystem["Service"]
  readonly sharding: Sharding["Service"]
  readonly events: Array<ShardingEvent>
  /** stops the node (its scope): entities stop, leases are released */
  readonly stop: Effect.Effect<void>
}

const secret = Redacted.make("sharding-runtime-test")

/** Sharding with its own ActorSystem (node "solo") on `store` (default: a fresh memory store): a one-node runtime with no transport. */
export const soloLayer = (options: Parameters<typeof Sharding.layer>[0], store: ShardStore.ShardStore = ShardStore.memory()) =>
  Sharding.layer(options).pipe(
    Layer.provide(ShardStore.Service.layer(store)),
    Layer.provideMerge(ActorSystem.layer({ node: "solo" }))
  )

/** A node with sharding on `store`, in its own scope (closed with the test's, or by `stop`). */
export const startNode = (name: string, store: ShardStore.ShardStore, options?: Parameters<typeof Sharding.layer>[0]) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    let stopped = false
    const stop = Effect.suspend(() => {
      if (stopped) return Effect.void
      stopped = true
      return Scope.close(scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => stop)
    const events: Array<ShardingEvent> = []
    const layer = Sharding.layer({ ...fast, entities: [CounterEntity], ...options, onEvent: (e) => events.push(e) }).pipe(
      Layer.provide(ShardStore.Service.layer(store)),
      Layer.provideMerge(Node.layerWithSystem({ name, cluster: "sharding-test", secret }))
    )
    const context = yield* Layer.buildWithScope(layer, scope)
    const result: ShardNode = {
      name,
      node: Context.get(context, Node),
      system: Context.get(context, ActorSystem),
      sharding: Context.get(context, Sharding),
      events,
      stop
    }
    return result
  })

export const connect = (a: ShardNode, b: ShardNode) =>
  a.node.connect({ name: b.name, host: b.node.address.host, port: b.node.address.port }, "10 seconds")

/** Waits until every node sees the others as sharding members and shards are placed. */
export const settled = (nodes: ReadonlyArray<ShardNode>, shards = fast.shards) =>
  eventually(`${nodes.length} nodes see each other and own all ${shards} shards`, () =>
    nodes.every((n) => n.sharding.members().length === nodes.length) &&
    nodes.reduce((sum, n) => sum + n.sharding.ownedShards().length, 0) === shards)

/**
 * A view of `store` whose lease reads can be made to lag: after `freeze` they return the leases
 * as they were then, until `thaw` (a node that reads the store late, or through a slow replica).
 */
export const laggingView = (store: ShardStore.ShardStore) => {
  let stale: ReadonlyArray<ShardStore.Lease> | undefined
  const view: ShardStore.ShardStore = {
    ...store,
    leases: () => Effect.suspend(() => stale !== undefined ? Effect.succeed(stale) : store.leases())
  }
  return {
    view,
    freeze: Effect.map(store.leases(), (leases) => void (stale = leases)),
    thaw: Effect.sync(() => void (stale = undefined))
  }
}

/** A clock whose sleeps ending while it is paused end only at its resume (a stopped process's timers). */
export const pausableClock = () => {
  let paused = false
  let parked: Array<() => void> = []
  const wrap = (inner: Clock.Clock): Clock.Clock => ({
    currentTimeMillisUnsafe: () => inner.currentTimeMillisUnsafe(),
    currentTimeMillis: inner.currentTimeMillis,
    currentTimeNanosUnsafe: () => inner.currentTimeNanosUnsafe(),
    currentTimeNanos: inner.currentTimeNanos,
    monotonicTimeNanosUnsafe: () => inner.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: inner.monotonicTimeNanos,
    sleep: (duration) =>
      Effect.andThen(
        inner.sleep(duration),
        Effect.suspend(() => paused ? Effect.callback<void>((resume) => void parked.push(() => resume(Effect.void))) : Effect.void)
      )
  })
  return {
    layer: Layer.effect(Clock.Clock, Effect.clockWith((c) => Effect.succeed(wrap(c)))),
    pause: () => void (paused = true),
    resume: () => {
      paused = false
      const wake = parked
      parked = []
      for (const f of wake) f()
    }
  }
}
