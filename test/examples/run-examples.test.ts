/**
 * Every example runs on its own: `node examples/<name>.ts` (Node strips the types), runs to
 * completion, exits 0 and prints what it did.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const run = (example: string) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const file = fileURLToPath(new URL(`../../examples/${example}`, import.meta.url))
    const child = execFile(process.execPath, [file], { timeout: 90_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : (child.exitCode ?? -1), stdout, stderr }))
  })

const expectations: Record<string, ReadonlyArray<RegExp>> = {
  "counter.ts": [/^counter after Increment\(2\): 2$/m, /^Decrement\(5\) failed with Overdrawn \(balance 2\)/m, /^Decrement\(1\) -> 1$/m],
  "ping-pong.ts": [/^pinger on node ping, ponger on node pong/m, /^1000 rounds of ping-pong across TCP in \d+ ms$/m],
  "chat.ts": [
    /^bob tries the nick "alice": NickTaken$/m,
    /^\[n3\] bob sees #1 alice: hello from n2$/m,
    /^\[n2\] alice sees #2 bob: hi alice, n3 here$/m,
    /^members: alice, bob$/m,
    /^n3 cut off: the room's monitor removed bob; members: alice$/m
  ],
  "jobs.ts": [/^60\/60 jobs done, each once; \d+ retried after a crash; \d+ worker restarts$/m],
  "carts.ts": [
    /^30 carts, 2 items each, on c1: \d+, c2: [1-9]\d*, c3: \d+$/m,
    /^checkout of an empty cart: EmptyCart$/m,
    /^c2 stopped: its (\d+) carts answer from c1 and c3, \1 with both items$/m,
    /^checkout of user-1: 2 items$/m
  ],
  "orders.ts": [
    /^link shop–billing cut \(3\/3\)/m,
    /^100 orders confirmed to the shop, 100 distinct charges \(each exactly once\)$/m,
    /^an order of -5 cents: OrderNotBilled \(InvalidPayload\); nothing charged$/m
  ]
}

describe.concurrent("examples run with plain node", () => {
  for (const [example, patterns] of Object.entries(expectations)) {
    it(`node examples/${example}`, async () => {
      const result = await run(example)
      const why = `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`
      assert.strictEqual(result.code, 0, why)
      for (const p of patterns) assert.match(result.stdout, p, why)
      assert.notMatch(result.stdout + result.stderr, /WARN|ERROR|Error:/, why)
    }, 100_000)
  }
})
