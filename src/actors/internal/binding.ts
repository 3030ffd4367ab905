/**
 * Which actor system a decoded ref binds to: the transport's (explicitly, while it decodes an
 * envelope), else the system of the fiber that decodes it — its actor's system, else the system
 * it runs under (`CurrentResolver`, provided by `ActorSystem.layer`). Never "the newest system
 * of the process": two systems in one process keep their refs apart.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Fiber from "effect/Fiber"
import type { Resolver } from "../ActorRef.ts"
import { currentSelf } from "./currentActor.ts"

/** The resolver of refs decoded right now by the transport (dynamically scoped by `withResolver`). */
let decoding: Resolver | undefined

export const decodingResolver = (): Resolver | undefined => decoding

/** Runs `f` with refs decoded inside it bound to `resolver` (the transport decodes inside this). */
export const withResolver = <A>(resolver: Resolver, f: () => A): A => {
  const previous = decoding
  decoding = resolver
  try {
    return f()
  } finally {
    decoding = previous
  }
}

/** The actor system a fiber works for outside any actor: refs it decodes bind to that system. */
export const CurrentResolver = Context.Reference<Resolver | undefined>("telex/CurrentResolver", {
  defaultValue: () => undefined
})

/** The resolver of the running fiber's system, if it has one. */
export const fiberResolver = (): Resolver | undefined => {
  const fiber = Fiber.getCurrent()
  if (fiber === undefined) return undefined
  return currentSelf(fiber)?._resolver ?? Context.get(fiber.context, CurrentResolver)
}
