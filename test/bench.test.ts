import { NodeContext } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Runner from "../bench/runner.js"
import { checkHandled } from "../bench/scenario.js"
import { RedisTest } from "../src/testing/index.js"

// Correctness only: every scenario runs on a tiny n and handles exactly n entries.
// Speed is never asserted here (the figures live in `npm run bench`).

const scenarioNames = [
  "drain/raw-batch",
  "drain/raw-batch-1000",
  "drain/raw-pipelined-1000",
  "drain/server-limit",
  "drain/raw-count1",
  "drain/library-default",
  "drain/library-tuned",
  "drain/library-batch",
  "drain/library-rate-limited",
  "drain/library-3-streams",
  "drain/library-traced",
  "live/library-3-consumers",
  "produce/raw-pipelined",
  "produce/raw-awaited",
  "produce/library-xaddMap",
  "produce/library-xaddAll",
  "produce/library-delayed",
  "produce/library-dedupe",
  "gc/library-rebalance",
  "gc/library-dlq",
  "claim/library-self-claim",
  "memory/library-drain",
  "memory/library-drain-capped",
  "dashboard/raw-awaited",
  "dashboard/library-refresh",
  "bullmq/concurrency-50",
  "bullmq/concurrency-1"
]

describe("bench checks", () => {
  it.effect("a run that handled fewer entries than asked is refused", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(checkHandled("drain/x", 10)({ handled: 9, seconds: 1 }))
      expect(error.message).toContain("handled 9 of 10")
      const ok = yield* checkHandled("drain/x", 10)({ handled: 10, seconds: 1 })
      expect(ok.handled).toBe(10)
    }))
})

layer(RedisTest.layerServer(), { excludeTestServices: true })("bench scenarios", (it) => {
  it.effect("each scenario reports n entries handled, on a fresh stream", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const seen: Array<string> = []
      const rows = yield* Runner.run({
        url: server.url,
        quick: true,
        n: 300,
        skipBullmq: false,
        tuning: { count: 50, concurrency: 4, rate: 0 },
        isolate: "none"
      }, (row) => Effect.sync(() => seen.push(row.name)))
      expect(rows.map((row) => row.name)).toEqual(scenarioNames)
      expect(seen).toEqual(scenarioNames)
      for (const row of rows) {
        expect(row.n, row.name).toBe(300)
        expect(row.per_s, row.name).toBeGreaterThan(0)
        expect(row.peak_rss_mb, row.name).toBeGreaterThan(0)
      }
      const raw = rows.find((row) => row.name === "drain/raw-batch")
      expect(raw?.ratio_to_raw).toBeNull()
      expect(rows.find((row) => row.name === "drain/raw-count1")?.ratio_to_raw).toBeGreaterThan(0)
      // every drain is also set against the server's own limit, which the limit itself is not
      expect(rows.find((row) => row.name === "drain/server-limit")?.ratio_to_limit).toBeNull()
      expect(rows.find((row) => row.name === "drain/library-batch")?.ratio_to_limit).toBeGreaterThan(0)
      // and says what it allocated per entry (the limit allocates in the server, not here)
      for (const row of rows.filter((row) => row.name.startsWith("drain/library-"))) expect(row.bytes_per_entry, row.name).toBeGreaterThan(0)
    }).pipe(Effect.provide(NodeContext.layer)), 60_000)
})
