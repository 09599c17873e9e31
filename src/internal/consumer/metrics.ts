/**
 * The consumer's metrics, updated without an Effect per entry: counters are
 * added to once per batch and the handler timer once per entry, through a
 * label array made once per consumer (so the metric hook is looked up once).
 */
import { Effect, FiberRef, Metric, MetricBoundaries, MetricLabel } from "effect"

/** Entries whose handler succeeded. */
export const handled = Metric.counter("effect_redis_streams_consumer_handled", {
  description: "stream entries handled successfully",
  incremental: true
})

/** Entries whose handler failed (they stay pending). */
export const failed = Metric.counter("effect_redis_streams_consumer_failed", {
  description: "stream entries whose handler failed",
  incremental: true
})

/** Entries acknowledged (XACK replies). */
export const acked = Metric.counter("effect_redis_streams_consumer_acked", {
  description: "stream entries acknowledged",
  incremental: true
})

/** Pending entries whose payload was trimmed from the stream (acked, not handled). */
export const trimmed = Metric.counter("effect_redis_streams_consumer_trimmed", {
  description: "pending stream entries found trimmed, acked without handling",
  incremental: true
})

/** Entries this consumer claimed from others (self-claim). */
export const claimed = Metric.counter("effect_redis_streams_consumer_claimed", {
  description: "idle stream entries claimed from other consumers of the group (self-claim)",
  incremental: true
})

/** Failed entries given a backoff before their next delivery (retry). */
export const retried = Metric.counter("effect_redis_streams_consumer_retried", {
  description: "failed stream entries scheduled for a retry after a backoff",
  incremental: true
})

/** Entries the consumer moved to a dead-letter stream (retries exhausted, or self-claimed past the threshold). */
export const deadLettered = Metric.counter("effect_redis_streams_consumer_dead_lettered", {
  description: "stream entries the consumer moved to a dead-letter stream",
  incremental: true
})

/** Reads that failed (each retry counts). */
export const readErrors = Metric.counter("effect_redis_streams_consumer_read_errors", {
  description: "failed reads of consumer groups",
  incremental: true
})

/** Times the consumer waited for its group's rate limit (`rateLimit`) before starting more handlers. */
export const throttled = Metric.counter("effect_redis_streams_consumer_throttled", {
  description: "times a consumer waited for its group's shared rate limit",
  incremental: true
})

/** Entries whose handler returned `rateLimited` (a downstream's 429): held, not failed. */
export const rateLimited = Metric.counter("effect_redis_streams_consumer_rate_limited", {
  description: "stream entries whose handler returned rateLimited: the group held, the entry handled again after",
  incremental: true
})

/** Times the consumer found its group paused (`Groups.pause`) and stopped reading. */
export const pauses = Metric.counter("effect_redis_streams_consumer_pauses", {
  description: "times a consumer found its group paused and stopped reading until the resume",
  incremental: true
})

/**
 * How long handlers take: the histogram `Metric.timerWithBoundaries` makes,
 * fed milliseconds directly (the timer would re-tag every sample).
 */
export const handlerDuration = Metric.histogram(
  "effect_redis_streams_consumer_handler_duration",
  MetricBoundaries.fromIterable([1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000]),
  "handler duration"
)

/** The consumer's metric updaters, labelled with the fiber's metric labels plus stream and group. */
export interface Recorder {
  readonly add: (metric: Metric.Metric.Counter<number>, n: number) => void
  readonly duration: (millis: number) => void
}

/** Makes a {@link Recorder} for one consumer. */
export const recorder = (stream: string, group: string): Effect.Effect<Recorder> =>
  Effect.map(FiberRef.get(FiberRef.currentMetricLabels), (labels) => {
    const tags = [...labels, MetricLabel.make("stream", stream), MetricLabel.make("group", group)]
    const timerTags = [...tags, MetricLabel.make("time_unit", "milliseconds")]
    return {
      add: (metric, n) => {
        if (n > 0) metric.unsafeUpdate(n, tags)
      },
      duration: (millis) => handlerDuration.unsafeUpdate(millis, timerTags)
    }
  })
