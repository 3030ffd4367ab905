/**
 * Remote watch: links and monitors between actors of two nodes, and node monitors.
 *
 * Each side keeps what it must undo when the connection is lost, since the peer can no longer
 * tell it: the links between its actors and the peer's (they fire `NoConnection` locally), the
 * monitors its actors hold on the peer's (they deliver `Down(NoConnection)`), and the monitors
 * the peer's actors hold on its own (removed, as their watchers are gone). A monitor has an id
 * on each side; the watcher's id travels in `Monitor` and comes back in `Down`.
 *
 * Signals are addressed like messages (`to`): one for another incarnation of the node (an
 * actor of its predecessor) is never sent, lest it reach the successor's actor with that id.
 *
 * @internal
 */
import type { ActorAddress, ActorRef } from "../../actors/ActorRef.ts"
import * as ExitReason from "../../actors/ExitReason.ts"
import { type LocalActor, type Target, targetOf } from "../../actors/Kernel.ts"
import { Down, MonitorRef } from "../../actors/Signals.ts"
import * as Envelope from "../Envelope.ts"
import { Kind } from "../Envelope.ts"
import { decodeReason, encodeReason } from "./codecs.ts"
import type { Peer } from "./peers.ts"
import type { Router } from "./router.ts"
import type { PendingTarget } from "./writer.ts"

/** Where an outbound signal goes: an actor id, a target resolved at attach time (see `writer.ts`). */
export type To = number | PendingTarget

/**
 * The key of a link between a local actor and an actor of the peer: the remote side by node and
 * id, not protocol (the exit signal for a link to an actor that was already gone names the
 * linker's protocol, the only one its node knows).
 */
export const linkKey = (localKey: string, remote: ActorAddress): string =>
  `${localKey}|${remote.node.name}#${remote.node.incarnation}/${remote.id}`

/** The links and monitors across one peer's connection. */
export class PeerWatch {
  /** links between local actors and actors on this peer, key `local|remote` */
  readonly links = new Map<string, { readonly local: Target; readonly remote: ActorRef<any> }>()
  /** monitors of local watchers on actors of this peer, by monitor id */
  readonly watches = new Map<number, { readonly watcher: ActorRef<any>; readonly target: ActorRef<any> }>()
  /** monitors of this peer's watchers on local actors: remote monitor id ↔ local id */
  readonly remoteMonitors = new Map<number, { readonly localId: number; readonly cell: LocalActor }>()
  readonly localToRemote = new Map<number, number>()

  /** The connection is gone: links fire, watchers get Down, the peer's monitors are removed. */
  connectionLost(node: string): void {
    const noconnection = ExitReason.noconnection(node)
    const links = Array.from(this.links.values())
    this.links.clear()
    for (const { local, remote } of links) local.exitSignal(remote, noconnection)
    const watches = Array.from(this.watches.entries())
    this.watches.clear()
    for (const [id, { watcher, target }] of watches) {
      targetOf(watcher).signal(new Down(new MonitorRef(id, target), target, noconnection))
    }
    for (const { localId, cell } of this.remoteMonitors.values()) cell.removeMonitor(localId)
    this.remoteMonitors.clear()
    this.localToRemote.clear()
  }

  /** A buffered Monitor that will not be sent: its watcher gets `Down(reason)` now. */
  monitorRefused(id: number, reason: ExitReason.ExitReason): void {
    const watch = this.watches.get(id)
    if (watch === undefined) return
    this.watches.delete(id)
    targetOf(watch.watcher).signal(new Down(new MonitorRef(id, watch.target), watch.target, reason))
  }

  /** A buffered Link that will not be sent: the local side gets the exit signal now. */
  linkRefused(key: string, reason: ExitReason.ExitReason): void {
    const link = this.links.get(key)
    if (link === undefined) return
    this.links.delete(key)
    link.local.exitSignal(link.remote, reason)
  }
}

// ---------------------------------------------------------------------------
// outbound: a local actor links to, monitors, or signals an actor of the peer
// ---------------------------------------------------------------------------

