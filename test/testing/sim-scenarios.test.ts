/**
 * The seeded scenario catalogue: three in-process nodes on SimNetwork and TestClock, a random
 * fault schedule drawn from the seed (partitions one- and two-way, resets that cut the stream at a
 * random byte — often mid-frame —, pauses, latency with TCP-like loss), sockets that read at most
 * 256 bytes at a time (frames split across reads), and these scenarios running at once:
 *
 * - sequenced tells from a to sinks on b and c, asks through the faults, remote monitors, and a
 *   supervised child that crashes on purpose;
 * - broadcast: the same sequenced batch from a to the sinks on b and c (fan-out);
 * - slow consumer: a sink on c with a small `backpressure` mailbox (16) and an 8 ms handler, fed
 *   by batches of tells from a and b: a full mailbox makes c ask a and b to hold that actor, and
 *   TCP windows and outbound buffers the feeders' `tell`s then suspend.
 *
 * After every run the invariants are checked:
 *
 * - no phantom deliveries (everything delivered was sent), no duplicates, per-pair FIFO (gaps
 *   allowed: tells are at most once) — for a→b, a→c, each broadcast pair, a→slow and b→slow;
 * - every acknowledged ask was delivered, and every ask ended (success, typed error or
 *   NodeDown) — none hangs until its timeout while the link is known to be down;
 * - every watcher of a lost connection got Down(NoConnection) within the detection deadline;
 * - the supervisor restarted the crashing child every time (no escalation at this rate);
 * - the slow consumer's mailbox never exceeds its capacity by more than what can be in flight on
 *   each link when the hold is sent (see SLOW_BOUND), and
 *   its feeders have sent everything after the heal;
 * - liveness: after the final heal, within backoff max + 2 heartbeats, links are up and asks work.
 *
 * `TELEX_SEED=<n> npx vitest run test/testing/sim-scenarios.test.ts` replays one seed exactly.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, PubSub, Random, Redacted, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ActorSystem, type Down, Supervisor } from "../../src/index.ts"
import type { Node } from "../../src/transport/Node.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import * as SimNetwork from "../../src/testing/SimNetwork.ts"

const HEARTBEAT = 200
const PAUSE = 800
const BACKOFF_MAX = 400
const DETECTION_DEADLINE = PAUSE + HEARTBEAT + 50
const SLOW_CAPACITY = 16
const SLOW_HANDLER_MILLIS = 8
const SLOW_BATCH = 12
/** what one read of a socket returns at most (small, so that frames are split across reads) */
const READ_BYTES = 256
/**
 * Small TCP windows and outbound buffers, so that a held link pushes back within a few batches:
 * the sender's writes stop completing, its outbound buffer fills and its `tell`s suspend.
 */
const WINDOW_BYTES = 1024
const HIGH_WATER_BYTES = 512
/**
 * The runtime's promise for a full `backpressure` mailbox fed from other nodes: it exceeds its
 * capacity by at most what each link had in flight when the hold was sent — the sender's
 * outbound queue (its `tell`s wait above the high-water mark, so at most that and one more
 * message), the network window and the read in progress. A tell frame for the slow sink is more
 * than 20 bytes (5 of frame header, the protocol name alone is 14).
 */
const IN_FLIGHT_BYTES = HIGH_WATER_BYTES + 64 + WINDOW_BYTES + READ_BYTES
const SLOW_BOUND = SLOW_CAPACITY + 2 * (Math.floor(IN_FLIGHT_BYTES / 20) + 1)

const Sink = Actor.make("Scenario/Sink", {
  Deliver: Actor.tell({ from: Schema.String, seq: Schema.Int }),
  Echo: Actor.ask({ from: Schema.String, seq: Schema.Int }, { success: Schema.Int }),
  Crash: Actor.tell({})
})

interface Deliveries {
  readonly log: Array<{ readonly from: string; readonly seq: number }>
}

