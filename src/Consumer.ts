/**
 * Consumers of a consumer group: the seed's `start-consumer!` as an Effect
 * you fork, with control flow as data, batching, graceful interruption,
 * reconnection, heartbeats, and `unblock` for operators.
 *
 * @since 0.1.0
 */
import type { Duration, ParseResult } from "effect"
import { Cause, Effect, Fiber, FiberSet, Layer, Option, Schedule, Schema } from "effect"
import type { Control, ControlEvent, DecodedMessage, PartialFailure, StreamMessage } from "./internal/consumer/data.js"
import { defaultControl, HandlerTimeout } from "./internal/consumer/data.js"
import * as Health from "./internal/consumer/health.js"
import * as Loop from "./internal/consumer/loop.js"
import * as Metrics from "./internal/consumer/metrics.js"
import * as RateLimit from "./internal/consumer/rateLimit.js"
import * as Retry from "./internal/consumer/retry.js"
import { inOneSlot } from "./internal/redis/slots.js"
import * as Trace from "./internal/redis/trace.js"
import * as Unblock from "./internal/redis/unblock.js"
import * as Validate from "./internal/redis/validate.js"
import type * as Topic from "./Topic.js"
import * as Gc from "./Gc.js"
import * as Groups from "./Groups.js"
import * as Naming from "./Naming.js"
import * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"

export {
  /**
   * @since 0.1.0
   * @category models
   */
  type ConsumerContext,
  /**
   * @since 0.1.0
   * @category constructors
   */
  Control,
  /**
   * @since 0.1.0
   * @category constructors
   */
  ControlEvent,
  /**
   * @since 0.1.0
   * @category models
   */
  type ControlEventDefinition,
  /**
   * @since 0.1.0
   * @category models
   */
  type DecodedMessage,
  /**
   * @since 0.1.0
   * @category errors
   */
  HandlerTimeout,
  /**
   * @since 0.1.0
   * @category control
   */
  defaultControl,
  /**
   * @since 0.1.0
   * @category models
   */
  PartialFailure,
  /**
   * @since 0.1.0
   * @category errors
   */
  RateLimited,
  /**
   * @since 0.1.0
   * @category constructors
   */
  rateLimited,
  /**
   * @since 0.1.0
   * @category constructors
   */
  partialFailure,
  /**
   * @since 0.1.0
   * @category models
   */
  type StreamMessage
} from "./internal/consumer/data.js"

