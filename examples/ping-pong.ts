/**
 * Ping-pong across two nodes: a `Ponger` on one node answers every `Ping` with a `Pong` to the
 * ref it was sent (refs travel inside messages), and a `Pinger` on the other keeps the ball in
 * play for a number of rounds, then reports how long the rally took.
 */
import { Context, Deferred, Effect, Layer, Redacted, References, Schema } from "effect"
import { Actor, ActorContext, ActorRef, ActorSystem, Node } from "../src/index.ts"

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

// `node examples/ping-pong.ts`: two nodes in this process, talking over loopback TCP exactly
// as two processes (or machines) would
if (import.meta.main) {
  const secret = Redacted.make("ping-pong example")
  const startNode = (name: string) =>
    Layer.build(Node.layerWithSystem({ name, cluster: "ping-pong", secret })).pipe(
      Effect.map((ctx) => ({ node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem) }))
    )
  const program = Effect.gen(function*() {
    const pong = yield* startNode("pong")
    const ping = yield* startNode("ping")
    yield* pong.system.spawn(PongerLive, { name: "ponger" })
    yield* ping.node.connect({ name: "pong", host: "127.0.0.1", port: pong.node.address.port })
    const ponger = yield* ping.node.lookup("pong", Ponger, "ponger")
    console.log(`pinger on node ping, ponger on node pong (127.0.0.1:${pong.node.address.port})`)
    const done = yield* Deferred.make<number>()
    const started = Date.now()
    yield* ping.system.spawn(makePinger(ponger, 1000, done))
    const rounds = yield* Deferred.await(done)
    console.log(`${rounds} rounds of ping-pong across TCP in ${Date.now() - started} ms`)
  })
  Effect.runPromise(program.pipe(
    Effect.scoped,
    Effect.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
  ))
}
