/**
 * What /proc says of a process, for the soak tests that check which processes outlive a kill.
 */
import { readFileSync } from "node:fs"

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
