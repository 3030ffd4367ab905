/**
 * What nodes say to each other about sharded entities: each node runs a region actor per entity
 * type (`telex/sharding/<type>`, protocol `telex/ShardRegion`) and one node actor
 * (`telex/sharding`, protocol `telex/ShardingNode`) whose presence makes it a sharding member; a
 * proxy registers the same protocol as `telex/sharding-proxy`, to be told when a member leaves.
 * Entity messages travel as their protocol's encoded form and are decoded (validated) by the
 * receiving region.
 */
import * as Schema from "effect/Schema"
import * as Actor from "../../actors/Actor.ts"
import { AskErrorSchema } from "../../actors/ActorError.ts"
import * as ActorRef from "../../actors/ActorRef.ts"
import { ShardingError } from "../ShardingError.ts"

export const NODE_NAME = "telex/sharding"
/** a proxy's node actor (`hosting: false`): told `Leaving` as members are, and never a member */
export const PROXY_NAME = "telex/sharding-proxy"
export const regionName = (type: string): string => `telex/sharding/${type}`

/** A request's outcome on the owner's node, encoded. */
export const Reply = Schema.Union([
  /**
   * the entity's reply, encoded by the message's `success` schema; `entity`: the running entity's
   * own ref, which the asker may ask directly while the owner holds the shard
   */
  Schema.TaggedStruct("Ok", { value: Schema.Unknown, entity: Schema.optional(ActorRef.schema) }),
  /** the entity's typed error, encoded by the message's `error` schema */
  Schema.TaggedStruct("Fail", { error: Schema.Unknown }),
  /** a runtime error (`RuntimeError`, encoded) */
  Schema.TaggedStruct("Runtime", { error: Schema.Unknown }),
  /** this node does not own the key's shard (nor is it about to): the owner it knows of, if any */
  Schema.TaggedStruct("NotOwner", { owner: Schema.NullOr(Schema.String) })
])
export type Reply = typeof Reply.Type

export const RuntimeError = Schema.Union([AskErrorSchema, ShardingError])

/** The longest `timeoutMillis` of a region `Ask` (setTimeout's bound, about 24.8 days): a longer wait is sent as this. */
export const MAX_ASK_MILLIS = 2_147_483_647

export const RegionProtocol = Actor.make("telex/ShardRegion", {
  /** a tell to entity `key`; `hops`: regions it went through (a region forwards at most twice) */
  Deliver: Actor.tell({ key: Schema.String, message: Schema.Unknown, hops: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) }),
  /** `timeoutMillis`: finite, 0 to `MAX_ASK_MILLIS` (a foreign client's Infinity would hold the ask forever) */
  Ask: Actor.ask({
    key: Schema.String,
    message: Schema.Unknown,
    timeoutMillis: Schema.Number.check(Schema.isFinite(), Schema.isBetween({ minimum: 0, maximum: MAX_ASK_MILLIS }))
  }, { success: Reply })
})
export type RegionProtocol = typeof RegionProtocol.defs

export const NodeProtocol = Actor.make("telex/ShardingNode", {
  /** the node's lease owner id (`name#incarnation`) */
  Owner: Actor.ask({}, { success: Schema.String }),
  /**
   * the node `owner` (its lease owner id) stops gracefully: the receiver stops routing to it and
   * placing shards on it at once (what it sends for its shards waits for their next owner)
   */
  Leaving: Actor.tell({ owner: Schema.String })
})
