/**
 * A supervised worker pool: a job queue hands jobs to workers, one at a time per worker. Workers
 * crash now and then (on purpose); their supervisor restarts them, and the queue — which
 * monitors every worker — puts the crashed worker's job back at the head of the queue, so no
 * job is lost and none completes twice.
 *
 * Messages carry refs (`worker`, `queue`), so the same module runs with the queue and the
 * workers on different nodes.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Actor from "../../actors/Actor.ts"
import { ActorContext } from "../../actors/ActorContext.ts"
import * as ActorRef from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import type { Down, MonitorRef } from "../../actors/Signals.ts"

export const Job = Schema.Struct({ id: Schema.String, work: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) })
export type Job = typeof Job.Type

export const Stats = Schema.Struct({
  submitted: Schema.Int,
  completed: Schema.Int,
  retried: Schema.Int,
  pending: Schema.Int,
  inFlight: Schema.Int,
  workers: Schema.Int
})
export type Stats = typeof Stats.Type

export const JobQueue = Actor.make("JobQueue", {
  Submit: Actor.ask({ job: Job }),
  WorkerReady: Actor.tell({ worker: ActorRef.schema }),
  JobDone: Actor.tell({ jobId: Schema.String, result: Schema.Int, worker: ActorRef.schema }),
  GetStats: Actor.ask({}, { success: Stats })
})

export const Worker = Actor.make("Worker", {
  Register: Actor.tell({}),
  Work: Actor.tell({ job: Job, queue: ActorRef.schemaFor(JobQueue) })
})

export const JobQueueLive = JobQueue.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  const pending: Array<Job> = []
  const idle: Array<ActorRef.ActorRef<typeof Worker.defs>> = []
  const inFlight = new Map<string, Job>() // by worker key
  const watched = new Map<string, MonitorRef>() // by worker key
  const completed = new Set<string>()
  const stats = { submitted: 0, completed: 0, retried: 0 }

  const dispatch = Effect.suspend(() => {
    const sends: Array<Effect.Effect<void, unknown>> = []
    while (pending.length > 0 && idle.length > 0) {
      const worker = idle.shift()!
      const job = pending.shift()!
      inFlight.set(worker.key, job)
      sends.push(worker.tell(Worker.Work({ job, queue: ctx.self })))
    }
    return Effect.forEach(sends, (send) => Effect.ignore(send), { discard: true })
  })

  return {
    Submit: ({ job }) =>
      Effect.suspend(() => {
        stats.submitted++
        pending.push(job)
        return dispatch
      }),
    WorkerReady: ({ worker }) =>
      Effect.gen(function*() {
        if (!watched.has(worker.key)) watched.set(worker.key, yield* ctx.monitor(worker))
        idle.push(worker)
        yield* dispatch
      }),
    JobDone: ({ jobId, worker }) =>
      Effect.suspend(() => {
        inFlight.delete(worker.key)
        if (!completed.has(jobId)) {
          completed.add(jobId)
          stats.completed++
        }
        idle.push(worker)
        return dispatch
      }),
    GetStats: () =>
      Effect.sync(() => ({
        ...stats,
        pending: pending.length,
        inFlight: inFlight.size,
        workers: watched.size
      })),
    onDown: (down: Down) =>
      Effect.suspend(() => {
        const key = down.actor.key
        watched.delete(key)
        const i = idle.findIndex((w) => w.key === key)
        if (i >= 0) idle.splice(i, 1)
        const job = inFlight.get(key)
        inFlight.delete(key)
        if (job !== undefined && !completed.has(job.id)) {
          stats.retried++
          pending.unshift(job) // retried first, by another worker
        }
        return dispatch
      })
  }
}))

export interface WorkerOptions {
  /** how to find the queue: a fixed ref (`Effect.succeedSome(ref)`) or a registry lookup */
  readonly findQueue: Effect.Effect<Option.Option<ActorRef.ActorRef<typeof JobQueue.defs>>>
  /** probability that a job crashes the worker (a defect), default 0 */
  readonly crashRate?: number
  /** milliseconds of simulated work per unit of `job.work`, default 1 */
  readonly millisPerUnit?: number
}

export const makeWorker = (options: WorkerOptions) =>
  Worker.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    // announce ourselves to the queue (again after every restart: a restart is a new incarnation)
    yield* ctx.self.tell(Worker.Register())
    return {
      Register: () =>
        Effect.gen(function*() {
          const queue = yield* options.findQueue
          if (Option.isNone(queue)) return yield* ctx.startTimer("register", Worker.Register(), "200 millis")
          // if the queue goes away (crash, lost node, partition) this worker stops, abandoning its
          // job; its supervisor restarts it and it registers with whatever queue is then found
          yield* ctx.monitor(queue.value)
          yield* Effect.ignore(queue.value.tell(JobQueue.WorkerReady({ worker: ctx.self })))
        }),
      // forked, so that a Down (queue lost) is handled while a job runs
      Work: ({ job, queue }) =>
        Actor.fork(Effect.gen(function*() {
          yield* Effect.sleep(job.work * (options.millisPerUnit ?? 1))
          if ((yield* Random.next) < (options.crashRate ?? 0)) {
            return yield* Effect.die(new Error(`worker crashed on job ${job.id}`))
          }
          yield* queue.tell(JobQueue.JobDone({ jobId: job.id, result: job.work * 2, worker: ctx.self }))
        })),
      onDown: (down: Down) => ctx.stop(ExitReason.error(`lost the job queue (${ExitReason.format(down.reason)})`))
    }
  }))
