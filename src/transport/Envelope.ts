/**
 * Envelopes: the body of every `MESSAGE` frame, one codec-encoded array whose first element is
 * its kind. Signals (link, exit, monitor, down) travel in the same ordered stream as messages, so
 * a `Down` never overtakes the last message the dead actor sent (Erlang's signal ordering); only
 * heartbeats use the priority lane.
 *
 * Addresses are `{ node: { name, incarnation }, id, protocol }`; exit reasons and runtime errors
 * are their Schema-encoded objects (`{ _tag, ... }`). `traceparent` (optional, only when the
 * asker is traced) is a W3C trace context string; receivers ignore trailing fields they do not
 * know, so older nodes ignore it.
 *
 * ```
 * [0  Tell,      to, protocol, message]
 * [1  Ask,       to, protocol, message, askId, sender | null, traceparent?]
 * [2  Reply,     askId, 0 success | 1 protocol error | 2 runtime error, value]
 * [10 Link,      from, to]                     from: address on the sender's node; to: actor id here
 * [11 Unlink,    from, to]
 * [12 Exit,      from, to, reason, untrappable]
 * [13 Monitor,   watcher, to, monitorId]
 * [14 Demonitor, to, monitorId]
 * [15 Down,      monitorId, actor, reason]
 * [16 Stop,      to, reason]
 * [20 Spawn,     requestId, module, name | null]
 * [21 Spawned,   requestId, address | null, error | null]
 * [22 Lookup,    requestId, name]
 * [23 Found,     requestId, address | null]
 * [24 Protocols, { name: fingerprint }]
 * [25 Members,   [{ name, host, port }, …]]  the peers the sender knows, so seeds grow into a full mesh
 * [30 Hold,      actor, overflow, capacity]    per-destination flow control: stop sending to `actor`
 * [31 Release,   actor, credit?]               (an actor id on the sender's node) until Release;
 *                                              with a credit: that many more, then held again
 * ```
 *
 * Each kind has a labelled tuple type below (the same array on the wire, named at the type
 * level) and one `decode` that checks what a receiver relies on: a decoded envelope is
 * well-formed, a string is a protocol error (the connection is closed), `undefined` is an
 * envelope to skip (see `docs/protocol.md` §10 for what is checked and what is not). Fields a
 * receiver does not check are typed `unknown`; Schema-encoded values (messages, replies, exit
 * reasons) are decoded by their Schemas where they are used.
 *
 * @since 0.1.0
 */
import type { ActorAddress } from "../actors/ActorRef.ts"
import type { OverflowPolicy } from "../actors/Mailbox.ts"
import { isAddress, quote } from "./internal/codecs.ts"

export const Kind = {
  Tell: 0,
  Ask: 1,
  Reply: 2,
  Link: 10,
  Unlink: 11,
  Exit: 12,
  Monitor: 13,
  Demonitor: 14,
  Down: 15,
  Stop: 16,
  Spawn: 20,
  Spawned: 21,
  Lookup: 22,
  Found: 23,
  Protocols: 24,
  Members: 25,
  Hold: 30,
  Release: 31
} as const

export const ReplyKind = { Success: 0, ProtocolError: 1, RuntimeError: 2 } as const

/** An actor id on the receiving node (the node is the connection's peer). */
export type ActorId = number

/** Any value, echoed unchanged in the answer (Telex sends integers counting from 1). */
export type RequestId = unknown

/** Member of a `Members` envelope: a node and the address it listens on. */
export interface Member {
  readonly name: string
  readonly host: string
  readonly port: number
}

// `To`: what names the target; an actor id on the wire, or (in the outbox of a peer being
// dialled) a value resolved to the id once the connection's incarnation is known.

export type Tell<To = ActorId> = readonly [kind: typeof Kind.Tell, to: To, protocol: string, message: unknown]
export type Ask<To = ActorId> = readonly [
  kind: typeof Kind.Ask,
  to: To,
  protocol: string,
  message: unknown,
  askId: number,
  sender: ActorAddress | null,
  traceparent?: unknown
]
export type Reply = readonly [kind: typeof Kind.Reply, askId: number, replyKind: number, value: unknown]
export type Link<To = ActorId> = readonly [kind: typeof Kind.Link, from: ActorAddress, to: To]
export type Unlink<To = ActorId> = readonly [kind: typeof Kind.Unlink, from: ActorAddress, to: To]
export type Exit<To = ActorId> =
  | readonly [kind: typeof Kind.Exit, from: ActorAddress, to: To, reason: unknown, untrappable: boolean]
  | readonly [kind: typeof Kind.Exit, from: ActorAddress, to: To, reason: unknown, untrappable: boolean, direct: true]
