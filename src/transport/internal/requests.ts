/**
 * Remote spawn and lookup: the request/answer pairs a node sends a peer (`Spawn` → `Spawned`,
 * `Lookup` → `Found`), matched by a request id per connection, and the answers to the peer's.
 *
 * Only the protocols a node lists as spawnable can be spawned there by a peer; a lookup of the
 * empty name is answered by any node (`Node.connect` uses it as a round trip).
 *
 * A lookup in flight on a connection closed for a new one to the peer (a simultaneous connect, a
 * reconnect, a restart: see `peers.ts`) is sent again, with its id, on the new connection once
 * that one is up: a lookup is answered the same on either, and the new connection is the one
 * `peers()` reports up a moment later. A spawn is not sent twice (it may have been done): it
 * fails with `NodeDown`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { NodeDown } from "../../actors/ActorError.ts"
import type { ActorAddress } from "../../actors/ActorRef.ts"
import * as Envelope from "../Envelope.ts"
import { Kind } from "../Envelope.ts"
import type { Cancel, Timers } from "../Network.ts"
import { quote } from "./codecs.ts"
import type { Peer } from "./peers.ts"
import type { Router } from "./router.ts"

/** What answers a request (either kind answers either request: the address is in the same place). */
type Answer = Envelope.Spawned | Envelope.Found

/** A request in flight: how it ends, and its envelope if it may be sent again (a lookup). */
interface Pending {
  readonly resume: (answer: Answer | NodeDown) => void
  readonly lookup: Envelope.Lookup | undefined
  /** its connection was replaced: sent again on the next one (see `resend`) */
  moved: boolean
}

/** The requests in flight to one peer, by id. */
export class PeerRequests {
  nextId = 1
  readonly pending = new Map<number, Pending>()
  /** ends the wait of the moved lookups for a new connection */
  private movedDeadline: Cancel | undefined = undefined

  /** The connection is gone: every request fails with `down`. */
  failAll(down: NodeDown): void {
    this.movedDeadline?.()
    this.movedDeadline = undefined
    const requests = Array.from(this.pending.values())
    this.pending.clear()
    for (const r of requests) r.resume(down)
  }

  /**
   * The connection was closed for a new one to the peer, already admitted: lookups wait for it
   * (up to `graceMillis`, or until its handshake fails, see `giveUp`); spawns fail with `down`.
   */
  superseded(down: NodeDown, timers: Timers, graceMillis: number): void {
    const failed: Array<Pending> = []
    let moved = false
    for (const [id, r] of this.pending) {
      if (r.lookup !== undefined) moved = r.moved = true
      else {
        this.pending.delete(id)
        failed.push(r)
      }
    }
    if (moved) {
      this.movedDeadline?.()
      this.movedDeadline = timers.setTimeout(() => {
        this.movedDeadline = undefined
        this.giveUp(down)
      }, graceMillis)
    }
    for (const r of failed) r.resume(down)
  }

  /** The new connection did not come up: the lookups that waited for it fail with `down`. */
  giveUp(down: NodeDown): void {
    this.movedDeadline?.()
    this.movedDeadline = undefined
    const failed: Array<Pending> = []
    for (const [id, r] of this.pending) {
      if (!r.moved) continue
      this.pending.delete(id)
      failed.push(r)
    }
    for (const r of failed) r.resume(down)
  }

  /** The new connection is up: the lookups that waited for it are sent on it. */
  resend(router: Router, peer: Peer): void {
    if (this.movedDeadline === undefined) return
    this.movedDeadline()
    this.movedDeadline = undefined
    for (const [id, r] of this.pending) {
      if (!r.moved) continue
      r.moved = false
      const sent = router.send(peer, r.lookup!)
      if (sent !== true) {
        this.pending.delete(id)
        r.resume(new NodeDown({ node: peer.name, reason: sent === false ? "not connected" : `request not sent: ${sent}` }))
      }
    }
  }
}

