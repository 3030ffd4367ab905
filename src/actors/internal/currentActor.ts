/**
 * Finds the actor (if any) whose fiber is running, to record the sender of an ask.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"
import { ActorContext } from "../ActorContext.ts"
import type { ActorRef } from "../ActorRef.ts"

export const currentSelf = (fiber: Fiber.Fiber<unknown, unknown>): ActorRef<any> | undefined =>
  Context.getOrUndefined(fiber.context, ActorContext)?.self
