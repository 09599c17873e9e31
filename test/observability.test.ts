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
      const added = metrics.find((line) => line.startsWith("effect_redis_streams_entries_added"))
      expect(Number(added?.match(/count=(\d+)/)?.[1])).toBeGreaterThanOrEqual(50)
      expect(printed).toContain("metrics:")
    }))
})
