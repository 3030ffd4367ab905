/**
 * Ping-pong across two nodes: a `Ponger` on one node answers every `Ping` with a `Pong` to the
 * ref it was sent (refs travel inside messages), and a `Pinger` on the other keeps the ball in
 * play for a number of rounds, then reports how long the rally took.
 */
import { Deferred, Effect, Schema } from "effect"
import { Actor, ActorContext, ActorRef } from "../src/index.ts"

export const Ponger = Actor.make("PingPong/Ponger", {
  Ping: Actor.tell({ n: Schema.Int, replyTo: ActorRef.schema })
})

export const Pinger = Actor.make("PingPong/Pinger", {
  Pong: Actor.tell({ n: Schema.Int })
})

export const PongerLive = Ponger.behavior(Effect.succeed({
  Ping: ({ n, replyTo }) => (replyTo as ActorRef.ActorRef<typeof Pinger.defs>).tell(Pinger.Pong({ n }))
}))

/** Plays `rounds` rounds against `ponger`, then completes `done` with the number of rounds played. */
export const makePinger = (
  ponger: ActorRef.ActorRef<typeof Ponger.defs>,
  rounds: number,
  done: Deferred.Deferred<number>
) =>
  Pinger.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    yield* ponger.tell(Ponger.Ping({ n: 1, replyTo: ctx.self }))
    return {
      Pong: ({ n }) =>
        n >= rounds
          ? Deferred.succeed(done, n)
          : ponger.tell(Ponger.Ping({ n: n + 1, replyTo: ctx.self }))
    }
  }))
