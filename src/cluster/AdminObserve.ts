/**
 * What `telex observe` asks of a node's admin actor: the node's figures and its links' counters
 * (`NodeInfo`), its supervision tree with each supervisor's strategy and intensity and each
 * child's restart type and state (`Tree`), one page of its actors, filtered and sorted here on
 * the node (`Actors`: a node with 100 000 actors sends one page, never all of them), its recent
 * events (`Events`, from a numbered ring), and actions on one actor found by its address: its
 * protocol's messages as JSON Schema, stop, kill, send.
 *
 * A node keeps what costs nothing when nobody looks: the events ring takes supervision and link
 * events (rare) always. What costs per message or per second runs only while an observer polls
 * (within the last `OBSERVED_IDLE_MILLIS`): dead letters into the ring, the event-loop delay
 * histogram, and a round trip to each peer once per second (its `rttMillis`).
 *
 * @since 0.1.0
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Actor from "../actors/Actor.ts"
import type { ActorRef } from "../actors/ActorRef.ts"
import { type DeadLetterReason, formatReason } from "../actors/DeadLetter.ts"
import * as ExitReason from "../actors/ExitReason.ts"
import type { LocalActor } from "../actors/Kernel.ts"
import { ActorSystem, kernelOf } from "../system/ActorSystem.ts"
import * as Supervisor from "../supervision/Supervisor.ts"
import { Node } from "../transport/Node.ts"
import { CommandFailed } from "./AdminCommands.ts"

/** the names of short-lived client nodes (`telex status`, `telex shell`, `telex observe`): not links of the cluster */
export const CLIENT_NAME = /^(status|shell|observe)-\d+$/

export const EVENT_RING = 1000
/** what a node does for an observer stops when none has polled for this long */
const OBSERVED_IDLE_MILLIS = 30_000
/** at most this many children of one actor in a tree (the rest are counted in `more`) */
export const TREE_CHILDREN_LIMIT = 200
export const ACTORS_PAGE_LIMIT = 1000
const ELD_RESOLUTION_MILLIS = 20
/**
 * peer names past which those the node no longer lists are forgotten (twice what a router
 * remembers of clients gone, so that a prune frees at least that many)
 */
const PEERS_KEPT = 2048

export const LinkInfo = Schema.Struct({
  peer: Schema.String,
  up: Schema.Boolean,
  /** whether it has been up since this node started */
  everUp: Schema.Boolean,
  /** envelopes and bytes on the open connection (0 when none is open) */
  sent: Schema.Number,
  received: Schema.Number,
  bytesOut: Schema.Number,
  bytesIn: Schema.Number,
  /** the last round trip of a transport request to the peer */
  rttMillis: Schema.NullOr(Schema.Number),
  /** envelopes reported lost on this link (LinkGap), since this node started */
  gaps: Schema.Number
})
export type LinkInfo = typeof LinkInfo.Type

export const NodeInfo = Schema.Struct({
  node: Schema.String,
  incarnation: Schema.Number,
  pid: Schema.Int,
  uptimeMillis: Schema.Number,
  actors: Schema.Int,
  delivered: Schema.Number,
  deadLetters: Schema.Number,
  rssBytes: Schema.Number,
  /** mean and p99 over the time since the previous `NodeInfo` (0 on the first) */
  eventLoopDelayMillis: Schema.Number,
  eventLoopDelayP99Millis: Schema.Number,
  /** process.cpuUsage() */
  cpuUserMicros: Schema.Number,
  cpuSystemMicros: Schema.Number,
  links: Schema.Array(LinkInfo)
})
export type NodeInfo = typeof NodeInfo.Type

export const EventKind = Schema.Literals(["LinkUp", "LinkDown", "LinkGap", "Restart", "GiveUp", "DeadLetter", "Partition"])
export type EventKind = typeof EventKind.Type

export const NodeEventEntry = Schema.Struct({
  seq: Schema.Int,
  at: Schema.Number,
  kind: EventKind,
  text: Schema.String,
  actor: Schema.optional(Schema.String),
  peer: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String)
})
export type NodeEventEntry = typeof NodeEventEntry.Type

