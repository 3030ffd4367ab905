/**
 * The in-process twin of `TestCluster`: the same app modules and the same scenario API, but
 * every node runs in this process over a `SimNetwork`, on Effect's Clock. Under `it.effect`
 * (TestClock) a whole scenario — minutes of partitions, pauses and restarts — runs in
 * milliseconds and replays exactly from its seed (`TELEX_SEED`).
 *
 * ```ts
 * it.effect("jobs survive a partition", () =>
 *   Effect.gen(function*() {
 *     const cluster = yield* SimCluster.start({ app, nodes: [...], seed: 7 })
 *     yield* cluster.partition("n1", "n2")
 *     yield* cluster.eventually(...)   // advances the TestClock while it waits
 *     yield* cluster.heal()
 *   }).pipe(Effect.scoped))
 * ```
 *
 * Provide `testClock` around a run that must replay exactly whatever the load on the machine.
 *
 * `eventually` advances virtual time in small steps between attempts and while an attempt runs
 * (a check may itself wait on the clock, as an ask does), so tests never sleep and never hang.
 *
 * With `sharding`, the nodes share one in-memory shard store (`ShardStore.memory()`), each
 * through its own view (`ShardStore.severable`) provided as the node's `ShardStore.Service`:
 * `partitionStore(n)` cuts node `n` off from the store as `partition` cuts it from a peer (its
 * calls fail with `ShardStoreError`; the other nodes go on), `degradeStore(n, ...)` makes its
 * calls slow or failing, `healStore(n)` (or `heal()`) reconnects it. Nodes marked `join: true` start only when the scenario calls `join(n)`. Give a
 * `history` and every fault the scenario injects is recorded in it (a kill also as a `Crash`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { ActorSystem } from "../system/ActorSystem.ts"
import * as Admin from "../cluster/Admin.ts"
import type { ClusterApp } from "../cluster/ClusterApp.ts"
import { NodeStats } from "../cluster/NodeStats.ts"
import { Registry } from "../cluster/Registry.ts"
import * as ShardStore from "../sharding/ShardStore.ts"
import { Node } from "../transport/Node.ts"
import { prng } from "./FaultProxy.ts"
import type * as History from "./History.ts"
import type { ClusterHandle } from "./Scenario.ts"
import * as SimNetwork from "./SimNetwork.ts"

export interface SimClusterOptions {
  readonly app: ClusterApp
  /** `join: true`: not started with the cluster, only when the scenario calls `join(name)` */
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly run?: ReadonlyArray<string>; readonly join?: boolean }>
  readonly seed?: number
  readonly heartbeatInterval?: Duration.Input
  readonly acceptablePause?: Duration.Input
  /** virtual milliseconds per step while waiting (default 10) */
  readonly stepMillis?: number
  /** a shard store shared by the nodes, each through a view the scenario can cut off */
  readonly sharding?: SimShardingOptions
  /** where the faults the scenario injects are recorded */
  readonly history?: History.Recorder
  /**
   * Each node runs on a clock of its own whose timers `freeze` can stop (a stopped process's):
   * needed by `freeze` only, as the extra step after each of a node's sleeps moves where a run's
   * fibers yield (runs replay exactly either way)
   */
  readonly freezable?: boolean
}

/** The services a node's sharding layer is built on. */
export type ShardingServices = ActorSystem | Node | Registry | NodeStats | ShardStore.Service

export interface SimShardingOptions {
  /** the store the nodes share (default: a new `ShardStore.memory({ onEvent })`) */
  readonly store?: ShardStore.ShardStore
  /** every lease granted, renewed or released and every state written by the default store */
  readonly onEvent?: (event: ShardStore.StoreEvent) => void
  /**
   * Built on every node (at each start) before its modules, on the node's services and its view
   * of the store; what it provides is given to the node's modules (the node's sharding runtime).
   */
  readonly layer?: (node: string) => Layer.Layer<never, unknown, ShardingServices>
}

export class SimClusterError extends Error {}

