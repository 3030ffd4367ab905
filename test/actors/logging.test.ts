import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Redacted, References, Schema } from "effect"
import { Actor, ActorContext, ActorSystem } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { waitUntil } from "./_helpers.ts"

interface Line {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger that records each line with the annotations the logging fiber has. */
const capture = () => {
  const lines: Array<Line> = []
  const logger = Logger.make<unknown, void>(({ message, fiber }) => {
    lines.push({
      message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
      annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
    })
  })
  return { lines, logger }
}

const Chatty = Actor.make("Chatty", {
  Say: Actor.tell({ text: Schema.String }),
  SayAndReply: Actor.ask({ text: Schema.String }, { success: Schema.String }),
  SpawnChild: Actor.ask({}, { success: Schema.String })
})

const ChattyLive: Actor.Behavior<typeof Chatty.defs, never, never> = Chatty.behavior(Effect.gen(function*() {
  const ctx = yield* ActorContext
  return {
    Say: ({ text }) => Effect.logInfo(text),
    SayAndReply: ({ text }) =>
      Effect.logInfo(text).pipe(
        Effect.annotateLogs({ request: "r1" }),
        Effect.as(text)
      ),
    SpawnChild: () =>
      Effect.gen(function*() {
        const child = yield* ctx.spawn(ChattyLive).pipe(Effect.orDie)
        yield* child.ask(Chatty.SayAndReply({ text: "from the child" })).pipe(Effect.orDie)
        return child.key
      })
  }
}))

describe("logs from actors", () => {
  it.effect("carry actor=<name> and node=<node> (logger provided outside the system)", () => {
    const { lines, logger } = capture()
    return Effect.gen(function*() {
      const system = yield* ActorSystem
      yield* Effect.logInfo("outside")
      const named = yield* system.spawn(ChattyLive, { name: "chatty" })
      const anonymous = yield* system.spawn(ChattyLive)
      yield* named.tell(Chatty.Say({ text: "hello" }))
      assert.strictEqual(yield* anonymous.ask(Chatty.SayAndReply({ text: "hi" })), "hi")
      yield* waitUntil("both lines logged", () => lines.length >= 3)
      const outside = lines.find((l) => l.message === "outside")!
      assert.isUndefined(outside.annotations.actor)
      const hello = lines.find((l) => l.message === "hello")!
      assert.deepStrictEqual(hello.annotations, { node: "n1", actor: "chatty" })
      const hi = lines.find((l) => l.message === "hi")!
      // an unnamed actor is identified by its address; the handler's own annotations are kept
      assert.deepStrictEqual(hi.annotations, { request: "r1", node: "n1", actor: anonymous.key })
    }).pipe(
      Effect.provide(ActorSystem.layer({ node: "n1" })),
      Effect.provide(Logger.layer([logger]))
    )
  })

  it.effect("carry the annotations with a logger provided inside the system, and in child actors", () => {
    const { lines, logger } = capture()
    return Effect.gen(function*() {
      const system = yield* ActorSystem
      const parent = yield* system.spawn(ChattyLive, { name: "parent" })
      const childKey = yield* parent.ask(Chatty.SpawnChild())
      const line = lines.find((l) => l.message === "from the child")!
      assert.strictEqual(line.annotations.actor, childKey)
      assert.strictEqual(line.annotations.node, "n2")
      yield* parent.tell(Chatty.Say({ text: "annotated" }))
      yield* waitUntil("logged", () => lines.some((l) => l.message === "annotated"))
      assert.strictEqual(lines.find((l) => l.message === "annotated")!.annotations.actor, "parent")
    }).pipe(
      Effect.provide(Logger.layer([logger])),
      Effect.provide(ActorSystem.layer({ node: "n2" }))
    )
  })

  it.effect("an explicit actor or node annotation in the handler is not overwritten", () => {
    const { lines, logger } = capture()
    const Own = Actor.make("OwnAnnotations", { Log: Actor.ask({}, { success: Schema.Void }) })
    const OwnLive = Own.behavior(Effect.succeed({
      Log: () => Effect.logInfo("own").pipe(Effect.annotateLogs({ actor: "mine", node: "elsewhere" }))
    }))
    return Effect.gen(function*() {
      const system = yield* ActorSystem
      const ref = yield* system.spawn(OwnLive, { name: "x" })
      yield* ref.ask(Own.Log())
      assert.deepStrictEqual(lines.find((l) => l.message === "own")!.annotations, { actor: "mine", node: "elsewhere" })
    }).pipe(
      Effect.provide(ActorSystem.layer({ node: "n3" })),
      Effect.provide(Logger.layer([logger]))
    )
  })

  it.live("an actor spawned at another node's request logs with its node's loggers and annotations", () => {
    const { lines, logger } = capture()
    const secret = Redacted.make("logging-test-secret")
    return Effect.gen(function*() {
      const build = (name: string) =>
        Effect.map(TestNode.startNode(name, { cluster: "logging", secret, spawnable: [ChattyLive] }), (n) => n.node)
      // b's loggers are the capturing one; a's are the default
      const b = yield* build("b").pipe(Effect.provide(Logger.layer([logger])))
      const a = yield* build("a")
      yield* a.connect({ name: "b", host: b.address.host, port: b.address.port })
      const remote = yield* a.spawn("b", Chatty, { name: "spawned" })
      yield* remote.ask(Chatty.SayAndReply({ text: "remote hello" }))
      const line = lines.find((l) => l.message === "remote hello")!
      assert.deepStrictEqual(line.annotations, { request: "r1", node: "b", actor: "spawned" })
    }).pipe(Effect.scoped)
  })
})
