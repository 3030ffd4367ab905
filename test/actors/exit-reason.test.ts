/**
 * `ExitReason.fromCause`: the Error message is written only when read, and then behaves as a
 * plain value (equality, JSON, the Schema that carries it to other nodes).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Schema } from "effect"
import { ExitReason } from "../../src/index.ts"

describe("ExitReason.fromCause", () => {
  const cause = Cause.die(new Error("boom"))

  it("an interruption is Killed", () => {
    assert.strictEqual(ExitReason.fromCause(Cause.interrupt()), ExitReason.killed)
  })

  it("a defect is an Error whose message is the pretty-printed cause", () => {
    const reason = ExitReason.fromCause(cause)
    assert.strictEqual(reason._tag, "Error")
    const message = (reason as { message: string }).message
    assert.strictEqual(message, Cause.pretty(cause))
    assert.include(message, "boom")
    // read twice: the same string
    assert.strictEqual((reason as { message: string }).message, message)
    assert.deepStrictEqual(reason, ExitReason.error(message))
    assert.deepStrictEqual(ExitReason.format(reason), ExitReason.format(ExitReason.error(message)))
  })

  it("equals a plain Error reason before its message was read, and serialises the same", () => {
    const reason = ExitReason.fromCause(cause)
    const plain = ExitReason.error(Cause.pretty(cause))
    assert.deepStrictEqual(Object.keys(reason), Object.keys(plain))
    assert.strictEqual(JSON.stringify(ExitReason.fromCause(cause)), JSON.stringify(plain))
    const encode = Schema.encodeUnknownSync(ExitReason.ExitReason)
    assert.deepStrictEqual(encode(ExitReason.fromCause(cause)), encode(plain))
    assert.deepStrictEqual(ExitReason.fromCause(cause), plain)
  })

  it("is a plain object whose message is an own enumerable property, a fixed value once read", () => {
    const reason = ExitReason.fromCause(cause)
    assert.strictEqual(Object.getPrototypeOf(reason), Object.prototype)
    const before = Object.getOwnPropertyDescriptor(reason, "message")!
    assert.isTrue(before.enumerable)
    assert.deepStrictEqual({ ...reason }, { _tag: "Error", message: Cause.pretty(cause) })
    const after = Object.getOwnPropertyDescriptor(reason, "message")!
    assert.deepStrictEqual(after, { value: Cause.pretty(cause), enumerable: true, writable: false, configurable: false })
  })
})
