/**
 * Dead letters: messages that could not be delivered, with the reason. They are published on
 * `ActorSystem.deadLetters` (a stream) and logged at debug level; nothing is dropped silently.
 *
 * @since 0.1.0
 */
import type { ExitReason } from "./ExitReason.ts"

export type DeadLetterReason =
  | { readonly _tag: "NoSuchActor" }
  | { readonly _tag: "ActorStopped"; readonly reason: ExitReason }
  | { readonly _tag: "MailboxFull"; readonly capacity: number }
  | { readonly _tag: "InvalidMessage"; readonly issue: string }
  | { readonly _tag: "NoRoute"; readonly node: string }
  /** refused before it left this node: the link to `node` is overloaded (a remote `tellUnsafe`) */
  | { readonly _tag: "Overloaded"; readonly node: string; readonly detail: string }

export interface DeadLetter {
  /** The address the message was sent to, formatted (`Protocol@node#incarnation/id`). */
  readonly recipient: string
  readonly message: unknown
  readonly reason: DeadLetterReason
}

export const formatReason = (reason: DeadLetterReason): string => {
  switch (reason._tag) {
    case "NoSuchActor":
      return "no such actor"
    case "ActorStopped":
      return `actor stopped (${reason.reason._tag})`
    case "MailboxFull":
      return `mailbox full (capacity ${reason.capacity})`
    case "InvalidMessage":
      return `invalid message: ${reason.issue}`
    case "NoRoute":
      return `no route to node ${reason.node}`
    case "Overloaded":
      return `link to node ${reason.node} overloaded: ${reason.detail}`
  }
}
