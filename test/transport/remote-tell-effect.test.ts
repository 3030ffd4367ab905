/**
 * `yield* ref.tell` to a remote ref sends at that point in the generator (no fiber step when the
 * envelope is queued): over real TCP the order of a long loop is kept, a message the protocol's
 * Schema refuses is a typed InvalidMessage that stops the generator there (and can be caught as
 * an error, not a defect), and the same tell effect run again sends again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { InvalidMessage } from "../../src/index.ts"
import { Probe, makeProbe, makeSink, remote, twoNodes, withTimeout } from "./_remote.ts"

describe("yield* tell to a remote ref", () => {
  it.live("a loop keeps its order; an invalid message is a typed error at that point; a kept tell sends each time it runs", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoNodes()
      const probe = remote(a, yield* b.system.spawn(makeProbe(yield* makeSink)))
      const n = 3000
      for (let i = 0; i < n; i++) yield* probe.tell(Probe.Record({ n: i }))
      let recorded = yield* withTimeout("recorded", probe.ask(Probe.Recorded()))
      assert.deepStrictEqual(recorded, { count: n, inOrder: true, last: n - 1 })

      let after = false
      const error = yield* Effect.flip(Effect.gen(function*() {
        yield* probe.tell({ _tag: "Record", n: "not a number" } as any)
        after = true
      }))
      assert.isFalse(after, "the generator did not go on past the refused send")
      assert.instanceOf(error, InvalidMessage)

      const next = probe.tell(Probe.Record({ n }))
      yield* next
      const again = probe.tell(Probe.Record({ n: n + 1 }))
      yield* again
      recorded = yield* withTimeout("recorded", probe.ask(Probe.Recorded()))
      assert.deepStrictEqual(recorded, { count: n + 2, inOrder: true, last: n + 1 })
      // running the same value again sends the same message again: out of order on purpose
      yield* again
      recorded = yield* withTimeout("recorded", probe.ask(Probe.Recorded()))
      assert.deepStrictEqual(recorded, { count: n + 3, inOrder: false, last: n + 1 })
    }).pipe(Effect.scoped), 30_000)
})