export const EventPage = Schema.Struct({
  events: Schema.Array(NodeEventEntry),
  /** the `after` to ask with next */
  next: Schema.Int,
  /** events after `after` that fell out of the ring before this read */
  missed: Schema.Int
})
export type EventPage = typeof EventPage.Type

export interface ObservedTree {
  readonly actor: string
  readonly name?: string | undefined
  readonly protocol: string
  readonly kind: "supervisor" | "worker"
  readonly child?: string | undefined
  readonly peer?: string | undefined
  readonly strategy?: "one-for-one" | "one-for-all" | "rest-for-one" | undefined
  readonly restartType?: "permanent" | "transient" | "temporary" | undefined
  readonly state: "running" | "restarting" | "backoff" | "stopped"
  readonly backoffLeftMs?: number | undefined
  readonly restarts: number
  readonly intensity?: { readonly max: number; readonly withinMs: number | null; readonly recent: number } | undefined
  readonly mailbox: number
  readonly children: ReadonlyArray<ObservedTree>
  /** children left out (more than `TREE_CHILDREN_LIMIT`) */
  readonly more?: number | undefined
}

export const ObservedTree: Schema.Codec<ObservedTree> = Schema.Struct({
  actor: Schema.String,
  name: Schema.optional(Schema.String),
  protocol: Schema.String,
  kind: Schema.Literals(["supervisor", "worker"]),
  child: Schema.optional(Schema.String),
  peer: Schema.optional(Schema.String),
  strategy: Schema.optional(Schema.Literals(["one-for-one", "one-for-all", "rest-for-one"])),
  restartType: Schema.optional(Schema.Literals(["permanent", "transient", "temporary"])),
  state: Schema.Literals(["running", "restarting", "backoff", "stopped"]),
  backoffLeftMs: Schema.optional(Schema.Number),
  restarts: Schema.Number,
  intensity: Schema.optional(Schema.Struct({ max: Schema.Number, withinMs: Schema.NullOr(Schema.Number), recent: Schema.Number })),
  mailbox: Schema.Number,
  children: Schema.Array(Schema.suspend((): Schema.Codec<ObservedTree> => ObservedTree)),
  more: Schema.optional(Schema.Int)
})

export const ActorSort = Schema.Literals(["actor", "name", "protocol", "mailbox", "msgsPerSec"])
export type ActorSort = typeof ActorSort.Type

export const ActorRow = Schema.Struct({
  actor: Schema.String,
  name: Schema.optional(Schema.String),
  protocol: Schema.String,
  mailbox: Schema.Number,
  capacity: Schema.NullOr(Schema.Number),
  msgsPerSec: Schema.Number,
  policy: Schema.Literals(["backpressure", "dropNewest", "dropOldest", "fail"])
})
export type ActorRow = typeof ActorRow.Type

export const ActorPage = Schema.Struct({
  total: Schema.Int,
  offset: Schema.Int,
  rows: Schema.Array(ActorRow)
})
export type ActorPage = typeof ActorPage.Type

export const MessageSchema = Schema.Struct({
  tag: Schema.String,
  kind: Schema.Literals(["tell", "ask"]),
  /** the JSON Schema of the message's fields (without `_tag`), as JSON text */
  schema: Schema.String
})

/** The observer's requests (spread into `Admin.Protocol`). */
export const defs = {
  NodeInfo: Actor.ask({}, { success: NodeInfo }),
  /** events numbered above `after` (numbered from 1; -1: none, only the number to go on from) */
  Events: Actor.ask({ after: Schema.Int }, { success: EventPage }),
  /** `more`: top-level actors left out (more than `TREE_CHILDREN_LIMIT`) */
  Tree: Actor.ask({}, { success: Schema.Struct({ roots: Schema.Array(ObservedTree), more: Schema.Int }) }),
  Actors: Actor.ask({
    offset: Schema.Int,
    limit: Schema.Int,
    sort: ActorSort,
    descending: Schema.Boolean,
    filter: Schema.String
  }, { success: ActorPage }),
  ActorMailbox: Actor.ask({ actor: Schema.String }, { success: Schema.Struct({ mailbox: Schema.Number, alive: Schema.Boolean }) }),
  ActorProtocol: Actor.ask({ actor: Schema.String }, {
    success: Schema.Struct({ protocol: Schema.String, messages: Schema.Array(MessageSchema) }),
    error: CommandFailed
  }),
  StopActor: Actor.ask({ actor: Schema.String, kill: Schema.Boolean }, { error: CommandFailed }),
  /** `json`: the message's fields; the reply (an ask's, encoded by its Schema) as JSON text, "null" for a tell */
  SendTo: Actor.ask({ actor: Schema.String, tag: Schema.String, json: Schema.String, timeoutMillis: Schema.optional(Schema.Int) }, {
    success: Schema.Struct({ kind: Schema.Literals(["tell", "ask"]), reply: Schema.String }),
    error: CommandFailed
  })
} as const

