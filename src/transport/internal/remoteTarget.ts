/**
 * The remote target: what a ref to an actor on another node delivers to. A send is encoded with
 * the protocol's Schema (so a remote send is always validated) and checked against the peer's
 * fingerprint of the protocol, then written to the connection to the actor's node (see
 * `writer.ts`); an ask is remembered under an ask id until its `Reply` or the connection's end.
 *
 * Incarnations: a connection is to one incarnation of a node. Messages addressed to another
 * incarnation (an older one, after a restart) are refused — dead letters, `NoProc` for asks —
 * never delivered to the successor.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import type { AnyProtocol } from "../../actors/Actor.ts"
import { InvalidMessage, MailboxFull, NodeDown, NoProc, ProtocolMismatch } from "../../actors/ActorError.ts"
import { type ActorAddress, ActorRef, formatAddress } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import { Offer, type Reply, type Target, toTraceparent } from "../../actors/Kernel.ts"
import * as ProtocolRegistry from "../../actors/ProtocolRegistry.ts"
import type { Down, ExitSignal } from "../../actors/Signals.ts"
import { Kind } from "../Envelope.ts"
import { encodeReason, encoderFor, issueOf, tagOf } from "./codecs.ts"
import type { Held } from "./flow.ts"
import type { Peer } from "./peers.ts"
import type { Router } from "./router.ts"
import * as Watch from "./watch.ts"
import { type Outbound, outboxFull, type PendingTarget } from "./writer.ts"

type SendError = InvalidMessage | ProtocolMismatch

interface PendingAsk {
  readonly reply: Reply
  readonly protocol: AnyProtocol
  readonly tag: string
}

/**
 * The asks sent to one peer that await their `Reply`, by ask id: a table with open addressing
 * on the id (ids are consecutive, so an id's slot is its low bits) and linear probing. Two Maps
 * (by id, and by reply for `cancel`) reallocated their tables every few dozen asks (a Map
 * rehashes once its deleted entries fill it) and hashed each reply.
 *
 * A taken entry leaves a tombstone (`DELETED`), which a later id reuses, unless the next slot is
 * empty (then it and the tombstones before it become empty). Consecutive ids fill consecutive
 * slots, so the pending asks are one run of slots: backward-shift deletion, which looks for an
 * entry to move back until the run ends, scanned all of it for each reply (replies come oldest
 * first), 0.1-0.2 ms per reply with 50 000 asks in flight. Tombstones count as used for the
 * load: the table is rebuilt without them once the used slots reach half of it.
 *
 * While every entry is in its id's own slot (none was moved on by a probe: the usual case, as
 * long as no ask stays pending while a table's worth of later ids goes by), no probe runs through
 * a slot to reach another entry, and a taken slot is left empty: with n asks in flight, a table
 * of 4n slots otherwise filled with tombstones and was rebuilt every n asks or so, about 1.5 % of
 * a remote ask's CPU.
 *
 * An asker that gives up (rare) is remembered in a set, and its entry dropped when its reply
 * comes, or by a sweep once such entries are a quarter of the pending ones (a reply that never
 * comes then holds its entry at most until the next sweep or the connection's end).
 */
export class PendingAsks {
  nextId = 1
  /** pending asks (the ones given up on and not yet swept included) */
  size = 0
  /** tombstones in the table */
  private deleted = 0
  /** entries not in their id's own slot */
  private displaced = 0
  private ids = new Float64Array(64)
  private asks: Array<PendingAsk | undefined> = new Array(64).fill(undefined)
  private mask = 63
  /** replies whose asker gave up while their ask was pending */
  private cancelled: Set<Reply> | undefined = undefined

  add(reply: Reply, protocol: AnyProtocol, tag: string): number {
    const id = this.nextId++
    if ((this.size + this.deleted + 1) * 2 > this.mask + 1) this.resize(capacityFor(this.size + 1))
    const ids = this.ids
    let i = id & this.mask
    while (ids[i]! > 0) i = (i + 1) & this.mask
    if (ids[i] === DELETED) this.deleted--
    if (i !== (id & this.mask)) this.displaced++
    ids[i] = id
    this.asks[i] = { reply, protocol, tag }
    this.size++
    return id
  }

  /** Takes the ask out (its reply came, or it failed), if it is still pending. */
  take(id: number): PendingAsk | undefined {
    // a peer's reply may carry any number: 0 would stop at an empty slot and -1 at a tombstone,
    // and taking either would corrupt the table (no ask has an id below 1; NaN matches no slot)
    if (!(id >= 1)) return undefined
    const ids = this.ids
    const mask = this.mask
    let i = id & mask
    while (ids[i] !== id) {
      if (ids[i] === 0) return undefined
      i = (i + 1) & mask
    }
    const p = this.asks[i]!
    this.remove(i)
    if (this.cancelled !== undefined && this.cancelled.delete(p.reply)) return undefined
    return p
  }