/**
 * Options every consumer takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions<A, E, EC, RC> {
  /** The stream to read: give this or `streams`. */
  readonly stream?: string | undefined
  /**
   * Several streams, highest priority first (the same group and consumer
   * name on each): own pending entries first, highest priority first; then
   * each read takes the highest-priority stream that has new entries. See
   * docs/several-streams-and-self-claim.md for what a low stream can
   * wait. On a Redis Cluster they must share a hash slot (a hash tag).
   */
  readonly streams?: ReadonlyArray<string> | undefined
  readonly group: string
  /** The consumer's name, also the name of its connection (CLIENT SETNAME). */
  readonly consumer: string
  /** How long a read waits for new entries before the backlog is checked. Default 5 seconds. */
  readonly block?: Duration.DurationInput | undefined
  /**
   * Entries per read (one XACK per batch). Default 100. While a batch is
   * handled the next one is read ahead (without blocking), so up to twice
   * this many entries are delivered and not yet handled: with slow handlers
   * keep `count` × handler time well under gc's rebalance idle time, or set
   * `heartbeat`.
   */
  readonly count?: number | undefined
  /** Handlers in flight at once. Default 1, which keeps the stream's order. */
  readonly concurrency?: number | undefined
  /** Decides what happens after each event. Default {@link defaultControl}. */
  readonly control?: ((event: ControlEvent<A, E>) => Effect.Effect<Control, EC, RC>) | undefined
  /**
   * How long one handler may run: past it the handler is interrupted and its
   * entry fails with {@link HandlerTimeout} (retried with `retry`, then
   * dead-lettered with `deadLetter`, like any failure); given, the events
   * and the run's error take `HandlerTimeout` among the handler's errors. With `heartbeat`,
   * a running entry is kept from gc and self-claim only this long. Default
   * none: a handler that hangs holds its entry, and a consumer with
   * `concurrency: 1` stops with it.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * How long interrupting the consumer waits for running handlers before it
   * interrupts them (their entries stay pending; the entries handled so far
   * are acked). Default 10 seconds.
   */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /**
   * While a handler runs longer than this, its entry's idle time is reset
   * (XCLAIM … JUSTID to this consumer) every `heartbeat`, so gc does not
   * hand it to another consumer; the entries waiting for their turn (in the
   * batch, and in the batch read ahead) are refreshed too. With `claim` it
   * must be shorter than `claim.idle` (so no sibling claims a running
   * entry). Default off.
   */
  readonly heartbeat?: Duration.DurationInput | undefined
  /**
   * How reads that fail with reason `Connection` are retried. Default:
   * jittered exponential backoff from 100 ms, capped at 5 s, forever.
   */
  readonly reconnect?: Schedule.Schedule<unknown, RedisError.RedisError> | undefined
  /**
   * Interrupting the consumer waits for running handlers (and acks their
   * entries), up to `shutdownTimeout`, unless this is true: then running
   * handlers are interrupted at once and their entries stay pending.
   * Default false.
   */
  readonly interruptHandlers?: boolean | undefined
  /**
   * Self-claim: whenever there is nothing new to read (at most every
   * `every`, default `idle`), claim the entries of any consumer of the group
   * idle longer than `idle` (XAUTOCLAIM, `count` per stream and step,
   * default 100) and handle them as this consumer's own. With
   * `deadLetter: { deliveries }`, a claimed entry delivered that many times
   * goes to the dead-letter stream instead (gc's script; `stream` default
   * `Naming.dlqName` of its stream). Default off.
   */
  readonly claim?: ClaimOptions | undefined
  /**
   * Retry with backoff: after a handler failure the entry is not handled
   * again before the delay the schedule gives for its delivery count (the
   * n-th failure waits the schedule's n-th delay), e.g.
   * `Schedule.exponential("1 second").pipe(Schedule.upTo("1 minute"))`.
   * The delay is compared with the entry's idle time in XPENDING, so it
   * survives a restart. When the schedule ends, the entry goes to
   * `deadLetter` if set, and otherwise stays pending (for gc). With
   * `claim`, no delay is longer than `claim.idle`. Default
   * {@link defaultRetry} (1 s, 2 s, 4 s, … up to 1 minute, without end: gc's
   * dead-letter thresholds cap the attempts), kept in memory only: an entry
   * that failed in this consumer waits, and after a restart its own pending
   * entries are handled first, at once. `false`: a failed entry is retried
   * whenever the consumer next reads its backlog.
   *
   * The schedule's input is the handler's error (its defect, for one that
   * threw or died), as with `Effect.retry`: a schedule that ends on an error
   * while its count would go on (`Schedule.whileInput`) sends the entry to
   * the dead-letter stream at once, reason `NotRetryable` (to `deadLetter`,
   * else `Naming.dlqName(stream)`). A schedule whose predicate cannot take
   * `undefined` cannot be stepped by the count alone: its waits are kept in
   * memory (after a restart its entries are retried at once).
   */
  readonly retry?: Schedule.Schedule<unknown, E> | false | undefined
  /** Where entries go when their `retry` schedule ends. Default: nowhere, they stay pending. */
  readonly deadLetter?: ConsumerDeadLetter | undefined
  /**
   * How an entry's span (`Consumer.handle`) relates to the span that wrote
   * the entry, whose W3C trace context the producer put into the entry:
   * `"link"` (default: a span link, the entry's work a trace of its own) or
   * `"parent"` (the work continues the producer's trace). `false`: entries
   * are read as they are, the trace field among their fields. Either way
   * spans are made only under a tracer that exports.
   */
  readonly trace?: "link" | "parent" | false | undefined
  /** The field the trace context is read from, kept out of `fields`. Default `Streams.traceField` (`"trace:traceparent"`). */
  readonly traceField?: string | undefined
  /**
   * A rate limit shared by every consumer of the group that sets it, in
   * every process: together they start at most `limit` handlers per `per`,
   * `burst` at once after a quiet spell (default 1), so at most
   * `limit + burst - 1` in any window of `per`. Counted in Redis (GCRA, one
   * hash beside the stream, one script on the server's clock), asked once
   * per batch; a consumer waits the time the script gives, without a busy
   * loop. With `handleBatch`, each grant's part of a read is one call.
   * Every consumer of the group should give the same limit. Default none.
   */
  readonly rateLimit?: RateLimitOptions | undefined
}

/**
 * A rate limit shared by a group's consumers ({@link CommonOptions.rateLimit}).
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimitOptions {
  /** Handlers started per `per`, at least 1. */
  readonly limit: number
  readonly per: Duration.DurationInput
  /** How many may start at once after a quiet spell. Default 1. */
  readonly burst?: number | undefined
}

/**
 * Options of self-claim (`claim`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimOptions {
  /** Claim entries idle longer than this (at least 1 ms). */
  readonly idle: Duration.DurationInput
  /**
   * At most one self-claim step this often (when there is nothing new to
   * read). A step that stopped at `count` goes on as soon as there is
   * nothing new again. Default `idle`.
   */
  readonly every?: Duration.DurationInput | undefined
  /** Entries claimed per stream and step. Default 100. */
  readonly count?: number | undefined
  /**
   * Dead-letter a claimed entry delivered at least `deliveries` times
   * instead of handling it (`idle` is not taken: every claimed entry is idle
   * past `claim.idle`). Default off.
   */
  readonly deadLetter?: Gc.DlqOptions | undefined
}

/**
 * Where a consumer dead-letters entries.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerDeadLetter {
  /** The dead-letter stream. Default `Naming.dlqName` of the entry's stream. */
  readonly stream?: string | undefined
  /** Copy the entry's fields (needed by `Gc.redrive`). Default true. */
  readonly includeMessage?: boolean | undefined
}