type Deliver = (
  ref: ActorRef<any>,
  protocol: Actor.AnyProtocol,
  label: string,
  request: { readonly tag: string; readonly json: string; readonly timeoutMillis?: number | undefined }
) => Effect.Effect<string, CommandFailed>

interface Kept {
  readonly seq: number
  readonly at: number
  readonly kind: EventKind
  readonly text: string
  readonly actor?: string | undefined
  readonly peer?: string | undefined
  readonly reason?: string | undefined
}
/** a dead letter as kept: formatted when read */
interface KeptLetter {
  readonly seq: number
  readonly at: number
  readonly recipient: string
  readonly message: string
  readonly reason: DeadLetterReason
}

const strategyName = { one_for_one: "one-for-one", one_for_all: "one-for-all", rest_for_one: "rest-for-one" } as const

const fail = (kind: CommandFailed["kind"], message: string) => Effect.fail(new CommandFailed({ kind, message }))

/** The JSON Schema of a message's fields (its `_tag` left out): what a form for it needs. */
export const fieldsJsonSchema = (schema: Schema.Top): Record<string, unknown> => {
  try {
    const doc = Schema.toJsonSchemaDocument(schema)
    const out: Record<string, unknown> = { ...(doc.schema as Record<string, unknown>) }
    const properties = out["properties"]
    if (typeof properties === "object" && properties !== null) {
      const { _tag: _, ...rest } = properties as Record<string, unknown>
      out["properties"] = rest
    }
    if (Array.isArray(out["required"])) out["required"] = (out["required"] as Array<unknown>).filter((k) => k !== "_tag")
    if (Object.keys(doc.definitions).length > 0) out["$defs"] = doc.definitions
    return out
  } catch {
    // a Schema with no JSON form (a declared type): the page falls back to raw JSON
    return {}
  }
}

/**
 * The first `k` of `items` ordered by `values` (descending or not), ties in their given order:
 * a selection of the k-th value (O(n)), then a sort of the k that come first. Sorting all of
 * 100 000 actors by their rate to show 100 of them would take most of the time.
 */
export const topByValue = <A>(items: ReadonlyArray<A>, values: Float64Array, descending: boolean, k: number): Array<A> => {
  const n = items.length
  if (k <= 0) return []
  const sign = descending ? -1 : 1
  const keyed = (i: number) => sign * values[i]!
  if (k >= n) {
    const index = Array.from({ length: n }, (_, i) => i)
    index.sort((i, j) => keyed(i) - keyed(j) || i - j)
    return index.map((i) => items[i]!)
  }
  // the k-th smallest key, by quickselect on a copy
  const keys = new Float64Array(n)
  for (let i = 0; i < n; i++) keys[i] = keyed(i)
  let lo = 0
  let hi = n - 1
  const target = k - 1
  while (lo < hi) {
    const pivot = keys[(lo + hi) >> 1]!
    let i = lo
    let j = hi
    while (i <= j) {
      while (keys[i]! < pivot) i++
      while (keys[j]! > pivot) j--
      if (i <= j) {
        const t = keys[i]!
        keys[i] = keys[j]!
        keys[j] = t
        i++
        j--
      }
    }
    if (target <= j) hi = j
    else if (target >= i) lo = i
    else break
  }
  const threshold = keys[target]!
  // every item below the threshold, then those at it in their given order until there are k
  const below: Array<number> = []
  for (let i = 0; i < n; i++) if (keyed(i) < threshold) below.push(i)
  below.sort((i, j) => keyed(i) - keyed(j) || i - j)
  for (let i = 0; i < n && below.length < k; i++) if (keyed(i) === threshold) below.push(i)
  return below.map((i) => items[i]!)
}