const makeSink = (deliveries: Deliveries) =>
  Sink.behavior(Effect.succeed({
    Deliver: ({ from, seq }) => Effect.sync(() => void deliveries.log.push({ from, seq })),
    Echo: ({ from, seq }) => Effect.sync(() => {
      deliveries.log.push({ from: `${from}/ask`, seq })
      return seq
    }),
    Crash: () => Effect.die(new Error("crash on purpose"))
  }))

/** the slow consumer: a few ms of (virtual) work per message */
const makeSlowSink = (deliveries: Deliveries) =>
  Sink.behavior(Effect.succeed({
    Deliver: ({ from, seq }) => Effect.andThen(Effect.sleep(`${SLOW_HANDLER_MILLIS} millis`), Effect.sync(() => void deliveries.log.push({ from, seq }))),
    Echo: ({ from, seq }) => Effect.sync(() => {
      deliveries.log.push({ from: `${from}/ask`, seq })
      return seq
    }),
    Crash: () => Effect.void
  }))

const Watcher = Actor.make("Scenario/Watcher", {
  Watch: Actor.ask({ target: ActorRef.schema })
})

const makeWatcher = (downs: Array<{ actor: string; reason: string; at: number }>, now: () => number) =>
  Watcher.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    return {
      Watch: ({ target }) => Effect.asVoid(ctx.monitor(target)),
      onDown: (down: Down) => Effect.sync(() => void downs.push({ actor: down.actor.key, reason: down.reason._tag, at: now() }))
    }
  }))

const secret = Redacted.make("scenarios")

