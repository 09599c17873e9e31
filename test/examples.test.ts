import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Package from "effect-redis-streams"
import * as PackageTesting from "effect-redis-streams/testing"
import * as Sources from "../src/index.js"
import { main } from "../examples/producer.js"
import { main as production } from "../examples/production.js"
import { Redis } from "../src/index.js"
import { RedisTest } from "../src/testing/index.js"

describe("the package's own name, as the examples import it", () => {
  it("resolves to the sources in this repository, the very modules the tests import", () => {
    expect(Package.Streams).toBe(Sources.Streams)
    expect(Package.Consumer).toBe(Sources.Consumer)
    expect(PackageTesting.RedisTest).toBe(RedisTest)
  })
})

layer(RedisTest.layer(), { excludeTestServices: true })("examples", (it) => {
  it.effect("producer.ts writes 1001 entries and reads its first ones back", () =>
    Effect.gen(function*() {
      const result = yield* main
      expect(result.written).toBe(1001)
      expect(result.back.length).toBe(3)
      expect(result.back[0]).toEqual({ id: result.first, fields: { sensor: "kitchen", celsius: "21.5" } })
      expect(result.back[1]!.fields).toEqual({ sensor: "room-0", celsius: "18" })
      const redis = yield* Redis.Redis
      expect(yield* redis.send("XLEN", [result.stream])).toBe(1001)
    }))

  it.effect("production.ts: every job done, in order per stream, the broken one retried and dead-lettered", () =>
    Effect.gen(function*() {
      const result = yield* production
      // two consumers work at once: the order holds within a stream, not across them
      expect(result.done.indexOf("urgent u1")).toBeLessThan(result.done.indexOf("urgent u2"))
      expect(result.done.indexOf("normal n1")).toBeLessThan(result.done.indexOf("normal n2"))
      expect([...result.done].sort()).toEqual(["normal n1", "normal n2", "urgent u1", "urgent u2"])
      expect(result.deadLettered).toEqual([{ job: "broken" }])
    }), 30_000)
})
