/**
 * A toxic removed (`removeToxic`, `clearToxics`, and so `TestCluster.heal`) has no effect any
 * more, as in Toxiproxy: a `reset_peer` or `timeout` removed before its delay ran out does not
 * reset or close the connections it was set on afterwards — neither those open when it was added
 * nor those accepted while it was there. A heal that is followed by resets of healthy
 * connections would make every liveness-after-heal check measure a fault the test no longer
 * injects.
 */
import { afterEach, assert, describe, it } from "vitest"
import { FaultProxy } from "../../src/testing/FaultProxy.ts"
import { client, echoServer, until } from "./_echo.ts"

/** past the toxics' delay (100 ms): a timer of the proxy due before it has fired by then */
const pastTheDelay = () => new Promise((r) => setTimeout(r, 400))

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const setup = async () => {
  const echo = await echoServer()
  const proxy = await FaultProxy.start({ upstream: { host: "127.0.0.1", port: echo.port }, seed: 3 })
  cleanups.push(() => proxy.close(), echo.close)
  return proxy
}

describe("FaultProxy: a removed toxic", () => {
  it("reset_peer removed before its delay: the connection open when it was added stays up", async () => {
    const proxy = await setup()
    const c = await client(proxy.address.port)
    proxy.addToxic("rst", "upstream", { type: "reset_peer", timeoutMillis: 100 })
    proxy.removeToxic("rst")
    await pastTheDelay()
    c.socket.write("still")
    await until(() => c.text() === "still" || c.ended() !== undefined)
    assert.strictEqual(c.ended(), undefined)
    assert.strictEqual(c.text(), "still")
    assert.strictEqual(proxy.stats.resets, 0)
  })

  it("timeout cleared before its delay: a connection accepted meanwhile is not closed, and data flows", async () => {
    const proxy = await setup()
    proxy.addToxic("t", "downstream", { type: "timeout", timeoutMillis: 100 })
    const c = await client(proxy.address.port)
    proxy.clearToxics()
    await pastTheDelay()
    c.socket.write("flows")
    await until(() => c.text() === "flows" || c.ended() !== undefined)
    assert.strictEqual(c.ended(), undefined)
    assert.strictEqual(c.text(), "flows")
  })

  it("a toxic replaced under its name acts with its new delay, not the old one", async () => {
    const proxy = await setup()
    const c = await client(proxy.address.port)
    proxy.addToxic("rst", "upstream", { type: "reset_peer", timeoutMillis: 100 })
    proxy.addToxic("rst", "upstream", { type: "reset_peer", timeoutMillis: 60_000 })
    await pastTheDelay()
    assert.strictEqual(c.ended(), undefined)
    proxy.removeToxic("rst")
  })
})
