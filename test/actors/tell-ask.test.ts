import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, ActorRef, ActorStopped, ActorSystem, AskTimeout, NoProc } from "../../src/index.ts"
import { assertError, isDone, waitUntil, withSystem } from "./_helpers.ts"

class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Int, wanted: Schema.Int }) {}

const Account = Actor.make("Account", {
  Deposit: Actor.tell({ amount: Schema.Int }),
  Withdraw: Actor.ask({ amount: Schema.Int }, { success: Schema.Int, error: Overdrawn }),
  Balance: Actor.ask({}, { success: Schema.Int }),
  Crash: Actor.ask({}),
  CrashTell: Actor.tell({}),
  Hang: Actor.ask({}, { success: Schema.String })
})

/** `hang` is what the Hang handler waits for (its reply is "late"); `hanging` completes when it starts. */
const makeAccount = (opts?: { hang?: Deferred.Deferred<void>; hanging?: Deferred.Deferred<void> }) =>
  Account.behavior(Effect.gen(function*() {
    let balance = 0
    return {
      Deposit: ({ amount }) => Effect.sync(() => { balance += amount }),
      Withdraw: ({ amount }) =>
        amount > balance
          ? Effect.fail(new Overdrawn({ balance, wanted: amount }))
          : Effect.sync(() => (balance -= amount)),
      Balance: () => Effect.succeed(balance),
      Crash: () => Effect.die(new Error("boom")),
      CrashTell: () => Effect.die(new Error("boom in tell")),
      Hang: () =>
        Effect.gen(function*() {
          if (opts?.hanging) yield* Deferred.succeed(opts.hanging, undefined)
          if (opts?.hang) yield* Deferred.await(opts.hang)
          else yield* Effect.never
          return "late"
        })
    }
  }))

