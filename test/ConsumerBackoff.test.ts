/**
 * The retry backoff's delays by delivery count (`internal/consumer/retry.ts`): the
 * n-th failure waits the schedule's n-th delay, a schedule that ends ends
 * the retries, and a huge delivery count (a hot entry redelivered millions
 * of times) steps the schedule no more than `maxSteps` times.
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Schedule } from "effect"
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

  class Transient extends Data.TaggedError("Transient")<{}> {}
  class Fatal extends Data.TaggedError("Fatal")<{}> {}
  type Failure = Transient | Fatal
  const isRetryable = (error: Failure) => error._tag === "Transient"

  it("at a failure the schedule sees the handler's error: one it refuses is NotRetryable, one it takes waits", () => {
    // a pure predicate that reads nothing of an error it does not expect: steppable by the count alone
    const schedule: Schedule.Schedule<unknown, Failure | undefined> = Schedule.spaced("1 second").pipe(
      Schedule.intersect(Schedule.recurs(3)),
      Schedule.whileInput((error: Failure | undefined) => !(error instanceof Fatal))
    )
    const delays = backoff(schedule as Schedule.Schedule<unknown, unknown>, true)
    expect(delays.after(1, new Fatal())).toBe("NotRetryable")
    expect(delays.after(3, new Fatal())).toBe("NotRetryable")
    expect([1, 2, 3].map((n) => delays.after(n, new Transient()))).toEqual([1_000, 1_000, 1_000])
    // the count ends it whatever the error: that is RetriesExhausted
    expect(delays.after(4, new Transient())).toBe("RetriesExhausted")
    expect(delays.after(4, new Fatal())).toBe("RetriesExhausted")
    expect(delays.countable()).toBe(true)
  })

  it("a schedule whose predicate reads its input: not steppable by the count, the failure decides, waits kept in memory", () => {
    const schedule: Schedule.Schedule<unknown, Failure> = Schedule.spaced("1 second").pipe(
      Schedule.intersect(Schedule.recurs(2)),
      Schedule.whileInput(isRetryable)
    )
    const delays = backoff(schedule as Schedule.Schedule<unknown, unknown>, true)
    expect(delays.after(1, new Fatal())).toBe("NotRetryable")
    expect(delays.countable()).toBe(false)
    // after a restart (no failure in hand) the entry is due at once
    expect(delays.delay(1)).toBe(0)
    expect(delays.delay(5)).toBe(0)
    expect(delays.after(2, new Transient())).toBe(1_000)
    // taken twice, then ended by its count
    expect(delays.after(3, new Transient())).toBe("RetriesExhausted")
  })

  it("a defect is the schedule's input too: a predicate that does not take it ends the retries", () => {
    const schedule: Schedule.Schedule<unknown, Failure> = Schedule.spaced("1 second").pipe(
      Schedule.intersect(Schedule.recurs(2)),
      Schedule.whileInput(isRetryable)
    )
    const delays = backoff(schedule as Schedule.Schedule<unknown, unknown>, true)
    expect(delays.after(1, new TypeError("a bug"))).toBe("NotRetryable")
  })

  it("a schedule that reads no input is judged by the count, with or without an error", () => {
    const delays = backoff(Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1))), true)
    expect(delays.after(1, new Fatal())).toBe(1_000)
    expect(delays.after(1, new TypeError("a bug"))).toBe(1_000)
    expect(delays.after(2, new Fatal())).toBe("RetriesExhausted")
    const byDefault = backoff(defaultRetry, false, Infinity, false)
    expect(byDefault.after(3, new Fatal())).toBe(4_000)
  })
})
