/**
 * Actor modules: a protocol of Schema-validated messages plus a behaviour.
 *
 * ```ts
 * const Counter = Actor.make("Counter", {
 *   Increment: Actor.tell({ by: Schema.Int }),
 *   Get: Actor.ask({}, { success: Schema.Int })
 * })
 *
 * const CounterLive = Counter.behavior(Effect.gen(function*() {
 *   let count = 0 // private state: lives as long as this incarnation of the actor
 *   return {
 *     Increment: ({ by }) => Effect.sync(() => { count += by }),
 *     Get: () => Effect.succeed(count)
 *   }
 * }))
 * ```
 *
 * A protocol is a set of tagged messages. `tell` messages are one-way; `ask` messages have a
 * reply with `success` and `error` schemas. Every message has a Schema so it can cross a
 * process boundary; locally, messages are passed by reference without copying.
 *
 * The behaviour's initialisation runs once per incarnation (again on every restart), inside
 * the actor's own `Scope` and with the `ActorContext` available; the handlers it returns close
 * over its state. Handlers run one message at a time. An ask handler's typed failure goes back to
 * the asker and the actor keeps running; a defect — or any failure of a `tell` handler, which has
 * nobody to report to — ends the actor with an `Error` exit reason, and its supervisor decides. A handler may opt into concurrency by
 * returning `Actor.fork(effect)`: the effect then runs in its own fiber (in the actor's scope)
 * while the actor goes on with its mailbox; an ask's reply is sent when that fiber completes.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { ActorContext } from "./ActorContext.ts"
import type { Down, ExitSignal } from "./Signals.ts"
import * as ProtocolRegistry from "./ProtocolRegistry.ts"

// ---------------------------------------------------------------------------
// message definitions
// ---------------------------------------------------------------------------

/** A one-way message. */
export interface TellDef<F extends Schema.Struct.Fields = Schema.Struct.Fields> {
  readonly _kind: "tell"
  readonly fields: F
}

/** A request/reply message. */
export interface AskDef<
  F extends Schema.Struct.Fields = Schema.Struct.Fields,
  S extends Schema.Top = Schema.Top,
  E extends Schema.Top = Schema.Top
> {
  readonly _kind: "ask"
  readonly fields: F
  readonly success: S
  readonly error: E
}

export type MessageDef = TellDef<any> | AskDef<any, any, any>
export type MessageDefs = { readonly [tag: string]: MessageDef }

export const tell = <const F extends Schema.Struct.Fields>(fields: F): TellDef<F> => ({ _kind: "tell", fields })

export const ask = <
  const F extends Schema.Struct.Fields,
  S extends Schema.Top = typeof Schema.Void,
  E extends Schema.Top = typeof Schema.Never
>(
  fields: F,
  reply?: { readonly success?: S; readonly error?: E }
): AskDef<F, S, E> => ({
  _kind: "ask",
  fields,
  success: (reply?.success ?? Schema.Void) as S,
  error: (reply?.error ?? Schema.Never) as E
})

// ---------------------------------------------------------------------------
// types derived from a protocol
// ---------------------------------------------------------------------------

type Tags<D extends MessageDefs> = keyof D & string

export type MessageOf<D extends MessageDefs, K extends Tags<D>> =
  & { readonly _tag: K }
  & Schema.Struct.Type<D[K]["fields"]>
export type Message<D extends MessageDefs> = { [K in Tags<D>]: MessageOf<D, K> }[Tags<D>]
export type AskTag<D extends MessageDefs> = { [K in Tags<D>]: D[K] extends AskDef<any, any, any> ? K : never }[Tags<D>]
export type AskMessage<D extends MessageDefs> = { [K in AskTag<D>]: MessageOf<D, K> }[AskTag<D>]
export type SuccessOf<D extends MessageDefs, K extends Tags<D>> = D[K] extends AskDef<any, infer S, any> ? S["Type"]
  : void
