/**
 * Retry with backoff: how long a failed entry waits before it is handled
 * again, from its delivery count, so that the wait survives a restart (the
 * consumer compares it with the entry's idle time in XPENDING; nothing is
 * kept in memory but a cache of the schedule's delays), and whether its
 * failure may be retried at all: at the failure, the schedule is stepped
 * with the handler's error as its input, as `Effect.retry` steps it.
 */
import type { Schedule } from "effect"
import { Effect, Exit, ScheduleDecision, ScheduleIntervals } from "effect"

/** The delays of a schedule, by delivery count. */
export interface Backoff {
  /**
   * `true` (the `retry` option): an entry's wait is measured against its
   * idle time in XPENDING, so it survives a restart. `false` (the default
   * retry): only entries that failed in this process wait; after a restart
   * its own pending entries are handled first, as always.
   */
  readonly durable: boolean
  /**
   * How long an entry delivered `deliveries` times (and failed each time)
   * waits before its next delivery, in ms; `undefined` when the schedule
   * has ended: no more retries.
   */
  readonly delay: (deliveries: number) => number | undefined
  /**
   * After delivery `deliveries` failed with `failure` (the handler's error,
   * or the defect of one that threw or died): its wait in ms,
   * `"RetriesExhausted"` when the schedule has ended by the count, or
   * `"NotRetryable"` when it ends on this failure (a `Schedule.whileInput`
   * refusing it) while the count alone goes on.
   */
  readonly after: (deliveries: number, failure: unknown) => number | "RetriesExhausted" | "NotRetryable"
  /**
   * Whether the schedule can be stepped without a failure (by the count
   * alone). When it cannot (a predicate that reads its input), waits are
   * kept in memory only: after a restart such entries are due at once, and
   * their failure is seen again at the next attempt.
   */
  readonly countable: () => boolean
}

/**
 * The schedule stepped from its start, once per failure: the delay before
 * the n-th retry is the n-th step's. Delays are computed once and kept (a
 * jittered schedule is sampled once per delivery count), for at most
 * {@link maxSteps} delivery counts. With `cap`, no delay is longer than
 * `cap` (self-claim takes an entry idle that long).
 */
/**
 * How many times a schedule is stepped at most: an entry delivered more
 * often than this waits the last delay computed (a schedule still going
 * then is taken as never ending), so a delivery count in the millions costs
 * no more than this.
 */
export const maxSteps = 1_000

/**
 * The schedule stepped from its start `n` times with `input` each time:
 * the delays it gave, and whether it ended. A step that dies (a predicate
 * that cannot read the input given) ends it there, with `died`.
 */
const stepped = (
  schedule: Schedule.Schedule<unknown, unknown>,
  input: unknown,
  n: number,
  cap: number,
  from?: { readonly delays: Array<number>; state: unknown; now: number }
) => {
  const run = from ?? { delays: [] as Array<number>, state: schedule.initial as unknown, now: 0 }
  let ended = false
  let died = false
  while (run.delays.length < n) {
    const exit = Effect.runSyncExit(schedule.step(run.now, input, run.state))
    if (Exit.isFailure(exit)) {
      ended = died = true
      break
    }
    const [next, , decision] = exit.value
    if (ScheduleDecision.isDone(decision)) {
      ended = true
      break
    }
    const at = ScheduleIntervals.start(decision.intervals)
    run.delays.push(Math.min(cap, Math.max(0, at - run.now)))
    run.now = at
    run.state = next
  }
  return { run, ended, died }
}

export const backoff = (
  schedule: Schedule.Schedule<unknown, unknown>,
  durable: boolean,
  cap = Infinity,
  readsInput = true
): Backoff => {
  // by the count alone (no error to give it): computed once per count and kept
  const counted = { delays: [] as Array<number>, state: schedule.initial, now: 0 }
  let ended = false
  let died = false
  const delay = (deliveries: number): number | undefined => {
    const n = Math.min(maxSteps, Math.max(1, deliveries))
    if (counted.delays.length < n && !ended) {
      const more = stepped(schedule, undefined, n, cap, counted)
      ended = more.ended
      died = more.died
    }
    // a schedule that cannot be stepped without an error: after a restart its entries are due at once,
    // and the error is seen again at their next failure
    if (counted.delays.length < n && died) return 0
    return counted.delays[n - 1]
  }
  return {
    durable,
    delay,
    countable: () => !died,
    after: (deliveries, failure) => {
      const byCount = delay(deliveries)
      if (!readsInput) return byCount ?? "RetriesExhausted"
      const n = Math.min(maxSteps, Math.max(1, deliveries))
      const withError = stepped(schedule, failure, n, cap)
      if (!withError.ended) return withError.run.delays[n - 1]!
      if (!died) return byCount === undefined ? "RetriesExhausted" : "NotRetryable"
      // not steppable by the count alone: a schedule that took this error before and ends now ended by its count
      return withError.run.delays.length === 0 ? "NotRetryable" : "RetriesExhausted"
    }
  }
}
