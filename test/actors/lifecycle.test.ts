import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorContext, ActorRef, ActorStopped, ActorSystem, ExitReason, SpawnError } from "../../src/index.ts"
import { self as selfOf } from "../../src/actors/ActorContext.ts"
import { assertError, collectDeadLetters, isDone, settle, waitUntil, withSystem } from "./_helpers.ts"

// ---------------------------------------------------------------------------
// parent / child
// ---------------------------------------------------------------------------

const Child = Actor.make("Child", {
  Ping: Actor.ask({}, { success: Schema.String }),
  Crash: Actor.tell({})
})

const makeChild = (name: string, log: Array<string>) =>
  Child.behavior(Effect.gen(function*() {
    yield* Effect.addFinalizer(() => Effect.sync(() => { log.push(`${name} finalized`) }))
    return {
      Ping: () => Effect.succeed(name),
      Crash: () => Effect.die(new Error(`${name} crashed`))
    }
  }))

const Parent = Actor.make("Parent", {
  SpawnChild: Actor.ask({ name: Schema.String, link: Schema.Boolean }, { success: ActorRef.schemaFor(Child) }),
  Crash: Actor.tell({}),
  Ping: Actor.ask({}, { success: Schema.String })
})

const makeParent = (log: Array<string>) =>
  Parent.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    yield* Effect.addFinalizer(() => Effect.sync(() => { log.push("parent finalized") }))
    return {
      SpawnChild: ({ name, link }) => ctx.spawn(makeChild(name, log), { link }).pipe(Effect.orDie),
      Crash: () => Effect.die(new Error("parent crashed")),
      Ping: () => Effect.succeed("parent")
    }
  }))

describe("parent and children", () => {
  it.effect("children stop with Shutdown when the parent stops, in reverse spawn order, before the parent's finalizers", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const parent = yield* system.spawn(makeParent(log))
      const c1 = yield* parent.ask(Parent.SpawnChild({ name: "c1", link: false }))
      const c2 = yield* parent.ask(Parent.SpawnChild({ name: "c2", link: false }))
      const c3 = yield* parent.ask(Parent.SpawnChild({ name: "c3", link: false }))
      assert.strictEqual(yield* c2.ask(Child.Ping()), "c2")
      yield* system.stop(parent)
      // system.stop waits for the whole tree
      assert.isFalse(c1.target.isAlive)
      assert.deepStrictEqual(log, ["c3 finalized", "c2 finalized", "c1 finalized", "parent finalized"])
      assert.deepStrictEqual(yield* system.awaitExit(c1), ExitReason.shutdown)
      assert.deepStrictEqual(yield* system.awaitExit(c2), ExitReason.shutdown)
      assert.deepStrictEqual(yield* system.awaitExit(c3), ExitReason.shutdown)
      assert.deepStrictEqual(yield* system.awaitExit(parent), ExitReason.shutdown)
    }).pipe(withSystem()))

  it.effect("children stop with Shutdown when the parent crashes", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const parent = yield* system.spawn(makeParent(log))
      const c1 = yield* parent.ask(Parent.SpawnChild({ name: "c1", link: false }))
      yield* parent.tell(Parent.Crash())
      assert.strictEqual((yield* system.awaitExit(parent))._tag, "Error")
      assert.deepStrictEqual(yield* system.awaitExit(c1), ExitReason.shutdown)
      assert.deepStrictEqual(log, ["c1 finalized", "parent finalized"])
    }).pipe(withSystem()))

  it.effect("a child that stops does not affect an unlinked parent", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const parent = yield* system.spawn(makeParent(log))
      const c1 = yield* parent.ask(Parent.SpawnChild({ name: "c1", link: false }))
      const c2 = yield* parent.ask(Parent.SpawnChild({ name: "c2", link: false }))
      yield* c1.tell(Child.Crash())
      assert.strictEqual((yield* system.awaitExit(c1))._tag, "Error")
      assert.strictEqual(yield* parent.ask(Parent.Ping()), "parent")
      assert.strictEqual(yield* c2.ask(Child.Ping()), "c2")
      // a dead child is forgotten: stopping the parent now only stops c2
      yield* system.stop(parent)
      assert.deepStrictEqual(log, ["c1 finalized", "c2 finalized", "parent finalized"])
    }).pipe(withSystem()))

  it.effect("spawn { link: true }: a crashing child takes its parent (and siblings) down", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const parent = yield* system.spawn(makeParent(log))
      const sibling = yield* parent.ask(Parent.SpawnChild({ name: "sibling", link: false }))
      const linked = yield* parent.ask(Parent.SpawnChild({ name: "linked", link: true }))
      yield* linked.tell(Child.Crash())
      const reason = yield* system.awaitExit(parent)
      assert.strictEqual(reason._tag, "Error")
      assert.include((reason as { message: string }).message, "linked crashed")
      assert.deepStrictEqual(yield* system.awaitExit(sibling), ExitReason.shutdown)
    }).pipe(withSystem()))

  it.effect("top-level actors stop with Shutdown when the system stops", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const reasons: Array<string> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const system = yield* ActorSystem
        const parent = yield* system.spawn(makeParent(log))
        yield* parent.ask(Parent.SpawnChild({ name: "c1", link: false }))
        const other = yield* system.spawn(makeChild("top", log))
        yield* Effect.forkDetach(system.awaitExit(other).pipe(Effect.map((r) => reasons.push(r._tag))))
        yield* Effect.yieldNow
      }).pipe(withSystem()))
      // reverse spawn order: "top" first, then the parent's tree
      assert.deepStrictEqual(log, ["top finalized", "c1 finalized", "parent finalized"])
      yield* waitUntil("awaitExit to complete", () => reasons.length === 1)
      assert.deepStrictEqual(reasons, ["Shutdown"])
    }))
})