export type ErrorOf<D extends MessageDefs, K extends Tags<D>> = D[K] extends AskDef<any, any, infer E> ? E["Type"]
  : never

/** Optional handlers for signals delivered as messages (see `Signals.ts`). */
export interface SignalHandlers<R> {
  /** A monitored actor stopped. */
  readonly onDown?: (down: Down) => Effect.Effect<unknown, never, R>
  /** A linked actor exited while this actor traps exits. */
  readonly onExit?: (exit: ExitSignal) => Effect.Effect<unknown, never, R>
}

export type Handlers<D extends MessageDefs, R> =
  & {
    readonly [K in Tags<D>]: (
      message: MessageOf<D, K>
    ) => D[K] extends AskDef<any, any, any> ? Effect.Effect<SuccessOf<D, K>, ErrorOf<D, K>, R>
      // a tell has nobody to report to: a failure (typed or not) ends the actor, and its supervisor decides
      : Effect.Effect<unknown, unknown, R>
  }
  & SignalHandlers<R>

/** What `spawn` needs: a protocol plus the effect that initialises one incarnation. */
export interface Behavior<D extends MessageDefs = any, out E = unknown, out R = never> {
  readonly protocol: ActorProtocol<D>
  readonly init: Effect.Effect<Handlers<D, any>, E, any>
  /**
   * The stop budget of an actor of this behaviour when `SpawnOptions.shutdown` gives none
   * (default 5 seconds; a supervisor's is `"infinity"`).
   */
  readonly shutdown?: "brutal_kill" | "infinity" | number | undefined
  /** phantom: the services `spawn` must provide */
  readonly "~R"?: (_: never) => R
}

type Constructors<D extends MessageDefs> = {
  readonly [K in Tags<D>]: {} extends Omit<MessageOf<D, K>, "_tag">
    ? (fields?: Omit<MessageOf<D, K>, "_tag">) => MessageOf<D, K>
    : (fields: Omit<MessageOf<D, K>, "_tag">) => MessageOf<D, K>
}

export interface ProtocolBase<D extends MessageDefs> {
  readonly name: string
  readonly defs: D
  /** The union of every message of the protocol. */
  readonly schema: Schema.Codec<Message<D>, unknown>
  /** One TaggedStruct schema per tag. */
  readonly messages: { readonly [K in Tags<D>]: Schema.Codec<MessageOf<D, K>, unknown> }
  // a method (not a function property) so that any protocol is assignable to ActorProtocol<any>
  behavior<E = never, R = never>(
    init: Effect.Effect<Handlers<D, R>, E, R>
  ): Behavior<D, E, Exclude<R, ActorContext | Scope.Scope>>
}

export type ActorProtocol<D extends MessageDefs = any> = ProtocolBase<D> & Constructors<D>

/** What the runtime needs of any protocol (every `ActorProtocol` is one). */
export interface AnyProtocol {
  readonly name: string
  readonly defs: MessageDefs
  readonly schema: Schema.Codec<any, unknown>
  readonly messages: { readonly [tag: string]: Schema.Codec<any, unknown> }
}

const TAG = /^[A-Z][A-Za-z0-9_]*$/

export interface ProtocolOptions {
  /**
   * A protocol used only inside its process (e.g. one whose messages carry behaviours): it is
   * not registered, so it is neither advertised to peers nor encodable for a remote actor.
   */
  readonly local?: boolean | undefined
}

/**
 * Defines an actor protocol. Tags must start with an upper-case letter (they double as message
 * constructors on the returned object: `Counter.Increment({ by: 1 })`). The protocol is
 * registered in its process (`ProtocolRegistry`) unless it is `local`.
 */
