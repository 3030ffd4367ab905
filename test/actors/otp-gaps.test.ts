/**
 * OTP semantics at the edges of an actor's stop and of name registration:
 *
 * - a sender suspended on a full (backpressure) mailbox is released as soon as the target starts
 *   stopping (an ask with `NoProc`, a tell as a dead letter), as an OTP call to a dying process
 *   fails at once, rather than when the target's finalizers are done;
 * - a parent killed past its stop budget kills its children that are still stopping, and its own
 *   finalizers still run (not awaited, as for any kill);
 * - a spawn under a name that is taken fails with a `SpawnError` carrying the running actor's ref
 *   (OTP's `{error, {already_started, Pid}}`);
 * - children are owned by their parent: a parent's stop stops them whatever their exit trapping
 *   and whatever the parent's reason (`Normal` included); an exit signal from the parent ends a
 *   trapping child whatever its reason, as a gen_server's `'EXIT'` from its parent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorContext, type ActorRef, ActorSystem, ExitReason, SpawnError, Supervisor } from "../../src/index.ts"
import { settle, waitUntil, withSystem } from "./_helpers.ts"

const R = Actor.make("test/OtpGaps", {
  Ping: Actor.ask({}, { success: Schema.Number }),
  Wait: Actor.tell({}),
  Note: Actor.tell({}),
  Quit: Actor.tell({}),
  SpawnChild: Actor.ask({ link: Schema.Boolean }, { success: Schema.Number }),
  ExitChild: Actor.ask({ reason: Schema.Literal("normal") })
})

/** `R`'s handlers: each answers at once (Ping with 1), but for those given */
const handlers = (own: Partial<Actor.Handlers<typeof R.defs, never>> = {}): Actor.Handlers<typeof R.defs, never> => ({
  Ping: () => Effect.succeed(1),
  Wait: () => Effect.void,
  Note: () => Effect.void,
  Quit: () => Effect.void,
  SpawnChild: () => Effect.succeed(0),
  ExitChild: () => Effect.void,
  ...own
})

const errorOf = (exit: Exit.Exit<unknown, unknown>): any =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? (exit.cause.reasons[0] as any).error : undefined

describe("a sender suspended on a full mailbox", () => {
  it.effect("is released when the target starts stopping, not when its finalizers end", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const finalizing = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const ref = yield* system.spawn(
        R.behavior(Effect.gen(function*() {
          yield* Effect.addFinalizer(() => Deferred.succeed(finalizing, undefined).pipe(Effect.andThen(Deferred.await(release))))
          return handlers({ Wait: () => Effect.never })
        })),
        { mailbox: { capacity: 1, overflow: "backpressure" } }
      )
      yield* ref.tell(R.Wait())
      yield* settle()
      yield* ref.tell(R.Note()) // the mailbox is full now
      const ask = yield* Effect.forkChild(Effect.exit(ref.ask(R.Ping(), { timeout: "1 hour" })), { startImmediately: true })
      const tell = yield* Effect.forkChild(Effect.exit(ref.tell(R.Note())), { startImmediately: true })
      yield* settle()
      assert.isUndefined(ask.pollUnsafe(), "the ask is suspended")
      assert.isUndefined(tell.pollUnsafe(), "the tell is suspended")
      const stop = yield* Effect.forkChild(system.stop(ref))
      yield* Deferred.await(finalizing)
      yield* Effect.gen(function*() {
        yield* waitUntil("the suspended senders are released", () => ask.pollUnsafe() !== undefined && tell.pollUnsafe() !== undefined)
        assert.strictEqual(errorOf(yield* Fiber.join(ask))?._tag, "NoProc")
        assert.isTrue(Exit.isSuccess(yield* Fiber.join(tell)), "a tell to a stopping actor is a dead letter, not an error")
      }).pipe(Effect.ensuring(Deferred.succeed(release, undefined)))
      yield* Fiber.join(stop)
    })))
})

describe("a parent killed past its stop budget", () => {
  it.effect("kills the children still stopping, and its own finalizers run", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const hangingChild = R.behavior(Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.sync(() => log.push("child finalizing")).pipe(Effect.andThen(Effect.never)))
        return handlers({ Ping: () => Effect.succeed(2) })
      }))
      let child: any
      const parent = yield* system.spawn(
        R.behavior(Effect.gen(function*() {
          const ctx = yield* ActorContext
          yield* Effect.addFinalizer(() => Effect.sync(() => log.push("parent finalized")))
          child = yield* Effect.orDie(ctx.spawn(hangingChild, { shutdown: "infinity" }))
          return handlers()
        })),
        { shutdown: "1 second" }
      )
      const parentExit = yield* Effect.forkChild(system.awaitExit(parent))
      const childExit = yield* Effect.forkChild(system.awaitExit(child))
      const stop = yield* Effect.forkChild(system.stop(parent))
      yield* settle()
      assert.deepStrictEqual(log, ["child finalizing"])
      yield* TestClock.adjust("1 second")
      yield* settle()
      assert.isDefined(stop.pollUnsafe(), "the parent's stop ends at its budget")
      assert.isDefined(childExit.pollUnsafe(), "the child is killed with its parent")
      assert.deepStrictEqual(yield* Fiber.join(parentExit), ExitReason.killed)
      assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.killed)
      assert.deepStrictEqual(log, ["child finalizing", "parent finalized"])
    })))
})

