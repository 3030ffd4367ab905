/**
 * The bookkeeping of one actor system (one per node): ids, names, the dispatcher, dead letters
 * and the resolver that binds addresses to delivery targets. Plain synchronous code; other
 * folders see it only as a `Kernel` (../Kernel.ts).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as ExitReason from "../ExitReason.ts"
import { Down, MonitorRef } from "../Signals.ts"
import type { SupervisionEvent } from "../SupervisionEvent.ts"
import type { Behavior, MessageDefs } from "../Actor.ts"
import { SpawnError } from "../ActorError.ts"
import { type ActorAddress, ActorRef, formatAddress, type NodeId, nodeKey, type Resolver } from "../ActorRef.ts"
import type { DeadLetter, DeadLetterReason } from "../DeadLetter.ts"
import type { ActorInfo, Counters, Kernel, LocalActor, ProcessInfo, RemoteResolver, Snapshot } from "../Kernel.ts"
import { defaultCapacity, type OverflowPolicy } from "../Mailbox.ts"
import type { SpawnOptions } from "../SpawnOptions.ts"
import { Cell, type CellConfig, initCell, State } from "./cell.ts"
import { CellTable } from "./cellTable.ts"
import { Dispatcher } from "./dispatcher.ts"
import { Offer, type Target } from "./target.ts"

export interface SystemDefaults {
  readonly capacity: number
  readonly overflow: OverflowPolicy
  readonly throughput: number
  readonly validateLocal: boolean
  /** time is virtual (TestClock): nothing may depend on the wall clock */
  readonly virtualTime: boolean
}

export const defaultDefaults: SystemDefaults = {
  capacity: defaultCapacity,
  overflow: "backpressure",
  throughput: 128,
  validateLocal: false,
  virtualTime: false
}

export class SystemCore implements Resolver, Kernel {
  readonly nodeId: NodeId
  readonly nodeKey: string
  readonly defaults: SystemDefaults
  readonly dispatcher: Dispatcher
  readonly cells = new CellTable<Cell>()
  /** the spawn configs its actors share, by their values (see `cellConfig`) */
  readonly cellConfigs = new Map<string, CellConfig>()
  /** the one of actors spawned with no option that changes it */
  defaultCellConfig: CellConfig | undefined = undefined
  readonly names = new Map<string, Cell>()
  readonly deadLetters: PubSub.PubSub<DeadLetter>
  readonly events: PubSub.PubSub<SupervisionEvent>
  /**
   * Top-level actors (no parent) that `stopTopLevel` leaves alone; the others are stopped when
   * the system stops. (Top-level actors are found among all cells then: a set of them cost
   * every spawn and stop an insert and a delete.)
   */
  readonly detached = new Set<Cell>()
  remote: RemoteResolver | undefined = undefined
  nextId = 1
  nextMonitorId = 1
  deadLetterCount = 0
  /** messages accepted into local mailboxes */
  deliveredCount = 0
  shuttingDown = false

  constructor(nodeId: NodeId, defaults: SystemDefaults) {
    this.nodeId = nodeId
    this.nodeKey = nodeKey(nodeId)
    this.defaults = defaults
    this.dispatcher = new Dispatcher(defaults.virtualTime)
    this.deadLetters = Effect.runSync(PubSub.sliding<DeadLetter>(8192))
    this.events = Effect.runSync(PubSub.sliding<SupervisionEvent>(8192))
  }

  resolve(address: ActorAddress): Target {
    if (address.node.name === this.nodeId.name) {
      // an earlier (or later) incarnation of this node: its actors are gone (OTP: noproc)
      if (address.node.incarnation !== this.nodeId.incarnation) return new DeadTarget(this, address, { _tag: "NoSuchActor" })
      return this.cells.get(address.id) ?? new DeadTarget(this, address, { _tag: "NoSuchActor" })
    }
    if (this.remote !== undefined) return this.remote.resolve(address)
    return new DeadTarget(this, address, { _tag: "NoRoute", node: nodeKey(address.node) })
  }

  refFor(address: ActorAddress): ActorRef<any> {
    return new ActorRef(address, undefined, this)
  }

  local(id: number): LocalActor | undefined {
    return this.cells.get(id)
  }

