/**
 * What /proc says of a process, for the soak tests that check which processes outlive a kill, and
 * the scratch directory and polling of the tests that run `telex` processes themselves.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"

/** the processes whose parent is `pid` (zombies included: see `alive`) */
export const childrenOf = (pid: number): Array<number> =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((s) => s !== "").map(Number)

/** whether `pid` runs (exists and is not a zombie) */
export const alive = (pid: number): boolean => {
  try {
    // the state is the field after the command's closing parenthesis: Z is a zombie (exited)
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}

/**
 * A scratch directory for one test file and the process groups it starts (push each leader's
 * pid): both are gone after the file, the groups killed with -9 whatever the test left running.
 */
export const scratch = (prefix: string): { readonly dir: string; readonly groups: Array<number> } => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const groups: Array<number> = []
  afterAll(() => {
    for (const pid of groups) {
      try {
        process.kill(-pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return { dir, groups }
}

/** Polls `check` every 100 ms; past `timeoutMillis` fails with `what` and the processes' `output()`. */
export const waitFor = async (what: string, check: () => boolean, output: () => string, timeoutMillis: number) => {
  const deadline = Date.now() + timeoutMillis
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
