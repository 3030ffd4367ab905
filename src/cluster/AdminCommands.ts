/**
 * What `telex shell` asks of a node's admin actor besides its status: send a tell or an ask,
 * written as JSON, to an actor found by name, and read the node's recent dead letters.
 *
 * The node does all the checking, with its own copy of the target's protocol: the name (a name
 * registered on this node, else a cluster-wide name, whose actor may live on another node), the
 * message tag, tell against ask, and the message itself, decoded by the tag's Schema from its
 * JSON (encoded) form. Messages and replies cross as JSON text so that any protocol fits one
 * request; a reply is encoded by the ask's success (or error) Schema before it is turned into
 * text. Every failure is a `CommandFailed` with a `kind` and a message fit to show a person; a
 * request the node cannot make sense of never stops the admin actor.
 *
 * Dead letters are kept in a ring (the newest `DEAD_LETTER_RING`), numbered, while a shell
 * watches: a watcher polls with the number of the last one it saw and hears how many it missed
 * if it fell behind. The ring stops filling when nobody has polled for a while.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Actor from "../actors/Actor.ts"
import type { ActorRef } from "../actors/ActorRef.ts"
import { type DeadLetterReason, formatReason } from "../actors/DeadLetter.ts"
import * as ProtocolRegistry from "../actors/ProtocolRegistry.ts"
import { ActorSystem, kernelOf } from "../system/ActorSystem.ts"
import { Registry } from "./Registry.ts"

export const CommandFailedKind = Schema.Literals([
  "NoSuchName",
  "UnknownProtocol",
  "UnknownMessage",
  "WrongKind",
  "InvalidJson",
  "InvalidMessage",
  "SendFailed",
  "AskFailed",
  "NoSuchActor",
  "Refused"
])
export type CommandFailedKind = typeof CommandFailedKind.Type

/** A shell command the node could not carry out, and why (`message` is for a person). */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  kind: CommandFailedKind,
  message: Schema.String,
  /** for `AskFailed` with a typed error of the protocol: that error, encoded, as JSON text */
  error: Schema.optional(Schema.String)
}) {}

export const DeadLetterEntry = Schema.Struct({
  seq: Schema.Int,
  recipient: Schema.String,
  /** the message's tag (or its type when it has none) */
  message: Schema.String,
  reason: Schema.String
})
export type DeadLetterEntry = typeof DeadLetterEntry.Type

export const DeadLetterPage = Schema.Struct({
  letters: Schema.Array(DeadLetterEntry),
  /** the `after` to ask with next */
  next: Schema.Int,
  /** dead letters after `after` that fell out of the ring before this read */
  missed: Schema.Int
})
export type DeadLetterPage = typeof DeadLetterPage.Type

/** The admin protocol's messages for the shell (spread into `Admin.Protocol`). */
export const defs = {
  Send: Actor.ask({
    name: Schema.String,
    kind: Schema.Literals(["tell", "ask"]),
    tag: Schema.String,
    /** the message's fields as JSON text (an object; `_tag` is taken from `tag`) */
    json: Schema.String,
    /** for an ask: how long to wait for the reply */
    timeoutMillis: Schema.optional(Schema.Int)
  }, { success: Schema.String, error: CommandFailed }),
  /** Dead letters numbered above `after` (numbered from 1; -1: none, only the number to go on from). */
  DeadLetters: Actor.ask({ after: Schema.Int }, { success: DeadLetterPage })
} as const

export const DEAD_LETTER_RING = 1000
/** the ring stops filling when no shell has polled for this long */
const WATCH_IDLE_MILLIS = 30_000
const DEFAULT_ASK_MILLIS = 5_000
const MAX_ASK_MILLIS = 60_000

const fail = (kind: CommandFailedKind, message: string, error?: string) =>
  Effect.fail(new CommandFailed({ kind, message, ...(error !== undefined ? { error } : {}) }))

/** The Schema's complaint on one line (`Expected ... at ["field"]`). */
const issueOf = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.findErrorOption(cause)
  const text = e._tag === "Some" && e.value instanceof Error ? e.value.message : Cause.pretty(cause)
  return text.replace(/\s*\n\s*/g, " ")
}