  /** The asker gave up (timeout, interruption): a late reply is ignored. */
  cancel(reply: Reply): void {
    const cancelled = this.cancelled ??= new Set()
    cancelled.add(reply)
    if (cancelled.size >= 64 && cancelled.size * 4 >= this.size) this.sweep()
  }

  fail(id: number, error: unknown): void {
    this.take(id)?.reply(Exit.fail(error))
  }

  /**
   * The connection is gone: every pending ask fails now, not at its timeout, in the order they
   * were made: `FAIL_SLICE` per turn, the rest after pending I/O (tens of thousands failed in one
   * turn held the event loop, the other connections' heartbeats with it). An ask its asker gives
   * up meanwhile ends as the asker says; its reply ignores the later failure.
   */
  failAll(down: NodeDown): void {
    const pending = this.entries(this.cancelled)
    this.rebuild(64, [])
    this.cancelled = undefined
    pending.sort((a, b) => a[0] - b[0])
    const failed = Exit.fail(down)
    let next = 0
    const slice = () => {
      const end = Math.min(pending.length, next + FAIL_SLICE)
      while (next < end) pending[next++]![1].reply(failed)
      if (next < pending.length) setImmediate(slice)
    }
    slice()
  }

  /** Empties slot `i`: a tombstone, unless the probe runs through it end there anyway. */
  private remove(i: number): void {
    const ids = this.ids
    const mask = this.mask
    this.asks[i] = undefined
    if ((ids[i]! & mask) !== i) this.displaced--
    if (this.displaced === 0) {
      // no entry is reached through this slot
      ids[i] = 0
    } else if (ids[(i + 1) & mask] !== 0) {
      ids[i] = DELETED
      this.deleted++
    } else {
      ids[i] = 0
      for (let j = (i - 1) & mask; ids[j] === DELETED; j = (j - 1) & mask) {
        ids[j] = 0
        this.deleted--
      }
    }
    this.size--
    if (this.size * 8 < mask + 1 && mask + 1 > 64) this.resize((mask + 1) / 2)
  }

  /** Drops the entries of asks given up on. */
  private sweep(): void {
    const cancelled = this.cancelled!
    this.cancelled = undefined
    this.rebuild(Math.max(64, this.mask + 1), this.entries(cancelled))
  }

  private resize(capacity: number): void {
    this.rebuild(capacity, this.entries(undefined))
  }

  /** The table's entries (id, ask), less those whose reply is in `drop`. */
  private entries(drop: Set<Reply> | undefined): Array<[number, PendingAsk]> {
    const out: Array<[number, PendingAsk]> = []
    for (let i = 0; i <= this.mask; i++) {
      const p = this.asks[i]
      if (p !== undefined && (drop === undefined || !drop.has(p.reply))) out.push([this.ids[i]!, p])
    }
    return out
  }

  private rebuild(capacity: number, entries: Array<[number, PendingAsk]>): void {
    const ids = new Float64Array(capacity)
    const asks: Array<PendingAsk | undefined> = new Array(capacity).fill(undefined)
    const mask = capacity - 1
    let displaced = 0
    for (const [id, p] of entries) {
      let i = id & mask
      while (ids[i] !== 0) i = (i + 1) & mask
      if (i !== (id & mask)) displaced++
      ids[i] = id
      asks[i] = p
    }
    this.ids = ids
    this.asks = asks
    this.mask = mask
    this.size = entries.length
    this.deleted = 0
    this.displaced = displaced
  }
}

/** a slot of `PendingAsks` whose entry was taken: probes go on past it */
const DELETED = -1

/** the table's capacity for `n` entries: at most a quarter full after a rebuild */
const capacityFor = (n: number): number => {
  let capacity = 64
  while (capacity < n * 4) capacity *= 2
  return capacity
}

/** How many of a lost connection's pending asks fail per turn (see `PendingAsks.failAll`). */
const FAIL_SLICE = 1024

/**
 * The error of an ask refused because its node is not connected: one per peer, as errors are
 * values (a Schema error captures its stack when made, 10-25 µs, and a lost connection refuses
 * every waiting ask at once).
 */