const runSeed = (seed: number) =>
  Effect.gen(function*() {
    const sim = yield* SimNetwork.make({ seed, readBytes: READ_BYTES, windowBytes: WINDOW_BYTES })
    const startedAt = sim.timers.now()
    const r = () => sim.random()
    sim.setDefaultFaults({ delayMillis: 1 + Math.floor(r() * 5), jitterMillis: r() * 3, loss: r() < 0.3 ? 0.05 : 0 })
    const names = ["a", "b", "c"]
    const nodes: Record<string, { node: Node["Service"]; system: ActorSystem["Service"] }> = {}
    for (const name of names) {
      nodes[name] = yield* TestNode.startNode(name, {
        port: 7000,
        cluster: "scenarios",
        secret,
        network: sim.host(name),
        heartbeatInterval: `${HEARTBEAT} millis`,
        acceptablePause: `${PAUSE} millis`,
        handshakeTimeout: "1 second",
        highWaterBytes: HIGH_WATER_BYTES,
        connectTimeout: "1 second",
        reconnect: { initial: "50 millis", max: `${BACKOFF_MAX} millis` },
        // a dials b and c; b dials c: a full mesh
        peers: names.filter((p) => p > name).map((p) => ({ name: p, host: p, port: 7000 }))
      })
    }
    const step = (millis: number) => TestClock.adjust(`${millis} millis`)
    const advance = Effect.fnUntraced(function*(millis: number) {
      for (let t = 0; t < millis; t += 10) yield* step(10)
    })
    const allUp = () => names.every((n) => nodes[n]!.node.peers().filter((p) => p.up).length === 2)
    for (let t = 0; !allUp(); t += 10) {
      if (t > 10_000) return yield* Effect.die(new Error(`seed ${seed}: the mesh did not form`))
      yield* step(10)
    }

    // sinks on b and c (supervised, so crashes are restarted), watchers on a
    const deliveries: Record<string, Deliveries> = { b: { log: [] }, c: { log: [] } }
    const restarts: Record<string, number> = { b: 0, c: 0 }
    const escalations: Array<string> = []
    const crashes: Record<string, number> = { b: 0, c: 0 }
    const sinks: Record<string, ActorRef.ActorRef<typeof Sink.defs>> = {}
    for (const n of ["b", "c"]) {
      const sup = Supervisor.make({ intensity: 1000, backoff: false, children: [Supervisor.child("sink", makeSink(deliveries[n]!), { options: { name: "sink" } })] })
      yield* nodes[n]!.system.spawn(sup)
      yield* nodes[n]!.system.supervisionEvents.pipe(
        Stream.runForEach((e) => Effect.sync(() => {
          // (the transport's link actors are supervised too: only the sink counts here)
          if (e._tag === "ChildRestarted" && e.childId === "sink") restarts[n]!++
          if (e._tag === "IntensityExceeded") escalations.push(`${n}: ${e.supervisor}`)
        })),
        Effect.forkScoped
      )
    }
    // the slow consumer on c: a small backpressure mailbox and a handler that takes a few ms
    const slowDeliveries: Deliveries = { log: [] }
    const slowLocal = yield* nodes.c!.system.spawn(makeSlowSink(slowDeliveries), {
      name: "slow",
      mailbox: { capacity: SLOW_CAPACITY, overflow: "backpressure" }
    })
    // the largest the mailbox ever gets, measured at every enqueue
    const slowMailbox = (slowLocal.target as unknown as { mailbox: { size: number; push: (...args: Array<unknown>) => void } }).mailbox
    let slowMax = 0
    const push = slowMailbox.push.bind(slowMailbox)
    slowMailbox.push = (...args) => {
      push(...args)
      slowMax = Math.max(slowMax, slowMailbox.size)
    }
    const clock = sim.timers
    const downs: Array<{ actor: string; reason: string; at: number }> = []
    const nodeDowns: Array<{ node: string; at: number }> = []
    const watcher = yield* nodes.a!.system.spawn(makeWatcher(downs, clock.now))
    const lookupSink = (n: string, name = "sink", from = "a") =>
      Effect.gen(function*() {
        const f = yield* Effect.forkChild(nodes[from]!.node.lookup(n, Sink, name))
        for (let t = 0; f.pollUnsafe() === undefined && t < 3_000; t += 10) yield* step(10)
        return yield* Fiber.join(f)
      })
    const watched = new Set<string>()
    const watchedAt = new Map<string, number>()
    const refresh = Effect.fnUntraced(function*(n: string) {
      const found = yield* Effect.result(lookupSink(n))
      if (found._tag === "Failure") return
      sinks[n] = found.success
      if (!watched.has(found.success.key)) {
        watched.add(found.success.key)
        const w = yield* Effect.forkChild(watcher.ask(Watcher.Watch({ target: found.success })))
        for (let t = 0; w.pollUnsafe() === undefined && t < 1000; t += 10) yield* step(10)
        if (w.pollUnsafe() !== undefined && Exit.isSuccess(w.pollUnsafe()!)) watchedAt.set(found.success.key, clock.now())
      }
    })
    yield* refresh("b")
    yield* refresh("c")
    // record node-level losses seen by a (for the watcher check)
    // subscribe before anything can happen (a forked Stream would subscribe only once it runs)
    const subscription = yield* nodes.a!.node.subscribe
    yield* PubSub.take(subscription).pipe(
      Effect.tap((e) => Effect.sync(() => {
        if (e._tag === "NodeDown") nodeDowns.push({ node: e.node.name, at: clock.now() })
      })),
      Effect.forever,
      Effect.forkScoped
    )

    // the slow sink's feeders on a and b (looked up from there: remote refs)
    const slowRefs: Record<string, ActorRef.ActorRef<typeof Sink.defs>> = {}
    const refreshSlow = Effect.fnUntraced(function*(from: string) {
      const found = yield* Effect.result(lookupSink("c", "slow", from))
      if (found._tag === "Success") slowRefs[from] = found.success
    })
    yield* refreshSlow("a")
    yield* refreshSlow("b")

    // ---- workload and faults, interleaved for 4 s of virtual time
    const sent: Record<string, number> = { b: 0, c: 0 }
    const broadcastSent = { n: 0 }
    const slowSent: Record<string, number> = { a: 0, b: 0 }
    // each feeder's batches go out one after the other (a batch waits for the previous one)
    const feeders: Record<string, Fiber.Fiber<void, unknown> | undefined> = { a: undefined, b: undefined }
    let suspended = 0 // tells that waited (virtual time passed): the link pushed back
    const asks: Array<Fiber.Fiber<number, unknown>> = []
    const askMeta: Array<{ target: string; seq: number }> = []
    let faultsActive = 0
    for (let tick = 0; tick < 40; tick++) {
      const target = r() < 0.5 ? "b" : "c"
      const sink = sinks[target]
      if (sink !== undefined) {
        for (let i = 0; i < 5; i++) {
          sent[target]!++
          sink.tellUnsafe(Sink.Deliver({ from: "a", seq: sent[target]! }))
        }
        const seq = ++sent[target]!
        asks.push(yield* Effect.forkChild(sink.ask(Sink.Echo({ from: "a", seq }), { timeout: "20 seconds" })))
        askMeta.push({ target, seq })
        if (r() < 0.05) {
          crashes[target]!++
          sink.tellUnsafe(Sink.Crash())
        }
      }
      // broadcast: the same sequenced batch to the sinks on b and c (fan-out)
      if (r() < 0.25) {
        const first = broadcastSent.n + 1
        broadcastSent.n += 5
        for (const n of ["b", "c"]) {
          for (let seq = first; seq <= broadcastSent.n; seq++) sinks[n]?.tellUnsafe(Sink.Deliver({ from: "bcast", seq }))
        }
      }
      // slow consumer: a batch of (suspending) tells from a and/or b, each feeder's batches in turn
      for (const from of ["a", "b"]) {
        const ref = slowRefs[from]
        if (ref === undefined || r() >= 0.5) continue
        const first = slowSent[from]! + 1
        slowSent[from]! += SLOW_BATCH
        const last = slowSent[from]!
        const previous = feeders[from]
        feeders[from] = yield* Effect.forkScoped(Effect.gen(function*() {
          if (previous !== undefined) yield* Fiber.join(previous)
          for (let seq = first; seq <= last; seq++) {
            const before = clock.now()
            yield* Effect.ignore(ref.tell(Sink.Deliver({ from, seq })))
            if (clock.now() > before) suspended++
          }
        }))
      }
      const roll = r()
      const x = names[Math.floor(r() * 3)]!
      const y = names.filter((n) => n !== x)[Math.floor(r() * 2)]!
      if (roll < 0.06) {
        sim.partition(x, y, { oneWay: r() < 0.3 })
        faultsActive++
      } else if (roll < 0.1) {
        // a few ms in, with this tick's sends on the wire: the reset cuts them at a random byte
        yield* step(1 + Math.floor(r() * 4))
        sim.reset(x, y)
      } else if (roll < 0.12) {
        sim.pause(x)
        yield* advance(100 + Math.floor(r() * 1200))
        sim.resume(x)
      } else if (roll < 0.2 && faultsActive > 0) {
        sim.heal()
        faultsActive = 0
      }
      yield* advance(100)
      for (const n of ["b", "c"]) {
        const known = sinks[n]
        if (known === undefined || !known.target.isAlive) yield* refresh(n)
      }
      for (const from of ["a", "b"]) {
        const known = slowRefs[from]
        if (known === undefined || !known.target.isAlive) yield* refreshSlow(from)
      }
    }

    // ---- heal everything; liveness within backoff max + 2 heartbeats (+ handshake time)
    sim.heal()
    sim.clearFaults()
    const healedAt = clock.now()
    for (let t = 0; !allUp(); t += 10) {
      if (t > BACKOFF_MAX + 2 * HEARTBEAT + 1_200) {
        return yield* Effect.die(new Error(`seed ${seed}: links not back ${t} ms after the heal`))
      }
      yield* step(10)
    }
    // every ask has ended by now (NodeDown at once for lost links; replies otherwise)
    yield* advance(2 * PAUSE)
    const results = asks.map((f) => f.pollUnsafe())
    // a final ask on each sink works
    for (const n of ["b", "c"]) {
      yield* refresh(n)
      const f = yield* Effect.forkChild(sinks[n]!.ask(Sink.Echo({ from: "final", seq: 1 }), { timeout: "5 seconds" }))
      for (let t = 0; f.pollUnsafe() === undefined && t < 3_000; t += 10) yield* step(10)
      assert.deepStrictEqual(f.pollUnsafe(), Exit.succeed(1), `seed ${seed}: ask to ${n} after the heal (healed at ${healedAt})`)
    }

    // the slow consumer's feeders make progress after the heal: every batch has been sent
    for (let t = 0; ["a", "b"].some((f) => feeders[f] !== undefined && feeders[f]!.pollUnsafe() === undefined); t += 10) {
      if (t > 5_000) return yield* Effect.die(new Error(`seed ${seed}: the slow consumer's feeders are stuck after the heal`))
      yield* step(10)
    }

    // ---- invariants
    // per-pair FIFO (gaps allowed), no duplicates, no phantoms
    const checkPair = (pair: string, seqs: ReadonlyArray<number>, sentCount: number) => {
      let last = 0
      const seen = new Set<number>()
      for (const seq of seqs) {
        assert.isFalse(seen.has(seq), `seed ${seed}: duplicate delivery ${pair}#${seq}`)
        seen.add(seq)
        assert.isAbove(seq, last, `seed ${seed}: FIFO violated on ${pair} (${seq} after ${last})`)
        assert.isAtMost(seq, sentCount, `seed ${seed}: phantom delivery ${pair}#${seq}`)
        last = seq
      }
    }
    for (const n of ["b", "c"]) {
      checkPair(`broadcast→${n}`, deliveries[n]!.log.filter((d) => d.from === "bcast").map((d) => d.seq), broadcastSent.n)
    }
    for (const from of ["a", "b"]) {
      checkPair(`${from}→slow`, slowDeliveries.log.filter((d) => d.from === from).map((d) => d.seq), slowSent[from]!)
    }
    assert.isAtMost(slowMax, SLOW_BOUND, `seed ${seed}: the slow consumer's mailbox grew to ${slowMax}`)
    for (const n of ["b", "c"]) {
      const tells = deliveries[n]!.log.filter((d) => d.from === "a")
      const askSeqs = new Set(deliveries[n]!.log.filter((d) => d.from === "a/ask").map((d) => d.seq))
      let last = 0
      const seen = new Set<number>()
      for (const d of tells) {
        assert.isFalse(seen.has(d.seq), `seed ${seed}: duplicate delivery ${n}#${d.seq}`)
        seen.add(d.seq)
        assert.isAbove(d.seq, last, `seed ${seed}: FIFO violated on a→${n} (${d.seq} after ${last})`)
        assert.isAtMost(d.seq, sent[n]!, `seed ${seed}: phantom delivery ${n}#${d.seq}`)
        last = d.seq
      }
      for (let i = 0; i < askMeta.length; i++) {
        const meta = askMeta[i]!
        if (meta.target !== n) continue
        const result = results[i]
        assert.isDefined(result, `seed ${seed}: ask ${n}#${meta.seq} never ended`)
        if (result !== undefined && Exit.isSuccess(result)) {
          assert.isTrue(askSeqs.has(meta.seq), `seed ${seed}: acknowledged ask ${n}#${meta.seq} was not delivered`)
          assert.strictEqual(result.value, meta.seq)
        }
      }
    }
    // watchers: every Down is NoConnection or an Error (crash) or NoProc; no watcher notified twice
    const keys = downs.map((d) => d.actor)
    assert.strictEqual(new Set(keys).size, keys.length, `seed ${seed}: a monitor fired twice`)
    for (const d of downs) assert.include(["NoConnection", "Error", "NoProc", "Shutdown", "Killed"], d.reason)
    // a NoConnection Down follows a detected loss of that node: at once (same virtual instant)
    // for monitors that existed then, or at monitor time for a monitor set up while it was down
    for (const d of downs.filter((x) => x.reason === "NoConnection")) {
      const node = d.actor.split("@")[1]!.split("#")[0]!
      assert.isTrue(
        nodeDowns.some((nd) => nd.node === node && nd.at <= d.at),
        `seed ${seed}: Down(NoConnection) for ${d.actor} at ${d.at} but ${node} was never lost`
      )
    }
    // and every loss of a watched node's connection notified its watchers within the deadline
    for (const nd of nodeDowns) {
      const watchedThere = downs.filter((d) => d.actor.includes(`@${nd.node}#`))
      // monitors in place (the Watch ask answered) before the loss, and not already fired
      const stillWatched = Array.from(watchedAt).filter(([k, at]) =>
        k.includes(`@${nd.node}#`) && at < nd.at && !downs.some((d) => d.actor === k && d.at < nd.at)
      ).map(([k]) => k)
      for (const key of stillWatched) {
        assert.isTrue(
          watchedThere.some((d) => d.actor === key && d.at >= nd.at && d.at - nd.at <= DETECTION_DEADLINE),
          `seed ${seed}: watcher of ${key} not notified within ${DETECTION_DEADLINE} ms of losing ${nd.node} at ${nd.at}`
        )
      }
    }
    // no escalation at this crash rate, and no more restarts than crashes that reached the sinks
    assert.deepStrictEqual(escalations, [], `seed ${seed}: a supervisor gave up`)
    for (const n of ["b", "c"]) assert.isAtMost(restarts[n]!, crashes[n]!, `seed ${seed}: restarts without crashes on ${n}`)
    // what a replay must reproduce: deliveries, losses and their virtual times, ask outcomes
    return JSON.stringify({
      b: deliveries.b!.log,
      c: deliveries.c!.log,
      slow: slowDeliveries.log,
      slowMax,
      suspended,
      nodeDowns: nodeDowns.map((d) => ({ node: d.node, at: Math.round((d.at - startedAt) * 1000) / 1000 })),
      asks: results.map((x) => (x === undefined ? "pending" : Exit.isSuccess(x) ? x.value : "failed"))
    })
  }).pipe(
    Effect.scoped,
    // each run on its own clock, which waits for the simulation however slow the machine is
    Effect.provide(SimNetwork.testClock),
    // the runtime's own randomness (supervisor backoff jitter) from the same seed
    Random.withSeed(seed)
  )

