import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { main as consumerExample } from "../examples/consumer.js"
import { main as shutdownExample } from "../examples/shutdown.js"
import { RedisTest } from "../src/testing/index.js"
import { pendingEntries } from "./utils.js"

layer(RedisTest.layer(), { excludeTestServices: true })("examples", (it) => {
  it.effect("consumer.ts decodes the good readings and dead-letters the bad one at once", () =>
    Effect.gen(function*() {
      const result = yield* consumerExample
      expect(result.readings).toEqual([
        { sensor: "kitchen", celsius: 21.5 },
        { sensor: "attic", celsius: 30 },
        { sensor: "cellar", celsius: 12 }
      ])
      expect(result.last).toBe("cellar")
      expect(result.pending).toBe(0)
      expect((yield* pendingEntries(result.stream, result.group)).length).toBe(0)
      expect(result.letters.map((letter) => [letter.reason, letter.deliveries, letter.fields])).toEqual([
        ["DecodeFailed", 1, { sensor: "garage", celsius: "warm" }]
      ])
      expect(result.letters[0]!.error?.tag).toBe("ParseError")
    }))

  it.effect("shutdown.ts handles every job and stops its workers with the scope", () =>
    Effect.gen(function*() {
      const result = yield* shutdownExample
      expect(result).toEqual({ handled: 30, pending: 0, stillBlocked: 0 })
    }))
})
