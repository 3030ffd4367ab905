import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Schema, Scope, Stream } from "effect"
import type { Socket } from "../../src/transport/Network.ts"
import { TestClock } from "effect/testing"
import { Counter, CounterLive } from "../../examples/counter.ts"
import { Actor } from "../../src/index.ts"
import * as SimNetwork from "../../src/testing/SimNetwork.ts"
import * as TestNode from "../../src/testing/TestNode.ts"

const secret = Redacted.make("sim")

const Blob = Actor.make("Sim/Blob", { Put: Actor.tell({ seq: Schema.Int, body: Schema.String }) })

/** what message `seq` carries: sizes from a few bytes to fragmented (over 64 KiB), content tied to seq */
const bodyOf = (seq: number): string => {
  const size = seq % 9 === 0 ? 70_000 : 20 + ((seq * 373) % 3_000)
  return `${seq}:`.padEnd(size, String.fromCharCode(97 + (seq % 26)))
}

const startNode = (sim: SimNetwork.SimNetwork, name: string, peers: ReadonlyArray<string> = []) =>
  TestNode.startNode(name, {
    port: 7000,
    cluster: "sim",
    secret,
    network: sim.host(name),
    heartbeatInterval: "250 millis",
    acceptablePause: "1 second",
    reconnect: { initial: "100 millis", max: "400 millis" },
    peers: peers.map((p) => ({ name: p, host: p, port: 7000 }))
  })

/** Advances virtual time in small steps until `check` holds (or fails after `maxMillis`). */
const advanceUntil = (check: () => boolean, maxMillis: number, what: string, step = 10) =>
  Effect.gen(function*() {
    let elapsed = 0
    while (!check()) {
      if (elapsed >= maxMillis) return yield* Effect.die(new Error(`${what}: not after ${maxMillis} ms of virtual time`))
      yield* TestClock.adjust(`${step} millis`)
      elapsed += step
    }
    return elapsed
  })