export const make = <const D extends MessageDefs>(name: string, defs: D, options?: ProtocolOptions): ActorProtocol<D> => {
  if (name.length === 0) throw new globalThis.Error("Actor.make: the protocol name must not be empty")
  const messages: Record<string, Schema.Top> = {}
  const constructors: Record<string, (fields?: object) => unknown> = {}
  for (const tag of Object.keys(defs)) {
    if (!TAG.test(tag)) {
      throw new globalThis.Error(
        `Actor.make(${JSON.stringify(name)}): message tag ${JSON.stringify(tag)} must match ${TAG} (e.g. "Increment")`
      )
    }
    messages[tag] = Schema.TaggedStruct(tag, defs[tag]!.fields)
    constructors[tag] = (fields) => ({ ...fields, _tag: tag })
  }
  const schema = Schema.Union(Object.values(messages) as Array<Schema.Top>) as unknown as Schema.Codec<
    Message<D>,
    unknown
  >
  const protocol: ProtocolBase<D> = {
    name,
    defs,
    schema,
    messages: messages as any,
    behavior: (init) => ({ protocol: protocol as ActorProtocol<D>, init })
  }
  const result = Object.assign(protocol, constructors) as ActorProtocol<D>
  if (options?.local !== true) ProtocolRegistry.register(result as unknown as AnyProtocol)
  return result
}

/** Whether the tag names a request/reply message of the protocol. */
export const isAsk = (protocol: AnyProtocol, tag: string): boolean => protocol.defs[tag]?._kind === "ask"

// ---------------------------------------------------------------------------
// opt-in concurrency
// ---------------------------------------------------------------------------

/** @internal */
export const ForkTypeId: unique symbol = Symbol.for("telex/Actor/fork")

/**
 * A handlers object may hold, under this key, one function for all its tags, shared by every
 * actor of a behaviour: the cell then calls `dispatch(handlers, message, untraced)` where it
 * would call `handlers[tag](message)`, with the same result (the tag's handler must still be
 * there, for the cell to know the tag). `untraced`: the cell runs the effect returned at once,
 * with no span around it (the message is not a traced ask), so a `dispatch` may run an
 * `Effect.sync`'s body itself and return its `Exit`. A wrapper (`Supervise.behavior`) keeps its state in the handlers
 * object instead of in a closure per actor: two objects fewer to reach per message.
 *
 * @internal
 */
export const DispatchTypeId: unique symbol = Symbol.for("telex/Actor/dispatch")

/**
 * A handlers object with a `dispatch` that calls another handlers object's handler (a wrapper's
 * inner behaviour, `Supervise.behavior`'s current incarnation) may give that object under this
 * key, and under `GuardTypeId` a function `guard(handlers, effect, message, untraced)` that does
 * to the inner handler's effect what `dispatch` would. The cell then calls the inner handler
 * itself, as a method of the inner object, and the guard only for an effect that may fail (not
 * a successful Exit, nor an untraced `Effect.sync` whose body returned): the wrapper's object
 * is not read per message, one cache miss fewer for an actor among many not used lately. A
 * wrapper that changes its inner object tells the cell (`Kernel.reincarnated`).
 *
 * @internal
 */
export const IncarnationTypeId: unique symbol = Symbol.for("telex/Actor/incarnation")

/** See `IncarnationTypeId`. @internal */
export const GuardTypeId: unique symbol = Symbol.for("telex/Actor/guard")

/**
 * See `IncarnationTypeId`: `handler(handlers, tag)`, the inner handler `dispatch` would call for
 * a tag (undefined when none), which the cell may keep until the wrapper's next change.
 *
 * @internal
 */
export const HandlerTypeId: unique symbol = Symbol.for("telex/Actor/handler")

/**
 * Marks a handler's effect to run concurrently with the actor's next messages, in its own fiber
 * inside the actor's scope (like `Rpc.fork` for Effect's entities). State shared between
 * concurrent handlers is the behaviour's responsibility. Its ask is a call like any other: it
 * fails with `ActorStopped` when the actor is gone before the handler has answered (a result
 * that comes later answers nobody), and a `ctx.stop()` in it stops the actor once it has ended.
 */
export const fork = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const forked = Effect.suspend(() => effect)
  ;(forked as any)[ForkTypeId] = true
  return forked
}
