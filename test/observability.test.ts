import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { program } from "../examples/observability.js"
import { RedisTest } from "../src/testing/index.js"

layer(RedisTest.layer(), { excludeTestServices: true })("examples/observability.ts", (it) => {
  it.effect("prints the library's spans nested under the example's, and reads its metrics back", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const metrics = yield* program((line) => printed.push(line))
      const span = (name: string, depth: number) =>
        printed.some((line) => new RegExp(`^${" ".repeat(depth * 2)}${name.replace(".", "\\.")}  \\d+\\.\\dms  ok$`).test(line))
      expect(span("observability-example", 0)).toBe(true)
      for (const name of ["Groups.create", "Streams.xaddAll", "Groups.stats", "Gc.collect"]) {
        expect(span(name, 1), `${name} in\n${printed.join("\n")}`).toBe(true)
      }
      expect(printed.filter((line) => /^\s+Consumer\.handle  /.test(line)).length).toBeGreaterThanOrEqual(5)
      const count = (name: string) => Number(metrics.find((line) => line.startsWith(name))?.match(/count=(\d+)/)?.[1])
      expect(count("effect_redis_streams_entries_added")).toBeGreaterThanOrEqual(5)
      expect(count("effect_redis_streams_consumer_handled{stream=stream/observed")).toBe(5)
      expect(printed).toContain("metrics:")
    }))
})
