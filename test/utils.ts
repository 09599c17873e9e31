import type { Duration } from "effect"
import { Effect, Schedule } from "effect"

/**
 * Runs `check` until it succeeds, every 20 ms, failing with its last error
 * when `within` (default 5 seconds) has passed. For waits on a condition
 * in real time: never a bare sleep.
 */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  within: Duration.DurationInput = "5 seconds"
): Effect.Effect<A, E, R> =>
  Effect.retry(check, Schedule.spaced("20 millis").pipe(Schedule.upTo(within)))
