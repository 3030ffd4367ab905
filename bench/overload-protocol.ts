/**
 * What the two processes of the `overload` benchmark group share: the protocol of the slow and
 * the fast actor (both nodes must know it, with the same fingerprint) and the flood's message.
 */
import { Schema } from "effect"
import { Actor } from "../src/index.ts"

export const Overload = Actor.make("OverloadBench", {
  /** the flood's ~100-byte message */
  Work: Actor.tell({ n: Schema.Int, note: Schema.String }),
  /** the latency probe (answered with its `seq`) */
  Ping: Actor.ask({ seq: Schema.Int }, { success: Schema.Int }),
  /** messages handled so far */
  Count: Actor.ask({}, { success: Schema.Int })
})

export const NOTE = "x".repeat(64)

/** Commands from the parent to the flooding peer, one JSON line each; one JSON line answers each. */
export type Command =
  | { readonly op: "asks"; readonly n: number }
  | { readonly op: "flood"; readonly target: string; readonly mode: "tell" | "tellUnsafe" }
  | { readonly op: "stop" }
  | { readonly op: "rss" }
