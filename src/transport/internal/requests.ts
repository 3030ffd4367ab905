/**
 * Remote spawn and lookup: the request/answer pairs a node sends a peer (`Spawn` → `Spawned`,
 * `Lookup` → `Found`), matched by a request id per connection, and the answers to the peer's.
 *
 * Only the protocols a node lists as spawnable can be spawned there by a peer; a lookup of the
 * empty name is answered by any node (`Node.connect` uses it as a round trip).
 *
 * @internal
 */
import { Effect } from "effect"
import { NodeDown } from "../../actors/ActorError.ts"
import type { ActorAddress } from "../../actors/ActorRef.ts"
import { Kind } from "../Envelope.ts"
import { isAddress } from "./codecs.ts"
import type { Peer } from "./peers.ts"
import type { Router } from "./router.ts"

/** The requests in flight to one peer, by id. */
export class PeerRequests {
  nextId = 1
  readonly pending = new Map<number, (value: unknown) => void>()

  /** The connection is gone: every request fails with `down`. */
  failAll(down: NodeDown): void {
    const requests = Array.from(this.pending.values())
    this.pending.clear()
    for (const f of requests) f(down)
  }
}

/** Sends the envelope `build` makes with a fresh request id; succeeds with the answering envelope. */
export const request = (router: Router, peer: Peer, build: (requestId: number) => Array<unknown>): Effect.Effect<unknown, NodeDown> =>
  Effect.callback<unknown, NodeDown>((resume) => {
    const requests = peer.requests
    const id = requests.nextId++
    requests.pending.set(id, (value) => resume(value instanceof NodeDown ? Effect.fail(value) : Effect.succeed(value)))
    if (!router.send(peer, build(id))) {
      requests.pending.delete(id)
      resume(Effect.fail(new NodeDown({ node: peer.name, reason: "not connected" })))
    }
    return Effect.sync(() => requests.pending.delete(id))
  })

/** The address registered as `name` on the peer (undefined: none). */
export const lookup = (router: Router, peer: Peer, name: string): Effect.Effect<ActorAddress | undefined, NodeDown> =>
  request(router, peer, (id) => [Kind.Lookup, id, name]).pipe(
    Effect.map((found) => {
      const address = (found as Array<unknown>)[2]
      return isAddress(address) ? address : undefined
    })
  )

/** Spawns an actor of the spawnable protocol `module` on the peer: its address, or the peer's error. */
export const spawn = (
  router: Router,
  peer: Peer,
  module: string,
  name: string | undefined
): Effect.Effect<{ readonly address: ActorAddress } | { readonly error: string }, NodeDown> =>
  request(router, peer, (id) => [Kind.Spawn, id, module, name ?? null]).pipe(
    Effect.map((reply) => {
      const e = reply as Array<unknown>
      return isAddress(e[2]) ? { address: e[2] } : { error: String(e[3] ?? "spawn failed") }
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
export const onAnswer = (peer: Peer, e: Array<any>): void => {
  const f = peer.requests.pending.get(e[1])
  if (f === undefined) return
  peer.requests.pending.delete(e[1])
  f(e)
}

export const onLookup = (router: Router, peer: Peer, e: Array<any>): void => {
  const cell = typeof e[2] === "string" ? router.system.named(e[2]) : undefined
  router.send(peer, [Kind.Found, e[1], cell !== undefined && cell.isAlive ? cell.self.address : null])
}

export const onSpawn = (router: Router, peer: Peer, e: Array<any>): void => {
  const [, requestId, module, name] = e
  const spawn = typeof module === "string" ? router.spawnable.get(module) : undefined
  if (spawn === undefined) {
    router.send(peer, [Kind.Spawned, requestId, null, `module ${JSON.stringify(module)} is not spawnable on ${router.system.nodeId.name}`])
    return
  }
  Effect.runFork(
    spawn(typeof name === "string" ? name : undefined).pipe(
      Effect.match({
        onSuccess: (ref) => router.send(peer, [Kind.Spawned, requestId, ref.address, null]),
        onFailure: (error) => router.send(peer, [Kind.Spawned, requestId, null, String((error as any)?.message ?? error)])
      })
    )
  )
}