describe("SimNetwork (in-process nodes on TestClock)", () => {
  it.effect("nodes connect, talk, detect a partition on the heartbeat deadline and reconnect after the heal", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 42 })
      sim.setDefaultFaults({ delayMillis: 2, jitterMillis: 1 })
      const b = yield* startNode(sim, "b")
      const a = yield* startNode(sim, "a", ["b"])
      yield* b.system.spawn(CounterLive, { name: "counter" })
      yield* advanceUntil(() => a.node.peers().some((p) => p.name === "b" && p.up), 5_000, "a connects to b")
      const events: Array<string> = []
      yield* a.node.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e._tag))), Effect.forkScoped)

      const lookup = yield* Effect.forkChild(a.node.lookup("b", Counter, "counter"))
      yield* advanceUntil(() => lookup.pollUnsafe() !== undefined, 1_000, "lookup")
      const counter = yield* lookup.pipe((f) => Effect.flatten(Effect.sync(() => f.pollUnsafe()!)))
      yield* counter.tell(Counter.Increment({ by: 5 }))
      const get = yield* Effect.forkChild(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
      yield* advanceUntil(() => get.pollUnsafe() !== undefined, 1_000, "ask")
      assert.deepStrictEqual(get.pollUnsafe(), Exit.succeed(5))

      // a silent partition: no error from the "socket", only the heartbeat deadline notices
      sim.partition("a", "b")
      const pending = yield* Effect.forkChild(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
      const detected = yield* advanceUntil(() => a.node.peers().some((p) => p.name === "b" && !p.up), 5_000, "partition detected")
      assert.isAtLeast(detected, 1_000) // not before the acceptable pause...
      assert.isAtMost(detected, 1_000 + 250 + 20) // ...and within one heartbeat after it
      // the pending ask failed at once with NodeDown, not at its 30 s timeout
      const failed = pending.pollUnsafe()
      assert.isTrue(failed !== undefined && Exit.isFailure(failed))
      assert.include(JSON.stringify(failed), "NodeDown")

      sim.heal()
      yield* advanceUntil(() => a.node.peers().some((p) => p.name === "b" && p.up), 5_000, "reconnect after heal")
      const again = yield* Effect.forkChild(counter.ask(Counter.Get(), { timeout: "30 seconds" }))
      yield* advanceUntil(() => again.pollUnsafe() !== undefined, 1_000, "ask after heal")
      assert.deepStrictEqual(again.pollUnsafe(), Exit.succeed(5))
      assert.includeMembers(events, ["NodeDown", "NodeUp"])
    }))

  it.effect("a link never reorders: chunks sent at fractional instants behind a retransmitted one arrive in order", () =>
    Effect.gen(function*() {
      // Found by the seeded scenarios (a→c tells 36–40 delivered before 24–34 on a live link,
      // only late in a 200-seed run): chunks queued behind a "lost" one all share its delivery
      // instant, and each had its own timer for `at - now`; Effect's Duration rounds fractional
      // millis to whole nanoseconds, so `now + (at - now)` could land a nanosecond before or after
      // `at`, and two timers for the same instant fired in either order.
      for (const seed of [1, 2, 3, 4, 5]) {
        yield* TestClock.adjust("812345 millis") // a clock far from 0, as late in a long run
        const sim = yield* SimNetwork.make({ seed })
        sim.setFaults("a", "b", { delayMillis: 1, jitterMillis: 1, loss: 0.2, rtoMillis: 200 })
        const received: Array<number> = []
        let server: Socket | undefined
        yield* Effect.promise(() => sim.host("b").listen("b", 9000, (s) => (server = s)))
        let client: Socket | undefined
        sim.host("a").connect("b", 9000, 1000).then((s) => (client = s))
        yield* advanceUntil(() => client !== undefined && server !== undefined, 1_000, "connect", 1)
        server!.on("data", (chunk: Buffer) => {
          for (let i = 0; i < chunk.length; i += 4) received.push(chunk.readUInt32BE(i))
        })
        // writes from timers at fractional instants (as a node's reaction to a delivered chunk is)
        const total = 400
        for (let k = 1; k <= total; k++) {
          sim.timers.setTimeout(() => {
            const b = Buffer.alloc(4)
            b.writeUInt32BE(k)
            client!.write(b)
          }, k * 1.37)
        }
        yield* advanceUntil(() => received.length === total, 5_000, `seed ${seed}: every chunk delivered`, 1)
        const first = received.findIndex((n, i) => n !== i + 1)
        assert.strictEqual(first, -1, `seed ${seed}: chunk ${received[first]} arrived where ${first + 1} was due`)
        client!.destroy()
      }
    }))

  it.effect("reads are at most readBytes, and a pause in a data handler holds everything after that read (as a Node socket)", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 1, readBytes: 10 })
      let server: Socket | undefined
      let client: Socket | undefined
      yield* Effect.promise(() => sim.host("b").listen("b", 9000, (s) => (server = s)))
      sim.host("a").connect("b", 9000, 1000).then((s) => (client = s))
      yield* advanceUntil(() => client !== undefined && server !== undefined, 1_000, "connect", 1)
      const reads: Array<string> = []
      let pauseAfter = 2
      server!.on("data", (chunk: Buffer) => {
        reads.push(chunk.toString())
        if (--pauseAfter === 0) server!.pause()
      })
      client!.write(Buffer.from("abcdefghijklmnopqrstuvwxy")) // 25 bytes: reads of 10, 10, 5
      client!.write(Buffer.from("0123"))
      yield* TestClock.adjust("5 millis")
      // the second read paused the socket: the rest of the first write and the second wait
      assert.deepStrictEqual(reads, ["abcdefghij", "klmnopqrst"])
      pauseAfter = 1
      server!.resume()
      assert.deepStrictEqual(reads, ["abcdefghij", "klmnopqrst"], "resume reads on a later tick, not inside the caller")
      yield* TestClock.adjust("1 millis")
      // paused again by the first read after resume: one read, not everything that was buffered
      assert.deepStrictEqual(reads, ["abcdefghij", "klmnopqrst", "uvwxy"])
      pauseAfter = 0
      server!.resume()
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(reads, ["abcdefghij", "klmnopqrst", "uvwxy", "0123"])
      client!.destroy()
    }))

  it.effect("reset: of the bytes in flight, a prefix cut at any byte arrives, then the reset", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 1 })
      sim.setDefaultFaults({ delayMillis: 5 })
      let server: Socket | undefined
      let client: Socket | undefined
      yield* Effect.promise(() => sim.host("b").listen("b", 9000, (s) => (server = s)))
      sim.host("a").connect("b", 9000, 1000).then((s) => (client = s))
      yield* advanceUntil(() => client !== undefined && server !== undefined, 1_000, "connect", 1)
      const events: Array<string> = []
      server!.on("data", (chunk: Buffer) => events.push(`data ${chunk.toString()}`))
      server!.on("error", (e: Error) => events.push(`error ${e.message}`))
      client!.on("error", (e: Error) => events.push(`client error ${e.message}`))
      client!.write(Buffer.from("hello "))
      client!.write(Buffer.from("world"))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(events, [])
      sim.reset("a", "b", { cutAt: 8 }) // inside the second write
      assert.deepStrictEqual(events.slice(0, 1), ["data hello wo"])
      assert.sameMembers(events.slice(1), ["error read ECONNRESET", "client error read ECONNRESET"])
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(events.length, 3, "nothing after the reset")
    }))

  it.effect("a reset in the middle of a frame: no phantom or corrupt message; the link comes back and later messages arrive whole", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 7, readBytes: 1000 })
      sim.setDefaultFaults({ delayMillis: 5 })
      const b = yield* startNode(sim, "b")
      const a = yield* startNode(sim, "a", ["b"])
      const got: Array<{ readonly seq: number; readonly body: string }> = []
      yield* b.system.spawn(Blob.behavior(Effect.succeed({ Put: (m) => Effect.sync(() => void got.push(m)) })), { name: "blob" })
      const downs: Array<string> = []
      yield* b.node.events.pipe(
        Stream.runForEach((e) => Effect.sync(() => e._tag === "NodeDown" && void downs.push(e.reason))),
        Effect.forkScoped
      )
      const isUp = () =>
        a.node.peers().some((p) => p.name === "b" && p.up) && b.node.peers().some((p) => p.name === "a" && p.up)
      yield* advanceUntil(isUp, 5_000, "a connects to b")
      const lookup = yield* Effect.forkChild(a.node.lookup("b", Blob, "blob"))
      yield* advanceUntil(() => lookup.pollUnsafe() !== undefined, 1_000, "lookup")
      const blob = yield* Effect.flatten(Effect.sync(() => lookup.pollUnsafe()!))

      let sent = 0
      const batch = 8
      const partial: Array<number> = []
      for (let round = 0; round < 12; round++) {
        yield* advanceUntil(isUp, 5_000, `round ${round}: the link is back`)
        const before = got.length
        for (let i = 0; i < batch; i++) {
          sent++
          blob.tellUnsafe(Blob.Put({ seq: sent, body: bodyOf(sent) }))
        }
        yield* TestClock.adjust("1 millis") // written: on the wire for 5 ms
        sim.reset("a", "b") // cut at a random byte of what is in flight
        yield* TestClock.adjust("10 millis")
        partial.push(got.length - before)
      }
      // after the resets, the link comes back and a batch arrives whole
      yield* advanceUntil(isUp, 5_000, "the link is back")
      const last = sent + 1
      for (let i = 0; i < batch; i++) {
        sent++
        blob.tellUnsafe(Blob.Put({ seq: sent, body: bodyOf(sent) }))
      }
      yield* advanceUntil(() => got.some((m) => m.seq === sent), 1_000, "the last batch")

      // nothing corrupt, nothing invented, nothing twice, in order
      let previous = 0
      for (const m of got) {
        assert.isAbove(m.seq, previous, `#${m.seq} after #${previous}`)
        assert.isAtMost(m.seq, sent, `phantom #${m.seq}`)
        assert.isTrue(m.body === bodyOf(m.seq), `#${m.seq} arrived corrupt`)
        previous = m.seq
      }
      assert.deepStrictEqual(got.filter((m) => m.seq >= last).map((m) => m.seq), Array.from({ length: batch }, (_, i) => last + i))
      // the cuts fell inside the batches (some of a batch arrived, not all): partial frames were
      // discarded with their connection, never decoded, and no connection saw a protocol error
      assert.isTrue(partial.some((n) => n > 0 && n < batch), `delivered per batch: ${partial.join(", ")}`)
      assert.isAtLeast(downs.length, 12)
      for (const reason of downs) assert.notInclude(reason, "protocol error")
    }))

  it.effect("flow control: past windowBytes unread by the peer, a write completes only once the peer has read", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 1, windowBytes: 10 })
      let server: Socket | undefined
      let client: Socket | undefined
      yield* Effect.promise(() => sim.host("b").listen("b", 9000, (s) => (server = s)))
      sim.host("a").connect("b", 9000, 1000).then((s) => (client = s))
      yield* advanceUntil(() => client !== undefined && server !== undefined, 1_000, "connect", 1)
      const reads: Array<string> = []
      server!.on("data", (chunk: Buffer) => void reads.push(chunk.toString()))
      server!.on("error", () => {})
      client!.on("error", () => {})
      server!.pause() // a reader that does not read
      const done: Array<string> = []
      client!.write(Buffer.from("12345678"), (e) => done.push(e ? `1 ${e.message}` : "1"))
      client!.write(Buffer.from("abcdefgh"), (e) => done.push(e ? `2 ${e.message}` : "2"))
      client!.write(Buffer.from("ABCDEFGH"), (e) => done.push(e ? `3 ${e.message}` : "3"))
      yield* TestClock.adjust("5 millis")
      assert.deepStrictEqual(done, ["1"], "the second write went over the window: it waits for the reader")
      server!.resume()
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(reads.join(""), "12345678abcdefghABCDEFGH")
      assert.deepStrictEqual(done, ["1", "2", "3"])
      // a write still waiting when the socket goes fails, as on a Node socket
      server!.pause()
      client!.write(Buffer.from("0123456789abc"), (e) => done.push(e ? "4 failed" : "4"))
      yield* TestClock.adjust("5 millis")
      sim.reset("a", "b", { cutAt: 0 })
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(done, ["1", "2", "3", "4 failed"])
    }))

  it.effect("a crashed host's connects in progress fail; none reaches the listener after the heal", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 3 })
      const accepted: Array<Socket> = []
      yield* Effect.promise(() => sim.host("b").listen("b", 9000, (s) => void accepted.push(s)))
      sim.partition("a", "b")
      let outcome: string | undefined
      sim.host("a").connect("b", 9000, 10_000).then(() => (outcome = "connected"), (e: Error & { code?: string }) => (outcome = e.code))
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(outcome, undefined, "the SYN is held by the partition")
      sim.crash("a")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(outcome, "ECONNABORTED")
      sim.heal()
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(accepted.length, 0, "the dead host's SYN never completes a connection")
    }))

  it.effect("after a crash the dead process's network does nothing: its listener's close leaves the port to the new one, its connects fail", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 5 })
      const old = sim.host("b")
      const oldListener = yield* Effect.promise(() => old.listen("b", 9000, () => {}))
      sim.crash("b")
      const accepted: Array<Socket> = []
      yield* Effect.promise(() => sim.host("b").listen("b", 9000, (s) => void accepted.push(s)))
      oldListener.close()
      const connected = yield* Effect.promise(() => sim.host("a").connect("b", 9000, 1000))
      assert.strictEqual(accepted.length, 1, "the new process still listens")
      connected.destroy()
      const zombie = yield* Effect.promise(() => old.connect("a", 9000, 1000).then(() => "connected", (e: Error & { code?: string }) => e.code))
      assert.strictEqual(zombie, "ECONNABORTED")
    }))

  it.effect("a node stopped while its dial is held by a partition never connects: the peer sees no zombie after the heal", () =>
    Effect.gen(function*() {
      const sim = yield* SimNetwork.make({ seed: 4 })
      const b = yield* startNode(sim, "b")
      sim.partition("a", "b")
      const scope = yield* Scope.make()
      yield* startNode(sim, "a", ["b"]).pipe(Scope.provide(scope))
      yield* TestClock.adjust("200 millis")
      // a stops (its process may live on: an in-process restart), its network is not crashed
      yield* Scope.close(scope, Exit.void)
      sim.heal()
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(b.node.peers().filter((p) => p.up).map((p) => p.name), [])
    }))
})