  named(name: string): LocalActor | undefined {
    return this.names.get(name)
  }

  newMonitorId(): number {
    return this.nextMonitorId++
  }

  setRemote(remote: RemoteResolver | undefined): void {
    this.remote = remote
  }

  counters(): Counters {
    return { actors: this.cells.size, delivered: this.deliveredCount, deadLetters: this.deadLetterCount }
  }

  processInfo(ref: ActorRef<any>): ProcessInfo | undefined {
    const node = ref.address.node
    const cell = node.name === this.nodeId.name && node.incarnation === this.nodeId.incarnation
      ? this.cells.get(ref.address.id)
      : undefined
    if (cell === undefined || !cell.isAlive) return undefined
    return {
      status: cell.state === State.Starting ? "starting" : "running",
      name: cell.name,
      links: Array.from(cell.links?.values() ?? []),
      monitors: Array.from(cell.watching?.values() ?? []).filter((m) => cell.downsQueued?.has(m.id) !== true),
      monitoredBy: Array.from(cell.monitors?.values() ?? []),
      trapExit: cell.trapping,
      mailboxSize: cell.mailbox.size
    }
  }

  localActors(): IterableIterator<LocalActor> {
    return this.cells.values()
  }

  snapshot(): Snapshot {
    // cells are registered in spawn order, and a parent is spawned before its children
    const actorInfos: Array<ActorInfo> = []
    for (const cell of this.cells.values()) {
      actorInfos.push({
        ref: cell.self,
        key: cell.self.key,
        protocol: cell.behavior.protocol.name,
        name: cell.name,
        parent: cell.parent?.self.key,
        mailbox: cell.mailbox.size,
        alive: cell.isAlive
      })
    }
    return { node: this.nodeId, ...this.counters(), actorInfos }
  }

  spawnTopLevel<D extends MessageDefs, E, R>(
    behavior: Behavior<D, E, R>,
    options?: SpawnOptions,
    detached = false
  ): Effect.Effect<ActorRef<D>, SpawnError, R> {
    const spawned = this.spawn(behavior, options, undefined)
    return detached
      ? Effect.tap(spawned, (ref) =>
        Effect.sync(() => {
          const cell = this.cells.get(ref.address.id)
          if (cell !== undefined) this.detached.add(cell)
        }))
      : spawned
  }

  stopTopLevel(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.shuttingDown = true
      const topLevel: Array<Cell> = []
      for (const cell of this.cells.values()) {
        if (cell.parent === undefined && !this.detached.has(cell)) topLevel.push(cell)
      }
      return stopInOrder(topLevel.reverse(), 0)
    })
  }

  // Publishing is deferred to a microtask: a subscriber's fiber can resume synchronously inside
  // publish, and must not run in the middle of a send or a supervisor's decision.
  private pendingDeadLetters: Array<DeadLetter> = []
  private pendingEvents: Array<SupervisionEvent> = []

  deadLetter(recipient: string, message: unknown, reason: DeadLetterReason): void {
    this.deadLetterCount++
    if (this.pendingDeadLetters.push({ recipient, message, reason }) === 1) queueMicrotask(this.flushDeadLetters)
  }

  publishEvent(event: SupervisionEvent): void {
    if (this.pendingEvents.push(event) === 1) queueMicrotask(this.flushEvents)
  }

  private flushDeadLetters = (): void => {
    const batch = this.pendingDeadLetters
    this.pendingDeadLetters = []
    for (const d of batch) PubSub.publishUnsafe(this.deadLetters, d)
  }

  private flushEvents = (): void => {
    const batch = this.pendingEvents
    this.pendingEvents = []
    for (const e of batch) PubSub.publishUnsafe(this.events, e)
  }

  unregister(cell: Cell): void {
    this.cells.delete(cell.self.address.id)
    if (cell.name !== undefined && this.names.get(cell.name) === cell) this.names.delete(cell.name)
    if (this.detached.size > 0) this.detached.delete(cell)
  }

  spawn<D extends MessageDefs, E, R>(
    behavior: Behavior<D, E, R>,
    options: SpawnOptions | undefined,
    parent: Cell | undefined
  ): Effect.Effect<ActorRef<D>, SpawnError, R> {
    return Effect.withFiber((fiber) => {
      if (this.shuttingDown) {
        return Effect.fail(new SpawnError({ protocol: behavior.protocol.name, message: "the actor system is shutting down" }))
      }
      if (parent !== undefined && parent.state >= State.Stopping) {
        return Effect.fail(new SpawnError({ protocol: behavior.protocol.name, message: "the parent actor is stopping" }))
      }
      const name = options?.name
      const registered = name === undefined ? undefined : this.names.get(name)
      if (registered !== undefined) {
        return Effect.fail(
          new SpawnError({
            protocol: behavior.protocol.name,
            message: `the name ${JSON.stringify(name)} is already registered`,
            alreadyStarted: registered.self
          })
        )
      }
      const cell = new Cell(this, this.nextId++, behavior, options, parent)
      this.cells.add(cell.self.address.id, cell)
      if (name !== undefined) this.names.set(name, cell)
      if (parent !== undefined) {
        ;(parent.children ??= new Set()).add(cell)
        if (options?.link === true) {
          ;(parent.links ??= new Map()).set(cell.self.key, cell.self)
          ;(cell.links = new Map()).set(parent.self.key, parent.self)
        }
      }
      return initCell(cell, fiber, cell.self as ActorRef<D>)
    })
  }
}

