/**
 * Shared helpers for the actor semantics tests.
 */
import { assert } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import type { DeadLetter } from "../../src/index.ts"
import { ActorSystem } from "../../src/index.ts"

/** Runs `effect` with a fresh actor system (closed, with all its actors, at the end of the test). */
export const withSystem = (options?: Parameters<typeof ActorSystem.layer>[0]) =>
<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, ActorSystem.layer(options))

/**
 * Yields to the scheduler until `predicate` holds, at most `max` times; dies with `what` if it
 * never does. Used instead of sleeps to let the dispatcher and other fibers make progress.
 */
export const waitUntil = (what: string, predicate: () => boolean, max = 200): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < max; i++) {
      if (predicate()) return
      yield* Effect.yieldNow
    }
    if (!predicate()) return yield* Effect.die(new Error(`waitUntil: ${what} did not happen after ${max} yields`))
  })

/** Yields a few times, to let microtasks and already-runnable fibers run. */
export const settle = (times = 5): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < times; i++) yield* Effect.yieldNow
  })

/**
 * Subscribes to the system's dead letters and collects the next `n` of them. The subscription is
 * established before this returns (the fiber starts immediately and we yield a few times).
 */
export const collectDeadLetters = (n: number): Effect.Effect<Fiber.Fiber<Array<DeadLetter>>, never, ActorSystem> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const fiber = yield* system.deadLetters.pipe(
      Stream.take(n),
      Stream.runCollect,
      Effect.forkChild({ startImmediately: true })
    )
    yield* settle()
    return fiber
  })

/** Whether a fiber has completed (without waiting for it). */
export const isDone = (fiber: Fiber.Fiber<unknown, unknown>): boolean => fiber.pollUnsafe() !== undefined

/**
 * Asserts that `actual` is an error of the same class as `expected`, with the same fields.
 * (`assert.deepStrictEqual` compares Error instances by class and message only.)
 */
export const assertError = (actual: unknown, expected: object): void => {
  assert.strictEqual(Object.getPrototypeOf(actual), Object.getPrototypeOf(expected), "error class")
  assert.deepStrictEqual({ ...(actual as object) }, { ...expected })
}