const seeds = process.env.TELEX_SEED !== undefined
  ? [Number(process.env.TELEX_SEED)]
  : Array.from({ length: Number(process.env.TELEX_SEEDS ?? 200) }, (_, i) => i + 1)

describe("seeded scenarios on SimNetwork", () => {
  it.effect("a seed replays exactly", () =>
    Effect.gen(function*() {
      const seed = Number(process.env.TELEX_SEED ?? 7)
      const first = yield* runSeed(seed)
      const second = yield* runSeed(seed)
      if (second !== first) {
        const a = JSON.parse(first)
        const b = JSON.parse(second)
        for (const k of Object.keys(a)) {
          if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) console.log("differs:", k, JSON.stringify(a[k]).slice(0, 400), "\n   vs", JSON.stringify(b[k]).slice(0, 400))
        }
      }
      assert.strictEqual(second, first)
    }), 60_000)

  it.effect(`${seeds.length} seeds: faults, workload, invariants`, () =>
    Effect.gen(function*() {
      let held = 0
      let suspended = 0
      for (const seed of seeds) {
        const exit = yield* Effect.exit(runSeed(seed))
        if (Exit.isFailure(exit)) {
          return yield* Effect.die(new Error(`seed ${seed} failed (replay: TELEX_SEED=${seed} npx vitest run test/testing/sim-scenarios.test.ts)\n${String(exit.cause)}`))
        }
        const result = JSON.parse(exit.value)
        if (result.slowMax > SLOW_CAPACITY) held++
        suspended += result.suspended
      }
      // the slow consumer scenario does what it is for: its mailbox fills (its feeders are asked
      // to hold it) and remote tells suspend
      if (seeds.length >= 50) {
        assert.isAbove(held, seeds.length / 2, "seeds where the slow consumer's mailbox filled up")
        assert.isAbove(suspended, 0, "remote tells that suspended while their destination was held")
      }
    }), 120_000)
})