/** A node's clock whose sleeps ending while it is frozen end only when it thaws (a stopped process's timers). */
class Timers {
  frozen = false
  parked: Array<() => void> = []
  wrap(inner: Clock.Clock): Clock.Clock {
    const park = Effect.callback<void>((resume) => void this.parked.push(() => resume(Effect.void)))
    const after = Effect.suspend(() => (this.frozen ? park : Effect.void))
    return {
      currentTimeMillisUnsafe: () => inner.currentTimeMillisUnsafe(),
      currentTimeMillis: inner.currentTimeMillis,
      currentTimeNanosUnsafe: () => inner.currentTimeNanosUnsafe(),
      currentTimeNanos: inner.currentTimeNanos,
      monotonicTimeNanosUnsafe: () => inner.monotonicTimeNanosUnsafe(),
      monotonicTimeNanos: inner.monotonicTimeNanos,
      sleep: (duration) => Effect.andThen(inner.sleep(duration), after)
    }
  }
  thaw(): void {
    this.frozen = false
    const parked = this.parked
    this.parked = []
    for (const f of parked) f()
  }
}

interface Running {
  scope: Scope.Closeable | undefined
  /** its clock's timers, when `freezable` */
  timers: Timers | undefined
  node: Node["Service"] | undefined
  system: ActorSystem["Service"] | undefined
  registry: Registry["Service"] | undefined
}

export interface SimCluster extends ClusterHandle {
  readonly network: SimNetwork.SimNetwork
  /**
   * A PRNG for the scenario's own choices (which node, which key, which fault), from the seed
   * but apart from the network's: the network draws per chunk it sends, so a workload drawing
   * from `network.random()` would change all its later choices with any change in how the
   * nodes write.
   */
  random(): number
  /** the shard store the nodes share (with `sharding`) */
  readonly store: ShardStore.ShardStore | undefined
  /** cuts `name` off from the shard store: its calls fail with `ShardStoreError` until healed */
  partitionStore(name: string): Effect.Effect<void>
  /** makes `name`'s calls to the shard store slow or failing (`ShardStore.Degraded`) until healed */
  degradeStore(name: string, degraded: ShardStore.Degraded): Effect.Effect<void>
  /** reconnects `name` (every node when left out) to the shard store */
  healStore(name?: string): Effect.Effect<void>
  /** whether `name` is cut off from the shard store */
  storeSevered(name: string): boolean
  /**
   * Stops a node gracefully (SIGTERM): its scope closes with its network up, so its finalizers
   * run as a real node's do (a sharding stop tells its peers, drains its entities and releases
   * its leases, waiting on virtual time: move the clock while it runs). The node counts as not
   * running from the start of the stop; `restart` starts it again once the stop is done.
   */
  stop(name: string): Effect.Effect<void>
  /**
   * Freezes a node as SIGSTOP does (needs `freezable`): nothing reaches it or leaves it and its
   * timers do not fire; its clock goes on. `thaw` resumes it as a process resumes: what waited
   * on its links is read before its overdue timers fire.
   */
  freeze(name: string): Effect.Effect<void>
  /** `meanwhile`: run after its links are read, before its timers fire (what a request waiting on its links does) */
  thaw(name: string, meanwhile?: Effect.Effect<void>): Effect.Effect<void>
  /** starts a node marked `join: true` (the first time; `restart` after a kill) */
  join(name: string): Effect.Effect<void, SimClusterError>
  /** whether a node runs now */
  isRunning(name: string): boolean
  /** a node's services (while it runs) */
  services(name: string): {
    readonly node: Node["Service"]
    readonly system: ActorSystem["Service"]
    readonly registry: Registry["Service"]
  }
  /** advances virtual time */
  advance(duration: Duration.Input): Effect.Effect<void>
}

/** The TestClock for a run that must replay exactly (`SimNetwork.testClock`). */
export const testClock: Layer.Layer<TestClock.TestClock> = SimNetwork.testClock

const secret = Redacted.make("sim-cluster")

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))
const PORT = 7000