// ---------------------------------------------------------------------------
// stopping itself, finalizers
// ---------------------------------------------------------------------------

const Stoppable = Actor.make("Stoppable", {
  StopNow: Actor.ask({}, { success: Schema.String }),
  StopWith: Actor.tell({ detail: Schema.String }),
  Ping: Actor.ask({}, { success: Schema.String }),
  Note: Actor.tell({ text: Schema.String })
})

const makeStoppable = (log: Array<string>) =>
  Stoppable.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    log.push("init")
    yield* Effect.addFinalizer(() => Effect.sync(() => { log.push("finalizer 1") }))
    yield* Effect.addFinalizer(() => Effect.sync(() => { log.push("finalizer 2") }))
    return {
      StopNow: () =>
        Effect.gen(function*() {
          yield* ctx.stop()
          log.push("after stop()")
          return "bye"
        }),
      StopWith: ({ detail }) => ctx.stop(ExitReason.shutdownWith(detail)),
      Ping: () => Effect.succeed("pong"),
      Note: ({ text }) => Effect.sync(() => { log.push(text) })
    }
  }))

describe("stopping itself", () => {
  it.effect("ctx.stop() stops after the current message: its ask gets the reply; reason Normal; finalizers run", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const actor = yield* system.spawn(makeStoppable(log), { name: "stoppable" })
      assert.strictEqual(yield* actor.ask(Stoppable.StopNow()), "bye")
      assert.deepStrictEqual(yield* system.awaitExit(actor), ExitReason.normal)
      // finalizers of the behaviour's scope, in reverse order of registration
      assert.deepStrictEqual(log, ["init", "after stop()", "finalizer 2", "finalizer 1"])
      assert.isFalse(actor.target.isAlive)
      assert.strictEqual(system.whereis("stoppable")._tag, "None")
    }).pipe(withSystem()))

  it.effect("messages queued behind the stopping message are not handled", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const actor = yield* system.spawn(makeStoppable(log))
      const letters = yield* collectDeadLetters(1)
      // queue everything before the actor runs (activations start from a microtask)
      const stopping = yield* Effect.forkChild(actor.ask(Stoppable.StopNow()), { startImmediately: true })
      yield* actor.tell(Stoppable.Note({ text: "too late" }))
      const behind = yield* Effect.forkChild(Effect.flip(actor.ask(Stoppable.Ping())), { startImmediately: true })
      assert.strictEqual(yield* Fiber.join(stopping), "bye")
      const error = yield* Fiber.join(behind)
      assertError(error, new ActorStopped({ actor: actor.key, reason: ExitReason.normal }))
      const [letter] = yield* Fiber.join(letters)
      assert.deepStrictEqual(letter, {
        recipient: actor.key,
        message: { _tag: "Note", text: "too late" },
        reason: { _tag: "ActorStopped", reason: ExitReason.normal }
      })
      assert.notInclude(log, "too late")
    }).pipe(withSystem()))

  it.effect("ctx.stop(reason) stops with that reason", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const actor = yield* system.spawn(makeStoppable([]))
      yield* actor.tell(Stoppable.StopWith({ detail: "done" }))
      assert.deepStrictEqual(yield* system.awaitExit(actor), ExitReason.shutdownWith("done"))
    }).pipe(withSystem()))

  it.effect("system.stop runs the finalizers and reports Shutdown", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem
      const log: Array<string> = []
      const actor = yield* system.spawn(makeStoppable(log))
      yield* actor.ask(Stoppable.Ping())
      yield* system.stop(actor)
      assert.deepStrictEqual(log, ["init", "finalizer 2", "finalizer 1"])
      assert.deepStrictEqual(yield* system.awaitExit(actor), ExitReason.shutdown)
      // stopping again is harmless
      yield* system.stop(actor)
      assert.strictEqual(system.actorCount(), 2) // the root and services supervisors
    }).pipe(withSystem()))

  it.effect("system.stop interrupts a handler that is running and fails its ask with ActorStopped", () =>
    Effect.gen(function*() {
      const Busy = Actor.make("Busy", { Work: Actor.ask({}) })
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const system = yield* ActorSystem
      const busy = yield* system.spawn(Busy.behavior(Effect.succeed({
        Work: () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
      })))
      const work = yield* Effect.forkChild(Effect.flip(busy.ask(Busy.Work())))
      yield* Deferred.await(started)
      yield* system.stop(busy)
      yield* Deferred.await(interrupted)
      const error = yield* Fiber.join(work)
      assertError(error, new ActorStopped({ actor: busy.key, reason: ExitReason.shutdown }))
    }).pipe(withSystem()))

  it.effect("ctx.stop() during init stops the actor right after it starts", () =>
    Effect.gen(function*() {
      const Quitter = Actor.make("Quitter", { Ping: Actor.ask({}) })
      const system = yield* ActorSystem
      const log: Array<string> = []
      const quitter = yield* system.spawn(Quitter.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        yield* Effect.addFinalizer(() => Effect.sync(() => { log.push("finalized") }))
        yield* ctx.stop()
        return { Ping: () => Effect.void }
      })))
      const exit = yield* Effect.forkChild(system.awaitExit(quitter))
      yield* waitUntil("the actor to stop without any message", () => isDone(exit))
      assert.deepStrictEqual(yield* Fiber.join(exit), ExitReason.normal)
      assert.deepStrictEqual(log, ["finalized"])
    }).pipe(withSystem()))
})