/** Links local `from` to `remote` (addressed `to`, undefined: another incarnation). */
export const link = (router: Router, peer: Peer, from: ActorRef<any>, remote: ActorRef<any>, to: To | undefined): void => {
  const local = targetOf(from)
  if (to === undefined) return local.exitSignal(remote, ExitReason.noproc)
  const key = linkKey(from.key, remote.address)
  peer.watch.links.set(key, { local, remote })
  if (!router.send(peer, [Kind.Link, from.address, to])) {
    peer.watch.links.delete(key)
    local.exitSignal(remote, ExitReason.noconnection(peer.name))
  }
}

export const unlink = (router: Router, peer: Peer, from: ActorRef<any>, remote: ActorRef<any>, to: To | undefined): void => {
  peer.watch.links.delete(linkKey(from.key, remote.address))
  if (to !== undefined) router.send(peer, [Kind.Unlink, from.address, to])
}

/** An exit signal from local `from`; `direct` (from `system.exit`) belongs to no link. */
export const exit = (
  router: Router,
  peer: Peer,
  from: ActorRef<any>,
  remote: ActorAddress,
  to: To | undefined,
  reason: ExitReason.ExitReason,
  untrappable: boolean | undefined,
  direct: boolean | undefined
): void => {
  if (direct !== true) peer.watch.links.delete(linkKey(from.key, remote))
  if (to === undefined) return // that incarnation is gone
  const encoded = encodeReason(reason)
  // not sent: the connection is gone, and the remote side saw NoConnection
  router.send(
    peer,
    direct === true
      ? [Kind.Exit, from.address, to, encoded, untrappable === true, true]
      : [Kind.Exit, from.address, to, encoded, untrappable === true]
  )
}

export const monitor = (router: Router, peer: Peer, id: number, watcher: ActorRef<any>, remote: ActorRef<any>, to: To | undefined): void => {
  if (to === undefined) {
    return targetOf(watcher).signal(new Down(new MonitorRef(id, remote), remote, ExitReason.noproc))
  }
  peer.watch.watches.set(id, { watcher, target: remote })
  if (!router.send(peer, [Kind.Monitor, watcher.address, to, id])) {
    peer.watch.watches.delete(id)
    targetOf(watcher).signal(new Down(new MonitorRef(id, remote), remote, ExitReason.noconnection(peer.name)))
  }
}

export const demonitor = (router: Router, peer: Peer, id: number, to: To | undefined): void => {
  if (!peer.watch.watches.delete(id)) return
  if (to !== undefined) router.send(peer, [Kind.Demonitor, to, id])
}

/** A local actor the peer monitors has ended: the Down goes back under the peer's monitor id. */
export const down = (router: Router, peer: Peer, message: Down): void => {
  const remoteId = peer.watch.localToRemote.get(message.monitor.id)
  if (remoteId === undefined) return
  peer.watch.localToRemote.delete(message.monitor.id)
  peer.watch.remoteMonitors.delete(remoteId)
  router.send(peer, [Kind.Down, remoteId, message.actor.address, encodeReason(message.reason)])
}

// ---------------------------------------------------------------------------
// inbound (decoded by Envelope.ts): a string returned is a protocol error
// ---------------------------------------------------------------------------

