/**
 * The default (in-memory) delivery store of a node: one per actor system, so that it outlives
 * the restarts of producer and consumer actors but not the system.
 *
 * @internal
 */
import type { SystemCore } from "../../actors/internal/system.ts"
import * as DeliveryStore from "../DeliveryStore.ts"

const stores = new WeakMap<SystemCore, DeliveryStore.DeliveryStore>()

export const defaultStore = (system: SystemCore): DeliveryStore.DeliveryStore => {
  let store = stores.get(system)
  if (store === undefined) stores.set(system, store = DeliveryStore.memory())
  return store
}
