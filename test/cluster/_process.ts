/**
 * Running the `telex` command line as real processes in tests. Every process is started in its
 * own process group (`detached`), so a launcher and the node processes it spawned can be killed
 * together; `killAll` (run it in `afterAll`) kills every group still alive, on every path.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const BIN = fileURLToPath(new URL("../../bin/telex.js", import.meta.url))
export const APP = fileURLToPath(new URL("../../examples/cluster/app.ts", import.meta.url))

const started = new Set<TelexProcess>()

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export class TelexProcess {
  readonly child: ChildProcess
  stdout = ""
  stderr = ""
  readonly exited: Promise<Result>
  private listeners: Array<() => void> = []
  private done = false

  constructor(args: ReadonlyArray<string>, options: TelexOptions) {
    const env: Record<string, string | undefined> = {
      // V8's compile cache (content-addressed, safe to share): the node processes of these tests
      // start several times faster after the first run, which matters on a loaded machine
      NODE_COMPILE_CACHE: join(tmpdir(), "telex-test-compile-cache"),
      ...process.env,
      NO_COLOR: "1",
      ...options.env
    }
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: env as NodeJS.ProcessEnv,
      stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
      detached: true
    })
    started.add(this)
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      this.stdout += s
      this.notify()
    })
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      this.stderr += s
      this.notify()
    })
    this.exited = new Promise((resolve) => {
      // "close": the process exited and its output streams are drained
      this.child.once("close", (code, signal) => {
        this.done = true
        this.notify()
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })
      })
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  private notify() {
    for (const f of this.listeners) f()
  }

  /**
   * Resolves when `predicate(stdout)` (or of stderr, `stream`) holds; rejects (with the output so
   * far) after `timeoutMillis` or on exit. (What the process wrote to one stream before the other
   * may reach us after it: the two pipes are read apart.)
   */
  waitFor(what: string, predicate: (output: string) => boolean, timeoutMillis: number, stream: "stdout" | "stderr" = "stdout"): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate(stream === "stdout" ? this.stdout : this.stderr)) return finish(undefined)
        if (this.done) return finish(new Error(`telex exited before: ${what}\n${this.describe()}`))
      }
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMillis} ms waiting for: ${what}\n${this.describe()}`)), timeoutMillis)
      const finish = (error: Error | undefined) => {
        clearTimeout(timer)
        this.listeners = this.listeners.filter((f) => f !== check)
        if (error === undefined) resolve()
        else reject(error)
      }
      this.listeners.push(check)
      check()
    })
  }

  /** Waits for the exit; after `timeoutMillis` kills the whole process group and rejects. */
  async result(timeoutMillis: number): Promise<Result> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.killGroup()
        reject(new Error(`telex did not exit within ${timeoutMillis} ms\n${this.describe()}`))
      }, timeoutMillis)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Writes to its stdin (started with `stdin: true`). */
  write(text: string): void {
    this.child.stdin!.write(text)
  }

  /** Ends its stdin. */
  endInput(): void {
    this.child.stdin!.end()
  }

  /** Sends a signal to the telex process itself (not its group). */
  signal(signal: NodeJS.Signals): void {
    if (!this.done) this.child.kill(signal)
  }

  /** Whether any process of the group (telex and the node processes it started) is still alive. */
  groupAlive(): boolean {
    try {
      process.kill(-this.pid, 0)
      return true
    } catch {
      return false
    }
  }

  /** SIGKILLs the whole process group: telex and the node processes it started. */
  killGroup(): void {
    if (this.child.pid === undefined) return
    try {
      process.kill(-this.child.pid, "SIGKILL")
    } catch {
      // already gone
    }
  }

  describe(): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`
  }
}

export interface TelexOptions {
  readonly env?: Record<string, string | undefined>
  readonly cwd?: string
  /** a pipe for stdin (else it is closed) */
  readonly stdin?: boolean
}

/** Runs `telex ...args`. */
export const telex = (args: ReadonlyArray<string>, options: TelexOptions = {}) =>
  new TelexProcess(args, options)

/** Kills every process group started by `telex` that is still alive. */
export const killAll = (): void => {
  for (const p of started) p.killGroup()
  started.clear()
}

/** `n` distinct TCP ports that were free on 127.0.0.1 a moment ago. */
export const freePorts = async (n: number): Promise<Array<number>> => {
  const servers = await Promise.all(Array.from({ length: n }, () =>
    new Promise<Net.Server>((resolve, reject) => {
      const server = Net.createServer()
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => resolve(server))
    })))
  const ports = servers.map((s) => (s.address() as Net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** A line of a stack trace (`    at f (file.ts:1:2)`), as opposed to a schema path (`  at ["nodes"]`). */
export const STACK_FRAME = /^\s+at .*(\(|file:|node:|\.ts:|\.js:)/m
