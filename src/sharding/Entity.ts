/**
 * Sharded entities: actors addressed by a key, activated on demand on the node that owns the
 * key's shard, moved by the cluster, passivated when idle (Akka Cluster Sharding's entities,
 * Orleans' virtual actors). No spawn, no lookup: `Sharding.entity(CartEntity)` on any node
 * gives refs by key (example below).
 *
 * An entity is a plain Telex behaviour of its protocol; inside it `EntityContext` gives its key
 * (and `ActorContext` its actor's context, as for any actor). Each activation is an actor the
 * sharding runtime spawns and stops itself (each within `stopBudget`, then killed), wrapped
 * with `restart` rules (`Supervise.behavior`: by default a failure
 * restarts it in place, at most 10 times in 10 s, then it stops; the next message activates it
 * again). It stops when idle for `passivateAfter`, when its shard moves to another node (after
 * handling the messages it was sent before the move), or when it stops itself.
 *
 * With `state`, the entity has durable state (Akka's DurableStateBehavior): loaded from the
 * shard store when it activates (or `initial`), and saved after each handled message that
 * changed it — before an ask's reply is sent, so an acknowledged update is never lost — under
 * the shard's lease epoch: a stale owner's write is refused (`StaleEpoch`), and its shard
 * stops. A save that fails is a failure of the entity (restarted from its saved state); the
 * asker gets `ShardingError` `StateNotSaved`. An activation or in-place restart loads the state
 * once the last write of the one before has landed or failed (a write goes on when its handler
 * is interrupted), and a forked handler (`Actor.fork`) still running when its incarnation ends
 * (an in-place restart does not stop it) saves nothing: its changes are those of an ended
 * incarnation; it fails with `StateNotSaved` (a failure of the entity, as a failed save) and its
 * ask is not acknowledged.
 *
 * @example
 * import { Effect, Layer, Schema } from "effect"
 * import { Actor, ActorSystem, Entity, Sharding, ShardStore } from "telex"
 *
 * const Cart = Actor.make("Cart", {
 *   Add: Actor.tell({ item: Schema.String }),
 *   Items: Actor.ask({}, { success: Schema.Array(Schema.String) })
 * })
 * const Items = Schema.Array(Schema.String)
 *
 * const CartEntity = Entity.make(Cart, Cart.behavior(Effect.gen(function*() {
 *   const items = yield* Entity.state(Items) // loaded at activation, saved after each change
 *   return {
 *     Add: ({ item }) => items.update((xs) => [...xs, item]),
 *     Items: () => items.get
 *   }
 * })), { passivateAfter: "2 minutes", state: { schema: Items, initial: [] } })
 *
 * const program = Effect.gen(function*() {
 *   const carts = yield* Sharding.entity(CartEntity) // on any node
 *   yield* carts.ref("user-42").tell(Cart.Add({ item: "book" }))
 *   return yield* carts.ref("user-42").ask(Cart.Items()) // ["book"]
 * })
 *
 * // one node; in a cluster, the node's `Node` layer too and a shared store (SQLite, PostgreSQL)
 * const ShardingLive = Sharding.layer({ entities: [CartEntity] }).pipe(
 *   Layer.provide(ShardStore.Service.layer(ShardStore.memory())),
 *   Layer.provideMerge(ActorSystem.layer())
 * )
 * Effect.runPromise(program.pipe(Effect.provide(ShardingLive), Effect.scoped)).then(console.log)
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { ActorProtocol, AskMessage, Behavior, ErrorOf, Message, MessageDefs, SuccessOf } from "../actors/Actor.ts"
import type { AskError, TellError } from "../actors/ActorError.ts"
import type { AskOptions } from "../actors/ActorRef.ts"
import type { MailboxOptions } from "../actors/Mailbox.ts"
import type { ActorSystem } from "../system/ActorSystem.ts"
import type * as Supervise from "../supervision/Supervise.ts"
import type { Sharding } from "./Sharding.ts"
import type { ShardingError } from "./ShardingError.ts"

/** Durable state of an entity: its Schema (stored as the JSON of its encoded form) and its value before any save. */
export interface StateOptions<S> {
  readonly schema: Schema.Codec<S, any>
  /** the state of a key never saved: a value, or a function of the key */
  readonly initial: S | ((key: string) => S)
}

export interface Options<S = never> {
  /** the entity type's name, unique in the cluster; default the protocol's name */
  readonly type?: string | undefined
  /**
   * stop the entity after this long without a message (its state is already saved); default
   * never. Idleness is checked at each lease round (every `renewInterval`), so it stops between
   * `passivateAfter` and `passivateAfter` + two rounds after its last message.
   */
  readonly passivateAfter?: Duration.Input | undefined
  readonly state?: StateOptions<S> | undefined
  /**
   * What a failure of the entity does (`Supervise.behavior` rules, applied in place: same ref
   * and mailbox). Default: restart, at most 10 times in 10 s, then stop. `[]`: a failure stops
   * it (the next message activates it again).
   */
  readonly restart?: ReadonlyArray<Supervise.Rule> | undefined
  /** The mailbox of each activation (capacity and overflow policy). Default: the actor default. */
  readonly mailbox?: MailboxOptions | undefined
}

/** The services an entity's behaviour may use, besides its actor's own. */
export type Services = EntityContext | Sharding | ActorSystem

