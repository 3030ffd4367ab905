import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // vitest's default is one worker less than the cores: on a 2-core CI machine, one file at a
    // time. Most files spend their time waiting on node processes, timers and sockets, so two run
    // side by side there (and the default where there are more cores).
    maxWorkers: Math.max(2, availableParallelism() - 1)
  }
})
