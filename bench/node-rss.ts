/**
 * Resident memory of an idle `telex node`: one node of a one-node cluster config running the
 * demo app's `workers` module (`examples/cluster/app.ts`), started as its own process with
 * `bin/telex.js node`, read from `/proc/<pid>/status` (VmRSS) once it has been ready and idle for
 * `settleMs`. Used by the `cluster` group (`nodeRssMiB`) and by the `peers` group (beside an idle
 * `erl` node with distribution on).
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"

/** A free TCP port on 127.0.0.1 (bound, then released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** VmRSS of a process, MiB (Linux). */
export const rssMiB = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1]) / 1024
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts a process, waits for a stdout line matching `ready`, lets it idle `settleMs`, reads its
 * RSS, then ends it (SIGTERM, SIGKILL after 3 s) and waits for its exit.
 */
export const idleRss = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly ready: RegExp; readonly settleMs: number }
): Promise<number> => {
  const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env })
  const killOnExit = () => child.kill("SIGKILL")
  process.on("exit", killOnExit)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  let output = ""
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command} was not ready within 60 s: ${output}`)), 60_000)
      createInterface({ input: child.stderr! }).on("line", (l) => {
        output += `${l}\n`
      })
      createInterface({ input: child.stdout! }).on("line", (l) => {
        output += `${l}\n`
        if (options.ready.test(l)) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once("error", reject)
      child.once("exit", (code, signal) => reject(new Error(`${command} exited (${code ?? signal}): ${output}`)))
    })
    await sleep(options.settleMs)
    return rssMiB(child.pid!)
  } finally {
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
    await exited
    clearTimeout(timer)
    process.off("exit", killOnExit)
  }
}

/** RSS (MiB) of an idle `telex node` running the demo's `workers` module, `settleMs` after it is ready. */
export const telexNodeRssMiB = async (settleMs = 3000): Promise<number> => {
  const root = join(import.meta.dirname, "..")
  const dir = mkdtempSync(join(tmpdir(), "telex-rss-"))
  try {
    const config = join(dir, "cluster.json")
    const port = await freePort()
    writeFileSync(config, JSON.stringify({
      cluster: "bench-rss",
      app: join(root, "examples", "cluster", "app.ts"),
      nodes: [{ name: "w", port, run: ["workers"] }]
    }))
    return await idleRss(process.execPath, [join(root, "bin", "telex.js"), "node", "-c", config, "-n", "w"], {
      env: { ...process.env, TELEX_SECRET: randomBytes(16).toString("hex") },
      ready: /^@@telex-ready /,
      settleMs
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
