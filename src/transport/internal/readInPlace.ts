/**
 * Reading a plain TCP socket into buffers the reader chooses (`net.Socket`'s `onread`), for a
 * socket that already exists: an accepted one (`net.Server` has no `onread` option) or a dialled
 * one whose handshake was read through `data` events. Each read goes into the buffer `buffer()`
 * returns, and `onRead(n)` is called with the number of bytes read, instead of a `data` event
 * with a buffer Node allocated per read.
 *
 * It sets what the `onread` option sets (Node's `kBuffer`, `kBufferGen` and `kBufferCb`
 * properties of the socket, and the handle's `useUserBuffer`). Where a socket does not have
 * them (a TLS socket, whose reads go through its TLS layer; a simulated socket; a Node without
 * them), nothing is changed and `false` is returned: the caller reads `data` events as before.
 *
 * @internal
 */
import * as Net from "node:net"
import type { Socket } from "../Network.ts"

interface Keys {
  readonly buffer: symbol
  readonly callback: symbol
  readonly generator: symbol
}

let keys: Keys | null | undefined = undefined

const keysOf = (socket: object): Keys | null => {
  if (keys !== undefined) return keys
  const symbols = Object.getOwnPropertySymbols(socket)
  const named = (name: string) => symbols.find((s) => s.description === name)
  const buffer = named("kBuffer")
  const callback = named("kBufferCb")
  const generator = named("kBufferGen")
  keys = buffer !== undefined && callback !== undefined && generator !== undefined ? { buffer, callback, generator } : null
  return keys
}

/**
 * Switches `socket` to reading in place, if it can; call it while the socket is paused and with
 * nothing left in its readable buffer (see `Connection.start`). The socket is not resumed.
 */
export const readInPlace = (socket: Socket, buffer: () => Uint8Array, onRead: (n: number) => void): boolean => {
  if (!(socket instanceof Net.Socket)) return false
  const s = socket as unknown as Record<string | symbol, any>
  if (s.encrypted === true || s.connecting === true || socket.destroyed || socket.readableLength > 0) return false
  const handle = s._handle
  if (handle === null || typeof handle !== "object" || typeof handle.useUserBuffer !== "function") return false
  const k = keysOf(socket)
  if (k === null || s[k.buffer] !== null || s[k.generator] !== null || s[k.callback] !== null) return false
  const first = buffer()
  s[k.buffer] = first
  s[k.generator] = buffer
  s[k.callback] = (n: number) => {
    onRead(n)
  }
  handle.useUserBuffer(first)
  return true
}

/**
 * Emits as `data` what a paused socket has read but not yet emitted, until `stop()` (one chunk
 * per `read`, as many as there are).
 */
export const emitBuffered = (socket: Socket, stop: () => boolean): void => {
  if (!(socket instanceof Net.Socket)) return
  while (!stop() && socket.readableLength > 0 && socket.read() !== null);
}
