/**
 * Flow control, per destination actor and never per connection: when one of our actors' mailbox
 * is full, the peer sending to it is told to hold that actor (`Hold`), and `Release`d once the
 * mailbox has drained to half its capacity, with a credit of what fits (the sender is held again
 * once it has sent that many). A held sender's `tell`/`ask` to that actor wait (or, under the
 * dropping policies, fail or drop at once, before encoding: see `remoteTarget.ts`); its traffic
 * to every other actor flows on. What was in flight when `Hold` left is accepted up to
 * `holdSlackBytes`, a number of bytes that does not depend on the actor's capacity: what a
 * sender honouring `Hold` has in flight meanwhile is its outbound queue plus what the network
 * buffers (a bandwidth-delay product), whatever the size of the mailbox, so a slack scaled down
 * for small mailboxes would turn a conforming sender's in-flight messages into losses.
 *
 * Holds belong to a connection: they start empty on a new one and end with it. The actors the
 * peer was asked to hold when its connection ended that are still more than half full are held
 * again from the start of the next connection to the same incarnation: they are listed in our
 * handshake READY (`hold`), which the peer reads before it can send anything on the connection,
 * whichever side dialled. A sender whose hold ended with the connection would otherwise flood the
 * actor at full speed on the new one until its first message there brought a new `Hold` back,
 * and what arrives meanwhile (up to all it queued, `highWaterBytes`) is accepted within the
 * slack, far past the capacity.
 *
 * @internal
 */
import type { LocalActor } from "../../actors/Kernel.ts"
import type { OverflowPolicy } from "../../actors/Mailbox.ts"
import type { Connection } from "../Connection.ts"
import type { HoldEntry } from "../Handshake.ts"
import * as Envelope from "../Envelope.ts"
import { Kind } from "../Envelope.ts"
import type { Timers } from "../Network.ts"
import type { Peer } from "./peers.ts"
import type { Router } from "./router.ts"
import { WaitQueue } from "../../internal/WaitQueue.ts"

/** A destination on the peer that it asked us to hold (its mailbox is full). */
export interface Held {
  overflow: OverflowPolicy
  capacity: number
  /** messages we may still send it (granted by its last Release); 0: held */
  credit: number
  /** local senders waiting for the Release */
  readonly waiters: WaitQueue
}

/** One of our actors we asked the peer to hold, or gave it a credit of messages. */
interface Holding {
  /** held: bytes the peer sent to it since (in flight when Hold left) */
  excess: number
  /** after a Release: how many messages the peer may send, and how many have arrived */
  granted: number | undefined
  received: number
}

/** How many waiting senders a wake-up resumes per turn (see `wake`). */
const WAKE_SLICE = 1024

/**
 * Wakes the senders waiting in `waiters` now, oldest first: each tries its send again at once
 * (sends, or waits again, behind the others). `WAKE_SLICE` per turn, the rest after pending I/O:
 * tens of thousands of senders retrying in one turn held the event loop, heartbeats with it. With
 * `credit`, only while the hold it belongs to has credit left: a Release with a credit of 8 woke
 * every waiting sender, and all but 8 of them encoded their message only to wait again (1 000
 * senders behind a 16-message mailbox: 64 000 encodes), for every Release. A sender woken once
 * is not woken again by the same wake-up (it waits for the next), nor is one that came later.
 */
const wake = (waiters: WaitQueue, timers: Timers, credit?: Held): void => {
  let left = waiters.size
  const slice = () => {
    for (let n = 0; n < WAKE_SLICE && left > 0; n++) {
      if (credit !== undefined && credit.credit === 0) return
      const f = waiters.shift()
      if (f === undefined) return
      left--
      f()
    }
    if (left > 0 && waiters.size > 0 && (credit === undefined || credit.credit > 0)) timers.afterIo(slice)
  }
  slice()
}

