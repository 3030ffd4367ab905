/**
 * The store a channel uses: its option, else the `DeliveryStore.Service` of its context, else
 * the actor system's in-memory store — one per system, so that it outlives the restarts of
 * producer and consumer actors but not the system.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Kernel } from "../../actors/Kernel.ts"
import * as DeliveryStore from "../DeliveryStore.ts"

const stores = new WeakMap<Kernel, DeliveryStore.DeliveryStore>()

const memoryStoreOf = (kernel: Kernel): DeliveryStore.DeliveryStore => {
  let store = stores.get(kernel)
  if (store === undefined) stores.set(kernel, store = DeliveryStore.memory())
  return store
}

export const storeFor = (
  option: DeliveryStore.DeliveryStore | undefined,
  kernel: Kernel
): Effect.Effect<DeliveryStore.DeliveryStore> =>
  option !== undefined
    ? Effect.succeed(option)
    : Effect.map(Effect.serviceOption(DeliveryStore.Service), (s) => s._tag === "Some" ? s.value : memoryStoreOf(kernel))
