/**
 * Checks the logs of processes that raced on one shard store (`test/fixtures/shard-store-child.ts`)
 * for what a lease store must never allow. Every rule holds whatever the processes' speed, since
 * it only relies on: the store stamps a call between its send and its reply, and the host's
 * monotonic clock (shared by the processes) runs at the rate of the store's clock.
 *
 * - an epoch of a shard is granted to one owner only;
 * - the validity intervals of two epochs of a shard held by different owners do not overlap: an
 *   owner's lease begins when the acquisition's reply arrived and ends at (send time of its last
 *   renewal + ttl), or when it sent the release;
 * - an owner is granted a new epoch of a shard it held only once its previous lease had ended on
 *   the store's clock. That end may come up to one tick of the store's clock (`clockResolutionMs`:
 *   1 ms for a store reading `Date.now()`, which truncates its stamps) before (send + ttl), the
 *   end the owner measures. Another owner must wait until that end has passed in real time (a
 *   store with a whole-ms clock gives it the lease only once `now > expires_at`); the owner itself
 *   need not: it holds both epochs, so there is no second holder, and its writes under the old
 *   epoch are refused from then on (the rule on stale writes below). So two epochs of one owner
 *   may overlap by less than that tick, no more;
 * - epochs of a shard only grow: a grant sent after another grant's reply has an epoch >= it;
 * - no write under a stale lease is accepted: not once a larger epoch of the shard had been
 *   confirmed to someone, nor once the lease's own ttl had run out since its last grant;
 * - no acknowledged write is lost: the state left in the store is the one of an accepted write
 *   that no other accepted write followed.
 */
import type { LogLine } from "../fixtures/shard-store-child.ts"

type Grant = Extract<LogLine, { op: "grant" }>
type Write = Extract<LogLine, { op: "write" }>
type Release = Extract<LogLine, { op: "release" }>

export interface Summary {
  readonly grants: number
  readonly takeovers: number
  readonly acceptedWrites: number
  readonly refusedWrites: number
  readonly refusedLateWrites: number
  /** calls the store failed (neither granted nor refused): a few, under load, are expected */
  readonly errors: number
}

export const check = (
  lines: ReadonlyArray<LogLine>,
  ttlMs: number,
  finalState: ReadonlyMap<number, string | undefined>,
  clockResolutionMs = 1
): { readonly violations: ReadonlyArray<string>; readonly summary: Summary } => {
  const violations: Array<string> = []
  const grants = lines.filter((l): l is Grant => l.op === "grant")
  const writes = lines.filter((l): l is Write => l.op === "write")
  const releases = lines.filter((l): l is Release => l.op === "release")
  const shards = new Set(grants.map((g) => g.shard))
  let takeovers = 0

  for (const shard of shards) {
    const ofShard = grants.filter((g) => g.shard === shard)
    const epochs = new Map<number, { owner: string; from: number; until: number; lastReply: number }>()
    for (const g of ofShard) {
      const e = epochs.get(g.epoch)
      if (e === undefined) {
        epochs.set(g.epoch, { owner: g.owner, from: g.replied, until: g.sent + ttlMs, lastReply: g.replied })
        continue
      }
      if (e.owner !== g.owner) violations.push(`shard ${shard}: epoch ${g.epoch} granted to ${e.owner} and ${g.owner}`)
      e.from = Math.min(e.from, g.replied)
      e.until = Math.max(e.until, g.sent + ttlMs)
      e.lastReply = Math.max(e.lastReply, g.replied)
    }
    for (const r of releases) {
      const e = r.shard === shard ? epochs.get(r.epoch) : undefined
      if (e !== undefined && r.owner === e.owner) e.until = Math.min(e.until, r.sent)
    }
    const sorted = [...epochs.entries()].sort((a, b) => a[0] - b[0])
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        const [e1, a] = sorted[i]!
        const [e2, b] = sorted[j]!
        // one owner's epochs may overlap by less than a tick of the store's clock (see above)
        if (a.until > b.from && !(a.owner === b.owner && a.until - b.from < clockResolutionMs)) {
          violations.push(
            `shard ${shard}: epoch ${e1} (${a.owner}, until ${a.until.toFixed(1)}) overlaps epoch ${e2} (${b.owner}, from ${b.from.toFixed(1)})`
          )
        }
      }
      if (i > 0 && sorted[i]![1].owner !== sorted[i - 1]![1].owner) takeovers++
    }
    // epochs only grow: compare each grant with every grant answered before it was sent
    const byReply = ofShard.slice().sort((a, b) => a.replied - b.replied)
    const bySend = ofShard.slice().sort((a, b) => a.sent - b.sent)
    let k = 0
    let maxEpoch = 0
    for (const g of bySend) {
      while (k < byReply.length && byReply[k]!.replied < g.sent) maxEpoch = Math.max(maxEpoch, byReply[k++]!.epoch)
      if (g.epoch < maxEpoch) violations.push(`shard ${shard}: ${g.owner} was granted epoch ${g.epoch} after epoch ${maxEpoch} was confirmed`)
    }

    const accepted = writes.filter((w) => w.shard === shard && w.accepted)
    for (const w of accepted) {
      const own = epochs.get(w.epoch)
      if (own === undefined || own.owner !== w.owner) {
        violations.push(`shard ${shard}: a write of ${w.owner} under epoch ${w.epoch}, never granted to it, was accepted`)
        continue
      }
      const newer = ofShard.find((g) => g.epoch > w.epoch && g.replied < w.sent)
      if (newer !== undefined) {
        violations.push(`shard ${shard}: a write of ${w.owner} under epoch ${w.epoch} was accepted after epoch ${newer.epoch} was granted to ${newer.owner}`)
      }
      const lastReply = Math.max(
        ...ofShard.filter((g) => g.epoch === w.epoch && g.replied <= w.sent).map((g) => g.replied)
      )
      if (w.sent >= lastReply + ttlMs) {
        violations.push(`shard ${shard}: a write of ${w.owner} under epoch ${w.epoch} sent ${(w.sent - lastReply).toFixed(1)} ms after its last grant (ttl ${ttlMs}) was accepted`)
      }
    }
    // the state left is the last accepted write's
    const final = finalState.get(shard)
    if (accepted.length > 0 || final !== undefined) {
      const last = accepted.find((w) => w.value === final)
      if (last === undefined) violations.push(`shard ${shard}: the stored state ${final} is no accepted write's`)
      else {
        const later = accepted.find((w) => w.sent > last.replied)
        if (later !== undefined) violations.push(`shard ${shard}: the accepted write ${later.value} was lost (the store has ${final})`)
      }
    }
  }
  return {
    violations,
    summary: {
      grants: grants.length,
      takeovers,
      acceptedWrites: writes.filter((w) => w.accepted).length,
      refusedWrites: writes.filter((w) => !w.accepted).length,
      refusedLateWrites: writes.filter((w) => !w.accepted && w.late).length,
      errors: lines.filter((l) => l.op === "error").length
    }
  }
}