/** Link, Unlink or Exit from an actor of the peer to one of ours. */
export const onLinkSignal = (router: Router, peer: Peer, e: Envelope.Link | Envelope.Unlink | Envelope.Exit): string | undefined => {
  const from = e[1]
  if (from.node.name !== peer.name) return "link signal from an actor of another node"
  const remote = router.refFor(from)
  const cell = router.system.local(e[2])
  const key = (local: string) => linkKey(local, from)
  if (e[0] === Kind.Link) {
    // an actor that is stopping is still there: the link fires when it is gone, with its reason
    if (cell === undefined) {
      // addressed to `from.id`: only on the incarnation of this connection, as any envelope with a `to`
      if (from.node.incarnation !== peer.incarnation) return
      const self = router.refFor({ node: router.system.nodeId, id: e[2], protocol: from.protocol })
      router.send(peer, [Kind.Exit, self.address, from.id, encodeReason(ExitReason.noproc), false])
      return
    }
    peer.watch.links.set(key(cell.self.key), { local: cell, remote })
    cell.addLink(remote)
    return
  }
  if (cell === undefined) return
  // an exit signal sent by `system.exit` (`direct`) is no link's: the link, if any, stays
  const direct = e[0] === Kind.Exit && e[5] === true
  const k = key(cell.self.key)
  const link = direct ? undefined : peer.watch.links.get(k)
  if (link !== undefined) peer.watch.links.delete(k)
  if (e[0] === Kind.Unlink) {
    cell.removeLink(remote)
    return
  }
  // the exit signal of a link our actor has removed (its Unlink crossed this signal): once
  // unlink has returned, the link has no effect on the caller (Erlang's unlink/1)
  if (!direct && link === undefined) return
  const reason = decodeReason(e[3])
  if (reason === undefined) return "undecodable exit reason"
  // from the link's own ref: the NoProc of an actor that was gone names the linker's protocol
  cell.exitSignal(link?.remote ?? remote, reason, e[4], direct)
  return
}

export const onMonitor = (router: Router, peer: Peer, e: Envelope.Monitor): string | undefined => {
  const [, watcherAddress, to, remoteId] = e
  // the Down goes back to the watcher's node: one named for another node would be lost there
  if (watcherAddress.node.name !== peer.name) return "monitor from an actor of another node"
  // a monitor id the peer already uses names this monitor from now on: the earlier one is dropped
  // (its Down could not be told apart, nor could a Demonitor cancel it)
  const previous = peer.watch.remoteMonitors.get(remoteId)
  if (previous !== undefined) {
    peer.watch.remoteMonitors.delete(remoteId)
    peer.watch.localToRemote.delete(previous.localId)
    previous.cell.removeMonitor(previous.localId)
  }
  const cell = router.system.local(to)
  // (an actor that is stopping is monitored: its Down comes when it is gone, with its reason)
  if (cell === undefined) {
    const actor = { node: router.system.nodeId, id: to, protocol: "unknown" }
    router.send(peer, [Kind.Down, remoteId, actor, encodeReason(ExitReason.noproc)])
    return
  }
  const localId = router.system.newMonitorId()
  peer.watch.remoteMonitors.set(remoteId, { localId, cell })
  peer.watch.localToRemote.set(localId, remoteId)
  cell.addMonitor(localId, router.refFor(watcherAddress))
  return
}

export const onDemonitor = (peer: Peer, e: Envelope.Demonitor<unknown>): void => {
  const entry = peer.watch.remoteMonitors.get(e[2])
  if (entry === undefined) return
  peer.watch.remoteMonitors.delete(e[2])
  peer.watch.localToRemote.delete(entry.localId)
  entry.cell.removeMonitor(entry.localId)
}

export const onDown = (peer: Peer, e: Envelope.Down): string | undefined => {
  const id = e[1]
  const watch = peer.watch.watches.get(id)
  if (watch === undefined) return
  const reason = decodeReason(e[3])
  if (reason === undefined) return "undecodable exit reason"
  peer.watch.watches.delete(id)
  targetOf(watch.watcher).signal(new Down(new MonitorRef(id, watch.target), watch.target, reason))
  return
}

// ---------------------------------------------------------------------------
// node monitors
// ---------------------------------------------------------------------------

/** `ctx.monitorNode`: one-shot callbacks per node name, fired when its connection closes. */
export class NodeWatchers {
  private readonly watchers = new Map<string, Set<() => void>>()

  watch(peer: Peer | undefined, node: string, f: () => void): () => void {
    if (peer === undefined || !peer.isUp) {
      f()
      return () => {}
    }
    let watchers = this.watchers.get(node)
    if (watchers === undefined) this.watchers.set(node, watchers = new Set())
    const once = () => f()
    watchers.add(once)
    return () => {
      watchers.delete(once)
    }
  }

  fire(node: string): void {
    const watchers = this.watchers.get(node)
    if (watchers === undefined) return
    this.watchers.delete(node)
    for (const f of watchers) f()
  }
}