/** A reply value (or a typed error) as JSON text, encoded by its Schema. */
const toJson = (schema: Schema.Top, value: unknown): Effect.Effect<string, CommandFailed> => {
  const exit = Schema.encodeUnknownExit(schema as Schema.Codec<unknown, unknown>)(value)
  if (Exit.isFailure(exit)) return fail("AskFailed", `the reply does not encode by its Schema: ${issueOf(exit.cause)}`)
  return Effect.succeed(JSON.stringify(exit.value) ?? "null")
}

const errorText = (e: unknown): string => {
  const any = e as any
  if (typeof any?._tag === "string") {
    const details = Object.entries(any).filter(([k]) => k !== "_tag" && k !== "stack").map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    return `${any._tag}${details.length > 0 ? ` (${details.join(", ")})` : ""}`
  }
  return String(any?.message ?? any)
}

/**
 * The handlers of `defs` for this node's admin actor (a watch forks the dead-letter ring's
 * subscriber in the caller's scope), and `deliver`, the decode-and-send they share with the
 * observer's requests.
 */
export const make = Effect.gen(function*() {
  const system = yield* ActorSystem
  const registry = yield* Registry

  // The ring is filled only while a shell watches (polled in the last WATCH_IDLE_MILLIS): a node
  // nobody watches pays nothing per dead letter. Entries keep the reason as is; it becomes text
  // when read.
  interface Kept {
    readonly seq: number
    readonly recipient: string
    readonly message: string
    readonly reason: DeadLetterReason
  }
  const ring: Array<Kept | undefined> = new Array(DEAD_LETTER_RING)
  let count = 0 // dead letters seen while watched; numbered from 1
  let lastPoll = 0
  let watching = false
  const scope = yield* Effect.scope
  const keep = system.deadLetters.pipe(
    Stream.runForEach((d) => Effect.sync(() => {
      const m = d.message as any
      const tag = typeof m?._tag === "string" ? m._tag : typeof m
      count++
      ring[count % DEAD_LETTER_RING] = { seq: count, recipient: d.recipient, message: tag, reason: d.reason }
    }))
  )
  const idle = Effect.sleep(WATCH_IDLE_MILLIS / 2).pipe(
    Effect.repeat({ until: () => Date.now() - lastPoll > WATCH_IDLE_MILLIS })
  )
  const watch = Effect.suspend(() => {
    lastPoll = Date.now()
    if (watching) return Effect.void
    watching = true
    return Effect.raceFirst(keep, idle).pipe(
      Effect.ensuring(Effect.sync(() => {
        watching = false
      })),
      Effect.forkIn(scope),
      Effect.asVoid
    )
  })

  const kernel = kernelOf(system)

  /** The actor named `name` and the protocol it speaks (this node's own actor's, whether or not it is advertised). */
  const find = (name: string): Effect.Effect<{ readonly ref: ActorRef<any>; readonly protocol: Actor.AnyProtocol | undefined }, CommandFailed> => {
    const local = kernel.named(name)
    if (local !== undefined && local.isAlive) return Effect.succeed({ ref: local.self, protocol: local.protocol })
    const global = registry.whereis(name)
    if (global._tag === "Some") return Effect.succeed({ ref: global.value, protocol: ProtocolRegistry.get(global.value.address.protocol) })
    const ownNames = kernel.snapshot().actorInfos.flatMap((a) => a.alive && a.name !== undefined ? [a.name] : [])
    const known = [...new Set([...ownNames, ...registry.names().map((n) => n.name)])]
      .filter((n) => !n.startsWith("telex/")).sort()
    return fail("NoSuchName", `no actor named ${JSON.stringify(name)} on node ${system.nodeId.name} or in the cluster registry (names: ${known.join(", ") || "none"})`)
  }

  /**
   * Decodes `json` by `protocol`'s Schema for `tag` and sends it to `ref` (`kind`: what the
   * caller expects; `undefined`: whatever the message is). A tell replies `"null"`, an ask its
   * reply as JSON text. `label` names the target in messages.
   */
  const deliver = (
    ref: ActorRef<any>,
    protocol: Actor.AnyProtocol,
    label: string,
    request: { readonly kind?: "tell" | "ask" | undefined; readonly tag: string; readonly json: string; readonly timeoutMillis?: number | undefined }
  ): Effect.Effect<string, CommandFailed> =>
    Effect.gen(function*() {
      const def = Object.hasOwn(protocol.defs, request.tag) ? protocol.defs[request.tag] : undefined
      if (def === undefined) {
        const tags = Object.keys(protocol.defs).map((t) => `${t} (${protocol.defs[t]!._kind})`).join(", ")
        return yield* fail("UnknownMessage", `${protocol.name} has no message ${JSON.stringify(request.tag)} (messages: ${tags})`)
      }
      if (request.kind !== undefined && def._kind !== request.kind) {
        return yield* fail("WrongKind", `${protocol.name}.${request.tag} is ${def._kind === "ask" ? "an ask" : "a tell"}: use \`${def._kind} ${label} ${request.tag} ...\``)
      }
      let fields: unknown
      try {
        fields = JSON.parse(request.json)
      } catch (e) {
        return yield* fail("InvalidJson", `the message is not valid JSON: ${(e as Error).message}`)
      }
      if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
        return yield* fail("InvalidJson", `the message must be a JSON object of its fields (e.g. {}), not ${JSON.stringify(fields)}`)
      }
      const decoded = Schema.decodeUnknownExit(protocol.messages[request.tag] as Schema.Codec<unknown, unknown>)({ ...fields, _tag: request.tag })
      if (Exit.isFailure(decoded)) {
        return yield* fail("InvalidMessage", `invalid ${protocol.name}.${request.tag}: ${issueOf(decoded.cause)}`)
      }
      const message = decoded.value as any
      if (def._kind === "tell") {
        yield* ref.tell(message).pipe(Effect.mapError((e) => new CommandFailed({ kind: "SendFailed", message: `tell ${label} ${request.tag}: ${errorText(e)}` })))
        return "null"
      }
      const timeout = Math.min(Math.max(request.timeoutMillis ?? DEFAULT_ASK_MILLIS, 1), MAX_ASK_MILLIS)
      const exit = yield* Effect.exit(ref.ask(message, { timeout }))
      if (Exit.isSuccess(exit)) return yield* toJson(def.success, exit.value)
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "None") return yield* fail("AskFailed", `ask ${label} ${request.tag}: ${issueOf(exit.cause)}`)
      // a typed error of the protocol goes back encoded; a runtime one (timeout, no such actor) as text
      const typed = Schema.is(def.error as Schema.Top)(error.value)
      const json = typed ? yield* toJson(def.error, error.value) : undefined
      return yield* fail("AskFailed", `ask ${label} ${request.tag} failed: ${errorText(error.value)}`, json)
    }).pipe(
      // whatever goes wrong in here, the admin actor keeps running and the caller hears why
      Effect.catchDefect((defect) => fail("SendFailed", `the node could not carry out the command: ${errorText(defect)}`))
    )

  const send = (request: { readonly name: string; readonly kind: "tell" | "ask"; readonly tag: string; readonly json: string; readonly timeoutMillis?: number | undefined }) =>
    Effect.gen(function*() {
      const { ref, protocol } = yield* find(request.name)
      if (protocol === undefined) {
        return yield* fail("UnknownProtocol", `${request.name} speaks ${ref.address.protocol}, a protocol node ${system.nodeId.name} does not know`)
      }
      return yield* deliver(ref, protocol, request.name, request)
    })

  const deadLetters = (after: number): DeadLetterPage => {
    if (after < 0 || after > count) return { letters: [], next: count, missed: 0 } // (past the count: an earlier incarnation's)
    const from = Math.max(after + 1, count - DEAD_LETTER_RING + 1)
    const letters: Array<DeadLetterEntry> = []
    for (let seq = from; seq <= count; seq++) {
      const d = ring[seq % DEAD_LETTER_RING]!
      letters.push({ seq: d.seq, recipient: d.recipient, message: d.message, reason: formatReason(d.reason) })
    }
    return { letters, next: count, missed: from - after - 1 }
  }

  return {
    handlers: {
      // a fiber of its own: an ask to a slow actor must not hold up the admin actor's mailbox
      Send: (request: Parameters<typeof send>[0]) => Actor.fork(send(request)),
      DeadLetters: ({ after }: { readonly after: number }) => watch.pipe(Effect.andThen(Effect.sync(() => deadLetters(after))))
    },
    /** sends a message given as JSON to an actor whose protocol is known (the observer's send) */
    deliver
  }
})
