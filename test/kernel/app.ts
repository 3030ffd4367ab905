/**
 * The kernel tier's app: the demo cluster's `jobs` and `workers` modules (examples/cluster/app.ts)
 * plus two modules for observing and driving a node from the test process WITHOUT the network
 * (the test process must never connect to a lab address):
 *
 * - `lifeline` (every node): the node exits when its stdin closes (the test process is gone) or
 *   after 10 minutes, so a crashed test run leaves no node behind.
 * - `driver` (the jobs node): prints the queue's stats as one `@@kstats {json}` line every 200 ms
 *   (with which peers are connected), and reads commands from stdin: `submit N` submits N jobs.
 */
import { createInterface } from "node:readline"
import { Effect, Queue, Schedule } from "effect"
import * as ClusterApp from "../../src/cluster/ClusterApp.ts"
import { Registry } from "../../src/cluster/Registry.ts"
import { Node } from "../../src/transport/Node.ts"
import base from "../../examples/cluster/app.ts"
import { JobQueue } from "../../examples/jobs.ts"

export const KSTATS_PREFIX = "@@kstats "

const lifeline = Effect.sync(() => {
  process.stdin.on("end", () => process.exit(0))
  process.stdin.on("error", () => process.exit(0))
  process.stdin.resume()
  setTimeout(() => process.exit(3), 10 * 60_000).unref()
})

const driver = Effect.gen(function*() {
  const registry = yield* Registry
  const node = yield* Node
  const queue = yield* registry.lookup(JobQueue, "jobs")
  let n = 0
  const print = queue.ask(JobQueue.GetStats()).pipe(
    Effect.tap((s) =>
      Effect.sync(() => {
        const peers = Object.fromEntries(node.peers().map((p) => [p.name, p.up]))
        const lost = s.submitted - s.completed - s.pending - s.inFlight
        process.stdout.write(`${KSTATS_PREFIX}${JSON.stringify({ t: Date.now(), ...s, lost, peers })}\n`)
      })
    ),
    Effect.ignore
  )
  yield* print.pipe(Effect.repeat(Schedule.spaced("200 millis")), Effect.forkScoped)

  const commands = yield* Queue.unbounded<string>()
  createInterface({ input: process.stdin }).on("line", (line) => void Queue.offerUnsafe(commands, line.trim()))
  const handle = (line: string) =>
    Effect.gen(function*() {
      const m = /^submit (\d+)$/.exec(line)
      if (m === null) return yield* Effect.logWarning(`driver: unknown command ${JSON.stringify(line)}`)
      for (let i = 0; i < Number(m[1]); i++) {
        n++
        yield* queue.ask(JobQueue.Submit({ job: { id: `job-${n}`, work: 1 + (n % 15) } }))
      }
      yield* print
    }).pipe(Effect.ignore)
  yield* Queue.take(commands).pipe(Effect.flatMap(handle), Effect.forever, Effect.forkScoped)
})

export default ClusterApp.make({ modules: { ...base.modules, lifeline, driver } })