export const start = (options: SimClusterOptions): Effect.Effect<SimCluster, SimClusterError, Scope.Scope> =>
  Effect.gen(function*() {
    const network = yield* SimNetwork.make(options.seed === undefined ? undefined : { seed: options.seed })
    const seed = network.seed
    const scenarioRandom = prng(Math.imul(seed ^ 0x5bd1e995, 0x85ebca6b) ^ 0x27d4eb2f)
    const startedAt = yield* Clock.currentTimeMillis
    /**
     * A node's incarnation, which a real node takes from the wall clock: the virtual time since
     * the cluster started, and a count of the starts so far (the client's included), so a run
     * replays with the same ones whenever it starts. It also seeds the node's random stream.
     */
    let boots = 0
    const incarnation = Effect.map(Clock.currentTimeMillis, (now) => (now - startedAt) * 1000 + (++boots % 1000))
    const step = options.stepMillis ?? 10
    const names = options.nodes.map((n) => n.name)
    const outer = yield* Effect.scope
    // While a node's scope closes with the run's, virtual time moves on by itself: its finalizers
    // may wait for the clock (a sharding stop drains its entities and waits for its peers'
    // answers, bounded by timeouts), and nothing else advances it then. (A kill closes a node's
    // scope on its own, while the scenario drives the clock: not then.)
    /** the closing scope's ticker (one at a time; 0: none) */
    let ticker = 0
    const tick = (id: number): Effect.Effect<void> =>
      Effect.suspend(() =>
        ticker === id ? Effect.andThen(Effect.andThen(TestClock.adjust(`${step} millis`), Effect.yieldNow), tick(id)) : Effect.void
      )
    let tickers = 0
    /** forks a scope from `outer` whose close with `outer` ticks the clock */
    const forkTicking = Effect.gen(function*() {
      yield* Scope.addFinalizer(outer, Effect.sync(() => void (ticker = 0)))
      const scope = yield* Scope.fork(outer)
      yield* Scope.addFinalizer(outer, Effect.suspend(() => Effect.asVoid(Effect.forkDetach(tick(ticker = ++tickers)))))
      return scope
    })
    const running = new Map<string, Running>()
    const history = options.history
    const store = options.sharding === undefined
      ? undefined
      : options.sharding.store ?? ShardStore.memory({ onEvent: options.sharding.onEvent })
    const views = new Map(store === undefined ? [] : names.map((n) => [n, ShardStore.severable(store, n)] as const))
    /** nodes the scenario cut off from the store */
    const storeCut = new Set<string>()
    /** nodes started and not killed since */
    const alive = new Set<string>()
    /**
     * A node reaches the store while it runs and is not cut off: a killed node's fibers, which
     * in-process still wind down after the kill, must not release its leases or write its
     * entities' state as a dead process could not.
     */
    const syncView = (name: string) => {
      const v = views.get(name)
      if (v === undefined) return
      if (storeCut.has(name) || !alive.has(name)) v.sever()
      else v.heal()
    }

    const advance = (duration: Duration.Input) =>
      Effect.gen(function*() {
        const total = Duration.toMillis(Duration.fromInputUnsafe(duration))
        for (let t = 0; t < total; t += step) yield* TestClock.adjust(`${step} millis`)
      })

    const boot = (spec: SimClusterOptions["nodes"][number]) =>
      Effect.flatMap(incarnation, (inc) => Random.withSeed(bootWith(spec, inc), `${seed}/${spec.name}/${inc}`))
    const bootWith = Effect.fnUntraced(function*(spec: SimClusterOptions["nodes"][number], inc: number) {
      const scope = yield* forkTicking
      const base = Layer.mergeAll(Registry.layer, NodeStats.layer).pipe(
        Layer.provideMerge(Node.layerWithSystem({
          name: spec.name,
          // the address its peers learn and pass on (gossip): its host on the simulated network
          host: spec.name,
          allowNonLoopback: true,
          port: PORT,
          cluster: "sim",
          secret,
          network: network.host(spec.name),
          heartbeatInterval: options.heartbeatInterval ?? "250 millis",
          acceptablePause: options.acceptablePause ?? "1 second",
          reconnect: { initial: "50 millis", max: "500 millis" },
          peers: names.filter((p) => p > spec.name).map((p) => ({ name: p, host: p, port: PORT })),
          system: { incarnation: inc }
        }))
      )
      alive.add(spec.name)
      syncView(spec.name)
      const view = views.get(spec.name)
      const withStore: Layer.Layer<ShardingServices, unknown> = view === undefined
        ? base as Layer.Layer<ShardingServices, unknown>
        : Layer.merge(base, ShardStore.Service.layer(view.store))
      const sharding = view === undefined ? undefined : options.sharding?.layer?.(spec.name)
      const layer = sharding === undefined ? withStore : Layer.provideMerge(sharding, withStore)
      const timers = options.freezable === true ? new Timers() : undefined
      const ctx = yield* Layer.buildWithScope(layer, scope).pipe(
        timers === undefined ? (e) => e : Effect.provideService(Clock.Clock, timers.wrap(yield* Clock.clockWith(Effect.succeed))),
        Effect.mapError((e) => new SimClusterError(errorText(e)))
      )
      const r: Running = {
        scope,
        timers,
        node: Context.get(ctx, Node),
        system: Context.get(ctx, ActorSystem),
        registry: Context.get(ctx, Registry)
      }
      running.set(spec.name, r)
      const modules = Effect.gen(function*() {
        yield* Admin.start
        for (const m of spec.run ?? []) {
          const module = options.app.modules[m]
          if (module === undefined) return yield* Effect.die(new SimClusterError(`unknown module ${m}`))
          yield* module
        }
      })
      yield* modules.pipe(Effect.provide(ctx), Scope.provide(scope), Effect.orDie)
    })

    for (const spec of options.nodes) if (spec.join !== true) yield* boot(spec)

    // the test's own node
    const clientScope = yield* forkTicking
    const clientIncarnation = yield* incarnation
    const clientCtx = yield* Layer.buildWithScope(
      Registry.layer.pipe(Layer.provideMerge(Node.layerWithSystem({
        name: "client",
        port: PORT,
        advertise: false,
        cluster: "sim",
        secret,
        network: network.host("client"),
        heartbeatInterval: options.heartbeatInterval ?? "250 millis",
        acceptablePause: options.acceptablePause ?? "1 second",
        reconnect: { initial: "50 millis", max: "500 millis" },
        peers: names.map((p) => ({ name: p, host: p, port: PORT })),
        system: { incarnation: clientIncarnation }
      }))),
      clientScope
    ).pipe(
      Effect.mapError((e) => new SimClusterError(e.message)),
      Random.withSeed(`${seed}/client/${clientIncarnation}`)
    )
    const client = {
      node: Context.get(clientCtx, Node),
      system: Context.get(clientCtx, ActorSystem),
      registry: Context.get(clientCtx, Registry)
    }

    /**
     * Runs `check` until it succeeds, advancing virtual time by a step between attempts — and
     * while an attempt runs: a check may itself wait on the clock (an ask's timeout, a
     * sleep), and nothing else would move it. An attempt still running when `timeout` of
     * virtual time is spent is interrupted and the wait fails, naming the check.
     */
    const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, timeout: Duration.Input = "30 seconds", label = "the check") =>
      Effect.gen(function*() {
        const total = Duration.toMillis(Duration.fromInputUnsafe(timeout))
        let elapsed = 0
        let lastFailure: string | undefined
        while (true) {
          const attempt = yield* Effect.forkChild(check)
          yield* Effect.yieldNow
          let result = attempt.pollUnsafe()
          while (result === undefined) {
            if (elapsed >= total) {
              yield* Fiber.interrupt(attempt)
              return yield* Effect.fail(
                new SimClusterError(
                  `eventually: ${label} was still running after ${elapsed} ms of virtual time (timeout ${total} ms; ` +
                    `the clock moved in ${step} ms steps while it ran)` +
                    (lastFailure === undefined ? "" : `; the attempt before failed with: ${lastFailure}`)
                )
              )
            }
            yield* TestClock.adjust(`${step} millis`)
            elapsed += step
            yield* Effect.yieldNow
            result = attempt.pollUnsafe()
          }
          if (Exit.isSuccess(result)) return result.value
          if (elapsed >= total) return yield* result
          lastFailure = Cause.pretty(result.cause).split("\n")[0]
          yield* TestClock.adjust(`${step} millis`)
          elapsed += step
        }
      })

    // wait until the mesh of the nodes started is formed
    const started = options.nodes.filter((n) => n.join !== true).map((n) => n.name)
    const isUp = (peers: ReadonlyArray<{ readonly name: string; readonly up: boolean }>, name: string) =>
      peers.some((p) => p.up && p.name === name)
    yield* eventually(
      Effect.suspend(() =>
        started.every((n) => {
          const peers = running.get(n)!.node!.peers()
          return started.every((o) => o === n || isUp(peers, o))
        }) && started.every((n) => isUp(client.node.peers(), n))
          ? Effect.void
          : Effect.fail(new SimClusterError("the simulated cluster did not form"))
      ),
      "60 seconds"
    )

    const get = (name: string) => {
      const r = running.get(name)
      if (r === undefined) throw new SimClusterError(`no node ${name} (nodes: ${names.join(", ")})`)
      return r
    }
    const view = (name: string) => {
      const v = views.get(name)
      if (v === undefined) {
        throw new SimClusterError(store === undefined ? "no shard store: start the cluster with `sharding`" : `no node ${name} (nodes: ${names.join(", ")})`)
      }
      return v
    }
    const specOf = (name: string) => {
      const spec = options.nodes.find((n) => n.name === name)
      if (spec === undefined) throw new SimClusterError(`no node ${name} (nodes: ${names.join(", ")})`)
      return spec
    }

    const cluster: SimCluster = {
      names,
      client,
      network,
      random: scenarioRandom,
      advance,
      services: (name) => {
        const r = get(name)
        if (r.node === undefined || r.system === undefined || r.registry === undefined) {
          throw new SimClusterError(`node ${name} is not running`)
        }
        return { node: r.node, system: r.system, registry: r.registry }
      },
      store,
      partitionStore: (name) => Effect.sync(() => {
        view(name)
        storeCut.add(name)
        syncView(name)
        history?.fault("partitionStore", { node: name })
      }),
      degradeStore: (name, degraded) => Effect.sync(() => {
        view(name).degrade(degraded)
        history?.fault("degradeStore", { node: name, ...degraded })
      }),
      healStore: (name) => Effect.sync(() => {
        for (const n of name === undefined ? names : [name]) {
          view(n)
          storeCut.delete(n)
          syncView(n)
        }
        history?.fault("healStore", { node: name ?? "*" })
      }),
      storeSevered: (name) => storeCut.has(view(name) && name),
      isRunning: (name) => running.get(name)?.scope !== undefined,
      join: (name) =>
        Effect.gen(function*() {
          const spec = specOf(name)
          if (running.has(name)) return yield* Effect.fail(new SimClusterError(`node ${name} has already started`))
          history?.fault("join", { node: name })
          yield* boot(spec).pipe(Effect.mapError((e) => new SimClusterError(errorText(e))))
        }),
      partition: (a, b) => Effect.sync(() => {
        network.partition(a, b)
        history?.fault("partition", { a, b })
      }),
      isolate: (name) => Effect.sync(() => {
        for (const other of [...names, "client"]) if (other !== name) network.partition(name, other)
        history?.fault("isolate", { node: name })
      }),
      heal: () => Effect.sync(() => {
        network.heal()
        network.clearFaults()
        storeCut.clear()
        for (const n of views.keys()) syncView(n)
        history?.heal()
      }),
      reset: (a, b) => Effect.sync(() => {
        network.reset(a, b)
        history?.fault("reset", { a, b })
      }),
      kill: (name) =>
        Effect.gen(function*() {
          const r = get(name)
          history?.fault("kill", { node: name })
          history?.crashed(name)
          network.crash(name)
          const scope = r.scope
          r.scope = undefined
          alive.delete(name)
          syncView(name)
          r.node = undefined
          r.system = undefined
          r.registry = undefined
          // the process is gone: its finalizers would not run, but in-process we must free it
          if (scope !== undefined) yield* Effect.forkDetach(Scope.close(scope, Exit.void))
        }),
      freeze: (name) =>
        Effect.sync(() => {
          const timers = get(name).timers
          if (timers === undefined) throw new SimClusterError("freeze needs a cluster started with `freezable: true`")
          network.pause(name)
          timers.frozen = true
          history?.fault("freeze", { node: name })
        }),
      thaw: (name, meanwhile) =>
        Effect.gen(function*() {
          const timers = get(name).timers
          if (timers === undefined) return
          history?.fault("thaw", { node: name })
          network.resume(name)
          // what its links held is read (and what that sets off runs) before its timers fire
          for (let i = 0; i < 3; i++) {
            yield* TestClock.adjust("1 millis")
            for (let j = 0; j < 20; j++) yield* Effect.yieldNow
          }
          if (meanwhile !== undefined) {
            yield* meanwhile
            for (let j = 0; j < 20; j++) yield* Effect.yieldNow
          }
          timers.thaw()
        }),
      stop: (name) =>
        Effect.gen(function*() {
          const r = get(name)
          const scope = r.scope
          if (scope === undefined) return
          history?.fault("stop", { node: name })
          r.scope = undefined
          yield* Scope.close(scope, Exit.void)
          // the process has exited: what it left open is closed with it
          alive.delete(name)
          syncView(name)
          network.crash(name)
          r.node = undefined
          r.system = undefined
          r.registry = undefined
        }),
      pause: (name) => Effect.sync(() => {
        network.pause(name)
        history?.fault("pause", { node: name })
      }),
      resume: (name) => Effect.sync(() => {
        network.resume(name)
        history?.fault("resume", { node: name })
      }),
      restart: (name) =>
        Effect.gen(function*() {
          const spec = specOf(name)
          if (get(name).scope !== undefined) return yield* Effect.fail(new SimClusterError(`node ${name} is still running`))
          history?.fault("restart", { node: name })
          yield* boot(spec).pipe(Effect.mapError((e) => new SimClusterError(errorText(e))))
        }),
      eventually
    }
    return cluster
  })
