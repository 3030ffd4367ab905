import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TestNode from "../../src/testing/TestNode.ts"
import type { Node, PeerAddress } from "../../src/transport/Node.ts"

const startNode = (name: string, peers: ReadonlyArray<PeerAddress> = [], advertise = true) =>
  TestNode.startNode(name, { cluster: "mem", peers, advertise, reconnect: { initial: "20 millis", max: "200 millis" } })
const upPeers = (n: { node: Node["Service"] }) => n.node.peers().filter((p) => p.up).map((p) => p.name).sort()

describe("membership", () => {
  it.live("nodes that only know a seed form a full mesh", () =>
    Effect.gen(function*() {
      const seed = yield* startNode("m-seed")
      const at = { name: "m-seed", host: "127.0.0.1", port: seed.node.address.port }
      const a = yield* startNode("m-a", [at])
      const b = yield* startNode("m-b", [at])
      const c = yield* startNode("m-c", [at])
      const client = yield* startNode("m-status", [at], false) // a transient client: not advertised
      for (let i = 0; i < 300; i++) {
        if (upPeers(a).length >= 3 && upPeers(b).length >= 3 && upPeers(c).length >= 3) break
        yield* Effect.sleep("20 millis")
      }
      assert.deepStrictEqual(upPeers(a).filter((p) => p !== "m-status"), ["m-b", "m-c", "m-seed"])
      assert.deepStrictEqual(upPeers(b).filter((p) => p !== "m-status"), ["m-a", "m-c", "m-seed"])
      assert.deepStrictEqual(upPeers(c).filter((p) => p !== "m-status"), ["m-a", "m-b", "m-seed"])
      // nobody learned the client's address or dials it
      assert.isFalse(a.node.peers().some((p) => p.name === "m-status"))
      assert.deepStrictEqual(upPeers(client), ["m-seed"])
    }).pipe(Effect.scoped))
})
