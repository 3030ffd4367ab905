/**
 * The demo cluster behind `npm start`: a job queue and a client on n1, supervised worker pools
 * on n2 and n3, and a chaos module on n1 that partitions n1 from n2 or n3 every few seconds.
 *
 * Workers find the queue through the cluster registry and monitor it; when a partition cuts
 * them off they stop (abandoning their job), their supervisor restarts them, and they register
 * again once the partition heals. The queue monitors every worker and retries the jobs of the
 * ones it loses, so every job completes once.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { ActorSystem, Supervisor } from "../../src/index.ts"
import * as ClusterApp from "../../src/cluster/ClusterApp.ts"
import { NodeStats } from "../../src/cluster/NodeStats.ts"
import { Registry } from "../../src/cluster/Registry.ts"
import { Node } from "../../src/transport/Node.ts"
import { JobQueue, JobQueueLive, makeWorker } from "../jobs.ts"

const jobs = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry
  const stats = yield* NodeStats
  const queue = yield* Supervisor.startChild(system.root, Supervisor.child("jobs", JobQueueLive))
  yield* registry.register("jobs", queue)
  const record = queue.ask(JobQueue.GetStats()).pipe(
    Effect.tap((s) =>
      Effect.sync(() => {
        stats.set("jobsSubmitted", s.submitted)
        stats.set("jobsCompleted", s.completed)
        stats.set("jobsRetried", s.retried)
        stats.set("jobsLost", s.submitted - s.completed - s.pending - s.inFlight)
      })
    ),
    Effect.ignore
  )
  yield* record.pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
  yield* Effect.addFinalizer(() => record)
})

const workers = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry
  const findQueue = Effect.sync(() => registry.whereis("jobs")) as any
  const pool = Supervisor.make({
    strategy: "one_for_one",
    children: [1, 2, 3].map((i) =>
      Supervisor.child(`worker-${i}`, makeWorker({ findQueue, crashRate: 0.03, millisPerUnit: 3 }))
    )
  })
  yield* Supervisor.startChild(system.root, Supervisor.child("workers", pool))
})

const client = Effect.gen(function*() {
  const registry = yield* Registry
  let n = 0
  const submit = Effect.gen(function*() {
    const queue = yield* registry.lookup(JobQueue, "jobs")
    n++
    yield* queue.ask(JobQueue.Submit({ job: { id: `job-${n}`, work: 1 + (n % 15) } }))
  }).pipe(Effect.ignore)
  yield* submit.pipe(Effect.repeat(Schedule.spaced("25 millis")), Effect.forkScoped)
  const report = Effect.gen(function*() {
    const queue = yield* registry.lookup(JobQueue, "jobs")
    const s = yield* queue.ask(JobQueue.GetStats())
    yield* Console.log(
      `jobs: ${s.completed}/${s.submitted} done, ${s.inFlight} running, ${s.pending} queued, ${s.retried} retried, ${s.workers} workers`
    )
  }).pipe(Effect.ignore)
  yield* report.pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.forkScoped)
})

const chaos = Effect.gen(function*() {
  const node = yield* Node
  const stats = yield* NodeStats
  let victim = 0
  const cut = Effect.gen(function*() {
    const others = node.peers().filter((p) => p.up).map((p) => p.name).sort()
    if (others.length === 0) return
    const peer = others[victim++ % others.length]!
    stats.add("partitions")
    yield* Console.log(`✂ simulated partition: ${node.nodeId.name} | ${peer} for 2s`)
    yield* node.partition(peer, "2 seconds")
  })
  yield* Effect.sleep("4 seconds").pipe(Effect.andThen(cut), Effect.repeat(Schedule.spaced("5 seconds")), Effect.forkScoped)
})

export default ClusterApp.make({ modules: { jobs, workers, client, chaos } })
