/**
 * The admin actor's shell requests, in one process (the real-process side is shell.test.ts):
 * the dead-letter ring numbers what it keeps and tells a watcher that fell behind how many it
 * missed; requests no shell would send (odd tags, JSON that is not an object, names that are
 * not there) get a `CommandFailed` and leave the admin actor answering.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Counter, CounterLive } from "../../examples/counter.ts"
import * as Admin from "../../src/cluster/Admin.ts"
import { DEAD_LETTER_RING } from "../../src/cluster/AdminCommands.ts"
import { Registry } from "../../src/cluster/Registry.ts"
import { ActorSystem } from "../../src/index.ts"
import { Node } from "../../src/transport/Node.ts"
import { quiet, startNode } from "./_helpers.ts"

const withAdmin = Effect.gen(function*() {
  const a = yield* startNode("a", "admin-commands-test")
  const admin = yield* Admin.start.pipe(
    Effect.provideService(ActorSystem, a.system),
    Effect.provideService(Node, a.node),
    Effect.provideService(Registry, a.registry)
  )
  return { a, admin }
})

describe("admin shell requests", () => {
  it.live("dead letters: numbered from the first watch on; a watcher that fell behind the ring hears how many it missed", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      const gone = yield* a.system.spawn(CounterLive)
      yield* a.system.stop(gone)
      const start = yield* admin.ask(Admin.Protocol.DeadLetters({ after: -1 }))
      assert.deepStrictEqual(start, { letters: [], next: 0, missed: 0 })
      // the ring's subscriber starts in a fiber of its own: wait until it keeps the first one
      let page = start
      for (let i = 0; page.next === 0 && i < 200; i++) {
        yield* gone.tell(Counter.Increment({ by: 1 }))
        yield* Effect.sleep("10 millis")
        page = yield* admin.ask(Admin.Protocol.DeadLetters({ after: 0 }))
      }
      assert.isAbove(page.next, 0)
      assert.deepStrictEqual(page.letters.map((d) => d.seq), Array.from({ length: page.next }, (_, i) => i + 1))
      assert.strictEqual(page.letters[0]!.message, "Increment")
      assert.strictEqual(page.letters[0]!.reason, "actor stopped (Shutdown)")
      assert.match(page.letters[0]!.recipient, /^Counter@a#/)

      // nothing new: an empty page, the same number to go on from
      const after = page.next
      assert.deepStrictEqual(yield* admin.ask(Admin.Protocol.DeadLetters({ after })), { letters: [], next: after, missed: 0 })

      // more than the ring holds: the newest DEAD_LETTER_RING, and the count of the others
      const extra = DEAD_LETTER_RING + 250
      for (let i = 0; i < extra; i++) yield* gone.tell(Counter.Increment({ by: 1 }))
      let behind = yield* admin.ask(Admin.Protocol.DeadLetters({ after }))
      for (let i = 0; behind.next < after + extra && i < 200; i++) {
        yield* Effect.sleep("10 millis")
        behind = yield* admin.ask(Admin.Protocol.DeadLetters({ after }))
      }
      assert.strictEqual(behind.next, after + extra)
      assert.strictEqual(behind.letters.length, DEAD_LETTER_RING)
      assert.strictEqual(behind.missed, 250)
      assert.strictEqual(behind.letters[0]!.seq, after + 251)
      // a number past the count (an earlier incarnation's watcher) starts again from now
      assert.deepStrictEqual(yield* admin.ask(Admin.Protocol.DeadLetters({ after: 10 ** 9 })), { letters: [], next: behind.next, missed: 0 })
    })), 60_000)

  it.live("requests no shell would send: CommandFailed with its kind; the admin actor goes on answering", () =>
    quiet(Effect.gen(function*() {
      const { a, admin } = yield* withAdmin
      yield* a.system.spawn(CounterLive, { name: "counter" })
      const send = (name: string, kind: "tell" | "ask", tag: string, json: string) =>
        admin.ask(Admin.Protocol.Send({ name, kind, tag, json })).pipe(Effect.flip, Effect.map((e) => (e as any).kind))
      assert.strictEqual(yield* send("", "ask", "Get", "{}"), "NoSuchName")
      assert.strictEqual(yield* send("__proto__", "ask", "Get", "{}"), "NoSuchName")
      assert.strictEqual(yield* send("counter", "ask", "__proto__", "{}"), "UnknownMessage")
      assert.strictEqual(yield* send("counter", "ask", "hasOwnProperty", "{}"), "UnknownMessage")
      assert.strictEqual(yield* send("counter", "ask", "Get", "null"), "InvalidJson")
      assert.strictEqual(yield* send("counter", "ask", "Get", "[1]"), "InvalidJson")
      assert.strictEqual(yield* send("counter", "ask", "Get", ""), "InvalidJson")
      assert.strictEqual(yield* send("counter", "tell", "Increment", `{"by": "1"}`), "InvalidMessage")
      // the tag is the command's, whatever the JSON says
      assert.strictEqual(yield* admin.ask(Admin.Protocol.Send({ name: "counter", kind: "tell", tag: "Increment", json: `{"by": 1, "_tag": "Get"}` })), "null")
      // a typed error of the protocol comes back encoded
      const overdrawn = yield* admin.ask(Admin.Protocol.Send({ name: "counter", kind: "ask", tag: "Decrement", json: `{"by": 5}` })).pipe(Effect.flip)
      assert.strictEqual((overdrawn as any).kind, "AskFailed")
      assert.strictEqual(JSON.parse((overdrawn as any).error)._tag, "Overdrawn")
      // still answering, and the counter saw only the good one
      assert.strictEqual(yield* admin.ask(Admin.Protocol.Send({ name: "counter", kind: "ask", tag: "Get", json: "{}" })), "1")
      const status = yield* admin.ask(Admin.Protocol.Status())
      assert.strictEqual(status.node, "a")
    })), 60_000)
})
