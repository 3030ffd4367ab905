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
 * @since 0.1.0
 */
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
