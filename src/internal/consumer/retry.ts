/**
 * Retry with backoff: how long a failed entry waits before it is handled
 * again, from its delivery count alone, so that the wait survives a restart
 * (the consumer compares it with the entry's idle time in XPENDING; nothing
 * is kept in memory but a cache of the schedule's delays).
 */
import type { Schedule } from "effect"
import { Effect, ScheduleDecision, ScheduleIntervals } from "effect"

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

export const backoff = (schedule: Schedule.Schedule<unknown, unknown>, durable: boolean, cap = Infinity): Backoff => {
  const delays: Array<number> = []
  let state: unknown = schedule.initial
  let now = 0
  let ended = false
  const extend = (n: number) =>
    Effect.runSync(Effect.gen(function*() {
      while (!ended && delays.length < n) {
        const [next, , decision] = yield* schedule.step(now, undefined, state)
        if (ScheduleDecision.isDone(decision)) {
          ended = true
          break
        }
        const at = ScheduleIntervals.start(decision.intervals)
        delays.push(Math.min(cap, Math.max(0, at - now)))
        now = at
        state = next
      }
    }))
  return {
    durable,
    delay: (deliveries) => {
      const n = Math.min(maxSteps, Math.max(1, deliveries))
      if (delays.length < n && !ended) extend(n)
      return delays[n - 1]
    }
  }
}
