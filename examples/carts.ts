/**
 * Shopping carts as sharded entities: one cart per user, addressed by the user's key from any
 * node — no spawn, no lookup, no hand-written placement. The first message to a key activates
 * its cart on the node that owns the key's shard; the cart's items are durable state, saved in
 * the shard store after each change (here a SQLite file the three nodes share, as the nodes of
 * one host would). When a node stops, its shards move to the others and its carts answer from
 * there, with their items.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Effect, Exit, Layer, Redacted, References, Schema, Scope } from "effect"
import { Actor, Entity, Node, Sharding, SqliteShardStore } from "../src/index.ts"

export class EmptyCart extends Schema.TaggedError<EmptyCart>()("EmptyCart", { user: Schema.String }) {}

export const Cart = Actor.make("Cart", {
  Add: Actor.tell({ item: Schema.String }),
  Items: Actor.ask({}, { success: Schema.Struct({ items: Schema.Array(Schema.String), node: Schema.String }) }),
  Checkout: Actor.ask({}, { success: Schema.Int, error: EmptyCart })
})

const Items = Schema.Array(Schema.String)

export const CartEntity = Entity.make(
  Cart,
  Cart.behavior(Effect.gen(function*() {
    const { entityKey, node } = yield* Entity.EntityContext
    const items = yield* Entity.state(Items) // loaded at activation, saved after each change
    return {
      Add: ({ item }) => items.update((xs) => [...xs, item]),
      Items: () => Effect.map(items.get, (xs) => ({ items: xs, node })),
      Checkout: () =>
        Effect.flatMap(items.get, (xs) =>
          xs.length === 0
            ? Effect.fail(new EmptyCart({ user: entityKey })) // a typed error for the asker; the cart keeps running
            : Effect.as(items.set([]), xs.length))
    }
  })),
  { passivateAfter: "2 minutes", state: { schema: Items, initial: [] } }
)

// `node examples/carts.ts`: three nodes in this process over loopback TCP, one shard store file
if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), "telex-carts-"))
  const program = Effect.gen(function*() {
    const secret = Redacted.make("carts-example")
    const nodes: Array<{ readonly scope: Scope.Closeable; readonly port: number; readonly sharding: Sharding["Service"] }> = []
    for (const name of ["c1", "c2", "c3"]) {
      const scope = yield* Scope.make()
      const first = nodes[0]
      const seed = first === undefined ? [] : [{ name: "c1", host: "127.0.0.1", port: first.port }]
      const ctx = yield* Layer.buildWithScope(
        Sharding.layer({ entities: [CartEntity], leaseTtl: "1500 millis" }).pipe(
          Layer.provideMerge(Layer.merge(
            Node.layerWithSystem({ name, cluster: "carts", secret, peers: seed }),
            SqliteShardStore.layer(join(dir, "shards.db"))
          ))
        ),
        scope
      )
      nodes.push({ scope, port: Context.get(ctx, Node).address.port, sharding: Context.get(ctx, Sharding) })
    }
    // placement settles as the nodes see each other: every node owns some shards
    const owned = () => nodes.map((n) => n.sharding.ownedShards().length)
    while (owned().some((n) => n === 0) || owned().reduce((a, b) => a + b, 0) < nodes[0]!.sharding.shards) {
      yield* Effect.sleep("100 millis")
    }

    const carts = yield* nodes[0]!.sharding.entity(CartEntity) // refs by key, from node c1
    const users = Array.from({ length: 30 }, (_, i) => `user-${i + 1}`)
    for (const user of users) {
      yield* carts.ref(user).tell(Cart.Add({ item: "book" }))
      yield* carts.ref(user).tell(Cart.Add({ item: "pen" }))
    }
    const where = new Map<string, string>()
    for (const user of users) where.set(user, (yield* carts.ref(user).ask(Cart.Items())).node)
    const count = (node: string) => users.filter((u) => where.get(u) === node).length
    console.log(`30 carts, 2 items each, on c1: ${count("c1")}, c2: ${count("c2")}, c3: ${count("c3")}`)

    const refused = yield* Effect.flip(carts.ref("user-99").ask(Cart.Checkout()))
    console.log(`checkout of an empty cart: ${refused._tag}`)

    // c2 stops: its shards move to c1 and c3, and its carts come back with their items
    const moved = users.filter((u) => where.get(u) === "c2")
    yield* Scope.close(nodes[1]!.scope, Exit.void)
    let intact = 0
    for (const user of moved) {
      const cart = yield* carts.ref(user).ask(Cart.Items(), { timeout: "10 seconds" })
      if (cart.node !== "c2" && cart.items.join(",") === "book,pen") intact++
    }
    console.log(`c2 stopped: its ${moved.length} carts answer from c1 and c3, ${intact} with both items`)
    console.log(`checkout of ${users[0]}: ${yield* carts.ref(users[0]!).ask(Cart.Checkout())} items`)
    for (const n of [nodes[0]!, nodes[2]!]) yield* Scope.close(n.scope, Exit.void)
  })
  Effect.runPromise(program.pipe(Effect.provideService(References.MinimumLogLevel, "Warn"), Effect.scoped))
    .finally(() => rmSync(dir, { recursive: true, force: true }))
}