// ---------------------------------------------------------------------------
// spawn failures
// ---------------------------------------------------------------------------

describe("spawn", () => {
  it.effect("a failing init gives SpawnError; the name is not taken; finalizers run", () =>
    Effect.gen(function*() {
      const Broken = Actor.make("Broken", { Ping: Actor.ask({}) })
      const log: Array<string> = []
      const system = yield* ActorSystem
      const error = yield* Effect.flip(system.spawn(
        Broken.behavior(Effect.gen(function*() {
          yield* Effect.addFinalizer(() => Effect.sync(() => { log.push("finalized") }))
          return yield* Effect.fail("no config")
        })),
        { name: "broken" }
      ))
      assert.instanceOf(error, SpawnError)
      assert.strictEqual(error.protocol, "Broken")
      assert.include(error.message, "no config")
      assert.strictEqual(system.whereis("broken")._tag, "None")
      yield* waitUntil("the finalizer to run", () => log.length === 1)
      assert.deepStrictEqual(log, ["finalized"])
      assert.strictEqual(system.actorCount(), 2) // the root and services supervisors
    }).pipe(withSystem()))

  it.effect("init runs with the ActorContext: self is the actor's own ref", () =>
    Effect.gen(function*() {
      const Selfish = Actor.make("Selfish", { Me: Actor.ask({}, { success: Schema.String }) })
      let seen: string | undefined
      const system = yield* ActorSystem
      const ref = yield* system.spawn(Selfish.behavior(Effect.gen(function*() {
        const self = yield* selfOf(Selfish)
        seen = self.key
        return { Me: () => Effect.succeed(self.key) }
      })))
      assert.strictEqual(seen, ref.key)
      assert.strictEqual(yield* ref.ask(Selfish.Me()), ref.key)
      assert.strictEqual(ref.address.protocol, "Selfish")
      assert.deepStrictEqual(ref.address.node, system.nodeId)
    }).pipe(withSystem()))

  it.effect("messages sent to self during init are handled after init, in order", () =>
    Effect.gen(function*() {
      const Early = Actor.make("Early", { Note: Actor.tell({ n: Schema.Int }), Notes: Actor.ask({}, { success: Schema.Array(Schema.Int) }) })
      const system = yield* ActorSystem
      const ref = yield* system.spawn(Early.behavior(Effect.gen(function*() {
        const self = yield* selfOf(Early)
        const notes: Array<number> = []
        yield* self.tell(Early.Note({ n: 1 }))
        yield* self.tell(Early.Note({ n: 2 }))
        notes.push(0) // init is not interrupted by its own messages
        return {
          Note: ({ n }) => Effect.sync(() => { notes.push(n) }),
          Notes: () => Effect.sync(() => notes.slice())
        }
      })))
      assert.deepStrictEqual(yield* ref.ask(Early.Notes()), [0, 1, 2])
    }).pipe(withSystem()))

  it.effect("stopping an actor while its init runs: spawn fails with SpawnError, the stop completes", () => {
    // made outside, so that a failing assertion still releases the init (the system's shutdown waits for it)
    const initGate = Deferred.makeUnsafe<void>()
    return Effect.gen(function*() {
      const Slow = Actor.make("SlowStart", { Ping: Actor.ask({}) })
      const initStarted = yield* Deferred.make<void>()
      const system = yield* ActorSystem
      const spawning = yield* Effect.forkChild(Effect.flip(system.spawn(
        Slow.behavior(Effect.gen(function*() {
          yield* Deferred.succeed(initStarted, undefined)
          yield* Deferred.await(initGate)
          return { Ping: () => Effect.void }
        })),
        { name: "slow" }
      )))
      yield* Deferred.await(initStarted)
      const ref = system.whereis("slow")
      assert.isTrue(ref._tag === "Some")
      const stopping = yield* Effect.forkChild(system.stop((ref as any).value))
      yield* settle()
      assert.isFalse(isDone(stopping)) // waits for init to finish
      yield* Deferred.succeed(initGate, undefined)
      const error = yield* Fiber.join(spawning)
      assert.instanceOf(error, SpawnError)
      assert.include(error.message, "stopped during initialisation")
      yield* Fiber.join(stopping)
      assert.strictEqual(system.whereis("slow")._tag, "None")
    }).pipe(Effect.ensuring(Deferred.succeed(initGate, undefined)), withSystem())
  })

  it.effect("stopping an actor whose handler is spawning a child (the child's init runs): both stop", () => {
    const initGate = Deferred.makeUnsafe<void>()
    return Effect.gen(function*() {
      const Slow = Actor.make("SlowChild", { Ping: Actor.ask({}) })
      const Spawner = Actor.make("Spawner", { Spawn: Actor.tell({}) })
      const initStarted = yield* Deferred.make<void>()
      const system = yield* ActorSystem
      const spawner = yield* system.spawn(Spawner.behavior(Effect.gen(function*() {
        const ctx = yield* ActorContext
        return {
          Spawn: () =>
            Effect.ignore(ctx.spawn(Slow.behavior(Effect.gen(function*() {
              yield* Deferred.succeed(initStarted, undefined)
              yield* Deferred.await(initGate)
              return { Ping: () => Effect.void }
            })), { name: "slow-child", link: true }))
        }
      })))
      yield* spawner.tell(Spawner.Spawn({}))
      yield* Deferred.await(initStarted)
      // the stop interrupts the handler, and with it the child's init (run in the handler's fiber)
      yield* system.stop(spawner)
      assert.deepStrictEqual(yield* system.awaitExit(spawner), ExitReason.shutdown)
      assert.strictEqual(system.whereis("slow-child")._tag, "None")
    }).pipe(Effect.ensuring(Deferred.succeed(initGate, undefined)), withSystem())
  })

  it.effect("system.kill does not wait for finalizers (stop does)", () => {
    // made outside, so that a failing assertion still releases the finalizers
    const finalizerGate = Deferred.makeUnsafe<void>()
    return Effect.gen(function*() {
      const Stubborn = Actor.make("Stubborn", { Ping: Actor.ask({}) })
      const log: Array<string> = []
      const behavior = Stubborn.behavior(Effect.gen(function*() {
        yield* Effect.addFinalizer(() =>
          Deferred.await(finalizerGate).pipe(Effect.andThen(Effect.sync(() => { log.push("finalized") })))
        )
        return { Ping: () => Effect.void }
      }))
      const system = yield* ActorSystem
      const killed = yield* system.spawn(behavior)
      yield* system.kill(killed)
      assert.deepStrictEqual(yield* system.awaitExit(killed), ExitReason.killed)
      assert.deepStrictEqual(log, []) // the finalizer is still waiting
      const stopped = yield* system.spawn(behavior)
      const stopping = yield* Effect.forkChild(system.stop(stopped))
      yield* settle()
      assert.isFalse(isDone(stopping))
      yield* Deferred.succeed(finalizerGate, undefined)
      yield* Fiber.join(stopping)
      yield* waitUntil("both finalizers", () => log.length === 2)
    }).pipe(Effect.ensuring(Deferred.succeed(finalizerGate, undefined)), withSystem())
  })
})
