/**
 * Erlang's signal order holds across nodes too: what one actor sends another — messages, then
 * the exit signal of its death over a link, an exit signal (`exit/2`), or the `Down` of a monitor
 * on it — arrives in the order it was sent, also when the receiver's mailbox is full and the
 * sender's node is held (docs/protocol.md §4.4): the held messages are not overtaken by the
 * signal that follows them. Two nodes in one process over loopback TCP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Option, Schema } from "effect"
import { Actor, ActorContext, type ActorRef, ExitReason } from "../../src/index.ts"
import { startNode } from "../../src/testing/TestNode.ts"

const X = Actor.make("test/otp4/RemoteOrder", {
  Block: Actor.tell({}),
  Note: Actor.tell({ n: Schema.Int }),
  Ping: Actor.ask({}, { success: Schema.String }),
  Run: Actor.ask({ f: Schema.Any }, { success: Schema.Any })
})

const recorder = (log: Array<string>, gate: Deferred.Deferred<void> | undefined, trap: boolean) =>
  X.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    if (trap) yield* ctx.trapExit(true)
    return {
      Block: () => gate === undefined ? Effect.void : Deferred.await(gate),
      Note: ({ n }) => Effect.sync(() => log.push(`note ${n}`)),
      Ping: () => Effect.succeed("pong"),
      Run: ({ f }) => (f as (c: typeof ctx) => Effect.Effect<unknown>)(ctx),
      onExit: (exit) => Effect.sync(() => log.push(`exit ${exit.reason._tag}`)),
      onDown: (down) => Effect.sync(() => log.push(`down ${down.reason._tag}`))
    }
  }))

/** Polls `p` every 10 ms, at most 10 s (no assertion on how long it takes). */
const waitFor = (what: string, p: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if (p()) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

const N = 200

describe("messages, then a signal, from one actor to another on another node", () => {
  for (const capacity of [4096, 4]) {
    for (const end of ["its death over a link", "an exit signal", "its death under a monitor"] as const) {
      it.live(`${end}, receiver's mailbox ${capacity === 4 ? "full (its node holds the sender)" : "roomy"}: the ${N} messages first`, () =>
        Effect.gen(function*() {
          const b = yield* startNode("b")
          const a = yield* startNode("a")
          yield* a.node.connect({ name: "b", host: "127.0.0.1", port: b.node.address.port }, "5 seconds")
          const log: Array<string> = []
          const gate = yield* Deferred.make<void>()
          const receiver = yield* b.system.spawn(recorder(log, gate, true), { mailbox: { capacity, overflow: "backpressure" } })
          const sender = yield* a.system.spawn(recorder([], undefined, false))
          const remote = a.system.refFor(receiver.address) as ActorRef.ActorRef<typeof X.defs>
          if (end === "its death under a monitor") {
            const fromB = b.system.refFor(sender.address) as ActorRef.ActorRef<typeof X.defs>
            yield* receiver.ask(X.Run({ f: (ctx: any) => ctx.monitor(fromB) }))
            // a monitor is asynchronous (as erlang:monitor/2): an ask over the same connection
            // arrives after the request, so the monitor is in place before the sender dies
            yield* fromB.ask(X.Ping())
          }
          if (end === "its death over a link") yield* sender.ask(X.Run({ f: (ctx: any) => ctx.link(remote) }))
          yield* remote.tell(X.Block())
          yield* sender.tell(X.Run({
            f: (ctx: any) =>
              Effect.gen(function*() {
                for (let n = 1; n <= N; n++) yield* remote.tell(X.Note({ n }))
                if (end === "its death over a link") return yield* Effect.die(new Error("crash"))
                if (end === "an exit signal") return yield* a.system.exit(remote, ExitReason.error("bye"))
                return yield* ctx.stop()
              })
          }))
          // the receiver is blocked until its mailbox is full, or holds all the messages
          yield* waitFor("the receiver's mailbox to fill", () => {
            const info = b.system.info(receiver)
            return Option.isSome(info) && info.value.mailboxSize >= Math.min(capacity, N)
          })
          yield* Deferred.succeed(gate, undefined)
          yield* waitFor("the signal", () => log.length > N)
          const expected = Array.from({ length: N }, (_, i) => `note ${i + 1}`)
          expected.push(end === "its death under a monitor" ? "down Normal" : "exit Error")
          assert.deepStrictEqual(log, expected)
        }).pipe(Effect.scoped))
    }
  }
})
