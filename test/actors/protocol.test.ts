import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { Actor, Supervisor } from "../../src/index.ts"
import * as ProtocolRegistry from "../../src/actors/ProtocolRegistry.ts"
import { LinkProtocol } from "../../src/transport/Node.ts"

class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Int }) {}

const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Reset: Actor.tell({}),
  Get: Actor.ask({}, { success: Schema.Int }),
  Withdraw: Actor.ask({ amount: Schema.Int }, { success: Schema.Int, error: Overdrawn }),
  Ping: Actor.ask({})
})

describe("Actor.make: protocols", () => {
  it("constructors build tagged messages", () => {
    assert.deepStrictEqual(Counter.Increment({ by: 1 }), { _tag: "Increment", by: 1 })
    assert.deepStrictEqual(Counter.Get(), { _tag: "Get" })
    assert.deepStrictEqual(Counter.Reset(), { _tag: "Reset" })
    assert.deepStrictEqual(Counter.Withdraw({ amount: 3 }), { _tag: "Withdraw", amount: 3 })
  })

  it("a constructor's _tag cannot be overridden by the fields", () => {
    const message = (Counter.Increment as any)({ by: 2, _tag: "Get" })
    assert.strictEqual(message._tag, "Increment")
  })

  it("keeps the name and definitions", () => {
    assert.strictEqual(Counter.name, "Counter")
    assert.deepStrictEqual(Object.keys(Counter.defs), ["Increment", "Reset", "Get", "Withdraw", "Ping"])
    assert.strictEqual(Counter.defs.Increment._kind, "tell")
    assert.strictEqual(Counter.defs.Get._kind, "ask")
  })

  it("isAsk tells request/reply messages from one-way ones", () => {
    assert.isTrue(Actor.isAsk(Counter, "Get"))
    assert.isTrue(Actor.isAsk(Counter, "Withdraw"))
    assert.isFalse(Actor.isAsk(Counter, "Increment"))
    assert.isFalse(Actor.isAsk(Counter, "Nope"))
  })

  it("ask defaults: success Void, error Never", () => {
    assert.strictEqual(Counter.defs.Ping.success, Schema.Void)
    assert.strictEqual(Counter.defs.Ping.error, Schema.Never)
    assert.strictEqual(Counter.defs.Withdraw.error, Overdrawn)
  })

  it("the protocol schema decodes every message and rejects bad ones", () => {
    const decode = Schema.decodeUnknownExit(Counter.schema)
    assert.deepStrictEqual(decode({ _tag: "Increment", by: 4 }), Exit.succeed({ _tag: "Increment", by: 4 }))
    assert.deepStrictEqual(decode({ _tag: "Get" }), Exit.succeed({ _tag: "Get" }))
    assert.isTrue(Exit.isFailure(decode({ _tag: "Increment", by: 1.5 })))
    assert.isTrue(Exit.isFailure(decode({ _tag: "Increment" })))
    assert.isTrue(Exit.isFailure(decode({ _tag: "Unknown" })))
  })

  it("per-tag message schemas", () => {
    const decode = Schema.decodeUnknownExit(Counter.messages.Withdraw)
    assert.deepStrictEqual(decode({ _tag: "Withdraw", amount: 2 }), Exit.succeed({ _tag: "Withdraw", amount: 2 }))
    assert.isTrue(Exit.isFailure(decode({ _tag: "Increment", by: 2 })))
  })

  it("invalid tag names throw a clear error", () => {
    for (const tag of ["increment", "_Inc", "In-c", "", "1Inc", "Inc ok"]) {
      assert.throws(
        () => Actor.make("Bad", { [tag]: Actor.tell({}) }),
        new RegExp(`Actor\\.make\\("Bad"\\): message tag ${JSON.stringify(tag).replace(/[-\\^$*+?.()|[\]{}]/g, "\\$&")} must match`)
      )
    }
  })

  it("valid tag names are accepted", () => {
    const p = Actor.make("Ok", { A: Actor.tell({}), B_2: Actor.tell({}), Zz9: Actor.ask({}) })
    assert.deepStrictEqual(p.A(), { _tag: "A" })
    assert.deepStrictEqual(p.B_2(), { _tag: "B_2" })
  })

  it("an empty protocol name throws", () => {
    assert.throws(() => Actor.make("", { A: Actor.tell({}) }), /protocol name must not be empty/)
  })

  it("behavior binds the protocol to an init effect", () => {
    const init = Effect.succeed({
      Increment: () => Effect.void,
      Reset: () => Effect.void,
      Get: () => Effect.succeed(0),
      Withdraw: () => Effect.succeed(0),
      Ping: () => Effect.void
    })
    const behavior = Counter.behavior(init)
    assert.strictEqual(behavior.protocol, Counter)
    assert.strictEqual(behavior.init, init)
  })

  it("Actor.fork marks an effect and keeps its result", async () => {
    const forked = Actor.fork(Effect.succeed(42))
    assert.isTrue((forked as any)[Actor.ForkTypeId])
    assert.strictEqual(await Effect.runPromise(forked), 42)
    assert.isUndefined((Effect.succeed(1) as any)[Actor.ForkTypeId])
  })

  it("a local protocol is not registered: it is not in the table a node advertises to its peers", () => {
    const Local = Actor.make("Protocols/LocalOnly", { Ping: Actor.tell({}) }, { local: true })
    const table = ProtocolRegistry.table()
    assert.isUndefined(ProtocolRegistry.get(Local.name))
    assert.notProperty(table, Local.name)
    assert.property(table, Counter.name)
    // the supervisor's messages carry behaviours: it is driven only from its own process
    assert.notProperty(table, Supervisor.Protocol.name)
    assert.notProperty(table, LinkProtocol.name)
  })
})