/** Wakes the senders (or other waits) waiting in `waiters` now, a slice per turn (see `wake`). */
export const wakeSliced = (waiters: WaitQueue, timers: Timers): void => wake(waiters, timers)

/** The holds of one connection, both ways. */
export class PeerFlow {
  private readonly timers: Timers

  constructor(timers: Timers) {
    this.timers = timers
  }

  /** actors of the peer it asked us to hold (this connection, or the lost one: see `connectionLost`), by id */
  readonly held = new Map<number, Held>()
  /** our actors we asked the peer to hold (this connection), by id */
  readonly holding = new Map<number, Holding>()
  /** the sum of the `excess` of `holding`: the slack is for all of the peer's held actors together */
  excess = 0

  /** The mailbox took what came past its capacity (or the hold ended): its excess stops counting. */
  settle(h: Holding): void {
    this.excess -= h.excess
    h.excess = 0
  }

  /** our actors the peer held (or had a credit for) when its last connection ended, and its incarnation */
  lastHolding: { readonly incarnation: number; readonly ids: ReadonlyArray<number> } | undefined = undefined

  /**
   * After a loss (not a replacement): the peer's actors it held us on under `backpressure`, and
   * its incarnation. While our link dials the peer again, sends to them wait for the new
   * connection (`dialWaiters`) rather than being buffered: the buffer is written on the new
   * connection before anything else, past the holds its READY brings, into a mailbox still full.
   */
  heldBeforeLoss: { readonly incarnation: number; readonly ids: ReadonlySet<number> } | undefined = undefined
  /** senders waiting, while the peer is dialled, for the next connection (or the dial's failure) */
  readonly dialWaiters = new WaitQueue()

  /**
   * A dial of the peer ended (or the link stopped): senders waiting for it retry (sent on the new
   * connection, or refused). What the peer held is forgotten only once a new connection's READY
   * says what it holds now (`attached`): a later dial, after a failed one, waits the same way.
   */
  dialEnded(): void {
    wake(this.dialWaiters, this.timers)
  }

  /** ends the wait for the next connection (see `connectionLost`) */
  private cancelGrace: (() => void) | undefined = undefined

  /**
   * The connection ended. Our holds on the peer's actors end with it. The peer's holds on ours
   * end too, and their senders retry (and learn the link is down) — unless the connection was
   * `replaced` by a new handshake with the same incarnation of the peer (it redialled, having
   * found the old connection dead before we did, or won a simultaneous connect): then the peer is
   * not down, and its `backpressure` holds are kept, without credit, for the new connection. A
   * sender waiting for a Release goes on waiting and continues on the new connection as its holds
   * say (see `resumeHeld`), instead of failing only because the connection was replaced. If the
   * new connection is not attached within `graceMillis` (its handshake failed), the holds end.
   * Holds under the other policies end at once: their senders never wait.
   */
  connectionLost(incarnation: number, replaced: boolean, timers: Timers, graceMillis: number): void {
    this.lastHolding = this.holding.size === 0 ? undefined : { incarnation, ids: Array.from(this.holding.keys()) }
    this.holding.clear()
    this.excess = 0
    if (!replaced) {
      const ids = new Set<number>()
      for (const [id, h] of this.held) if (h.overflow === "backpressure") ids.add(id)
      this.heldBeforeLoss = ids.size === 0 ? undefined : { incarnation, ids }
      return this.giveUp()
    }
    this.cancelGrace?.()
    this.cancelGrace = undefined
    const ended: Array<Held> = []
    for (const [id, h] of this.held) {
      if (h.overflow === "backpressure") h.credit = 0
      else {
        this.held.delete(id)
        ended.push(h)
      }
    }
    if (this.held.size > 0) this.cancelGrace = timers.setTimeout(() => this.giveUp(), graceMillis)
    this.wakeAll(ended)
  }

