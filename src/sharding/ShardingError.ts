/**
 * Typed errors of sharded entities, besides the actor runtime's (`AskTimeout`, `InvalidMessage`,
 * `NodeDown`, ...). A Schema class: a node that fails a request for another node's client sends
 * it back as data.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

export class ShardingError extends Schema.TaggedError<ShardingError>()("ShardingError", {
  reason: Schema.Literals([
    /** the node holds as many messages (for shards without an owner, or in handoff) as it may: this one is refused */
    "BufferFull",
    /** the entity type is not hosted here (no `Sharding.entity` / `entities` for it on the owner node) */
    "UnknownEntityType",
    /** the entity's activation failed (its state could not be loaded, or its init failed) */
    "ActivationFailed",
    /** the entity's new state could not be saved: the update is not acknowledged and the entity restarts from its saved state */
    "StateNotSaved",
    /** the shard's lease was lost while the message was handled (a fenced write was refused) */
    "ShardLost"
  ]),
  entityType: Schema.String,
  key: Schema.String,
  message: Schema.String
}) {}

/** A `Sharding` option is invalid (e.g. a lease TTL too short for its renew interval and stop budget). */
export class ShardingConfigError extends Schema.TaggedError<ShardingConfigError>()("ShardingConfigError", {
  message: Schema.String
}) {}