describe("a name already taken", () => {
  it.effect("the spawn fails with a SpawnError carrying the running actor's ref", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const idle = R.behavior(Effect.succeed(handlers()))
      const first = yield* system.spawn(idle, { name: "taken" })
      const error = yield* Effect.flip(system.spawn(idle, { name: "taken" }))
      assert.instanceOf(error, SpawnError)
      assert.isDefined(error.alreadyStarted)
      assert.isTrue(error.alreadyStarted!.equals(first))
      assert.strictEqual(yield* error.alreadyStarted!.ask(R.Ping()), 1)
      // other spawn failures carry none
      const failed = yield* Effect.flip(system.spawn(R.behavior(Effect.die("no"))))
      assert.isUndefined(failed.alreadyStarted)
      // a supervisor's startChild of a child whose name is taken: StartFailed with that actor
      const sup = yield* system.spawn(Supervisor.make({ children: [] }))
      const startError = yield* Effect.flip(Supervisor.startChild(sup, Supervisor.child("c", idle, { options: { name: "taken" } })))
      assert.strictEqual(startError._tag, "SupervisorError")
      assert.strictEqual((startError as Supervisor.SupervisorError).reason, "StartFailed")
      assert.isTrue((startError as Supervisor.SupervisorError).actor?.equals(first))
    })))
})

describe("children are stopped with their parent", () => {
  const trappingChild = (log: Array<string>) =>
    R.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext
      yield* ctx.trapExit(true)
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push("child finalized")))
      return handlers({ Ping: () => Effect.succeed(2), onExit: () => Effect.void })
    }))
  const parentOf = (log: Array<string>, children: Array<any>, exitChild: (child: any) => Effect.Effect<void> = () => Effect.void) =>
    R.behavior(Effect.gen(function*() {
      const ctx = yield* ActorContext
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push("parent finalized")))
      return handlers({
        Quit: () => ctx.stop(),
        SpawnChild: ({ link }) =>
          Effect.orDie(ctx.spawn(trappingChild(log), { link })).pipe(
            Effect.map((ref) => children.push(ref))
          ),
        ExitChild: () => exitChild(children[0])
      })
    }))

  it.effect("an exit signal from its parent ends a trapping child whatever the reason, Normal too (a gen_server's 'EXIT' from its parent)", () =>
    withSystem()(Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const children: Array<ActorRef.ActorRef<typeof R.defs>> = []
      const parent = yield* system.spawn(parentOf(log, children, (child) => system.exit(child, ExitReason.normal)))
      yield* parent.ask(R.SpawnChild({ link: false }))
      const child = children[0]
      const childExit = yield* Effect.forkChild(system.awaitExit(child))
      // from the parent: ends it once handled, with that reason
      yield* parent.ask(R.ExitChild({ reason: "normal" }))
      yield* settle()
      assert.isDefined(childExit.pollUnsafe(), "the trapping child ignores its parent's Normal exit signal")
      assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.normal)
      assert.deepStrictEqual(log, ["child finalized"])
      // from anyone else, Normal is only a message to a trapping actor
      yield* parent.ask(R.SpawnChild({ link: false }))
      const other = children[1]
      yield* system.exit(other, ExitReason.normal)
      yield* settle()
      assert.strictEqual(yield* other.ask(R.Ping()), 2)
    })))

  for (const link of [false, true]) {
    it.effect(`a trapping child${link ? " (linked)" : ""} stops when its parent stops with Normal`, () =>
      withSystem()(Effect.gen(function*() {
        const system = yield* ActorSystem
        const log: Array<string> = []
        const children: Array<any> = []
        const parent = yield* system.spawn(parentOf(log, children))
        yield* parent.ask(R.SpawnChild({ link }))
        const childExit = yield* Effect.forkChild(system.awaitExit(children[0]))
        yield* parent.tell(R.Quit())
        assert.deepStrictEqual(yield* system.awaitExit(parent), ExitReason.normal)
        assert.deepStrictEqual(yield* Fiber.join(childExit), ExitReason.shutdown)
        assert.deepStrictEqual(log, ["child finalized", "parent finalized"])
      })))
  }
})
