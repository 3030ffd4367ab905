/**
 * A chat room service: rooms live on one node, registered cluster-wide by name; members on any
 * node join with a ref to their inbox and receive every message posted after they joined, in
 * order. The room monitors its members: a member that stops, or whose node is lost, leaves the
 * room without anyone having to say so.
 */
import { Context, Effect, Layer, Option, Redacted, References, Schema } from "effect"
import { Actor, ActorContext, ActorRef, ActorSystem, type Down, Node, Registry } from "../src/index.ts"

export const ChatMessage = Schema.Struct({ room: Schema.String, from: Schema.String, text: Schema.String, seq: Schema.Int })
export type ChatMessage = typeof ChatMessage.Type

export class NotAMember extends Schema.TaggedError<NotAMember>()("NotAMember", { nick: Schema.String }) {}
export class NickTaken extends Schema.TaggedError<NickTaken>()("NickTaken", { nick: Schema.String }) {}

export const Member = Actor.make("Chat/Member", {
  Deliver: Actor.tell({ message: ChatMessage })
})

export const Room = Actor.make("Chat/Room", {
  Join: Actor.ask({ nick: Schema.String, inbox: ActorRef.schemaFor(Member) }, { error: NickTaken }),
  Leave: Actor.tell({ nick: Schema.String }),
  Post: Actor.ask({ nick: Schema.String, text: Schema.String.check(Schema.isMaxLength(1000)) }, { success: Schema.Int, error: NotAMember }),
  Members: Actor.ask({}, { success: Schema.Array(Schema.String) })
})

export const makeRoom = (name: string) =>
  Room.behavior(Effect.gen(function*() {
    const ctx = yield* ActorContext
    const members = new Map<string, ActorRef.ActorRef<typeof Member.defs>>() // by nick
    const monitors = new Map<string, string>() // member key → nick
    let seq = 0
    return {
      Join: ({ nick, inbox }) =>
        Effect.gen(function*() {
          if (members.has(nick)) return yield* new NickTaken({ nick })
          members.set(nick, inbox)
          monitors.set(inbox.key, nick)
          yield* ctx.monitor(inbox)
        }),
      Leave: ({ nick }) => Effect.sync(() => members.delete(nick)),
      Post: ({ nick, text }) =>
        Effect.gen(function*() {
          if (!members.has(nick)) return yield* new NotAMember({ nick })
          const message = { room: name, from: nick, text, seq: ++seq }
          for (const inbox of members.values()) yield* Effect.ignore(inbox.tell(Member.Deliver({ message })))
          return message.seq
        }),
      Members: () => Effect.sync(() => Array.from(members.keys()).sort()),
      onDown: (down: Down) =>
        Effect.sync(() => {
          const nick = monitors.get(down.actor.key)
          monitors.delete(down.actor.key)
          if (nick !== undefined && members.get(nick)?.key === down.actor.key) members.delete(nick)
        })
    }
  }))

/** A member whose inbox hands every message to `onMessage` (a UI, a test, a bot). */
export const makeMember = (onMessage: (message: ChatMessage) => Effect.Effect<void>) =>
  Member.behavior(Effect.succeed({ Deliver: ({ message }) => onMessage(message) }))

// `node examples/chat.ts`: a room on node "home", alice on node "n2", bob on node "n3" (three
// nodes in this process over loopback TCP); then n3 is cut off and bob leaves by himself
if (import.meta.main) {
  const secret = Redacted.make("chat example")
  const startNode = (name: string) =>
    Layer.build(Registry.layer.pipe(Layer.provideMerge(Node.layerWithSystem({ name, cluster: "chat", secret })))).pipe(
      Effect.map((ctx) => ({ node: Context.get(ctx, Node), system: Context.get(ctx, ActorSystem), registry: Context.get(ctx, Registry) }))
    )
  /** polls `check` every 20 ms until it yields a value */
  const eventually = <A>(check: Effect.Effect<A | undefined, unknown>): Effect.Effect<A, unknown> =>
    check.pipe(Effect.flatMap((a) => a !== undefined ? Effect.succeed(a) : Effect.andThen(Effect.sleep("20 millis"), eventually(check))))
  const program = Effect.gen(function*() {
    const home = yield* startNode("home")
    const n2 = yield* startNode("n2")
    const n3 = yield* startNode("n3")
    const homeAddress = { name: "home", host: "127.0.0.1", port: home.node.address.port }
    yield* n2.node.connect(homeAddress)
    yield* n3.node.connect(homeAddress)
    yield* home.registry.register("room:lobby", yield* home.system.spawn(makeRoom("lobby")))
    const whereis = (on: typeof n2) =>
      eventually(Effect.sync(() => Option.getOrUndefined(on.registry.whereis("room:lobby")) as ActorRef.ActorRef<typeof Room.defs> | undefined))
    const show = (node: string, nick: string) => (m: ChatMessage) => Effect.sync(() => console.log(`[${node}] ${nick} sees #${m.seq} ${m.from}: ${m.text}`))
    const alice = yield* n2.system.spawn(makeMember(show("n2", "alice")))
    const bob = yield* n3.system.spawn(makeMember(show("n3", "bob")))
    const lobby2 = yield* whereis(n2)
    const lobby3 = yield* whereis(n3)
    yield* lobby2.ask(Room.Join({ nick: "alice", inbox: alice }))
    yield* lobby3.ask(Room.Join({ nick: "bob", inbox: bob }))
    const taken = yield* Effect.flip(lobby3.ask(Room.Join({ nick: "alice", inbox: bob })))
    console.log(`bob tries the nick "alice": ${taken._tag}`)
    yield* lobby2.ask(Room.Post({ nick: "alice", text: "hello from n2" }))
    yield* lobby3.ask(Room.Post({ nick: "bob", text: "hi alice, n3 here" }))
    yield* lobby2.ask(Room.Post({ nick: "alice", text: "bye" }))
    yield* Effect.sleep("100 millis")
    console.log(`members: ${(yield* lobby2.ask(Room.Members())).join(", ")}`)
    yield* home.node.partition("n3", "30 seconds")
    const left = yield* eventually(lobby2.ask(Room.Members()).pipe(Effect.map((ms) => ms.length === 1 ? ms : undefined)))
    console.log(`n3 cut off: the room's monitor removed bob; members: ${left.join(", ")}`)
  })
  Effect.runPromise(program.pipe(
    Effect.scoped,
    Effect.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  ))
}