describe("tell and ask", () => {
  it.effect("tell then ask: the ask sees every earlier tell", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const account = yield* system.spawn(makeAccount())
      yield* account.tell(Account.Deposit({ amount: 10 }))
      yield* account.tell(Account.Deposit({ amount: 5 }))
      assert.strictEqual(yield* account.ask(Account.Balance()), 15)
      assert.strictEqual(yield* account.ask(Account.Withdraw({ amount: 4 })), 11)
      assert.strictEqual(yield* account.ask(Account.Balance()), 11)
    }).pipe(withSystem()))

  it.effect("tellUnsafe delivers without an Effect", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const account = yield* system.spawn(makeAccount())
      account.tellUnsafe(Account.Deposit({ amount: 7 }))
      account.tellUnsafe(Account.Deposit({ amount: 1 }))
      assert.strictEqual(yield* account.ask(Account.Balance()), 8)
    }).pipe(withSystem()))

  it.effect("a typed handler failure goes back to the asker and the actor keeps running", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const account = yield* system.spawn(makeAccount())
      yield* account.tell(Account.Deposit({ amount: 3 }))
      const error = yield* Effect.flip(account.ask(Account.Withdraw({ amount: 10 })))
      assert.instanceOf(error, Overdrawn)
      assert.deepStrictEqual({ ...error }, { _tag: "Overdrawn", balance: 3, wanted: 10 })
      // still alive, state intact
      assert.strictEqual(yield* account.ask(Account.Withdraw({ amount: 2 })), 1)
      assert.strictEqual(system.actorCount(), 3) // the account + the root and services supervisors
    }).pipe(withSystem()))

  it.effect("a defect in an ask handler kills only that actor; the asker gets ActorStopped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const victim = yield* system.spawn(makeAccount())
      const bystander = yield* system.spawn(makeAccount())
      yield* bystander.tell(Account.Deposit({ amount: 1 }))
      const error = yield* Effect.flip(victim.ask(Account.Crash()))
      assert.instanceOf(error, ActorStopped)
      assert.strictEqual((error as ActorStopped).actor, victim.key)
      assert.strictEqual((error as ActorStopped).reason._tag, "Error")
      const reason = yield* system.awaitExit(victim)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "boom")
      // the others and the system keep working
      assert.strictEqual(yield* bystander.ask(Account.Balance()), 1)
      const fresh = yield* system.spawn(makeAccount())
      yield* fresh.tell(Account.Deposit({ amount: 2 }))
      assert.strictEqual(yield* fresh.ask(Account.Balance()), 2)
    }).pipe(withSystem()))

  it.effect("a defect in a tell handler kills the actor with an Error reason", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const victim = yield* system.spawn(makeAccount())
      yield* victim.tell(Account.CrashTell())
      const reason = yield* system.awaitExit(victim)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "boom in tell")
      assert.isFalse(victim.target.isAlive)
    }).pipe(withSystem()))

  it.effect("asks queued behind a crashing message fail with ActorStopped", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const victim = yield* system.spawn(makeAccount())
      const crash = yield* Effect.forkChild(Effect.flip(victim.ask(Account.Crash())), { startImmediately: true })
      const behind = yield* Effect.forkChild(Effect.flip(victim.ask(Account.Balance())), { startImmediately: true })
      const e1 = yield* Fiber.join(crash)
      const e2 = yield* Fiber.join(behind)
      assert.strictEqual(e1._tag, "ActorStopped")
      assert.strictEqual(e2._tag, "ActorStopped")
      assert.strictEqual((e2 as ActorStopped).reason._tag, "Error")
    }).pipe(withSystem()))

  it.effect("ask to a stopped actor fails fast with NoProc (no clock advance needed)", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const account = yield* system.spawn(makeAccount())
      yield* system.stop(account)
      const fiber = yield* Effect.forkChild(Effect.flip(account.ask(Account.Balance())))
      // the TestClock never moves: if this were waiting for the 5s timeout it would never finish
      yield* waitUntil("the ask to complete", () => isDone(fiber))
      assertError(yield* Fiber.join(fiber), new NoProc({ actor: account.key }))
    }).pipe(withSystem()))

  it.effect("ask to a crashed actor fails fast with NoProc", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const account = yield* system.spawn(makeAccount())
      yield* account.tell(Account.CrashTell())
      yield* system.awaitExit(account)
      const fiber = yield* Effect.forkChild(Effect.flip(account.ask(Account.Balance())))
      yield* waitUntil("the ask to complete", () => isDone(fiber))
      assertError(yield* Fiber.join(fiber), new NoProc({ actor: account.key }))
    }).pipe(withSystem()))

  it.effect("ask to an actor that never existed fails fast with NoProc", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const ghost = system.refFor({ node: system.nodeId, id: 987654, protocol: "Account" }) as ActorRef.ActorRef<
        typeof Account.defs
      >
      const fiber = yield* Effect.forkChild(Effect.flip(ghost.ask(Account.Balance())))
      yield* waitUntil("the ask to complete", () => isDone(fiber))
      const error = yield* Fiber.join(fiber)
      assertError(error, new NoProc({ actor: ghost.key }))
    }).pipe(withSystem()))

  it.effect("AskTimeout fires (TestClock) when the handler never replies; the actor stays alive", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const hang = yield* Deferred.make<void>()
      const hanging = yield* Deferred.make<void>()
      const account = yield* system.spawn(makeAccount({ hang, hanging }))
      const fiber = yield* Effect.forkChild(Effect.flip(account.ask(Account.Hang(), { timeout: "2 seconds" })))
      yield* Deferred.await(hanging)
      yield* TestClock.adjust("1999 millis")
      assert.isFalse(isDone(fiber))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assertError(error, new AskTimeout({ actor: account.key, message: "Hang", timeoutMillis: 2000 }))
      assert.isTrue(account.target.isAlive)
      // the late reply is dropped; the actor goes on with its mailbox
      yield* Deferred.succeed(hang, undefined)
      yield* account.tell(Account.Deposit({ amount: 4 }))
      assert.strictEqual(yield* account.ask(Account.Balance()), 4)
    }).pipe(withSystem()))

  it.effect("each ask keeps its own timeout, given as strings that alternate", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const account = yield* system.spawn(makeAccount())
      const timeouts: Array<Duration.Input> = ["20 millis", "30 millis", "20 millis", "1 second", Duration.millis(30), "30 millis"]
      const fibers = yield* Effect.forEach(timeouts, (timeout) =>
        Effect.forkChild(Effect.flip(account.ask(Account.Hang(), { timeout }))))
      yield* TestClock.adjust("1 second")
      const errors = yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(errors.map((e) => (e as AskTimeout).timeoutMillis), [20, 30, 20, 1000, 30, 30])
    }).pipe(withSystem()))

  it.effect("the default ask timeout is 5 seconds", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const hanging = yield* Deferred.make<void>()
      const account = yield* system.spawn(makeAccount({ hanging }))
      const fiber = yield* Effect.forkChild(Effect.flip(account.ask(Account.Hang())))
      yield* Deferred.await(hanging)
      yield* TestClock.adjust("4999 millis")
      assert.isFalse(isDone(fiber))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "AskTimeout")
      assert.strictEqual((error as AskTimeout).timeoutMillis, 5000)
    }).pipe(withSystem()))

  it.effect("an interrupted ask does not disturb the actor", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const hang = yield* Deferred.make<void>()
      const hanging = yield* Deferred.make<void>()
      const account = yield* system.spawn(makeAccount({ hang, hanging }))
      const fiber = yield* Effect.forkChild(account.ask(Account.Hang()))
      yield* Deferred.await(hanging)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.succeed(hang, undefined)
      yield* account.tell(Account.Deposit({ amount: 9 }))
      assert.strictEqual(yield* account.ask(Account.Balance()), 9)
    }).pipe(withSystem()))
})

// ---------------------------------------------------------------------------
// sender
// ---------------------------------------------------------------------------

const Echo = Actor.make("Echo", {
  WhoSent: Actor.ask({}, { success: Schema.String })
})
const EchoLive = Echo.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  return { WhoSent: () => Effect.sync(() => ctx.sender?.key ?? "nobody") }
}))

const Asker = Actor.make("Asker", {
  AskOther: Actor.ask({ other: ActorRef.schemaFor(Echo) }, { success: Schema.String }),
  Self: Actor.ask({}, { success: Schema.String })
})
const AskerLive = Asker.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  return {
    AskOther: ({ other }) => other.ask(Echo.WhoSent()).pipe(Effect.orDie),
    Self: () => Effect.succeed(ctx.self.key)
  }
}))

describe("sender", () => {
  it.effect("an ask from inside actor A gives B ctx.sender = A", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const echo = yield* system.spawn(EchoLive)
      const a = yield* system.spawn(AskerLive)
      const seen = yield* a.ask(Asker.AskOther({ other: echo }))
      assert.strictEqual(seen, a.key)
      assert.strictEqual(yield* a.ask(Asker.Self()), a.key)
    }).pipe(withSystem()))

  it.effect("an ask from outside any actor has no sender", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const echo = yield* system.spawn(EchoLive)
      assert.strictEqual(yield* echo.ask(Echo.WhoSent()), "nobody")
    }).pipe(withSystem()))
})