/**
 * Options of {@link run} without a schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, E, R, EC, RC> extends CommonOptions<A, E, EC, RC> {
  readonly schema?: undefined
  readonly handleBatch?: undefined
  readonly handler: (message: StreamMessage) => Effect.Effect<A, E, R>
}

/**
 * Options of {@link run} with a batch handler: `handleBatch` gets every
 * message of a read at once (up to `count`), as kafkajs' `eachBatch`.
 *
 * - When its effect succeeds, every entry of the batch is acked.
 * - When it fails, every entry of the batch has failed with that cause:
 *   each is retried (`retry`) and dead-lettered (`deadLetter`, gc) on its
 *   own, as a handler's failure is.
 * - When some entries failed and the others succeeded, it succeeds with
 *   {@link partialFailure} naming the failed ones and their errors: those
 *   fail, every other entry is acked.
 *
 * One batch is handled at a time (`concurrency` must be 1), and the next
 * read is made while it runs. `timeout` bounds the whole batch (its
 * `HandlerTimeout` names the batch's first entry); the handler timer and
 * the span (`Consumer.handleBatch`) are per batch. There is no `schema`
 * here: decode in the handler, and name the entries that do not decode in
 * a `partialFailure`.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions<E, R, EC, RC> extends CommonOptions<void, E, EC, RC> {
  readonly schema?: undefined
  readonly handler?: undefined
  readonly handleBatch: (messages: ReadonlyArray<StreamMessage>) => Effect.Effect<void | PartialFailure<E>, E, R>
}

/**
 * Options of {@link run} with a schema decoding the entry's string fields
 * into `data`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchemaOptions<D, I, RS, A, E, R, EC, RC>
  extends CommonOptions<A, E | ParseResult.ParseError, EC, RC>
{
  readonly schema: Schema.Schema<D, I, RS>
  readonly handleBatch?: undefined
  readonly handler: (message: DecodedMessage<D>) => Effect.Effect<A, E, R>
}

/**
 * Options of {@link run} with a {@link Topic.Topic}: its stream is
 * read and its schema decodes each entry into `data`, as with `schema`
 * (an entry that does not decode is dead-lettered at once, reason
 * `DecodeFailed`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicOptions<D, I extends Topic.Encoded, RS, A, E, R, EC, RC>
  extends Omit<CommonOptions<A, E | ParseResult.ParseError, EC, RC>, "stream" | "streams">
{
  readonly topic: Topic.Topic<D, I, RS>
  readonly stream?: undefined
  readonly streams?: undefined
  readonly schema?: undefined
  readonly handleBatch?: undefined
  readonly handler: (message: DecodedMessage<D>) => Effect.Effect<A, E, R>
}

/**
 * The default `retry` schedule: a failed entry waits 1 s before its second
 * delivery, then 2 s, 4 s, … and at most 1 minute, without end.
 *
 * @since 0.1.0
 * @category schedules
 */
export const defaultRetry: Schedule.Schedule<unknown> = Schedule.exponential("1 second").pipe(
  Schedule.union(Schedule.spaced("1 minute"))
)

/**
 * The default `reconnect` schedule: jittered exponential backoff from
 * 100 ms, capped at 5 s, without end.
 *
 * @since 0.1.0
 * @category schedules
 */
export const defaultReconnect: Schedule.Schedule<unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 seconds"))
)

const invalid = (message: string) => Effect.fail(RedisError.invalidArgument("XREADGROUP", message))

/** `stream` or `streams`, checked: one or more valid names, no duplicates. */
const streamsOf = (options: { readonly stream?: string | undefined; readonly streams?: ReadonlyArray<string> | undefined }) =>
  Effect.gen(function*() {
    if (options.stream !== undefined && options.streams !== undefined) return yield* invalid("give stream or streams, not both")
    const streams = options.streams ?? (options.stream === undefined ? [] : [options.stream])
    if (!Array.isArray(streams) || streams.length === 0) return yield* invalid("streams must name one stream or more")
    for (const stream of streams) yield* Redis.validateName("XREADGROUP", "stream", stream)
    const repeated = streams.find((stream, i) => streams.indexOf(stream) !== i)
    if (repeated !== undefined) return yield* invalid(`streams must not repeat a stream: ${JSON.stringify(repeated)} is there twice`)
    return streams as ReadonlyArray<string>
  })

/** A dead-letter target: the stream per origin stream (default `Naming.dlqName`). */
const deadLetterOf = (options: ConsumerDeadLetter, what: string) =>
  Effect.gen(function*() {
    const stream = options.stream
    if (stream !== undefined) yield* Redis.validateName("XREADGROUP", `${what}.stream`, stream)
    return {
      dlq: (origin: string) => stream ?? Naming.dlqName(origin),
      includeMessage: options.includeMessage ?? true
    }
  })

const claimOf = (claim: ClaimOptions) =>
  Effect.gen(function*() {
    const idle = yield* Validate.positiveMillis("XREADGROUP", "claim.idle", claim.idle)
    const dlq = claim.deadLetter
    if (dlq?.idle !== undefined) {
      return yield* invalid("claim.deadLetter takes deliveries, not idle: every claimed entry is idle past claim.idle")
    }
    if (dlq !== undefined && dlq.deliveries === undefined) return yield* invalid("claim.deadLetter needs deliveries")
    return {
      idle,
      every: yield* Validate.positiveMillis("XREADGROUP", "claim.every", claim.every ?? idle),
      count: yield* Validate.positiveInteger("XREADGROUP", "claim.count", claim.count, 100),
      deadLetter: dlq === undefined ? undefined : {
        ...(yield* deadLetterOf(dlq, "claim.deadLetter")),
        deliveries: yield* Validate.positiveInteger("XREADGROUP", "claim.deadLetter.deliveries", dlq.deliveries, 1)
      }
    }
  })