  /** The holds end (the connection was lost, or no new one came in time): their senders retry. */
  giveUp(): void {
    this.cancelGrace?.()
    this.cancelGrace = undefined
    const held = Array.from(this.held.values())
    this.held.clear()
    this.wakeAll(held)
  }

  /** A Release gave `h` a credit: as many of its senders as it allows send (see `wake`). */
  wakeCredited(h: Held): void {
    wake(h.waiters, this.timers, h)
  }

  /** Wakes the senders of holds that ended (see `wake`). */
  wakeAll(held: ReadonlyArray<Held>): void {
    for (const h of held) wake(h.waiters, this.timers)
  }

  /**
   * A new connection is attached: it starts with no holds (the READYs' holds are applied next).
   * Returns the holds kept from the lost connection, for `resumeHeld`.
   */
  attached(): ReadonlyArray<readonly [number, Held]> {
    this.heldBeforeLoss = undefined
    this.cancelGrace?.()
    this.cancelGrace = undefined
    const kept = Array.from(this.held)
    this.held.clear()
    this.holding.clear()
    this.excess = 0
    return kept
  }
}

/**
 * After a new connection is attached and its holds applied: senders that waited on a hold of the
 * lost connection wait on, if the new connection is to the same incarnation and holds the actor
 * too (the kept hold, with its waiters, takes the new one's place); otherwise they retry now
 * (and send, or learn the actor is gone with its incarnation).
 */
export const resumeHeld = (peer: Peer, kept: ReadonlyArray<readonly [number, Held]>, sameIncarnation: boolean): void => {
  const woken: Array<Held> = []
  for (const [id, h] of kept) {
    const now = sameIncarnation ? peer.flow.held.get(id) : undefined
    if (now !== undefined && now.credit === 0 && now.waiters.size === 0) {
      h.overflow = now.overflow
      h.capacity = now.capacity
      h.credit = 0
      peer.flow.held.set(id, h)
    } else {
      woken.push(h)
    }
  }
  peer.flow.wakeAll(woken)
}

/** The peer holds one of its actors: stop sending to it (until a Release). */
export const onHold = (peer: Peer, [, id, overflow, capacity]: Envelope.Hold): void => {
  const h = peer.flow.held.get(id)
  if (h === undefined) peer.flow.held.set(id, { overflow, capacity, credit: 0, waiters: new WaitQueue() })
  else {
    h.overflow = overflow
    h.capacity = capacity
    h.credit = 0
  }
}

/** The peer released one of its actors, with a credit (that many, then held again) or without. */
export const onRelease = (peer: Peer, e: Envelope.Release): void => {
  const id = e[1]
  const h = peer.flow.held.get(id)
  if (h === undefined) return
  if (e.length === 3) {
    h.credit = e[2]
    peer.flow.wakeCredited(h)
  } else {
    peer.flow.held.delete(id)
    peer.flow.wakeAll([h])
  }
}

/**
 * One of our actors' mailbox is full: ask the peer to hold it (once per connection and actor)
 * and release it when the mailbox has drained to half its capacity, or the actor stopped.
 * Reading goes on: other actors' traffic and heartbeats are never held behind a slow actor.
 */
export const hold = (peer: Peer, conn: Connection, cell: LocalActor, announced = false): void => {
  const id = cell.self.address.id
  const holdings = peer.flow.holding
  let holding = holdings.get(id)
  if (holding !== undefined && holding.granted === undefined) return // held already
  if (holding === undefined) {
    holding = { excess: 0, granted: undefined, received: 0 }
    holdings.set(id, holding)
  } else {
    holding.granted = undefined
    peer.flow.settle(holding)
  }
  if (!announced) conn.send([Kind.Hold, id, cell.overflow, cell.capacity])
  const h = holding
  cell.onLowWater(() => {
    if (holdings.get(id) !== h || h.granted !== undefined) return // that connection is gone
    if (peer.conn !== conn || conn.closed !== undefined) return void holdings.delete(id)
    // drained to half: what came past the capacity has been taken
    peer.flow.settle(h)
    if (!cell.isAlive) {
      // nothing more to hold: sends to it now fail as to any stopped actor
      holdings.delete(id)
      return conn.send([Kind.Release, id])
    }
    // a credit of what fits now: the peer sends that many, then waits for the next Release,
    // so nothing more is in flight past the capacity (HTTP/2's window)
    h.granted = cell.capacity - cell.mailbox.size
    h.received = 0
    conn.send([Kind.Release, id, h.granted])
  })
}

