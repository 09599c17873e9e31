/**
 * The consumer's data: which consumer a message belongs to, the message the
 * handler gets, and the control decisions and events (`Control`,
 * `ControlEvent`, `defaultControl`). Its own module so that `Consumer.ts`
 * (which re-exports all of it) and the loop that interprets it
 * (`loop.ts`) both import it, and not each other.
 */
import { Cause, Data, Duration, Effect, Option, Schema } from "effect"
import type * as RedisError from "../../RedisError.js"
import { describeFailure } from "../gc/failure.js"

/**
 * Which consumer an event or message belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerContext {
  readonly stream: string
  readonly group: string
  readonly consumer: string
}

/**
 * A stream entry as the handler gets it. `deliveries` is how many times the
 * group has delivered it, counting this time (1 for a new entry).
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamMessage extends ConsumerContext {
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
  readonly deliveries?: number | undefined
}

/**
 * A {@link StreamMessage} whose fields were decoded with the `schema` option.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedMessage<D> extends StreamMessage {
  readonly data: D
}

/**
 * A handler that ran past the consumer's `timeout`: it was interrupted, and
 * its entry failed with this error (retried, then dead-lettered, like any
 * failure of the entry).
 *
 * @since 0.1.0
 * @category errors
 */
export class HandlerTimeout extends Schema.TaggedError<HandlerTimeout>("effect-redis-streams/HandlerTimeout")("HandlerTimeout", {
  stream: Schema.String,
  id: Schema.String,
  /** The timeout, in milliseconds. */
  timeout: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the handler of ${this.id} of ${this.stream} ran past its timeout (${this.timeout} ms) and was interrupted`
  }
}

/**
 * A failure a handler returns when a service it calls said "too many
 * requests" (an HTTP 429): the consumer holds the group for `delay`
 * milliseconds, and the entry is handled again after it, without counting
 * as a failed attempt. Make one with {@link rateLimited}.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("effect-redis-streams/RateLimited")("RateLimited", {
  /** How long to hold the group, in milliseconds. */
  delay: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `rate limited by the handler: the group holds for ${this.delay} ms`
  }
}

/**
 * A {@link RateLimited} failure for a handler to return:
 * `Effect.fail(Consumer.rateLimited("30 seconds"))`. With `rateLimit`,
 * every consumer of the group that shares the limit holds for `delay` (the
 * hold lives in the limiter, in Redis); without, this consumer does. A
 * negative or malformed `delay` throws a `RangeError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rateLimited = (delay: Duration.DurationInput): RateLimited => {
  const decoded = Duration.decodeUnknown(delay)
  const millis = Option.isSome(decoded) ? Duration.toMillis(decoded.value) : NaN
  const negative = typeof delay === "number" ? delay < 0 : typeof delay === "string" && /^\s*-/.test(delay)
  if (!Number.isFinite(millis) || millis < 0 || negative || (typeof delay === "number" && Number.isNaN(delay))) {
    throw new RangeError(`rateLimited needs a finite duration of 0 or more, got ${String(delay)}`)
  }
  return new RateLimited({ delay: Math.round(millis) })
}

/**
 * What a `handleBatch` effect succeeds with when some entries of its batch
 * failed and the others succeeded: the failed ones, each with its error
 * (retried and dead-lettered per entry, as a handler's failure), while every
 * other entry of the batch is acked. Make one with {@link partialFailure}.
 * Entries it names that are not in the batch are ignored.
 *
 * @since 0.1.0
 * @category models
 */
export class PartialFailure<E> {
  /**
   * @since 0.1.0
   */
  readonly _tag = "PartialFailure"
  constructor(
    /** The entries that failed, each with its error. */
    readonly failed: ReadonlyArray<{ readonly message: StreamMessage; readonly error: E }>
  ) {}
}

/**
 * The result of a `handleBatch` effect whose batch partly failed: these
 * entries failed with these errors; the rest of the batch succeeded.
 *
 * ```ts
 * handleBatch: (messages) =>
 *   Effect.map(insertRows(messages), (rejected) =>
 *     Consumer.partialFailure(rejected.map((message) => ({ message, error: "rejected by the database" }))))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const partialFailure = <E>(
  failed: ReadonlyArray<{ readonly message: StreamMessage; readonly error: E }>
): PartialFailure<E> => new PartialFailure(failed)

/**
 * What the consumer does next: `Exit` ends the run, `Recur` goes on.
 *
 * @since 0.1.0
 * @category models
 */
export type Control = Data.TaggedEnum<{
  Exit: {}
  Recur: {}
}>

/**
 * Constructors of {@link Control}: `Control.Exit()`, `Control.Recur()`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Control = Data.taggedEnum<Control>()

/**
 * What happened, handed to the `control` function after every handled entry
 * and every failed read:
 *
 * - `ReadFailed`: reading the group failed (also when unblocked with
 *   `CLIENT UNBLOCK … ERROR`); lost connections are retried on the
 *   `reconnect` schedule before this is seen.
 * - `Handled`: the handler succeeded with `value`; the entry is acked.
 * - `HandlerFailed`: the handler failed (or its fields did not decode with
 *   `schema`); the entry stays pending.
 * - `RetryScheduled` (with `retry`): after `HandlerFailed`, the entry will
 *   not be handled again before `delay` has passed.
 * - `Claimed` (with `claim`): the consumer claimed these idle entries of
 *   its group's other consumers; it handles them next.
 * - `DeadLettered`: the consumer moved an entry to the dead-letter stream
 *   `dlq`, because its `retry` schedule ended (`RetriesExhausted`), it was
 *   self-claimed past `claim.deadLetter.deliveries` (`Claimed`), or its
 *   fields did not decode with `schema` (`DecodeFailed`: never retried).
 *
 * `Exit` after `RetryScheduled` fails the run with the handler's error, as
 * after `HandlerFailed`; after `Claimed` or `DeadLettered` the run ends
 * interrupted (there is no value or error to end with).
 *
 * @since 0.1.0
 * @category models
 */
export type ControlEvent<A = unknown, E = unknown> = Data.TaggedEnum<{
  ReadFailed: { readonly error: RedisError.RedisError; readonly context: ConsumerContext }
  Handled: { readonly message: StreamMessage; readonly value: A; readonly context: ConsumerContext }
  HandlerFailed: { readonly message: StreamMessage; readonly cause: Cause.Cause<E>; readonly context: ConsumerContext }
  RetryScheduled: {
    readonly message: StreamMessage
    readonly cause: Cause.Cause<E>
    readonly delay: Duration.Duration
    readonly context: ConsumerContext
  }
  Claimed: { readonly stream: string; readonly ids: ReadonlyArray<string>; readonly context: ConsumerContext }
  DeadLettered: {
    readonly stream: string
    readonly id: string
    readonly deliveries: number
    readonly dlq: string
    readonly reason: "RetriesExhausted" | "Claimed" | "NotRetryable" | "DecodeFailed"
    readonly context: ConsumerContext
  }
}>

/**
 * @since 0.1.0
 * @category models
 */
export interface ControlEventDefinition extends Data.TaggedEnum.WithGenerics<2> {
  readonly taggedEnum: ControlEvent<this["A"], this["B"]>
}

/**
 * Constructors and matchers of {@link ControlEvent}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ControlEvent = Data.taggedEnum<ControlEventDefinition>()

const exit: Effect.Effect<Control> = Effect.succeed(Control.Exit())
const recur: Effect.Effect<Control> = Effect.succeed(Control.Recur())

/**
 * The seed's `default-control-fn`: a failed read is logged and exits (this
 * includes being unblocked), a handled entry recurs, a failed handler is
 * logged and recurs.
 *
 * @since 0.1.0
 * @category control
 */
export const defaultControl = (event: ControlEvent<unknown, unknown>): Effect.Effect<Control> => {
  switch (event._tag) {
    case "Handled":
      return recur
    case "ReadFailed":
      return Effect.zipRight(
        Effect.logWarning(`consumer read failed (${event.error.reason}): ${event.error.message}; exiting`),
        exit
      )
    case "HandlerFailed": {
      // what happens next (a retry after its backoff, or the dead-letter stream) is logged by its own event
      const message = `handler failed on ${event.message.id} of ${event.message.stream} (delivery ${event.message.deliveries ?? 1})`
      const failure = Cause.failureOption(event.cause)
      return Effect.zipRight(
        Option.isSome(failure)
          ? Effect.logWarning(`${message}: ${describeFailure(failure.value)}`)
          : Effect.logWarning(message, event.cause),
        recur
      )
    }
    case "RetryScheduled":
      return Effect.zipRight(
        Effect.logDebug(`${event.message.id} is retried in ${Duration.format(event.delay)} at the earliest`),
        recur
      )
    case "Claimed":
      return Effect.zipRight(Effect.logDebug(`claimed ${event.ids.length} idle entries of ${event.stream}`), recur)
    case "DeadLettered":
      // the dead-lettering itself logged it at warning level
      return Effect.zipRight(
        Effect.logDebug(
          `${event.id} of ${event.stream} moved to ${event.dlq} after ${event.deliveries} deliveries (${
            event.reason === "Claimed" ? "self-claimed past the threshold" : event.reason
          })`
        ),
        recur
      )
  }
}

