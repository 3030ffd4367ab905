/**
 * Node metrics in Prometheus format, with Effect's `Metric` (served by `effect/observability`'s
 * `PrometheusMetrics` formatter on `GET /metrics`, loopback only).
 *
 * The message path keeps plain counters (a `Metric.update` per message would cost more than the
 * whole hand-off); they are folded into Effect metrics when scraped:
 *
 * - `telex_messages_delivered_total{node}`, `telex_dead_letters_total{node}`
 * - `telex_actors{node}`, `telex_mailbox_depth_total{node}`, `telex_mailbox_depth_max{node}`
 * - `telex_restarts_total{node}` (supervision events)
 * - `telex_link_up{node,peer}`, `telex_link_envelopes_sent_total{node,peer}`,
 *   `telex_link_envelopes_received_total{node,peer}`, `telex_link_lost_total{node,peer}` (LinkGap)
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import { ActorSystem, kernelOf } from "../system/ActorSystem.ts"
import { Node } from "../transport/Node.ts"

export interface MetricsServer {
  readonly port: number
  /** the current exposition text (also what GET /metrics returns) */
  readonly scrape: () => string
}

export const serve = Effect.fnUntraced(function*(port: number, host = "127.0.0.1") {
  const system = yield* ActorSystem
  const node = yield* Node
  const kernel = kernelOf(system)
  const context = yield* Effect.context<never>()
  const name = system.nodeId.name
  const at = (m: Metric.Metric<number, any>, extra?: Record<string, string>) =>
    Metric.withAttributes(m, { node: name, ...extra })

  const delivered = at(Metric.counter("telex_messages_delivered_total", { description: "messages accepted into local mailboxes", incremental: true }))
  const deadLetters = at(Metric.counter("telex_dead_letters_total", { description: "undeliverable messages", incremental: true }))
  const restarts = at(Metric.counter("telex_restarts_total", { description: "children restarted by supervisors", incremental: true }))
  const actors = at(Metric.gauge("telex_actors", { description: "live actors" }))
  const depthTotal = at(Metric.gauge("telex_mailbox_depth_total", { description: "messages queued in all mailboxes" }))
  const depthMax = at(Metric.gauge("telex_mailbox_depth_max", { description: "deepest mailbox" }))
  const linkUp = (peer: string) => at(Metric.gauge("telex_link_up", { description: "1 when the connection to the peer is up" }), { peer })
  const linkSent = (peer: string) =>
    at(Metric.counter("telex_link_envelopes_sent_total", { description: "envelopes sent to the peer", incremental: true }), { peer })
  const linkReceived = (peer: string) =>
    at(Metric.counter("telex_link_envelopes_received_total", { description: "envelopes received from the peer", incremental: true }), { peer })
  const linkLost = (peer: string) =>
    at(Metric.counter("telex_link_lost_total", { description: "envelopes sent on a connection that ended before the peer received them", incremental: true }), { peer })

  const exported = { delivered: 0, deadLetters: 0 }
  /** per peer: totals of ended connections, and what we exported so far */
  const links = new Map<string, { sentEnded: number; receivedEnded: number; sentExported: number; receivedExported: number }>()
  const link = (peer: string) => {
    let l = links.get(peer)
    if (l === undefined) links.set(peer, l = { sentEnded: 0, receivedEnded: 0, sentExported: 0, receivedExported: 0 })
    return l
  }

  yield* system.supervisionEvents.pipe(
    Stream.runForEach((e) => Effect.sync(() => {
      if (e._tag === "ChildRestarted") restarts.updateUnsafe(1, context)
    })),
    Effect.forkScoped
  )
  yield* node.events.pipe(
    Stream.runForEach((e) => Effect.sync(() => {
      if (e._tag === "NodeDown") {
        const l = link(e.node.name)
        l.sentEnded += e.sent
        l.receivedEnded += e.received
      } else if (e._tag === "LinkGap") {
        linkLost(e.node.name).updateUnsafe(e.lost, context)
      }
    })),
    Effect.forkScoped
  )

  const sync = () => {
    const snapshot = kernel.snapshot()
    delivered.updateUnsafe(snapshot.delivered - exported.delivered, context)
    exported.delivered = snapshot.delivered
    deadLetters.updateUnsafe(snapshot.deadLetters - exported.deadLetters, context)
    exported.deadLetters = snapshot.deadLetters
    let total = 0
    let max = 0
    for (const actor of snapshot.actorInfos) {
      total += actor.mailbox
      if (actor.mailbox > max) max = actor.mailbox
    }
    actors.updateUnsafe(snapshot.actors, context)
    depthTotal.updateUnsafe(total, context)
    depthMax.updateUnsafe(max, context)
    for (const peer of node.linkStats()) {
      const l = link(peer.name)
      const sent = l.sentEnded + peer.sent
      const received = l.receivedEnded + peer.received
      linkSent(peer.name).updateUnsafe(Math.max(0, sent - l.sentExported), context)
      linkReceived(peer.name).updateUnsafe(Math.max(0, received - l.receivedExported), context)
      l.sentExported = Math.max(l.sentExported, sent)
      l.receivedExported = Math.max(l.receivedExported, received)
      linkUp(peer.name).updateUnsafe(peer.up ? 1 : 0, context)
    }
  }
  const scrape = () => {
    sync()
    return PrometheusMetrics.formatUnsafe(context)
  }

  const server = Http.createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" })
      res.end(scrape())
    } else {
      res.writeHead(404).end()
    }
  })
  const bound = yield* Effect.callback<number, Error>((resume) => {
    server.once("error", (e) => resume(Effect.fail(e)))
    server.listen(port, host, () => resume(Effect.succeed((server.address() as { port: number }).port)))
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
  return { port: bound, scrape } satisfies MetricsServer
})
