/**
 * The admin actor's observer requests, in one process (the real-process side is
 * observer.test.ts): the actor table paged, sorted and filtered on the node with 20 000 actors
 * (one page crosses, never the whole table), per-actor message rates, the tree with strategy,
 * restart type, intensity and a child waiting out its backoff, the events ring (a restart with
 * its reason), and actions on an actor found by its address: protocol as JSON Schema, send
 * (decoded by the Schema), stop, kill, refusals.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorSystem, Supervisor } from "../../src/index.ts"
import * as Admin from "../../src/cluster/Admin.ts"
import { ACTORS_PAGE_LIMIT, EVENT_RING, topByValue, TREE_CHILDREN_LIMIT } from "../../src/cluster/AdminObserve.ts"
import { Registry } from "../../src/cluster/Registry.ts"
import { Node } from "../../src/transport/Node.ts"
import { quiet, startNode } from "./_helpers.ts"

const Worker = Actor.make("ObsTestWorker", {
  Add: Actor.tell({ by: Schema.Int.check(Schema.isGreaterThan(0)) }),
  Get: Actor.ask({}, { success: Schema.Struct({ count: Schema.Int }) }),
  Crash: Actor.tell({})
})

const WorkerLive = Worker.behavior(Effect.sync(() => {
  let count = 0
  return {
    Add: ({ by }) => Effect.sync(() => {
      count += by
    }),
    Get: () => Effect.succeed({ count }),
    Crash: () => Effect.die(new Error("crashed on request"))
  }
}))

const withAdmin = Effect.gen(function*() {
  const a = yield* startNode("a", "observer-admin-test")
  const admin = yield* Admin.start.pipe(
    Effect.provideService(ActorSystem, a.system),
    Effect.provideService(Node, a.node),
    Effect.provideService(Registry, a.registry)
  )
  return { a, admin }
})

const page = (admin: Effect.Success<typeof withAdmin>["admin"], request: Partial<{ offset: number; limit: number; sort: "actor" | "name" | "protocol" | "mailbox" | "msgsPerSec"; descending: boolean; filter: string }>) =>
  admin.ask(Admin.Protocol.Actors({ offset: 0, limit: 100, sort: "actor", descending: false, filter: "", ...request }), { timeout: "30 seconds" })

const poll = <A, E>(effect: Effect.Effect<A, E>, until: (a: A) => boolean, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 300; i++) {
      const a = yield* effect
      if (until(a)) return a
      yield* Effect.sleep("20 millis")
    }
    return assert.fail(`timed out waiting for ${what}`)
  })

describe("admin observer requests", () => {
  it("topByValue: the first k of a full sort (ties in given order), for random values with many ties", () => {
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(random() * 300)
      const values = Float64Array.from({ length: n }, () => (random() < 0.5 ? 0 : Math.floor(random() * 10)))
      const items = Array.from({ length: n }, (_, i) => i)
      for (const descending of [false, true]) {
        const sorted = [...items].sort((i, j) => (descending ? values[j]! - values[i]! : values[i]! - values[j]!) || i - j)
        for (const k of [0, 1, 5, Math.floor(n / 2), n, n + 3]) {
          assert.deepStrictEqual(topByValue(items, values, descending, k), sorted.slice(0, k), `n ${n} k ${k} descending ${descending}`)
        }
      }
    }
  })

  it.live("the actor table: 20 000 actors paged, sorted and filtered on the node", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      const N = 20_000
      for (let i = 0; i < N; i++) yield* a.system.spawn(WorkerLive, i % 1000 === 0 ? { name: `worker-${i}` } : undefined)
      const all = yield* page(admin, {})
      assert.isAtLeast(all.total, N)
      assert.strictEqual(all.rows.length, 100)
      // spawn order: ids increase
      const ids = all.rows.map((r) => Number(r.actor.slice(r.actor.lastIndexOf("/") + 1)))
      assert.deepStrictEqual(ids, [...ids].sort((x, y) => x - y))

      // a page far in, in descending order
      const last = yield* page(admin, { offset: 0, limit: 5, descending: true })
      assert.strictEqual(last.rows[0]!.protocol, "ObsTestWorker")
      const tail = yield* page(admin, { offset: all.total - 5, limit: 100 })
      assert.deepStrictEqual(tail.rows.map((r) => r.actor), [...last.rows.map((r) => r.actor)].reverse())
      assert.strictEqual(tail.offset, all.total - 5)

      // the tree lists at most TREE_CHILDREN_LIMIT top-level actors and counts the others
      const tree = yield* admin.ask(Admin.Protocol.Tree(), { timeout: "30 seconds" })
      assert.strictEqual(tree.roots.length, TREE_CHILDREN_LIMIT)
      assert.isAtLeast(tree.roots.length + tree.more, N)
      assert.isAtMost(tree.roots.length + tree.more, all.total)

      // limit is bounded
      assert.strictEqual((yield* page(admin, { limit: 10 ** 6 })).rows.length, ACTORS_PAGE_LIMIT)

      // filter by name (case-insensitive), then sort by name
      const named = yield* page(admin, { filter: "WORKER-", sort: "name" })
      assert.strictEqual(named.total, N / 1000)
      assert.deepStrictEqual(named.rows.map((r) => r.name), Array.from({ length: N / 1000 }, (_, i) => `worker-${i * 1000}`).sort())
      const row = named.rows[0]!
      assert.strictEqual(row.capacity, 4096)
      assert.strictEqual(row.policy, "backpressure")
      assert.strictEqual(row.mailbox, 0)

      // filter by address
      const one = yield* page(admin, { filter: all.rows[3]!.actor })
      assert.strictEqual(one.total, 1)
      assert.strictEqual(one.rows[0]!.actor, all.rows[3]!.actor)

      // sort by protocol, then by mailbox: a busy actor (not running its messages yet) first
      const byProtocol = yield* page(admin, { sort: "protocol", limit: 1000 })
      const protocols = byProtocol.rows.map((r) => r.protocol)
      assert.deepStrictEqual(protocols, [...protocols].sort())
      // its first message never ends: the next ones wait in its mailbox
      const blocked = yield* a.system.spawn(Worker.behavior(Effect.succeed({ Add: () => Effect.never, Get: () => Effect.succeed({ count: 0 }), Crash: () => Effect.void })), { name: "blocked" })
      yield* blocked.tell(Worker.Add({ by: 1 }))
      yield* poll(page(admin, { filter: "blocked" }), (p) => p.rows[0]?.mailbox === 0, "the first message taken")
      for (let i = 0; i < 7; i++) yield* blocked.tell(Worker.Add({ by: 1 }))
      const deepest = yield* page(admin, { sort: "mailbox", descending: true, limit: 1 })
      assert.strictEqual(deepest.rows[0]!.name, "blocked")
      assert.strictEqual(deepest.rows[0]!.mailbox, 7)

      // per-actor rate: messages accepted between two reads
      const busy = yield* a.system.spawn(WorkerLive, { name: "busy" })
      yield* page(admin, { filter: "busy" }) // first read: the sample
      for (let i = 0; i < 400; i++) yield* busy.tell(Worker.Add({ by: 1 }))
      yield* Effect.sleep("600 millis")
      const rated = yield* page(admin, { sort: "msgsPerSec", descending: true, limit: 1 })
      assert.strictEqual(rated.rows[0]!.name, "busy")
      assert.isAbove(rated.rows[0]!.msgsPerSec, 0)
      // the other actors: none
      const quietOnes = yield* page(admin, { sort: "msgsPerSec", descending: false, limit: 3 })
      assert.deepStrictEqual(quietOnes.rows.map((r) => r.msgsPerSec), [0, 0, 0])
    })), 180_000)

  it.live("the tree: strategy, restart type, intensity, restarts, and a child waiting out its backoff", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      const pool = yield* Supervisor.startChild(a.system.root, Supervisor.child("pool", Supervisor.make({
        strategy: "rest_for_one",
        intensity: 5,
        period: "1 minute",
        // the second restart waits 5 s: long enough to see it on a loaded machine, where polls are slow
        backoff: { initial: "5 seconds", max: "5 seconds", jitter: 0 },
        children: [
          Supervisor.child("crashy", WorkerLive, { restart: "transient" }),
          Supervisor.child("calm", WorkerLive)
        ]
      })))
      const children = yield* Supervisor.whichChildren(pool as Supervisor.SupervisorRef)
      // the first restart is at once, the second waits out the backoff
      const crashy = children.find((c) => c.id === "crashy")!.ref!
      yield* crashy.tell(Worker.Crash())
      const again = yield* poll(
        Supervisor.whichChildren(pool as Supervisor.SupervisorRef),
        (cs) => cs.some((c) => c.id === "crashy" && c.restarts === 1 && c.status === "running"),
        "the first restart"
      )
      yield* again.find((c) => c.id === "crashy")!.ref!.tell(Worker.Crash())
      const find = (trees: ReadonlyArray<any>, child: string): any => {
        for (const t of trees) {
          if (t.child === child) return t
          const found = find(t.children, child)
          if (found !== undefined) return found
        }
        return undefined
      }
      const tree = yield* poll(admin.ask(Admin.Protocol.Tree()).pipe(Effect.map((t) => t.roots)), (t) => find(t, "crashy")?.state === "backoff", "crashy in backoff")
      const sup = find(tree, "pool")
      assert.strictEqual(sup.kind, "supervisor")
      assert.strictEqual(sup.strategy, "rest-for-one")
      assert.deepStrictEqual(sup.intensity, { max: 5, withinMs: 60_000, recent: 2 })
      const waiting = find(tree, "crashy")
      assert.strictEqual(waiting.actor, "")
      assert.strictEqual(waiting.restartType, "transient")
      assert.isAbove(waiting.backoffLeftMs, 0)
      assert.isAtMost(waiting.backoffLeftMs, 5000)
      // rest_for_one: calm was stopped with it and waits too
      assert.strictEqual(find(tree, "calm").state, "backoff")

      const after = yield* poll(admin.ask(Admin.Protocol.Tree()).pipe(Effect.map((t) => t.roots)), (t) => find(t, "crashy")?.state === "running", "crashy restarted")
      const restarted = find(after, "crashy")
      assert.strictEqual(restarted.restarts, 2)
      assert.match(restarted.actor, /^ObsTestWorker@a#/)
      assert.strictEqual(restarted.kind, "worker")
      assert.strictEqual(restarted.restartType, "transient")
      assert.strictEqual(find(after, "calm").restartType, "permanent")

      // the restart is an event, with why the child exited (the admin actor takes the kernel's
      // events from a subscription of its own: it can hear of the restart after the tree shows it)
      const events = yield* poll(
        admin.ask(Admin.Protocol.Events({ after: 0 })),
        (es) => es.events.some((e) => e.kind === "Restart" && e.actor === restarted.actor),
        "the Restart event"
      )
      const restart = events.events.find((e) => e.kind === "Restart" && e.actor === restarted.actor)
      assert.isDefined(restart)
      assert.include(restart!.reason, "crashed on request")
      assert.include(restart!.text, "crashy restarted (restart #2)")
      // both restarts, from the node's start: the admin actor heard the first one too
      const crashyRestarts = events.events.filter((e) => e.kind === "Restart" && e.text.startsWith("crashy restarted"))
      assert.deepStrictEqual(crashyRestarts.map((e) => e.reason), ["error(Error: crashed on request)", "error(Error: crashed on request)"])
    })), 60_000)

  it.live("events: numbered, read after a cursor, dead letters kept while observed", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      const start = yield* admin.ask(Admin.Protocol.Events({ after: -1 }))
      assert.deepStrictEqual(start.events, [])
      const gone = yield* a.system.spawn(WorkerLive)
      yield* a.system.stop(gone)
      const page1 = yield* poll(
        Effect.andThen(gone.tell(Worker.Add({ by: 1 })), admin.ask(Admin.Protocol.Events({ after: start.next }))),
        (p) => p.events.some((e) => e.kind === "DeadLetter"),
        "a dead letter event"
      )
      const letter = page1.events.find((e) => e.kind === "DeadLetter")!
      assert.strictEqual(letter.actor, gone.key)
      assert.strictEqual(letter.reason, "actor stopped (Shutdown)")
      assert.deepStrictEqual(page1.events.map((e) => e.seq), Array.from({ length: page1.events.length }, (_, i) => start.next + i + 1))
      // nothing new after the cursor; a cursor past the count starts again from now
      const next = yield* admin.ask(Admin.Protocol.Events({ after: page1.next }))
      assert.isTrue(next.events.every((e) => e.seq > page1.next))
      assert.deepStrictEqual((yield* admin.ask(Admin.Protocol.Events({ after: 10 ** 9 }))).events, [])
      // more than the ring holds: the newest, and how many were missed
      const from = (yield* admin.ask(Admin.Protocol.Events({ after: -1 }))).next
      for (let i = 0; i < EVENT_RING + 100; i++) yield* gone.tell(Worker.Add({ by: 1 }))
      const behind = yield* poll(admin.ask(Admin.Protocol.Events({ after: from })), (p) => p.next >= from + EVENT_RING + 100, "the ring to fill")
      assert.strictEqual(behind.events.length, EVENT_RING)
      assert.isAtLeast(behind.missed, 100)
    })), 60_000)

  it.live("node info: identity, counters, links with byte counts and a round trip while observed", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      const b = yield* startNode("b", "observer-admin-test")
      yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port })
      const info = yield* poll(admin.ask(Admin.Protocol.NodeInfo()), (i) => i.links.some((l) => l.peer === "b" && l.rttMillis !== null), "a round trip to b")
      assert.strictEqual(info.node, "a")
      assert.strictEqual(info.incarnation, a.system.nodeId.incarnation)
      assert.isAbove(info.rssBytes, 0)
      assert.isAbove(info.cpuUserMicros, 0)
      const link = info.links.find((l) => l.peer === "b")!
      assert.isTrue(link.up)
      assert.isTrue(link.everUp)
      assert.isAbove(link.bytesOut, 0)
      assert.isAbove(link.bytesIn, 0)
      assert.isAbove(link.sent, 0)
      assert.strictEqual(link.gaps, 0)
    })), 60_000)

  it.live("actions by address: protocol as JSON Schema, send decoded by the Schema, stop, kill, refusals", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      const w = yield* a.system.spawn(WorkerLive, { name: "w" })
      const p = yield* admin.ask(Admin.Protocol.ActorProtocol({ actor: w.key }))
      assert.strictEqual(p.protocol, "ObsTestWorker")
      assert.deepStrictEqual(p.messages.map((m) => [m.tag, m.kind]), [["Add", "tell"], ["Get", "ask"], ["Crash", "tell"]])
      const add = JSON.parse(p.messages[0]!.schema)
      assert.strictEqual(add.type, "object")
      assert.deepStrictEqual(add.required, ["by"])
      assert.strictEqual(add.properties.by.type, "integer")
      assert.isUndefined(add.properties._tag)

      const send = (tag: string, json: string, actor = w.key) => admin.ask(Admin.Protocol.SendTo({ actor, tag, json }))
      assert.deepStrictEqual(yield* send("Add", `{"by":3}`), { kind: "tell", reply: "null" })
      assert.deepStrictEqual(yield* send("Get", `{}`), { kind: "ask", reply: `{"count":3}` })
      const kindOf = (e: Effect.Effect<unknown, unknown>) => e.pipe(Effect.flip, Effect.map((x: any) => [x.kind, x.message]))
      const [invalid, message] = yield* kindOf(send("Add", `{"by":-1}`))
      assert.strictEqual(invalid, "InvalidMessage")
      assert.include(message, "greater than 0")
      assert.strictEqual((yield* kindOf(send("Nope", `{}`)))[0], "UnknownMessage")
      assert.strictEqual((yield* kindOf(send("__proto__", `{}`)))[0], "UnknownMessage")
      assert.strictEqual((yield* kindOf(send("Add", `[1]`)))[0], "InvalidJson")
      assert.strictEqual((yield* kindOf(send("Get", `{}`, `${w.key}0`)))[0], "NoSuchActor")
      assert.strictEqual((yield* kindOf(send("Get", `{}`, "not an address")))[0], "NoSuchActor")
      assert.strictEqual((yield* kindOf(admin.ask(Admin.Protocol.ActorProtocol({ actor: "x/1" }))))[0], "NoSuchActor")

      // the node's own actors are not stopped from the page
      const registry = a.system.whereis("telex/registry")
      assert.strictEqual(registry._tag, "Some")
      assert.strictEqual((yield* kindOf(admin.ask(Admin.Protocol.StopActor({ actor: (registry as any).value.key, kill: true }))))[0], "Refused")

      // stop: gone once answered; kill: exits with Killed
      yield* admin.ask(Admin.Protocol.StopActor({ actor: w.key, kill: false }))
      assert.isFalse(w.target.isAlive)
      assert.strictEqual((yield* kindOf(admin.ask(Admin.Protocol.StopActor({ actor: w.key, kill: false }))))[0], "NoSuchActor")
      const k = yield* a.system.spawn(WorkerLive)
      yield* admin.ask(Admin.Protocol.StopActor({ actor: k.key, kill: true }))
      const reason = yield* a.system.awaitExit(k)
      assert.strictEqual(reason._tag, "Killed")
      const mailbox = yield* admin.ask(Admin.Protocol.ActorMailbox({ actor: k.key }))
      assert.deepStrictEqual(mailbox, { mailbox: 0, alive: false })
    })), 60_000)
})
