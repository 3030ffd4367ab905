/**
 * The bookkeeping of one actor system (one per node): ids, names, the dispatcher, dead letters
 * and the resolver that binds addresses to delivery targets. Plain synchronous code; the
 * `ActorSystem` service wraps it in Effects.
 *
 * @internal
 */
import { Effect, PubSub } from "effect"
import * as ExitReason from "../ExitReason.ts"
import { Down, MonitorRef } from "../Signals.ts"
import type { SupervisionEvent } from "../SupervisionEvent.ts"
import type { Behavior, MessageDefs } from "../Actor.ts"
import { SpawnError } from "../ActorError.ts"
import { type ActorAddress, ActorRef, formatAddress, type NodeId, nodeKey, type Resolver } from "../ActorRef.ts"
import type { DeadLetter, DeadLetterReason } from "../DeadLetter.ts"
import { defaultCapacity, type OverflowPolicy } from "../Mailbox.ts"
import type { SpawnOptions } from "../SpawnOptions.ts"
import { Cell, initCell, State } from "./cell.ts"
import { Dispatcher } from "./dispatcher.ts"
import { Offer, type Target } from "./target.ts"

export interface SystemDefaults {
  readonly capacity: number
  readonly overflow: OverflowPolicy
  readonly throughput: number
  readonly validateLocal: boolean
}

export const defaultDefaults: SystemDefaults = {
  capacity: defaultCapacity,
  overflow: "backpressure",
  throughput: 128,
  validateLocal: false
}

/** Where messages for other nodes go; the transport installs one. */
export interface RemoteRouter {
  resolve(address: ActorAddress): Target
  /** The address registered as `name` on `node` (undefined: none); fails when the node is unreachable. */
  whereis?(node: string, name: string): Effect.Effect<ActorAddress | undefined, unknown>
  /** Calls `f` once when the connection to `node` is lost (at once if it is not up); returns the cancel. */
  watchNode?(node: string, f: () => void): () => void
}

export class SystemCore implements Resolver {
  readonly nodeId: NodeId
  readonly nodeKey: string
  readonly defaults: SystemDefaults
  readonly dispatcher = new Dispatcher()
  readonly cells = new Map<number, Cell>()
  readonly names = new Map<string, Cell>()
  readonly deadLetters: PubSub.PubSub<DeadLetter>
  readonly events: PubSub.PubSub<SupervisionEvent>
  /** top-level actors spawned from outside any actor, stopped when the system stops */
  readonly topLevel = new Set<Cell>()
  remote: RemoteRouter | undefined = undefined
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
    this.topLevel.delete(cell)
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
      if (name !== undefined && this.names.has(name)) {
        return Effect.fail(
          new SpawnError({ protocol: behavior.protocol.name, message: `the name ${JSON.stringify(name)} is already registered` })
        )
      }
      const cell = new Cell(this, this.nextId++, behavior, options, parent)
      this.cells.set(cell.self.address.id, cell)
      if (name !== undefined) this.names.set(name, cell)
      if (parent !== undefined) {
        ;(parent.children ??= new Set()).add(cell)
        if (options?.link === true) {
          ;(parent.links ??= new Map()).set(cell.self.key, cell.self)
          ;(cell.links = new Map()).set(parent.self.key, parent.self)
        }
      } else {
        this.topLevel.add(cell)
      }
      return Effect.as(initCell(cell, fiber.context), cell.self as ActorRef<D>)
    })
  }
}

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