/** `heartbeat`, shorter than `claim.idle` with self-claim: a sibling must never claim an entry being handled. */
const heartbeatOf = (heartbeat: Duration.DurationInput | undefined, claim: { readonly idle: number } | undefined) =>
  Effect.gen(function*() {
    if (heartbeat === undefined) return undefined
    const every = yield* Validate.positiveMillis("XREADGROUP", "heartbeat", heartbeat)
    if (claim !== undefined && every >= claim.idle) {
      return yield* invalid(`heartbeat (${every} ms) must be shorter than claim.idle (${claim.idle} ms), or siblings claim entries being handled`)
    }
    return every
  })

const settings = <A, E, EC, RC>(options: CommonOptions<A, E, EC, RC>, batch: boolean) =>
  Effect.gen(function*() {
    const streams = yield* streamsOf(options)
    if (batch && options.concurrency !== undefined && options.concurrency !== 1) {
      return yield* invalid(`handleBatch handles one batch at a time: concurrency must be 1, not ${options.concurrency}`)
    }
    yield* Redis.validateName("XREADGROUP", "group", options.group)
    yield* Redis.validateName("XREADGROUP", "consumer", options.consumer)
    const retry = options.retry ?? defaultRetry
    if (retry !== false && !Schedule.isSchedule(retry)) return yield* invalid("retry must be a Schedule or false")
    const trace = options.trace ?? "link"
    if (trace !== false && trace !== "link" && trace !== "parent") {
      return yield* invalid(`trace must be "link", "parent" or false, not ${JSON.stringify(trace)}`)
    }
    const claim = options.claim === undefined ? undefined : yield* claimOf(options.claim)
    const retryDeadLetter = options.deadLetter === undefined ? undefined : yield* deadLetterOf(options.deadLetter, "deadLetter")
    yield* sharedSlot(streams, [claim?.deadLetter, retryDeadLetter])
    return {
      context: { stream: streams[0]!, group: options.group, consumer: options.consumer },
      streams,
      claim,
      retryDeadLetter,
      backoff: retry === false
        ? undefined
        : Retry.backoff(retry as Schedule.Schedule<unknown, unknown>, options.retry !== undefined, claim?.idle, retry !== defaultRetry),
      block: yield* Validate.positiveMillis("XREADGROUP", "block", options.block ?? "5 seconds"),
      count: yield* Validate.positiveInteger("XREADGROUP", "count", options.count, 100),
      concurrency: yield* Validate.positiveInteger("XREADGROUP", "concurrency", options.concurrency, 1),
      heartbeat: yield* heartbeatOf(options.heartbeat, claim),
      timeout: options.timeout === undefined ? undefined : yield* Validate.positiveMillis("XREADGROUP", "timeout", options.timeout),
      shutdownTimeout: yield* Validate.positiveMillis("XREADGROUP", "shutdownTimeout", options.shutdownTimeout ?? "10 seconds"),
      reconnect: options.reconnect ?? defaultReconnect,
      interruptHandlers: options.interruptHandlers ?? false,
      rateLimit: options.rateLimit === undefined ? undefined : yield* rateLimitOf(options.rateLimit, streams[0]!, options.group),
      traceField: trace === false ? undefined : yield* traceFieldOf(options.traceField),
      traceMode: trace === false ? undefined : trace
    }
  })

/** `rateLimit`, checked, with the limiter's key beside the (first) stream. */
const rateLimitOf = (rateLimit: RateLimitOptions, stream: string, group: string) =>
  Effect.gen(function*() {
    const key = RateLimit.keyOf(stream, group)
    if (key === undefined) return yield* invalid(`${JSON.stringify(stream)} has a "}" but no hash tag: its rate limiter cannot share its slot`)
    return {
      key,
      settings: {
        limit: yield* Validate.positiveInteger("XREADGROUP", "rateLimit.limit", rateLimit.limit ?? NaN, 0),
        per: yield* Validate.positiveMillis("XREADGROUP", "rateLimit.per", rateLimit.per),
        burst: yield* Validate.positiveInteger("XREADGROUP", "rateLimit.burst", rateLimit.burst, 1)
      }
    }
  })

/** `traceField`, checked: a name as a stream's would be. */
const traceFieldOf = (field: string | undefined) =>
  field === undefined ? Effect.succeed(Trace.defaultField) : Effect.as(Redis.validateName("XREADGROUP", "traceField", field), field)

/**
 * On a Redis Cluster, the streams (and the dead-letter streams the consumer
 * writes to) must share a slot: every read and script covers them at once.
 */
const sharedSlot = (
  streams: ReadonlyArray<string>,
  targets: ReadonlyArray<{ readonly dlq: (stream: string) => string } | undefined>
) =>
  Effect.flatMap(Redis.Redis, (redis) => {
    if (!redis.isCluster) return Effect.void
    const keys = [...streams, ...targets.flatMap((target) => (target === undefined ? [] : streams.map(target.dlq)))]
    return inOneSlot("Consumer.run", keys.map((key): Redis.Command => ["EXISTS", [key]]))
  })

/** The failures of the `schema` option's decoding (not the handler's own): they can never succeed. */
const decodeFailures = new WeakSet<object>()

const withSchema = <D, I, RS, A, E, R>(
  schema: Schema.Schema<D, I, RS>,
  handler: (message: DecodedMessage<D>) => Effect.Effect<A, E, R>
) => {
  const decode = Schema.decodeUnknown(schema)
  return (message: StreamMessage): Effect.Effect<A, E | ParseResult.ParseError, R | RS> =>
    Effect.flatMap(
      Effect.tapError(decode(message.fields), (error) => Effect.sync(() => decodeFailures.add(error))),
      (data) => handler({ ...message, data })
    )
}