/**
 * For our READY on a new connection to `incarnation` of the peer: the actors it was asked to hold
 * on its previous connection (the same incarnation) that are still more than half full.
 */
export const holdsFor = (router: Router, peer: Peer, incarnation: number): ReadonlyArray<HoldEntry> => {
  const last = peer.flow.lastHolding
  if (last === undefined || last.incarnation !== incarnation) return []
  const holds: Array<HoldEntry> = []
  for (const id of last.ids) {
    const cell = router.system.local(id)
    if (cell !== undefined && cell.isAlive && cell.mailbox.size > cell.capacity >> 1) {
      holds.push([id, cell.overflow, cell.capacity])
    }
  }
  return holds
}

/**
 * A new connection to the peer is attached, before anything is read from or sent on it: the holds
 * each READY announced start now. Ours (`sent`) are released as usual once the actor drains (at
 * once if it already has); the peer's are applied as its `Hold` envelopes would be.
 */
export const startHolds = (
  router: Router,
  peer: Peer,
  conn: Connection,
  sent: ReadonlyArray<number>,
  received: ReadonlyArray<ReadonlyArray<unknown>>
): void => {
  peer.flow.lastHolding = undefined
  for (const id of sent) {
    const cell = router.system.local(id)
    if (cell === undefined || !cell.isAlive) conn.send([Kind.Release, id])
    else hold(peer, conn, cell, true)
  }
  for (const entry of received) {
    const e = Envelope.decoders[Kind.Hold]([Kind.Hold, ...entry])
    if (typeof e === "object") onHold(peer, e)
  }
}

/**
 * A tell or ask from a peer with a credit for `id`: counts it. When the credit is used up the
 * peer is held again (a Hold, for a peer that keeps no count) — or, if the actor has caught up
 * (half empty), released without a credit, back to plain sending.
 */
export const countCredit = (router: Router, peer: Peer, conn: Connection, id: number): void => {
  const holding = peer.flow.holding.get(id)
  if (holding === undefined || holding.granted === undefined || ++holding.received < holding.granted) return
  const cell = router.system.local(id)
  if (cell === undefined || !cell.isAlive || cell.mailbox.size <= cell.capacity >> 1) {
    peer.flow.settle(holding)
    peer.flow.holding.delete(id)
    conn.send([Kind.Release, id])
    return
  }
  hold(peer, conn, cell)
}

/**
 * A message for a full `backpressure` mailbox: accepted (it was in flight when Hold left) while
 * the peer's bytes past the capacity of this actor, and of all the actors it is held on together,
 * stay within the slack; past it the peer is not honouring Hold (e.g. a client that ignores the
 * envelope) and the message is refused. Together as well as per actor: what a sender honouring
 * Hold has in flight is bounded for the connection as a whole, and a peer flooding many actors
 * would otherwise make the node keep a slack's worth for each.
 */
export const inSlack = (router: Router, peer: Peer, conn: Connection, cell: LocalActor, bytes: number): boolean => {
  const id = cell.self.address.id
  let holding = peer.flow.holding.get(id)
  if (holding === undefined || holding.granted !== undefined) {
    hold(peer, conn, cell)
    holding = peer.flow.holding.get(id)!
  }
  holding.excess += bytes
  peer.flow.excess += bytes
  return holding.excess <= router.options.holdSlackBytes && peer.flow.excess <= router.options.holdSlackBytes
}