const notConnected = new WeakMap<Peer, Exit.Exit<never, NodeDown>>()
const notConnectedOf = (peer: Peer): Exit.Exit<never, NodeDown> => {
  let exit = notConnected.get(peer)
  if (exit === undefined) {
    exit = Exit.fail(new NodeDown({ node: peer.name, reason: "not connected" }))
    notConnected.set(peer, exit)
  }
  return exit
}

/** Delivery to an actor on another node. */
export class RemoteTarget implements Target {
  /** the remote mailbox's capacity, once its node has told us (a Hold): for `MailboxFull` errors */
  capacity = Infinity
  private readonly router: Router
  private readonly address: ActorAddress
  // the address's parts that every send reads, kept here: the target is reached anyway, the
  // address and its node are two more objects (cache misses, with many actors) per message
  private readonly incarnation: number
  private readonly id: number
  /**
   * the protocol's name as its protocol spells it: one string for every target of the protocol,
   * not the one decoded with each address (a string looked up or encoded per send is read, and
   * one per target is one more cache miss per message, with many actors)
   */
  private readonly protocolName: string
  /**
   * the actor's node, once found among the router's peers (a peer in the table is never replaced
   * by another; one dropped from it is `retired`)
   */
  private peerOf: Peer | undefined = undefined
  /** the actor's node while the router knows no peer of that name (see `findPeer`) */
  private unknownPeer: Peer | undefined = undefined

  constructor(router: Router, address: ActorAddress) {
    this.router = router
    this.address = address
    this.incarnation = address.node.incarnation
    this.id = address.id
    this.protocolName = ProtocolRegistry.get(address.protocol)?.name ?? address.protocol
  }

  private get key(): string {
    return formatAddress(this.address)
  }

  private get peer(): Peer {
    const peer = this.peerOf
    return peer !== undefined && !peer.retired ? peer : this.findPeer()
  }

  /**
   * The actor's node among the router's peers, kept once found. A node the router has no peer for
   * (never connected, dialled nor configured: e.g. the `sender` of a peer's ask, which may name
   * any node) gets a peer of this target's own, outside the router's table: no connection reaches
   * it, so every send to it fails as one to an unreachable node, and it keeps nothing. Were it
   * added to the table, a peer could grow the table without bound by naming fresh node names.
   * Each use looks for the router's peer again, so that a later connection to that node is found.
   */
  private findPeer(): Peer {
    const name = this.address.node.name
    const peer = this.router.peers.get(name)
    if (peer !== undefined) {
      this.unknownPeer = undefined
      return this.peerOf = peer
    }
    return this.unknownPeer ??= this.router.outsider(name)
  }

  get isAlive(): boolean {
    const peer = this.router.peers.get(this.address.node.name)
    return peer !== undefined && peer.isUp && peer.incarnation === this.address.node.incarnation
  }

  private get self(): ActorRef<any> {
    return new ActorRef(this.address, this, this.router.system)
  }

  /**
   * The Hold the peer put on this actor, if any (only for this incarnation; between connections,
   * a `backpressure` hold kept for the next one).
   */
  private held(peer: Peer): Held | undefined {
    if (peer.flow.held.size === 0 || peer.incarnation !== this.incarnation) return undefined
    return peer.flow.held.get(this.id)
  }

  /** Whether the peer held this actor when its connection was lost, and our link is dialling it again. */
  private heldBeforeLoss(peer: Peer): boolean {
    const lost = peer.flow.heldBeforeLoss
    return lost !== undefined && peer.outbox.dialing && lost.incarnation === this.incarnation && lost.ids.has(this.id)
  }

  /**
   * Nothing to check before sending: `offer` checks the message where it encodes it, once (the
   * protocol is known here, the peer speaks the same version of it, the message matches its
   * Schema), and returns why it sent nothing.
   */
  validate(): undefined {
    return undefined
  }

  /** Why a message with this tag cannot be sent to this actor, if it cannot. */
  private refusal(tag: unknown, protocol: AnyProtocol | undefined, peer: Peer | undefined): SendError | undefined {
    if (protocol === undefined) {
      return new InvalidMessage({
        actor: this.key,
        protocol: this.address.protocol,
        issue: `protocol ${this.address.protocol} is not known in this process (import its module)`
      })
    }
    if (peer !== undefined && peer.isUp) {
      const remote = peer.protocols[protocol.name]
      const local = ProtocolRegistry.fingerprint(protocol)
      if (remote !== local) {
        return new ProtocolMismatch({
          protocol: protocol.name,
          node: peer.name,
          local,
          ...(remote === undefined ? {} : { remote: String(remote) })
        })
      }
    }
    if (typeof tag !== "string" || !Object.hasOwn(protocol.messages, tag)) {
      return new InvalidMessage({ actor: this.key, protocol: protocol.name, issue: `unknown message tag ${JSON.stringify(tag)}` })
    }
    return undefined
  }

