/**
 * The retry backoff's delays by delivery count (`internal/consumer/retry.ts`): the
 * n-th failure waits the schedule's n-th delay, a schedule that ends ends
 * the retries, and a huge delivery count (a hot entry redelivered millions
 * of times) steps the schedule no more than `maxSteps` times.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { defaultRetry } from "../src/Consumer.js"
import { backoff, maxSteps } from "../src/internal/consumer/retry.js"

/** The schedule, counting its steps. */
const counted = <A>(schedule: Schedule.Schedule<A, unknown>) => {
  const steps = { n: 0 }
  return { steps, schedule: schedule.pipe(Schedule.tapOutput(() => Effect.sync(() => steps.n++))) }
}

describe("Consumer retry backoff", () => {
  it("the default retry: 1 s, 2 s, 4 s … up to 1 minute", () => {
    const delays = backoff(defaultRetry, false)
    expect([1, 2, 3, 4, 7, 8, 20].map(delays.delay)).toEqual([1_000, 2_000, 4_000, 8_000, 60_000, 60_000, 60_000])
  })

  it("a schedule that ends ends the retries, whatever the delivery count", () => {
    const { schedule, steps } = counted(Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(3))))
    const delays = backoff(schedule, true)
    expect([1, 2, 3].map(delays.delay)).toEqual([1_000, 1_000, 1_000])
    expect(delays.delay(4)).toBe(undefined)
    expect(delays.delay(3_000_000)).toBe(undefined)
    expect(steps.n).toBeLessThanOrEqual(4)
  })

  it("a delivery count in the millions steps the schedule at most maxSteps times, and waits its last delay", () => {
    const { schedule, steps } = counted(defaultRetry)
    const delays = backoff(schedule, true)
    expect(delays.delay(3_000_000)).toBe(60_000)
    expect(delays.delay(2_999_999)).toBe(60_000)
    expect(steps.n).toBeLessThanOrEqual(maxSteps)
    expect(steps.n).toBeGreaterThan(0)
  })

  it("cap bounds every delay", () => {
    expect(backoff(defaultRetry, true, 5_000).delay(10)).toBe(5_000)
  })
})