export type Monitor<To = ActorId> = readonly [kind: typeof Kind.Monitor, watcher: ActorAddress, to: To, monitorId: number]
export type Demonitor<To = ActorId> = readonly [kind: typeof Kind.Demonitor, to: To, monitorId: number]
/** `actor`: the address of the actor that ended (not checked by receivers) */
export type Down = readonly [kind: typeof Kind.Down, monitorId: number, actor: unknown, reason: unknown]
export type Stop<To = ActorId> = readonly [kind: typeof Kind.Stop, to: To, reason: unknown]
/** `module`, `name`: a protocol name and a name to register, or anything else (answered with an error, no name) */
export type Spawn = readonly [kind: typeof Kind.Spawn, requestId: RequestId, module: unknown, name: unknown]
export type Spawned = readonly [kind: typeof Kind.Spawned, requestId: RequestId, address: ActorAddress | null, error: string | null]
/** `name`: anything that is not a string is answered with `null` */
export type Lookup = readonly [kind: typeof Kind.Lookup, requestId: RequestId, name: unknown]
export type Found = readonly [kind: typeof Kind.Found, requestId: RequestId, address: ActorAddress | null]
/** protocol name → fingerprint (values are not checked) */
export type Protocols = readonly [kind: typeof Kind.Protocols, table: Readonly<Record<string, unknown>>]
export type Members = readonly [kind: typeof Kind.Members, members: ReadonlyArray<Member>]
export type Hold = readonly [kind: typeof Kind.Hold, actor: ActorId, overflow: OverflowPolicy, capacity: number]
export type Release =
  | readonly [kind: typeof Kind.Release, actor: ActorId]
  | readonly [kind: typeof Kind.Release, actor: ActorId, credit: number]

/** Every envelope, as sent (`To`: see above) or as decoded. */
export type Envelope<To = ActorId> =
  | Tell<To>
  | Ask<To>
  | Reply
  | Link<To>
  | Unlink<To>
  | Exit<To>
  | Monitor<To>
  | Demonitor<To>
  | Down
  | Stop<To>
  | Spawn
  | Spawned
  | Lookup
  | Found
  | Protocols
  | Members
  | Hold
  | Release

/** A decoded envelope, a protocol error (the connection is closed), or `undefined`: skip it. */
export type Decoded<E> = E | string | undefined

type Raw = ReadonlyArray<unknown>

// Checks that narrow the array as it is (no copy on the message path); where a receiver
// normalises a field, the decoder builds the tuple it relies on.

const isTell = (e: Raw): e is Tell => typeof e[1] === "number" && typeof e[2] === "string"

const decodeTell = (e: Raw): Decoded<Tell> => isTell(e) ? e : "malformed tell"

const isAsk = (e: Raw): e is Ask =>
  typeof e[1] === "number" && typeof e[2] === "string" && typeof e[4] === "number" && (e[5] === null || isAddress(e[5]))

const decodeAsk = (e: Raw): Decoded<Ask> => {
  if (isAsk(e)) return e
  if (typeof e[1] !== "number" || typeof e[2] !== "string" || typeof e[4] !== "number") return "malformed ask"
  // a sender that is not an address is no sender; the trace context is checked where it is read
  return e.length > 6 ? [Kind.Ask, e[1], e[2], e[3], e[4], null, e[6]] : [Kind.Ask, e[1], e[2], e[3], e[4], null]
}

const isReply = (e: Raw): e is Reply => typeof e[1] === "number" && typeof e[2] === "number"

const decodeReply = (e: Raw): Decoded<Reply> => isReply(e) ? e : "malformed reply"

const isLinkOrUnlink = (e: Raw): e is Link | Unlink => isAddress(e[1]) && typeof e[2] === "number"

/** Link, Unlink: `from` an address, `to` an id (that `from` is on the peer is checked by the receiver). */
const decodeLink = (e: Raw): Decoded<Link | Unlink> => isLinkOrUnlink(e) ? e : "malformed link signal"

const decodeExit = (e: Raw): Decoded<Exit> => {
  if (!isAddress(e[1]) || typeof e[2] !== "number") return "malformed link signal"
  // `untrappable` counts only when it is `true`, and so does `direct`
  return e[5] === true
    ? [Kind.Exit, e[1], e[2], e[3], e[4] === true, true]
    : [Kind.Exit, e[1], e[2], e[3], e[4] === true]
}

const isMonitor = (e: Raw): e is Monitor => isAddress(e[1]) && typeof e[2] === "number" && typeof e[3] === "number"

const decodeMonitor = (e: Raw): Decoded<Monitor> => isMonitor(e) ? e : "malformed monitor"

// Demonitor, Down, Spawned, Found are not validated: one whose id is not a number matches nothing