  /** The id to put in the envelope: now if the incarnation is known, at attach time otherwise. */
  private to(peer: Peer): number | PendingTarget | undefined {
    if (peer.isUp) return peer.incarnation === this.incarnation ? this.id : undefined
    return { address: this.address }
  }

  /**
   * A send to a destination the peer holds (its mailbox is full), before any encoding: as its
   * overflow policy would have it there. Under `backpressure` a `tell`/`ask` waits for the
   * Release, and a `tellUnsafe` (which cannot wait) becomes a dead letter (`Overloaded`).
   */
  private offerHeld(held: Held, message: unknown, reply: Reply | undefined, force: boolean | undefined): Offer {
    this.capacity = held.capacity
    const system = this.router.system
    switch (held.overflow) {
      case "backpressure":
        if (!force) return Offer.Full
        system.deadLetter(this.key, message, {
          _tag: "Overloaded",
          node: this.address.node.name,
          detail: "the actor's mailbox is full and the node asked to hold sends to it"
        })
        return Offer.Dropped
      case "fail":
        if (reply === undefined) return Offer.Rejected
        reply(Exit.fail(new MailboxFull({ actor: this.key, capacity: held.capacity })))
        return Offer.Dropped
      default:
        system.deadLetter(this.key, message, { _tag: "MailboxFull", capacity: held.capacity })
        reply?.(Exit.fail(new MailboxFull({ actor: this.key, capacity: held.capacity })))
        return Offer.Dropped
    }
  }

  offer(message: unknown, reply: Reply | undefined, sender: ActorRef<any> | undefined, force?: boolean): Offer | SendError {
    const peer = this.peer
    let held: Held | undefined
    if (peer.flow.held.size !== 0) {
      held = this.held(peer)
      // under a dropping policy the send is refused before any encoding
      if (held !== undefined && held.credit === 0 && held.overflow !== "backpressure") {
        return this.offerHeld(held, message, reply, force)
      }
    }
    // encoded with the protocol's Schema, so that every remote send is validated
    const tag = tagOf(message)
    const protocol = ProtocolRegistry.get(this.protocolName)
    const refused = this.refusal(tag, protocol, peer)
    if (refused !== undefined) return refused
    const exit = encoderFor(protocol!.messages[tag as string]!)(message)
    if (Exit.isFailure(exit)) {
      const issue = issueOf(exit)
      this.router.system.deadLetter(this.key, message, { _tag: "InvalidMessage", issue })
      return new InvalidMessage({ actor: this.key, protocol: this.address.protocol, issue })
    }
    // held under `backpressure`: the (valid) send waits for the Release
    if (held !== undefined && held.credit === 0) return this.offerHeld(held, message, reply, force)
    const encoded = exit.value
    if (peer.conn === undefined && peer.outbox.dialing) {
      // held when the connection was lost, or much buffered already: wait for the connection
      if (!force && (this.heldBeforeLoss(peer) || outboxFull(this.router, peer, false))) return Offer.Full
      if (force && reply === undefined && outboxFull(this.router, peer, true)) {
        // a `tellUnsafe` cannot wait: past the limit it is refused rather than buffered without bound
        this.router.system.deadLetter(this.key, message, {
          _tag: "Overloaded",
          node: peer.name,
          detail: `more than ${this.router.options.unsafeLimitBytes} bytes buffered for the node while connecting`
        })
        return Offer.Dropped
      }
    }
    const to = this.to(peer)
    if (to === undefined) {
      // addressed to another incarnation of the node: refused, never delivered to its successor
      this.router.system.deadLetter(this.key, message, { _tag: "NoSuchActor" })
      reply?.(Exit.fail(new NoProc({ actor: this.key })))
      return Offer.Dead
    }
    const conn = peer.conn
    if (conn !== undefined && conn.isFull) {
      if (!force) return Offer.Full
      if (reply === undefined && conn.queuedMemory > this.router.options.unsafeLimitBytes) {
        // a `tellUnsafe` cannot wait: past the limit it is refused rather than queued without bound
        this.router.system.deadLetter(this.key, message, {
          _tag: "Overloaded",
          node: peer.name,
          detail: `more than ${this.router.options.unsafeLimitBytes} bytes queued for the node`
        })
        return Offer.Dropped
      }
    }
    let envelope: Outbound
    let askId = 0
    if (reply === undefined) {
      envelope = [Kind.Tell, to, this.protocolName, encoded]
    } else {
      askId = peer.asks.add(reply, protocol!, tag as string)
      const span = reply.span
      envelope = span === undefined
        ? [Kind.Ask, to, this.protocolName, encoded, askId, sender?.address ?? null]
        : [Kind.Ask, to, this.protocolName, encoded, askId, sender?.address ?? null, toTraceparent(span)]
    }
    const sent = this.router.send(peer, envelope)
    if (sent === true) {
      // counted only once sent: the receiver counts what arrives
      if (held !== undefined) held.credit--
      return Offer.Ok
    }
    if (sent !== false) {
      // too large to send: refused like a message that does not encode; the connection is untouched
      if (askId !== 0) peer.asks.take(askId)
      this.router.system.deadLetter(this.key, message, { _tag: "InvalidMessage", issue: sent })
      return new InvalidMessage({ actor: this.key, protocol: this.address.protocol, issue: sent })
    }
    this.router.system.deadLetter(this.key, message, { _tag: "NoRoute", node: peer.name })
    if (reply !== undefined) {
      peer.asks.take(askId)
      reply(notConnectedOf(peer))
    }
    return Offer.Dead
  }

