import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { RedisTest } from "../src/testing/index.js"

/** Runs an example with tsx against the test server; fails on a non-zero exit. */
const runExample = (file: string) =>
  Effect.flatMap(RedisTest.RedisTest, (server) =>
    Effect.async<string, Error>((resume) => {
      const child = execFile(
        process.execPath,
        ["--import", "tsx", file],
        { env: { ...process.env, REDIS_URL: server.url }, timeout: 20_000 },
        (error, stdout, stderr) => resume(error ? Effect.fail(new Error(`${file} failed: ${error.message}\n${stderr}`)) : Effect.succeed(stdout))
      )
      return Effect.sync(() => child.kill())
    }))

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("examples", (it) => {
  it.effect("examples/gc.ts: rebalances the dead consumer's entries, deregisters it, dead-letters the poison message", () =>
    Effect.gen(function*() {
      const out = yield* runExample("examples/gc.ts")
      expect(out).toContain("handled by consumer/persist-readings/1: 3")
      expect(out).toContain("last pass: Dlq")
      expect(out).toMatch(/dead letter: \d+-\d+ from consumer\/persist-readings\/1, 4 deliveries, \{"temperature":"poison"\}/)
      expect(out).toContain("consumers left: 1")
    }), 30_000)

  it.effect("examples/redrive.ts: dead-letters an order, redrives it, and it is handled", () =>
    Effect.gen(function*() {
      const out = yield* runExample("examples/redrive.ts")
      expect(out).toMatch(/dead letters: \d+-\d+ \{"order":"42","country":"Atlantis"\}/)
      expect(out).toMatch(/redriven: \d+-\d+ -> \d+-\d+/)
      expect(out).toContain("handled after redrive: 1, left in the dead-letter stream: 0")
    }), 30_000)
})