/**
 * Stops `cells` one after another (each gone before the next is asked), from index `from`, each
 * as `system.stop` does (within its own budget: a `brutal_kill` one killed, one with 0 gone at
 * once with `Shutdown`). An actor that is gone at once (an idle one: most of them) costs no
 * effect of its own; the loop yields every so often so a system of many actors does not hold
 * the event loop while it stops.
 */
const stopInOrder = (cells: ReadonlyArray<Cell>, from: number): Effect.Effect<void> => {
  for (let i = from; i < cells.length; i++) {
    const cell = cells[i]!
    cell.shutdown(ExitReason.shutdown)
    if (cell.state !== State.Dead) {
      return Effect.flatMap(awaitExit(cell), () => stopInOrder(cells, i + 1))
    }
    if (i - from === STOP_SLICE) return Effect.flatMap(Effect.yieldNow, () => stopInOrder(cells, i + 1))
  }
  return Effect.void
}

const STOP_SLICE = 1024

/** Waits until `cell` is gone (its stop already asked, with its budget). */
const awaitExit = (cell: Cell): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    cell.onExit(() => resume(Effect.void))
  })

/** The target of an address with no live actor: everything is a dead letter or `NoProc`. */
export class DeadTarget implements Target {
  readonly capacity = 0
  readonly isAlive = false
  private readonly system: SystemCore
  private readonly address: ActorAddress
  private readonly reason: DeadLetterReason

  constructor(system: SystemCore, address: ActorAddress, reason: DeadLetterReason) {
    this.system = system
    this.address = address
    this.reason = reason
  }

  private get self(): ActorRef<any> {
    return new ActorRef(this.address, this, this.system)
  }

  validate() {
    return undefined
  }

  offer(message: unknown): Offer {
    this.system.deadLetter(formatAddress(this.address), message, this.reason)
    return Offer.Dead
  }

  waitForSpace(wake: () => void) {
    queueMicrotask(wake)
    return () => {}
  }

  signal() {}

  exitSignal() {}

  addLink(from: ActorRef<any>) {
    from.target.exitSignal(this.self, this.exitReason())
  }

  removeLink() {}

  addMonitor(id: number, watcher: ActorRef<any>) {
    const self = this.self
    watcher.target.signal(new Down(new MonitorRef(id, self), self, this.exitReason()))
  }

  removeMonitor() {}

  shutdown(_reason: ExitReason.ExitReason, onExit?: (reason: ExitReason.ExitReason) => void) {
    onExit?.(this.exitReason())
  }

  onExit(f: (reason: ExitReason.ExitReason) => void) {
    f(this.exitReason())
    return () => {}
  }

  private exitReason(): ExitReason.ExitReason {
    return this.reason._tag === "NoRoute" ? ExitReason.noconnection(this.reason.node) : ExitReason.noproc
  }
}