  cancelAsk(reply: Reply): void {
    this.peerOf?.asks.cancel(reply)
  }

  waitForSpace(wake: () => void): () => void {
    const peer = this.peer
    const held = this.held(peer)
    if (held !== undefined && held.credit === 0) return held.waiters.add(wake)
    const conn = peer.conn
    if (conn === undefined && (this.heldBeforeLoss(peer) || (peer.outbox.dialing && outboxFull(this.router, peer, false)))) {
      return peer.flow.dialWaiters.add(wake)
    }
    if (conn === undefined) {
      queueMicrotask(wake)
      return () => {}
    }
    return conn.waitForDrain(wake)
  }

  /** A Down for a remote watcher (from a local actor it monitors). */
  signal(message: Down | ExitSignal): void {
    if (message._tag === "Down") Watch.down(this.router, this.peer, message)
  }

  exitSignal(from: ActorRef<any>, reason: ExitReason.ExitReason, untrappable?: boolean, direct?: boolean): void {
    const peer = this.peer
    Watch.exit(this.router, peer, from, this.address, this.to(peer), reason, untrappable, direct)
  }

  addLink(from: ActorRef<any>): void {
    const peer = this.peer
    Watch.link(this.router, peer, from, this.self, this.to(peer))
  }

  removeLink(from: ActorRef<any>): void {
    const peer = this.peer
    Watch.unlink(this.router, peer, from, this.self, this.to(peer))
  }

  addMonitor(id: number, watcher: ActorRef<any>): void {
    const peer = this.peer
    Watch.monitor(this.router, peer, id, watcher, this.self, this.to(peer))
  }

  removeMonitor(id: number): void {
    const peer = this.peer
    Watch.demonitor(this.router, peer, id, this.to(peer))
  }

  shutdown(reason: ExitReason.ExitReason, onExit?: (reason: ExitReason.ExitReason) => void): void {
    if (onExit !== undefined) this.onExit(onExit)
    const to = this.to(this.peer)
    if (to !== undefined) this.router.send(this.peer, [Kind.Stop, to, encodeReason(reason)])
  }

  /** Exit notification for a remote actor: a monitor whose watcher is a callback. */
  onExit(f: (reason: ExitReason.ExitReason) => void): () => void {
    const id = this.router.system.newMonitorId()
    let done = false
    const watcher = new ActorRef(
      { node: this.router.system.nodeId, id: -id, protocol: "telex/ExitObserver" },
      new CallbackTarget((down) => {
        if (!done) {
          done = true
          f(down.reason)
        }
      }),
      undefined
    )
    this.addMonitor(id, watcher)
    return () => {
      done = true
      this.removeMonitor(id)
    }
  }
}

/** A pseudo-target that turns a `Down` into a callback (exit observers of remote actors). */
class CallbackTarget implements Target {
  readonly capacity = 0
  readonly isAlive = true
  private readonly f: (down: Down) => void
  constructor(f: (down: Down) => void) {
    this.f = f
  }
  validate() {
    return undefined
  }
  offer(): Offer {
    return Offer.Dead
  }
  waitForSpace(wake: () => void) {
    queueMicrotask(wake)
    return () => {}
  }
  signal(message: Down | ExitSignal) {
    if (message._tag === "Down") this.f(message)
  }
  exitSignal() {}
  addLink() {}
  removeLink() {}
  addMonitor() {}
  removeMonitor() {}
  shutdown() {}
  onExit() {
    return () => {}
  }
}
