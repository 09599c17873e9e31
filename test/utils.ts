import type { Duration } from "effect"
import { Clock, Effect, Schedule } from "effect"

const liveClock = Clock.make()

/**
 * Runs `check` until it succeeds, every 20 ms, failing with its last error
 * when `within` (default 5 seconds) has passed. For waits on a condition
 * in real time: never a bare sleep. The waiting is in real time also under
 * a TestClock (a test that drives a schedule with TestClock still polls
 * real Redis replies).
 */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  within: Duration.DurationInput = "5 seconds"
): Effect.Effect<A, E, R> =>
  Effect.retry(check, Schedule.spaced("20 millis").pipe(Schedule.upTo(within))).pipe(Effect.withClock(liveClock))