/** Why a failure can never succeed: fields that did not decode are dead-lettered at once, not retried. */
const hopeless = (failure: unknown): "DecodeFailed" | undefined =>
  typeof failure === "object" && failure !== null && decodeFailures.has(failure) ? "DecodeFailed" : undefined

/**
 * Runs a consumer until its control function returns `Exit` or it is
 * interrupted; fork it (`Effect.fork`, `Effect.forkScoped`, a `FiberSet` or
 * a `FiberMap`).
 *
 * It reads its own pending entries first, then new ones (of `streams`, by
 * priority); a handler success acks the entry, a failure leaves it pending
 * and backs it off (`retry`); when a blocking read comes back empty it goes
 * through its pending entries again (and, with `claim`, takes idle entries
 * of its siblings); a pending entry trimmed from the stream is acked,
 * logged and counted. After `Exit` the run succeeds with the handled value,
 * or fails with the read's `RedisError` or the handler's error.
 *
 * Interrupting it ends a blocking read at once, lets running handlers finish
 * (for up to `shutdownTimeout`, then interrupts them) and acks their entries
 * (unless `interruptHandlers`), and releases its connection. Entries handled
 * are acked with the next read, or within a second while a batch is still
 * being handled.
 *
 * A handler that throws instead of returning an Effect fails its entry with
 * the defect (retried and dead-lettered like any failure); the consumer goes on.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: {
  <E, R, EC = never, RC = never>(
    options: BatchOptions<E | HandlerTimeout, R, EC, RC> & Timed & StreamChoice
  ): Effect.Effect<void, RedisError.RedisError | E | HandlerTimeout | EC, R | RC | Redis.Redis>
  <E, R, EC = never, RC = never>(
    options: BatchOptions<E, R, EC, RC> & StreamChoice
  ): Effect.Effect<void, RedisError.RedisError | E | EC, R | RC | Redis.Redis>
  <D, I, RS, A, E, R, EC = never, RC = never>(
    options: SchemaOptions<D, I, RS, A, E | HandlerTimeout, R, EC, RC> & Timed & StreamChoice
  ): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | HandlerTimeout | EC, R | RS | RC | Redis.Redis>
  <D, I, RS, A, E, R, EC = never, RC = never>(
    options: SchemaOptions<D, I, RS, A, E, R, EC, RC> & StreamChoice
  ): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RS | RC | Redis.Redis>
  <D, I extends Topic.Encoded, RS, A, E, R, EC = never, RC = never>(
    options: TopicOptions<D, I, RS, A, E | HandlerTimeout, R, EC, RC> & Timed
  ): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | HandlerTimeout | EC, R | RS | RC | Redis.Redis>
  <D, I extends Topic.Encoded, RS, A, E, R, EC = never, RC = never>(
    options: TopicOptions<D, I, RS, A, E, R, EC, RC>
  ): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RS | RC | Redis.Redis>
  <A, E, R, EC = never, RC = never>(
    options: Options<A, E | HandlerTimeout, R, EC, RC> & Timed & StreamChoice
  ): Effect.Effect<A, RedisError.RedisError | E | HandlerTimeout | EC, R | RC | Redis.Redis>
  <A, E, R, EC = never, RC = never>(
    options: Options<A, E, R, EC, RC> & StreamChoice
  ): Effect.Effect<A, RedisError.RedisError | E | EC, R | RC | Redis.Redis>
} = <A, E, R, EC, RC>(
  options: WithTopic<AnyOptions<A, E, R, EC, RC>>
): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RC | Redis.Redis> => runEither(options)

/** The options of every form of {@link run}, as its implementation takes them. */
type AnyOptions<A, E, R, EC, RC> =
  | Options<A, E, R, EC, RC>
  | SchemaOptions<unknown, unknown, R, A, E, R, EC, RC>
  | BatchOptions<E, R, EC, RC>

/** The options of every form, a topic among them, as the implementations take them. */
type WithTopic<O> =
  | O
  | (Omit<O, "stream" | "streams" | "schema" | "handler"> & {
    readonly topic: { readonly stream: string; readonly schema: Schema.Schema.Any }
    readonly stream?: undefined
    readonly streams?: undefined
    readonly schema?: undefined
  })

/** A `topic` option as the `stream` and `schema` it stands for; given with either of them, refused. */
const resolveTopic = <O extends { readonly stream?: string | undefined; readonly streams?: unknown; readonly schema?: unknown }>(
  options: WithTopic<O>
): Effect.Effect<O, RedisError.RedisError> => {
  if (!("topic" in options) || options.topic === undefined) return Effect.succeed(options as O)
  const { topic, ...rest } = options
  if (rest.stream !== undefined || rest.streams !== undefined || rest.schema !== undefined) {
    return invalid("give topic, or stream/streams with schema: a topic names its stream and schema")
  }
  return Effect.succeed({ ...rest, stream: topic.stream, schema: topic.schema } as unknown as O)
}

const runEither = <A, E, R, EC, RC>(
  options: WithTopic<AnyOptions<A, E, R, EC, RC>>
): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RC | Redis.Redis> =>
  Effect.flatMap(resolveTopic(options), runResolved)

