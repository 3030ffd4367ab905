/**
 * The app of this cluster: its modules, which the nodes of cluster.json `run`.
 *
 * - `counter`: a Counter actor under the node's root supervisor (restarted if it crashes),
 *   registered cluster-wide as "counter";
 * - `clicker`: finds "counter" wherever it runs and increments it 10 times a second.
 */
import { Console, Effect, Schedule, Schema } from "effect"
import { Actor, ActorSystem, ClusterApp, NodeStats, Registry, Supervisor } from "telex"

/** The protocol: every message has a Schema, so it can cross a process boundary. */
export const Counter = Actor.make("Counter", {
  Increment: Actor.tell({ by: Schema.Int }),
  Get: Actor.ask({}, { success: Schema.Int })
})

/** The behaviour: private state, one handler per message. */
export const CounterLive = Counter.behavior(Effect.gen(function*() {
  let count = 0 // re-initialised when the supervisor restarts the actor
  return {
    Increment: ({ by }) => Effect.sync(() => { count += by }),
    Get: () => Effect.succeed(count)
  }
}))

const counter = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry
  const ref = yield* Supervisor.startChild(system.root, Supervisor.child("counter", CounterLive))
  yield* registry.register("counter", ref)
})

const clicker = Effect.gen(function*() {
  const registry = yield* Registry
  const stats = yield* NodeStats
  const click = Effect.gen(function*() {
    const ref = yield* registry.lookup(Counter, "counter")
    yield* ref.tell(Counter.Increment({ by: 1 }))
    stats.add("clicks") // summed up in the summary of `telex start --duration`
  }).pipe(Effect.ignore) // the counter may be unreachable for a while: try again next time
  yield* click.pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
  const report = Effect.gen(function*() {
    const ref = yield* registry.lookup(Counter, "counter")
    yield* Console.log(`count: ${yield* ref.ask(Counter.Get())}`)
  }).pipe(Effect.ignore)
  yield* report.pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.forkScoped)
})

export default ClusterApp.make({ modules: { counter, clicker } })
