/**
 * A supervised worker pool: a job queue hands jobs to workers, one at a time per worker. Workers
 * crash now and then (on purpose); their supervisor restarts them, and the queue — which
 * monitors every worker — puts the crashed worker's job back at the head of the queue, so no
 * job is lost and none completes twice.
 *
 * The pool is also what `telex demo` runs, so its code lives with the demo in
 * `src/cli/demo/jobs.ts`; this module is the examples' name for it.
 */
export * from "../src/cli/demo/jobs.ts"