const runResolved = <A, E, R, EC, RC>(
  options: AnyOptions<A, E, R, EC, RC>
): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RC | Redis.Redis> =>
  options.handleBatch !== undefined
    ? start(options as CommonOptions<A, E, EC, RC>, {
      _tag: "Batch",
      handle: options.handleBatch as (messages: ReadonlyArray<StreamMessage>) => Effect.Effect<A | PartialFailure<E>, E, R>
    })
    : options.schema === undefined
    ? start(options, { _tag: "Each", handle: options.handler })
    : start(options, { _tag: "Each", handle: withSchema(options.schema, options.handler) })

/**
 * `stream` or `streams`, exactly one of them: a consumer with neither does
 * not type-check.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamChoice =
  | { readonly stream: string; readonly streams?: undefined }
  | { readonly stream?: undefined; readonly streams: ReadonlyArray<string> }

/**
 * Options with a `timeout`: the handler's errors, in events and in the
 * run's failure, include {@link HandlerTimeout}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timed {
  readonly timeout: Duration.DurationInput
}

/** The handling, failing with {@link HandlerTimeout} past `timeout` ms (a batch's names its first entry). */
const timed = <A, E, R>(handling: Loop.Handling<A, E, R>, timeout: number | undefined): Loop.Handling<A, E | HandlerTimeout, R> => {
  if (timeout === undefined) return handling
  const bounded = <B>(effect: Effect.Effect<B, E, R>, first: StreamMessage) =>
    Effect.timeoutFail(effect, { duration: timeout, onTimeout: () => new HandlerTimeout({ stream: first.stream, id: first.id, timeout }) })
  return handling._tag === "Each"
    ? { _tag: "Each", handle: (message) => bounded(handling.handle(message), message) }
    : { _tag: "Batch", handle: (messages) => bounded(handling.handle(messages), messages[0]!) }
}

const start = <A, E, R, EC, RC>(
  options: CommonOptions<A, E, EC, RC>,
  handling: Loop.Handling<A, E, R>
): Effect.Effect<A, RedisError.RedisError | E | EC, R | RC | Redis.Redis> =>
  Effect.flatMap(settings(options, handling._tag === "Batch"), (config) =>
    Loop.run({
      ...config,
      // with a timeout, the options' `E` includes HandlerTimeout (the `Timed` overloads)
      handling: timed(handling, config.timeout) as Loop.Handling<A, E, R>,
      hopeless,
      // where an entry that can never succeed goes: `deadLetter`, else gc's default dead-letter stream
      hopelessDeadLetter: config.retryDeadLetter ?? { dlq: Naming.dlqName, includeMessage: true },
      control: options.control ?? defaultControl
    })).pipe(
      Effect.annotateLogs({
        package: "effect-redis-streams",
        module: "Consumer",
        stream: options.stream ?? options.streams?.join(","),
        group: options.group,
        consumer: options.consumer
      })
    )

/**
 * The parts of {@link layerGroup}'s options that are its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupSetup {
  /** How many consumers this process runs. Default 1. */
  readonly consumers?: number | undefined
  /**
   * Their names, `<name>/<i>`. Default `Naming.consumerName` of the group's
   * name without its `group/` prefix (`group/billing`: `consumer/billing/0`,
   * …). Processes of one group need different names (a host name, a pod
   * name): two consumers of one name share one pending list.
   */
  readonly name?: string | undefined
  /**
   * `Groups.create`'s options, or `false` when the group exists already.
   * Default `{ from: "0" }`: a new group starts at the stream's start, so
   * entries written before the consumers first ran are handled too, as a
   * job queue would (`{ from: "$" }` for new entries only). A group that
   * exists is left as it is.
   */
  readonly create?: Groups.CreateOptions | false | undefined
  /**
   * `Gc.schedule` on each stream while the layer is up: its collect options
   * and schedule, or `false`. Default `{ options: {}, schedule: spaced 30 s,
   * jittered }` (gc's default thresholds).
   */
  /**
   * When every consumer of the layer has stopped (each unblocked, or ended
   * by its control) while the layer is up, end the program: exit code 1 and
   * the fiber that built the layer (the program under `Effect.provide`, or
   * `Layer.launch`) interrupted, so that the process ends and a supervisor
   * restarts it, instead of living on with no consumer. Default true.
   */
  readonly exitWhenStopped?: boolean | undefined
  readonly gc?: {
    readonly options?: Gc.CollectOptions | undefined
    readonly schedule?: Schedule.Schedule<unknown, ReadonlyArray<Gc.GcAction>> | undefined
  } | false | undefined
}

const defaultGcSchedule = Schedule.spaced("30 seconds").pipe(Schedule.jittered)

/** Logs why a `layerGroup` consumer stopped: a `RedisError` (an unblock, say) in one line, anything else with its cause. */
const stopped = <E>(consumer: string, cause: Cause.Cause<E>) => {
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) && RedisError.isRedisError(failure.value)
    ? Effect.logError(`consumer ${consumer} stopped: ${failure.value.reason}: ${failure.value.message}`)
    : Effect.logError(`consumer ${consumer} stopped`, cause)
}

/** How a `layerGroup` consumer that died of a defect is restarted: 1 s doubling to 30 s, without end. */
const restartSchedule = Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("30 seconds")))

/**
 * Restarts a consumer that died of a defect (a bug in a control function,
 * say), logged at error level each time; a failure (an operator's unblock,
 * `Exit` from the control) or an interruption ends it as before.
 */
