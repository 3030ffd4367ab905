/**
 * The single-node demo behind `npm start`: the worker-pool example under a supervision tree.
 * Workers crash on purpose now and then; their supervisor restarts them and the job queue
 * retries their jobs. Runs until Ctrl-C, or for `--duration`, then prints a JSON summary as
 * its last line.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { JobQueue, JobQueueLive, makeWorker } from "./jobs.ts"
import { ActorSystem, kernelOf } from "../../system/ActorSystem.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import * as Supervisor from "../../supervision/Supervisor.ts"

const color = (code: number, s: string) => (process.stdout.isTTY ? `\x1b[${code}m${s}\x1b[0m` : s)

export interface DemoOptions {
  readonly duration: Option.Option<Duration.Duration>
  readonly workers?: number
}

export const runDemo = Effect.fnUntraced(function*(options: DemoOptions) {
  const system = yield* ActorSystem
  const workers = options.workers ?? 4
  let restarts = 0

  yield* system.supervisionEvents.pipe(
    Stream.runForEach((event) =>
      Effect.gen(function*() {
        if (event._tag === "ChildExited" && event.reason._tag !== "Shutdown") {
          yield* Console.log(color(31, `✗ ${event.childId} exited: ${ExitReason.format(event.reason)}`))
        } else if (event._tag === "ChildRestarted") {
          restarts++
          yield* Console.log(color(32, `↻ supervisor restarted ${event.childId} (restart #${event.restarts})`))
        } else if (event._tag === "RestartScheduled") {
          yield* Console.log(color(33, `… restart of ${event.childIds.join(", ")} in ${event.delayMillis} ms (backoff)`))
        }
      })
    ),
    Effect.forkScoped
  )

  // app supervisor: the queue first, then a pool supervisor for the workers (rest_for_one: if
  // the queue dies, the workers restart too and register with the new queue)
  const queue = yield* system.spawn(JobQueueLive, { name: "jobs" })
  const pool = Supervisor.make({
    strategy: "one_for_one",
    children: Array.from({ length: workers }, (_, i) =>
      Supervisor.child(`worker-${i + 1}`, makeWorker({ findQueue: Effect.succeedSome(queue), crashRate: 0.05, millisPerUnit: 2 })))
  })
  yield* Supervisor.startChild(system.root, Supervisor.child("workers", pool))
  yield* Console.log(`telex demo: node ${system.nodeId.name}, ${workers} supervised workers, 1 job queue`)

  let submitted = 0
  const producer = yield* Effect.forkScoped(
    Effect.gen(function*() {
      submitted++
      yield* queue.ask(JobQueue.Submit({ job: { id: `job-${submitted}`, work: 1 + (submitted % 20) } }))
    }).pipe(Effect.repeat(Schedule.spaced("20 millis")))
  )

  const report = Effect.gen(function*() {
    const s = yield* queue.ask(JobQueue.GetStats())
    yield* Console.log(
      `jobs: ${s.completed}/${s.submitted} done, ${s.inFlight} running, ${s.pending} queued, ${s.retried} retried · restarts: ${restarts}`
    )
  })
  const reporter = yield* Effect.forkScoped(report.pipe(Effect.repeat(Schedule.spaced("1 second"))))

  if (Option.isNone(options.duration)) return yield* Effect.never
  yield* Effect.sleep(options.duration.value)
  yield* Fiber.interrupt(producer)
  yield* Fiber.interrupt(reporter)
  // let the jobs in flight finish (bounded)
  yield* queue.ask(JobQueue.GetStats()).pipe(
    Effect.repeat({ until: (s) => s.pending === 0 && s.inFlight === 0, schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutOption("10 seconds")
  )
  const s = yield* queue.ask(JobQueue.GetStats())
  yield* report
  const summary = {
    nodes: 1,
    messages: kernelOf(system).counters().delivered,
    restarts,
    partitions: 0,
    jobsSubmitted: s.submitted,
    jobsCompleted: s.completed,
    jobsLost: s.submitted - s.completed - s.pending - s.inFlight
  }
  yield* Console.log(JSON.stringify(summary))
})
