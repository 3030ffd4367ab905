/**
 * A chat room service: rooms live on one node, registered cluster-wide by name; members on any
 * node join with a ref to their inbox and receive every message posted after they joined, in
 * order. The room monitors its members: a member that stops, or whose node is lost, leaves the
 * room without anyone having to say so.
 */
import { Effect, Schema } from "effect"
import { Actor, ActorContext, ActorRef, type Down } from "../src/index.ts"

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