const isDemonitor = (e: Raw): e is Demonitor<unknown> => typeof e[2] === "number"

const decodeDemonitor = (e: Raw): Decoded<Demonitor<unknown>> => isDemonitor(e) ? e : undefined

const isDown = (e: Raw): e is Down => typeof e[1] === "number"

const decodeDown = (e: Raw): Decoded<Down> => isDown(e) ? e : undefined

const isStop = (e: Raw): e is Stop => typeof e[1] === "number"

const decodeStop = (e: Raw): Decoded<Stop> => isStop(e) ? e : "malformed stop"

const decodeSpawn = (e: Raw): Decoded<Spawn> => [Kind.Spawn, e[1], e[2], e[3]]

const decodeSpawned = (e: Raw): Decoded<Spawned> =>
  [Kind.Spawned, e[1], isAddress(e[2]) ? e[2] : null, e[3] === undefined || e[3] === null ? null : typeof e[3] === "string" ? e[3] : String(quote(e[3]))]

const decodeLookup = (e: Raw): Decoded<Lookup> => [Kind.Lookup, e[1], e[2]]

const decodeFound = (e: Raw): Decoded<Found> => [Kind.Found, e[1], isAddress(e[2]) ? e[2] : null]

const isTable = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)

const decodeProtocols = (e: Raw): Decoded<Protocols> => isTable(e[1]) ? [Kind.Protocols, e[1]] : "malformed protocol table"

const isMember = (m: unknown): m is Member =>
  typeof m === "object" && m !== null && "name" in m && typeof m.name === "string" && "host" in m &&
  typeof m.host === "string" && "port" in m && typeof m.port === "number" && Number.isInteger(m.port) && m.port > 0 &&
  m.port < 65536

const decodeMembers = (e: Raw): Decoded<Members> =>
  // entries of the wrong shape are ignored
  Array.isArray(e[1]) ? [Kind.Members, (e[1] as ReadonlyArray<unknown>).filter(isMember)] : "malformed member list"

const overflowPolicies: ReadonlySet<unknown> = new Set<OverflowPolicy>(["backpressure", "dropNewest", "dropOldest", "fail"])
const isOverflowPolicy = (u: unknown): u is OverflowPolicy => overflowPolicies.has(u)

const decodeHold = (e: Raw): Decoded<Hold> =>
  typeof e[1] !== "number"
    ? "malformed hold"
    : [Kind.Hold, e[1], isOverflowPolicy(e[2]) ? e[2] : "backpressure", typeof e[3] === "number" ? e[3] : 0]

const decodeRelease = (e: Raw): Decoded<Release> =>
  typeof e[1] !== "number"
    ? "malformed release"
    : Number.isInteger(e[2]) && (e[2] as number) > 0
    ? [Kind.Release, e[1], e[2] as number]
    : [Kind.Release, e[1]]

/** The decoder of each kind. */
export const decoders = {
  [Kind.Tell]: decodeTell,
  [Kind.Ask]: decodeAsk,
  [Kind.Reply]: decodeReply,
  [Kind.Link]: decodeLink,
  [Kind.Unlink]: decodeLink,
  [Kind.Exit]: decodeExit,
  [Kind.Monitor]: decodeMonitor,
  [Kind.Demonitor]: decodeDemonitor,
  [Kind.Down]: decodeDown,
  [Kind.Stop]: decodeStop,
  [Kind.Spawn]: decodeSpawn,
  [Kind.Spawned]: decodeSpawned,
  [Kind.Lookup]: decodeLookup,
  [Kind.Found]: decodeFound,
  [Kind.Protocols]: decodeProtocols,
  [Kind.Members]: decodeMembers,
  [Kind.Hold]: decodeHold,
  [Kind.Release]: decodeRelease
} as const

// by kind, for the dispatch of every inbound envelope (kinds are small integers)
const byKind: Array<((e: Raw) => Decoded<Inbound>) | undefined> = []
for (const [kind, decoder] of Object.entries(decoders)) byKind[Number(kind)] = decoder

/** A decoded inbound envelope (what the receiver relies on has been checked). */
export type Inbound = Exclude<ReturnType<(typeof decoders)[keyof typeof decoders]>, string | undefined>

/**
 * Decodes an inbound envelope: the envelope, a protocol error, or `undefined` for one to skip
 * (a kind from a newer version of the protocol, so that two versions can run side by side).
 */
export const decode = (u: unknown): Decoded<Inbound> => {
  if (!Array.isArray(u) || typeof u[0] !== "number") return "envelope is not an array with a kind"
  const decoder = byKind[u[0]]
  return decoder === undefined ? undefined : decoder(u)
}