/** An entity type: a protocol, its behaviour, and how its activations live. Make it with `make`. */
export interface Entity<D extends MessageDefs = any, S = any> {
  readonly _tag: "Entity"
  readonly type: string
  readonly protocol: ActorProtocol<D>
  readonly behavior: Behavior<D, any, any>
  readonly passivateAfterMillis: number | undefined
  readonly state: StateOptions<S> | undefined
  readonly restart: ReadonlyArray<Supervise.Rule>
  readonly mailbox: MailboxOptions | undefined
  /** a singleton: activated by its owner without a message, never passivated (`Singleton.make`) */
  readonly singleton: boolean
}

export const defaultRestart: ReadonlyArray<Supervise.Rule> = [
  { match: () => true, directive: "restart", limit: { maxRestarts: 10, within: "10 seconds" } }
]

const TYPE = /^[A-Za-z0-9_.:/-]{1,200}$/

/**
 * Defines an entity type. Throws on invalid options (a programming error, as `Supervisor.make`
 * does): a type name other than letters, digits and `_.:/-`, a negative `passivateAfter`, a
 * `state` without a schema.
 */
export const make = <D extends MessageDefs, E, R extends Services = never, S = never>(
  protocol: ActorProtocol<D>,
  behavior: Behavior<D, E, R>,
  options?: Options<S>
): Entity<D, S> => {
  const type = options?.type ?? protocol.name
  if (!TYPE.test(type)) throw new Error(`Entity.make: the entity type ${JSON.stringify(type)} must match ${TYPE}`)
  if (behavior?.protocol !== protocol) throw new Error(`Entity.make(${type}): the behaviour is not one of this protocol (use ${protocol.name}.behavior(...))`)
  let passivateAfterMillis: number | undefined
  if (options?.passivateAfter !== undefined) {
    const d = Duration.fromInput(options.passivateAfter)
    if (d._tag === "None" || Duration.toMillis(d.value) <= 0) {
      throw new Error(`Entity.make(${type}): passivateAfter must be a positive duration`)
    }
    passivateAfterMillis = Duration.toMillis(d.value)
  }
  if (options?.state !== undefined && !Schema.isSchema(options.state.schema)) {
    throw new Error(`Entity.make(${type}): state.schema must be a Schema`)
  }
  return {
    _tag: "Entity",
    type,
    protocol,
    behavior,
    passivateAfterMillis,
    state: options?.state,
    restart: options?.restart ?? defaultRestart,
    mailbox: options?.mailbox,
    singleton: false
  }
}

/** An entity's durable state, for its behaviour (`Entity.state(schema)`). */
export interface EntityState<S> {
  /** the current value */
  readonly get: Effect.Effect<S>
  /** replaces the value; it is saved when the current message has been handled */
  set(value: S): Effect.Effect<void>
  update(f: (value: S) => S): Effect.Effect<void>
}

export interface EntityContextShape {
  readonly entityType: string
  readonly entityKey: string
  readonly shard: number
  /** the lease epoch this activation runs under (fences its state writes) */
  readonly epoch: number
  /** this node's name */
  readonly node: string
  /** @internal the durable state, if the entity has one */
  readonly state: EntityState<unknown> | undefined
}

/** What an entity knows of itself: `const { entityKey } = yield* EntityContext`. */
export class EntityContext extends Context.Service<EntityContext, EntityContextShape>()("telex/EntityContext") {}

/** The entity's key. */
export const key: Effect.Effect<string, never, EntityContext> = EntityContext.useSync((ctx) => ctx.entityKey)

/**
 * The entity's durable state, typed by its schema (the one given to `make` as `state.schema`).
 * A defect in an entity without `state`.
 */
export const state = <S>(_schema: Schema.Codec<S, any>): Effect.Effect<EntityState<S>, never, EntityContext> =>
  EntityContext.use((ctx) =>
    ctx.state === undefined
      ? Effect.die(new Error(`entity ${ctx.entityType} has no durable state (Entity.make(..., { state: { schema, initial } }))`))
      : Effect.succeed(ctx.state as EntityState<S>))

/**
 * A ref to one entity: its type and key. Sending activates it where its shard lives. Same
 * sending API as `ActorRef`; tells are at most once, as Telex's.
 */
export interface EntityRef<D extends MessageDefs = any> {
  readonly entityType: string
  readonly key: string
  /** the key's shard (see `Sharding.shardOf`) */
  readonly shard: number
  /**
   * Sends a one-way message. Succeeds once it is on its way (or held while its shard has no
   * owner, or is handed over: delivered when it has one); `ShardingError` `BufferFull` when
   * this node holds too many.
   */
  tell(message: Message<D>): Effect.Effect<void, TellError | ShardingError>
  /**
   * Sends a request and waits for the reply (default timeout 5 s), across moves of its shard:
   * held while the shard has no owner, redirected when a node no longer owns it.
   */
  ask<M extends AskMessage<D>>(
    message: M,
    options?: AskOptions
  ): Effect.Effect<SuccessOf<D, M["_tag"]>, ErrorOf<D, M["_tag"]> | AskError | ShardingError>
}

/** The refs of one entity type, from `Sharding.entity`. */
export interface EntityClient<D extends MessageDefs = any> {
  readonly entity: Entity<D>
  ref(key: string): EntityRef<D>
}