/**
 * The handlers of `defs` for this node's admin actor. `adminProtocol` is the admin actor's own
 * (looked up on peers to time a round trip); `deliver` decodes and sends a message given as JSON.
 */
export const make = (adminProtocol: Actor.AnyProtocol, adminName: string, deliver: Deliver) =>
  Effect.gen(function*() {
    const system = yield* ActorSystem
    const node = yield* Node
    const kernel = kernelOf(system)
    const scope = yield* Effect.scope
    const started = Date.now()

    // --- the events ring ----------------------------------------------------------------------
    const ring: Array<Kept | KeptLetter | undefined> = new Array(EVENT_RING)
    let count = 0
    const keep = (e: Omit<Kept, "seq">) => {
      count++
      ring[count % EVENT_RING] = { seq: count, ...e }
    }
    const readEvent = (k: Kept | KeptLetter): NodeEventEntry => {
      if ("kind" in k) return k
      const reason = formatReason(k.reason)
      return { seq: k.seq, at: k.at, kind: "DeadLetter", text: `dead letter to ${k.recipient}: ${k.message} (${reason})`, actor: k.recipient, reason }
    }
    const eventsAfter = (after: number): EventPage => {
      if (after < 0 || after > count) return { events: [], next: count, missed: 0 }
      const from = Math.max(after + 1, count - EVENT_RING + 1)
      const events: Array<NodeEventEntry> = []
      for (let seq = from; seq <= count; seq++) events.push(readEvent(ring[seq % EVENT_RING]!))
      return { events, next: count, missed: from - after - 1 }
    }

    // per peer: reported gaps, whether it has been up
    const gaps = new Map<string, number>()
    const everUp = new Set<string>()
    // supervisor key + child id → why that child last exited (for the restart that follows)
    const lastExit = new Map<string, string>()
    const restarts = new Map<string, number>() // actor key → restarts of the child it incarnates

    // subscribed now, not when a forked stream gets to it: no event after this point is missed
    const supervisionEvents = yield* PubSub.subscribe(kernel.events)
    const nodeEvents = yield* node.subscribe
    const each = <A>(subscription: PubSub.Subscription<A>, f: (a: A) => void) =>
      PubSub.takeAll(subscription).pipe(
        Effect.tap((as) => Effect.sync(() => {
          for (const a of as) f(a)
        })),
        Effect.forever,
        Effect.forkScoped
      )
    yield* each(supervisionEvents, (e) => {
      switch (e._tag) {
        case "ChildExited":
          if (e.reason._tag !== "Normal" && e.reason._tag !== "Shutdown") lastExit.set(`${e.supervisor} ${e.childId}`, ExitReason.format(e.reason))
          return
        case "ChildRestarted": {
          restarts.set(e.actor, e.restarts)
          const why = lastExit.get(`${e.supervisor} ${e.childId}`)
          lastExit.delete(`${e.supervisor} ${e.childId}`)
          return keep({
            at: e.at,
            kind: "Restart",
            text: `${e.childId} restarted (restart #${e.restarts})${why !== undefined ? ` after ${why}` : ""}`,
            actor: e.actor,
            ...(why !== undefined ? { reason: why } : {})
          })
        }
        case "IntensityExceeded":
          return keep({
            at: e.at,
            kind: "GiveUp",
            text: `supervisor ${e.supervisor} gave up: ${e.restarts} restarts within ${e.periodMillis} ms`,
            actor: e.supervisor,
            reason: `more than its intensity within ${e.periodMillis} ms`
          })
        default:
          return
      }
    })
    yield* each(nodeEvents, (e) => {
      if (e._tag === "HandshakeRefused") return
      const peer = e.node.name
      if (CLIENT_NAME.test(peer)) return
      const at = Date.now()
      switch (e._tag) {
        case "NodeUp":
          everUp.add(peer)
          return keep({ at, kind: "LinkUp", text: `link to ${peer} up`, peer })
        case "NodeDown":
          forgetGone()
          if (e.reason.startsWith("simulated partition")) keep({ at, kind: "Partition", text: `partitioned from ${peer}: ${e.reason}`, peer, reason: e.reason })
          return keep({ at, kind: "LinkDown", text: `link to ${peer} down: ${e.reason}`, peer, reason: e.reason })
        case "LinkGap":
          gaps.set(peer, (gaps.get(peer) ?? 0) + e.lost)
          return keep({ at, kind: "LinkGap", text: `${e.lost} envelopes to ${peer} lost with the connection that ended`, peer, reason: `${e.lost} lost` })
      }
    })
    for (const p of node.peers()) if (p.up) everUp.add(p.name)
    /**
     * Past `PEERS_KEPT` names, those the node no longer lists among its peers (clients gone that
     * it stopped remembering) are forgotten here too: clients connecting under ever new names
     * must not grow these without bound.
     */
    const forgetGone = () => {
      if (everUp.size <= PEERS_KEPT && gaps.size <= PEERS_KEPT) return
      const known = new Set(node.peers().map((p) => p.name))
      for (const name of everUp) if (!known.has(name)) everUp.delete(name)
      for (const name of gaps.keys()) if (!known.has(name)) gaps.delete(name)
    }

    // --- what runs only while observed --------------------------------------------------------
    let lastPoll = 0
    let observed = false
    const rtt = new Map<string, number>()
    const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MILLIS })
    const deadLetters = system.deadLetters.pipe(
      Stream.runForEach((d) => Effect.sync(() => {
        const m = d.message as any
        count++
        ring[count % EVENT_RING] = {
          seq: count,
          at: Date.now(),
          recipient: d.recipient,
          message: typeof m?._tag === "string" ? m._tag : typeof m,
          reason: d.reason
        }
      }))
    )
    const pingPeers = Effect.gen(function*() {
      const peers = node.peers().filter((p) => p.up && !CLIENT_NAME.test(p.name))
      yield* Effect.forEach(peers, (p) =>
        Effect.gen(function*() {
          const t0 = performance.now()
          // a lookup is answered by the peer's transport itself: the link's round trip, not an actor's
          const found = yield* Effect.result(node.lookup(p.name, adminProtocol as Actor.ActorProtocol<any>, adminName, { timeout: "2 seconds" }))
          // any answer is a round trip (a peer without an admin actor answers ActorNotFound)
          if (found._tag === "Success" || found.failure._tag === "ActorNotFound") rtt.set(p.name, performance.now() - t0)
          else rtt.delete(p.name)
        }), { concurrency: "unbounded", discard: true })
    }).pipe(Effect.andThen(Effect.sleep("1 second")), Effect.forever)
    const idle = Effect.sleep(OBSERVED_IDLE_MILLIS / 2).pipe(
      Effect.repeat({ until: () => Date.now() - lastPoll > OBSERVED_IDLE_MILLIS })
    )
    const observe = Effect.suspend(() => {
      lastPoll = Date.now()
      if (observed) return Effect.void
      observed = true
      eld.enable()
      return Effect.raceFirst(Effect.all([deadLetters, pingPeers], { concurrency: "unbounded", discard: true }), idle).pipe(
        Effect.ensuring(Effect.sync(() => {
          observed = false
          eld.disable()
          eld.reset()
          rtt.clear()
        })),
        Effect.forkIn(scope),
        Effect.asVoid
      )
    })

    const nodeInfo = (): NodeInfo => {
      const counters = kernel.counters()
      const cpu = process.cpuUsage()
      // the histogram records the whole interval between its timer's runs: the delay is past the resolution
      const mean = eld.count > 0 ? Math.max(0, eld.mean / 1e6 - ELD_RESOLUTION_MILLIS) : 0
      const p99 = eld.count > 0 ? Math.max(0, eld.percentile(99) / 1e6 - ELD_RESOLUTION_MILLIS) : 0
      eld.reset()
      const links = node.linkStats().filter((l) => !CLIENT_NAME.test(l.name)).map((l) => {
        if (l.up) everUp.add(l.name)
        return {
          peer: l.name,
          up: l.up,
          everUp: everUp.has(l.name),
          sent: l.sent,
          received: l.received,
          bytesOut: l.bytesOut,
          bytesIn: l.bytesIn,
          rttMillis: rtt.get(l.name) ?? null,
          gaps: gaps.get(l.name) ?? 0
        }
      })
      return {
        node: system.nodeId.name,
        incarnation: system.nodeId.incarnation,
        pid: process.pid,
        uptimeMillis: Date.now() - started,
        actors: counters.actors,
        delivered: counters.delivered,
        deadLetters: counters.deadLetters,
        rssBytes: process.memoryUsage.rss(),
        eventLoopDelayMillis: mean,
        eventLoopDelayP99Millis: p99,
        cpuUserMicros: cpu.user,
        cpuSystemMicros: cpu.system,
        links
      }
    }

    // --- the tree --------------------------------------------------------------------------
    // Built from the kernel's actors themselves: an address is formatted only for the actors shown
    // (a node of 100 000 actors lists at most TREE_CHILDREN_LIMIT per level).
    const supervisorProtocol = Supervisor.Protocol.name
    type Description = Supervisor.SupervisorDescription
    const describeAll = (supervisors: ReadonlyArray<LocalActor>) =>
      Effect.gen(function*() {
        const out = new Map<LocalActor, Description>()
        yield* Effect.forEach(supervisors, (a) =>
          Supervisor.describeSupervisor(a.self as Supervisor.SupervisorRef).pipe(
            // a busy supervisor is shown without its details rather than holding up the tree
            Effect.timeout("1 second"),
            Effect.tap((d) => Effect.sync(() => out.set(a, d))),
            Effect.ignore
          ), { concurrency: "unbounded", discard: true })
        return out
      })

    const tree = Effect.gen(function*() {
      const supervisors: Array<LocalActor> = []
      for (const a of kernel.localActors()) if (a.isAlive && a.protocol.name === supervisorProtocol) supervisors.push(a)
      const described = yield* describeAll(supervisors)
      // the tree as it is once the supervisors have answered
      const now = Date.now()
      const roots: Array<LocalActor> = []
      const byParent = new Map<LocalActor, Array<LocalActor>>()
      for (const a of kernel.localActors()) {
        const parent = a.parent
        if (parent === undefined) roots.push(a)
        else {
          const siblings = byParent.get(parent)
          if (siblings === undefined) byParent.set(parent, [a])
          else siblings.push(a)
        }
      }
      // actor key → its entry under its supervisor
      const asChild = new Map<string, Description["children"][number]>()
      for (const d of described.values()) for (const c of d.children) if (c.actor !== undefined) asChild.set(c.actor, c)

      const childState = (c: Description["children"][number]): Pick<ObservedTree, "state" | "backoffLeftMs"> => {
        if (c.status === "running") return { state: "running" }
        if (c.status === "stopped") return { state: "stopped" }
        if (c.dueAt !== undefined && c.dueAt > now) return { state: "backoff", backoffLeftMs: Math.round(c.dueAt - now) }
        return { state: "restarting" }
      }
      const build = (a: LocalActor): ObservedTree => {
        const key = a.self.key
        const entry = asChild.get(key)
        const d = described.get(a)
        const peer = node.linkActors.get(key)
        const kids = byParent.get(a) ?? []
        const children: Array<ObservedTree> = []
        for (let i = 0; i < kids.length && children.length < TREE_CHILDREN_LIMIT; i++) children.push(build(kids[i]!))
        // children waiting for a restart (or stopped) have no actor: shown from the supervisor's list
        let waiting = 0
        if (d !== undefined) {
          for (const c of d.children) {
            if (c.actor !== undefined) continue
            if (children.length >= TREE_CHILDREN_LIMIT) {
              waiting++
              continue
            }
            children.push({
              actor: "",
              protocol: "",
              kind: c.type,
              child: c.id,
              restartType: c.restart,
              ...childState(c),
              restarts: c.restarts,
              mailbox: 0,
              children: []
            })
          }
        }
        const more = Math.max(0, kids.length - TREE_CHILDREN_LIMIT) + waiting
        return {
          actor: key,
          ...(a.name !== undefined ? { name: a.name } : {}),
          protocol: a.protocol.name,
          kind: a.protocol.name === supervisorProtocol ? "supervisor" : "worker",
          ...(entry !== undefined ? { child: entry.id, restartType: entry.restart } : {}),
          ...(peer !== undefined ? { peer } : {}),
          ...(d !== undefined
            ? {
              strategy: strategyName[d.strategy],
              intensity: { max: d.intensity, withinMs: Number.isFinite(d.periodMillis) ? d.periodMillis : null, recent: d.recentRestarts }
            }
            : {}),
          state: a.isAlive ? "running" : "stopped",
          restarts: entry?.restarts ?? restarts.get(key) ?? 0,
          mailbox: a.mailbox.size,
          children,
          ...(more > 0 ? { more } : {})
        }
      }
      return { roots: roots.slice(0, TREE_CHILDREN_LIMIT).map(build), more: Math.max(0, roots.length - TREE_CHILDREN_LIMIT) }
    })

    // --- the actor table -------------------------------------------------------------------
    // One page is computed here and only it crosses the link. The kernel lists actors in spawn
    // order, so the default order (by address: spawn order) needs no sort; a message rate needs
    // two reads of an actor's counter, so rates are sampled for the rows shown, or for every
    // actor when the table is sorted by rate.
    /** actor id → its delivered count when last read, and the rate then computed */
    const samples = new Map<number, { count: number; at: number; rate: number }>()
    const rateOf = (a: LocalActor, now: number): number => {
      const id = a.self.address.id
      const s = samples.get(id)
      if (s === undefined) {
        samples.set(id, { count: a.delivered, at: now, rate: 0 })
        return 0
      }
      // reads closer together than this keep the last rate (two tabs, a quick re-sort)
      if (now - s.at >= 500) {
        s.rate = ((a.delivered - s.count) * 1000) / (now - s.at)
        s.count = a.delivered
        s.at = now
      }
      return s.rate
    }
    const pruneSamples = () => {
      if (samples.size <= 2 * kernel.counters().actors + 1000) return
      for (const id of samples.keys()) if (kernel.local(id) === undefined) samples.delete(id)
    }
    // an address is `Protocol@node#incarnation/id`: matched without formatting it whole
    const addressMiddle = `@${system.nodeId.name}#${system.nodeId.incarnation}/`.toLowerCase()
    const lowerNames = new Map<string, string>()
    const lower = (s: string) => {
      let l = lowerNames.get(s)
      if (l === undefined) lowerNames.set(s, l = s.toLowerCase())
      return l
    }
    const matches = (a: LocalActor, filter: string) =>
      (a.name !== undefined && a.name.toLowerCase().includes(filter)) ||
      (lower(a.protocol.name) + addressMiddle + a.self.address.id).includes(filter)

    const byName = (x: LocalActor, y: LocalActor) =>
      x.name === y.name ? 0 : x.name === undefined ? 1 : y.name === undefined ? -1 : x.name < y.name ? -1 : 1
    const byProtocol = (x: LocalActor, y: LocalActor) =>
      x.protocol.name < y.protocol.name ? -1 : x.protocol.name > y.protocol.name ? 1 : 0
    const byId = (x: LocalActor, y: LocalActor) => x.self.address.id - y.self.address.id

    const actors = (request: { readonly offset: number; readonly limit: number; readonly sort: ActorSort; readonly descending: boolean; readonly filter: string }): ActorPage => {
      const now = Date.now()
      const filter = request.filter.trim().toLowerCase()
      let list: Array<LocalActor>
      if (filter.length === 0) list = Array.from(kernel.localActors())
      else {
        list = []
        for (const a of kernel.localActors()) if (matches(a, filter)) list.push(a)
      }
      const total = list.length
      const dir = request.descending ? -1 : 1
      // ties by spawn order, so that pages do not shuffle between reads
      switch (request.sort) {
        case "actor":
          if (request.descending) list.reverse()
          break
        case "name":
          list.sort((x, y) => dir * (byName(x, y) || byId(x, y)))
          break
        case "protocol":
          list.sort((x, y) => dir * (byProtocol(x, y) || byId(x, y)))
          break
        case "mailbox":
        case "msgsPerSec": {
          const values = new Float64Array(list.length)
          for (let i = 0; i < list.length; i++) values[i] = request.sort === "mailbox" ? list[i]!.mailbox.size : rateOf(list[i]!, now)
          list = topByValue(list, values, request.descending, Math.max(0, request.offset) + Math.min(Math.max(0, request.limit), ACTORS_PAGE_LIMIT))
          break
        }
      }
      pruneSamples()
      const offset = Math.max(0, request.offset)
      const limit = Math.min(Math.max(0, request.limit), ACTORS_PAGE_LIMIT)
      return {
        total,
        offset,
        rows: list.slice(offset, offset + limit).map((a) => ({
          actor: a.self.key,
          ...(a.name !== undefined ? { name: a.name } : {}),
          protocol: a.protocol.name,
          mailbox: a.mailbox.size,
          capacity: Number.isFinite(a.capacity) ? a.capacity : null,
          msgsPerSec: Math.round(rateOf(a, now) * 10) / 10,
          policy: a.overflow
        }))
      }
    }

    // --- one actor, by its address ---------------------------------------------------------
    const actorAt = (key: string): LocalActor | undefined => {
      const slash = key.lastIndexOf("/")
      const id = Number(key.slice(slash + 1))
      if (slash < 0 || !Number.isInteger(id)) return undefined
      const a = kernel.local(id)
      return a !== undefined && a.isAlive && a.self.key === key ? a : undefined
    }
    const find = (key: string) => {
      const a = actorAt(key)
      return a !== undefined
        ? Effect.succeed(a)
        : fail("NoSuchActor", `no live actor ${key} on node ${system.nodeId.name}`)
    }

    return {
      NodeInfo: () => observe.pipe(Effect.andThen(Effect.sync(nodeInfo))),
      Events: ({ after }: { readonly after: number }) => observe.pipe(Effect.andThen(Effect.sync(() => eventsAfter(after)))),
      // a fiber of its own: the supervisors it asks must not hold up the admin actor's mailbox
      Tree: () => Actor.fork(tree),
      Actors: (request: Parameters<typeof actors>[0]) => Effect.sync(() => actors(request)),
      ActorMailbox: ({ actor }: { readonly actor: string }) =>
        Effect.sync(() => {
          const a = actorAt(actor)
          return { mailbox: a?.mailbox.size ?? 0, alive: a !== undefined }
        }),
      ActorProtocol: ({ actor }: { readonly actor: string }) =>
        Effect.map(find(actor), (a) => ({
          protocol: a.protocol.name,
          messages: Object.entries(a.protocol.defs).map(([tag, def]) => ({
            tag,
            kind: def._kind,
            schema: JSON.stringify(fieldsJsonSchema(a.protocol.messages[tag] as Schema.Top))
          }))
        })),
      // the stop waits for the actor to be gone: a fiber of its own, as an actor may take its time
      StopActor: ({ actor, kill }: { readonly actor: string; readonly kill: boolean }) =>
        Actor.fork(Effect.gen(function*() {
          const a = yield* find(actor)
          if (a.name?.startsWith("telex/") === true) {
            return yield* fail("Refused", `${a.name} is one of the node's own actors: stopping it would take the node down`)
          }
          if (kill) yield* system.kill(a.self)
          else yield* system.stop(a.self)
        })),
      SendTo: (request: { readonly actor: string; readonly tag: string; readonly json: string; readonly timeoutMillis?: number | undefined }) =>
        Actor.fork(Effect.gen(function*() {
          const a = yield* find(request.actor)
          const kind = Object.hasOwn(a.protocol.defs, request.tag) ? a.protocol.defs[request.tag]!._kind : "tell"
          const reply = yield* deliver(a.self, a.protocol, request.actor, request)
          return { kind, reply }
        }))
    }
  })