const restartOnDefect = (consumer: string) => <A, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  run.pipe(
    Effect.sandbox,
    Effect.tapError((cause) =>
      Cause.isDie(cause) && !Cause.isInterrupted(cause)
        ? Effect.logError(`consumer ${consumer} died; restarting it`, cause)
        : Effect.void
    ),
    Effect.retry({ schedule: restartSchedule, while: (cause) => Cause.isDie(cause) && !Cause.isInterrupted(cause) }),
    Effect.unsandbox
  )

const groupMember = (group: string, name: string | undefined, i: number) =>
  name === undefined ? Naming.consumerName(group.replace(/^group\//, ""), i) : `${name}/${i}`

/**
 * A consumer group at work, in one scoped layer: the group created (on each
 * stream), `consumers` consumers running in a `FiberSet`, and `Gc.schedule`
 * on each stream; all stopped gracefully when the layer is released. Takes
 * every option of {@link run} but `consumer`. A consumer that ends (an
 * operator's `unblock`, or `Exit` from its control) is logged at error
 * level; the others go on. One that dies of a defect (a control function
 * that throws) is restarted, 1 s doubling to 30 s apart, and logged each
 * time; a handler that throws only fails its entry.
 *
 * ```ts
 * const BillingLive = Consumer.layerGroup({
 *   stream: Naming.streamName("orders"),
 *   group: Naming.groupName("billing"),
 *   consumers: 4,
 *   handler: (message) => Effect.log(message.fields)
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGroup: {
  <E, R, EC = never, RC = never>(
    options: Omit<BatchOptions<E | HandlerTimeout, R, EC, RC>, "consumer"> & GroupSetup & Timed & StreamChoice
  ): Layer.Layer<never, RedisError.RedisError, R | RC | Redis.Redis>
  <E, R, EC = never, RC = never>(
    options: Omit<BatchOptions<E, R, EC, RC>, "consumer"> & GroupSetup & StreamChoice
  ): Layer.Layer<never, RedisError.RedisError, R | RC | Redis.Redis>
  <D, I, RS, A, E, R, EC = never, RC = never>(
    options: Omit<SchemaOptions<D, I, RS, A, E | HandlerTimeout, R, EC, RC>, "consumer"> & GroupSetup & Timed & StreamChoice
  ): Layer.Layer<never, RedisError.RedisError, R | RS | RC | Redis.Redis>
  <D, I, RS, A, E, R, EC = never, RC = never>(
    options: Omit<SchemaOptions<D, I, RS, A, E, R, EC, RC>, "consumer"> & GroupSetup & StreamChoice
  ): Layer.Layer<never, RedisError.RedisError, R | RS | RC | Redis.Redis>
  <D, I extends Topic.Encoded, RS, A, E, R, EC = never, RC = never>(
    options: Omit<TopicOptions<D, I, RS, A, E | HandlerTimeout, R, EC, RC>, "consumer"> & GroupSetup & Timed
  ): Layer.Layer<never, RedisError.RedisError, R | RS | RC | Redis.Redis>
  <D, I extends Topic.Encoded, RS, A, E, R, EC = never, RC = never>(
    options: Omit<TopicOptions<D, I, RS, A, E, R, EC, RC>, "consumer"> & GroupSetup
  ): Layer.Layer<never, RedisError.RedisError, R | RS | RC | Redis.Redis>
  <A, E, R, EC = never, RC = never>(
    options: Omit<Options<A, E | HandlerTimeout, R, EC, RC>, "consumer"> & GroupSetup & Timed & StreamChoice
  ): Layer.Layer<never, RedisError.RedisError, R | RC | Redis.Redis>
  <A, E, R, EC = never, RC = never>(
    options: Omit<Options<A, E, R, EC, RC>, "consumer"> & GroupSetup & StreamChoice
  ): Layer.Layer<never, RedisError.RedisError, R | RC | Redis.Redis>
} = <A, E, R, EC, RC>(
  given: WithTopic<
    (
      | Omit<Options<A, E, R, EC, RC>, "consumer">
      | Omit<SchemaOptions<unknown, unknown, R, A, E, R, EC, RC>, "consumer">
      | Omit<BatchOptions<E, R, EC, RC>, "consumer">
    ) & GroupSetup
  >
): Layer.Layer<never, RedisError.RedisError, R | RC | Redis.Redis> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const options = yield* resolveTopic(given)
    const { consumers, create, exitWhenStopped, gc, name, ...runOptions } = options
    const builder = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) =>
      Effect.succeed(fiber as Fiber.RuntimeFiber<unknown, unknown>)
    )
    const count = yield* Validate.positiveInteger("Consumer.layerGroup", "consumers", consumers, 1)
    const streams = yield* streamsOf(options)
    if (create !== false) yield* Groups.create(streams, options.group, create ?? { from: "0" })
    const fibers = yield* FiberSet.make()
    for (let i = 0; i < count; i++) {
      const consumer = groupMember(options.group, name, i)
      const member = runResolved({ ...runOptions, consumer } as Options<A, E, R, EC, RC>).pipe(
        restartOnDefect(consumer),
        Effect.tapErrorCause((cause) => stopped(consumer, cause)),
        Effect.annotateLogs({ module: "Consumer", group: options.group, consumer })
      )
      yield* FiberSet.run(fibers, member)
    }
    if (gc !== false) {
      for (const stream of streams) {
        yield* Effect.forkScoped(Gc.schedule(stream, options.group, gc?.options ?? {}, gc?.schedule ?? defaultGcSchedule))
      }
    }
    if (exitWhenStopped !== false) yield* Effect.forkScoped(endWhenEmpty(fibers, options.group, builder))
  }).pipe(Effect.withSpan("Consumer.layerGroup", { attributes: { group: given.group } })))

/**
 * Once every consumer of a `layerGroup` has stopped while the layer is up,
 * ends what the layer serves: the exit code is set to 1 and the fiber that
 * built the layer (the program under `Effect.provide` or `Layer.launch`) is
 * interrupted, so that the process ends and a supervisor restarts it.
 */
const endWhenEmpty = <A, E>(fibers: FiberSet.FiberSet<A, E>, group: string, builder: Fiber.RuntimeFiber<unknown, unknown>) =>
  Effect.gen(function*() {
    yield* FiberSet.awaitEmpty(fibers)
    yield* Effect.logError(`every consumer of ${group} in this process has stopped: ending the program (exit code 1) so that a supervisor restarts it`)
    process.exitCode = 1
    yield* Fiber.interruptFork(builder)
  })

/**
 * The consumer's metrics, tagged with `stream` and `group` (plus the
 * fiber's metric labels; a consumer of several streams tags `stream` with
 * them all, comma-separated): `handled`, `failed`, `acked`, `trimmed`,
 * `readErrors`, `claimed` (self-claim), `retried` (failures given a
 * backoff), `deadLettered` (moved by the consumer itself), `pauses`
 * (times it found its group paused, `Groups.pause`), `throttled` (times
 * it waited for the group's `rateLimit`) and `rateLimited` (entries whose
 * handler returned {@link rateLimited}) counters, and
 * the `handlerDuration` timer (milliseconds).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  handled: Metrics.handled,
  failed: Metrics.failed,
  acked: Metrics.acked,
  trimmed: Metrics.trimmed,
  readErrors: Metrics.readErrors,
  claimed: Metrics.claimed,
  retried: Metrics.retried,
  deadLettered: Metrics.deadLettered,
  pauses: Metrics.pauses,
  throttled: Metrics.throttled,
  rateLimited: Metrics.rateLimited,
  handlerDuration: Metrics.handlerDuration
} as const

export type {
  /**
   * @since 0.1.0
   * @category health
   */
  ConsumerHealth,
  /**
   * @since 0.1.0
   * @category health
   */
  ConsumerState,
  /**
   * @since 0.1.0
   * @category health
   */
  Readiness
} from "./internal/consumer/health.js"

/**
 * Every consumer running in this process (`run` or `layerGroup`, from any
 * runtime), for a health endpoint: whether its connection works, when its
 * last read returned, its pending entries and its group's lag. Pending and
 * lag come from `Groups.stats`, given up after `timeout` (default 1 second):
 * `undefined` when Redis did not answer in time. It never fails for Redis.
 *
 * @since 0.1.0
 * @category health
 */
export const health = (
  options: { readonly timeout?: Duration.DurationInput | undefined } = {}
): Effect.Effect<ReadonlyArray<Health.ConsumerHealth>, RedisError.RedisError, Redis.Redis> =>
  Effect.flatMap(Validate.positiveMillis("Consumer.health", "timeout", options.timeout ?? "1 second"), Health.health)

/**
 * Whether every consumer running in this process has read lately: each is
 * connected and its loop took a read's reply at most `maxAge` ago (default
 * 30 seconds; keep it above `block` plus the longest batch a consumer
 * handles, since a consumer busy with a batch reads again only after it).
 * A consumer that has not read yet is not ready. With no consumer running,
 * it is ready. In memory, without a round trip to Redis.
 *
 * @since 0.1.0
 * @category health
 */
export const readiness = (
  options: { readonly maxAge?: Duration.DurationInput | undefined } = {}
): Effect.Effect<Health.Readiness, RedisError.RedisError> =>
  Effect.map(Validate.positiveMillis("Consumer.readiness", "maxAge", options.maxAge ?? "30 seconds"), Health.readiness)

/**
 * Ends the blocking read of every connection whose name matches (a string
 * matches names starting with it, a `RegExp` is tested against the name), on
 * every master, with `CLIENT UNBLOCK … ERROR`; returns how many were blocked.
 * A consumer not blocked at that moment (e.g. inside its handler) is
 * unaffected. With the default control an unblocked consumer exits, failing
 * with `RedisError` reason `Unblocked`.
 *
 * @since 0.1.0
 * @category unblocking
 */
export const unblock = (match: string | RegExp = "consumer/"): Effect.Effect<number, RedisError.RedisError, Redis.Redis> =>
  Unblock.unblockWhere(typeof match === "string" ? (name) => name.startsWith(match) : (name) => match.test(name), "ERROR").pipe(
    Effect.withSpan("Consumer.unblock", { attributes: { match: String(match) } })
  )

/**
 * {@link unblock} for every consumer of the group (as XINFO CONSUMERS lists them).
 *
 * @since 0.1.0
 * @category unblocking
 */
export const unblockGroup = (stream: string, group: string): Effect.Effect<number, RedisError.RedisError, Redis.Redis> =>
  Effect.flatMap(Unblock.consumerNames(stream, group), (names) => Unblock.unblockWhere((name) => names.has(name), "ERROR")).pipe(
    Effect.withSpan("Consumer.unblockGroup", { attributes: { stream, group } })
  )