/** Sends the envelope `build` makes with a fresh request id; succeeds with the answer. */
const request = (
  router: Router,
  peer: Peer,
  build: (requestId: number) => Envelope.Spawn | Envelope.Lookup
): Effect.Effect<Answer, NodeDown> =>
  Effect.callback<Answer, NodeDown>((resume) => {
    const requests = peer.requests
    const id = requests.nextId++
    const envelope = build(id)
    requests.pending.set(id, {
      resume: (answer) => resume(answer instanceof NodeDown ? Effect.fail(answer) : Effect.succeed(answer)),
      lookup: envelope[0] === Kind.Lookup ? envelope : undefined,
      moved: false
    })
    const sent = router.send(peer, envelope)
    if (sent !== true) {
      requests.pending.delete(id)
      resume(Effect.fail(new NodeDown({ node: peer.name, reason: sent === false ? "not connected" : `request not sent: ${sent}` })))
    }
    return Effect.sync(() => requests.pending.delete(id))
  })

/** The address registered as `name` on the peer (undefined: none). */
export const lookup = (router: Router, peer: Peer, name: string): Effect.Effect<ActorAddress | undefined, NodeDown> =>
  request(router, peer, (id) => [Kind.Lookup, id, name]).pipe(Effect.map((answer) => answer[2] ?? undefined))

/** Spawns an actor of the spawnable protocol `module` on the peer: its address, or the peer's error. */
export const spawn = (
  router: Router,
  peer: Peer,
  module: string,
  name: string | undefined
): Effect.Effect<{ readonly address: ActorAddress } | { readonly error: string }, NodeDown> =>
  request(router, peer, (id) => [Kind.Spawn, id, module, name ?? null]).pipe(
    Effect.map((answer) => {
      if (answer[2] !== null) return { address: answer[2] }
      return { error: (answer[0] === Kind.Spawned ? answer[3] : null) ?? "spawn failed" }
    })
  )

/** The address registered as `name` on `node` (undefined: none); fails if the node is not connected. */
export const whereis = (router: Router, node: string, name: string): Effect.Effect<ActorAddress | undefined, NodeDown> =>
  Effect.suspend(() => {
    const peer = router.peers.get(node)
    if (peer === undefined || !peer.isUp) return Effect.fail(new NodeDown({ node, reason: "not connected" }))
    return lookup(router, peer, name)
  })

// ---------------------------------------------------------------------------
// inbound
// ---------------------------------------------------------------------------

/** A `Spawned` or `Found`: the answer to one of our requests. */
export const onAnswer = (peer: Peer, e: Answer): void => {
  const id = e[1]
  if (typeof id !== "number") return // not one of ours
  const r = peer.requests.pending.get(id)
  if (r === undefined) return
  peer.requests.pending.delete(id)
  r.resume(e)
}

export const onLookup = (router: Router, peer: Peer, [, requestId, name]: Envelope.Lookup): void => {
  const cell = typeof name === "string" ? router.system.named(name) : undefined
  // an actor that is stopping is found: its name is registered until it is gone
  router.send(peer, [Kind.Found, requestId, cell !== undefined ? cell.self.address : null])
}

export const onSpawn = (router: Router, peer: Peer, [, requestId, module, name]: Envelope.Spawn): void => {
  const spawn = typeof module === "string" ? router.spawnable.get(module) : undefined
  if (spawn === undefined) {
    router.send(peer, [Kind.Spawned, requestId, null, `module ${quote(module)} is not spawnable on ${router.system.nodeId.name}`])
    return
  }
  if (name !== null && name !== undefined && typeof name !== "string") {
    router.send(peer, [Kind.Spawned, requestId, null, `the spawn name must be a string or null, not ${typeof name}`])
    return
  }
  Effect.runFork(
    spawn(name ?? undefined).pipe(
      Effect.match({
        onSuccess: (ref) => router.send(peer, [Kind.Spawned, requestId, ref.address, null]),
        onFailure: (error) => router.send(peer, [Kind.Spawned, requestId, null, errorMessage(error)])
      })
    )
  )
}

const errorMessage = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && error.message != null
    ? String(error.message)
    : String(error)
