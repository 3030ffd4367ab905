/**
 * A supervised worker pool: a job queue hands jobs to workers, one at a time per worker. Workers
 * crash now and then (on purpose); their supervisor restarts them, and the queue — which
 * monitors every worker — puts the crashed worker's job back at the head of the queue, so no
 * job is lost and none completes twice.
 *
 * The pool is also what `telex demo` runs, so its code lives with the demo in
 * `src/cli/demo/jobs.ts`; this module is the examples' name for it.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { ActorSystem, Supervisor } from "../src/index.ts"
import { JobQueue, JobQueueLive, makeWorker } from "../src/cli/demo/jobs.ts"

export * from "../src/cli/demo/jobs.ts"

// `node examples/jobs.ts`: 60 jobs through 3 supervised workers that crash on 15 % of jobs
if (import.meta.main) {
  const program = Effect.gen(function*() {
    const system = yield* ActorSystem
    let restarts = 0
    yield* system.supervisionEvents.pipe(
      Stream.runForEach((e) => Effect.sync(() => {
        if (e._tag === "ChildRestarted") {
          restarts++
          console.log(`supervisor restarted ${e.childId} (restart #${e.restarts} of that worker)`)
        }
      })),
      Effect.forkScoped
    )
    const queue = yield* system.spawn(JobQueueLive, { name: "jobs" })
    yield* Supervisor.startChild(system.root, Supervisor.child("workers", Supervisor.make({
      strategy: "one_for_one",
      intensity: 1000,
      children: [1, 2, 3].map((i) =>
        Supervisor.child(`worker-${i}`, makeWorker({ findQueue: Effect.succeedSome(queue), crashRate: 0.15 })))
    })))
    for (let i = 1; i <= 60; i++) yield* queue.ask(JobQueue.Submit({ job: { id: `job-${i}`, work: 1 + (i % 5) } }))
    const s = yield* queue.ask(JobQueue.GetStats()).pipe(
      Effect.repeat({ until: (s) => s.completed === s.submitted, schedule: Schedule.spaced("20 millis") })
    )
    console.log(`${s.completed}/${s.submitted} jobs done, each once; ${s.retried} retried after a crash; ${restarts} worker restarts`)
  })
  Effect.runPromise(program.pipe(
    Effect.scoped,
    Effect.provide(ActorSystem.layer()),
    Effect.provide(Layer.succeed(References.MinimumLogLevel, "None"))
  ))
}
