/**
 * How the runtime tells, without running them, the effects a handler most often returns —
 * `Effect.succeed(...)`/`Effect.void` (a successful Exit), a failed Exit, `Effect.sync(...)` —
 * so that it can settle them in place instead of in a fiber step each: by their prototype
 * (much cheaper than `Exit.isExit`), and for `Effect.sync` by the key of its thunk, found once
 * by probing.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** the prototype of a successful Exit */
export const successProto: object = Object.getPrototypeOf(Exit.void)
/** the prototype of a failed Exit */
export const failureProto: object = Object.getPrototypeOf(Exit.die(undefined))

const probeThunk = () => undefined
const syncProbe = Effect.sync(probeThunk) as any
/** the prototype of an `Effect.sync` */
export const syncProto: object = Object.getPrototypeOf(syncProbe)
/** the key under which an `Effect.sync` keeps its thunk (undefined if Effect's layout hides it: then none is run in place) */
export const syncThunkKey: string | undefined = Object.keys(syncProbe).find((k) => syncProbe[k] === probeThunk)

/** The Exit of `effect` when it settles in place (an Exit, or an `Effect.sync` run now), else undefined (a fiber must run it). */
export const exitNow = (effect: any): Exit.Exit<unknown, unknown> | undefined => {
  const proto = Object.getPrototypeOf(effect)
  if (proto === syncProto && syncThunkKey !== undefined) {
    try {
      return Exit.succeed(effect[syncThunkKey]())
    } catch (defect) {
      return Exit.die(defect)
    }
  }
  return proto === successProto || proto === failureProto ? effect : undefined
}

/**
 * What a supervised handler's effect settles to before its rules apply: as `exitNow` when the
 * cell may run it in place (`inPlace`: an untraced message), else only an `Effect.succeed` (a
 * traced handler's `Effect.sync` runs in its span).
 */
export const handlerExitNow = (effect: any, inPlace: boolean): Exit.Exit<unknown, unknown> | undefined =>
  inPlace ? exitNow(effect) : Object.getPrototypeOf(effect) === successProto ? effect : undefined
