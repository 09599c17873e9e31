import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { main as gcExample } from "../examples/gc.js"
import { main as redriveExample } from "../examples/redrive.js"
import { Gc } from "../src/index.js"
import { RedisTest } from "../src/testing/index.js"

layer(RedisTest.layer(), { excludeTestServices: true })("examples", (it) => {
  it.effect("gc.ts: rebalances the dead consumer's entries, deregisters it, dead-letters the poison message", () =>
    Effect.gen(function*() {
      const result = yield* gcExample
      expect(result.handled).toBe(3)
      expect(result.actions.map((a) => a._tag)).toEqual(["Dlq"])
      expect(result.letters.map((l) => [l.consumer, l.deliveries, l.fields])).toEqual([[result.live, 4, { temperature: "poison" }]])
      expect(result.consumersLeft).toBe(1)
      expect(yield* Gc.collect(result.stream, result.group, { dryRun: true })).toEqual([])
    }))

  it.effect("redrive.ts: dead-letters an order, redrives it, and it is handled", () =>
    Effect.gen(function*() {
      const result = yield* redriveExample
      expect(result.letters.map((l) => l.fields)).toEqual([{ order: "42", country: "Atlantis" }])
      expect(result.redriven.map((r) => r.id)).toEqual(result.letters.map((l) => l.id))
      expect(result.handled).toEqual(result.redriven.map((r) => r.redrivenId))
      expect(result.left).toBe(0)
    }))
})
