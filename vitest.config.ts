import { defineConfig } from "vitest/config"

/** The package's own name resolves to its sources (`src/`) in the repository: see package.json's exports. */
const conditions = ["effect-redis-streams-source"]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    reporters: ["default", "./test/support/summaryReporter.ts"]
  }
})
