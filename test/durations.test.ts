/**
 * Every duration option goes through `internal/redis/validate.ts`, whatever
 * `Duration` itself accepts: negatives, objects that are not durations,
 * NaN and text that is not a duration are an `InvalidArgument`, never a
 * silent zero. Shared by both editions (Effect 4's `Duration.fromInput`
 * takes negatives and arbitrary objects: docs/editions.md).
 */
import { describe, expect, it } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect } from "effect"
import * as Validate from "../src/internal/redis/validate.js"

const bad: ReadonlyArray<unknown> = [-1, -0.5, "-5 seconds", " -1 millis", [-1, 0], [0, -5], BigInt(-1), { delay: 5 }, { millis: 5 }, {}, null, NaN, [NaN, 0], [1, NaN], "soon", "5 parsecs", ""]

/** The reason the check failed with, or "accepted". */
const outcome = (effect: Effect.Effect<unknown, { readonly reason: string }>): string =>
  Effect.runSync(Effect.match(effect, { onFailure: (error) => error.reason, onSuccess: () => "accepted" }))

const label = (input: unknown): string =>
  typeof input === "bigint" ? `${input}n` : Array.isArray(input) ? `[${input.map(String).join(", ")}]` : typeof input === "number" ? String(input) : JSON.stringify(input)

describe("duration options", () => {
  it("positiveMillis refuses every bad input, zero and infinity, and takes the good ones in whole ms", () => {
    for (const input of [...bad, 0, "0 millis", Infinity, "Infinity"]) {
      expect(outcome(Validate.positiveMillis("X", "opt", input as Duration.DurationInput)), label(input)).toBe("InvalidArgument")
    }
    expect(Effect.runSync(Validate.positiveMillis("X", "opt", 1500))).toBe(1500)
    expect(Effect.runSync(Validate.positiveMillis("X", "opt", "2 seconds"))).toBe(2000)
    expect(Effect.runSync(Validate.positiveMillis("X", "opt", [1, 500_000_000]))).toBe(1500)
  })

  it("nonNegativeMillis refuses every bad input and takes zero and infinity", () => {
    for (const input of bad) {
      expect(outcome(Validate.nonNegativeMillis("X", "opt", input as Duration.DurationInput)), label(input)).toBe("InvalidArgument")
    }
    expect(Effect.runSync(Validate.nonNegativeMillis("X", "opt", 0))).toBe(0)
    expect(Effect.runSync(Validate.nonNegativeMillis("X", "opt", Infinity))).toBe(Infinity)
    expect(Effect.runSync(Validate.nonNegativeMillis("X", "opt", undefined))).toBeUndefined()
  })
})
