/**
 * Consumers of a consumer group: the seed's `start-consumer!` as an Effect
 * you fork, with control flow as data, batching, graceful interruption,
 * reconnection, heartbeats, and `unblock` for operators.
 *
 * @since 0.1.0
 */
import type { Duration, ParseResult } from "effect"
import { Effect, Schedule, Schema } from "effect"
import type { Control, ControlEvent, DecodedMessage, StreamMessage } from "./internal/consumerData.js"
import { defaultControl } from "./internal/consumerData.js"
import * as Loop from "./internal/consumerLoop.js"
import * as Metrics from "./internal/consumerMetrics.js"
import * as replies from "./internal/replies.js"
import * as Validate from "./internal/validate.js"
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
   * @category control
   */
  defaultControl,
  /**
   * @since 0.1.0
   * @category models
   */
  type StreamMessage
} from "./internal/consumerData.js"

/**
 * Options every consumer takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions<A, E, EC, RC> {
  readonly stream: string
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
   * While a handler runs longer than this, its entry's idle time is reset
   * (XCLAIM … JUSTID to this consumer) every `heartbeat`, so gc does not
   * hand it to another consumer; the entries waiting for their turn (in the
   * batch, and in the batch read ahead) are refreshed too. Default off.
   */
  readonly heartbeat?: Duration.DurationInput | undefined
  /**
   * How reads that fail with reason `Connection` are retried. Default:
   * jittered exponential backoff from 100 ms, capped at 5 s, forever.
   */
  readonly reconnect?: Schedule.Schedule<unknown, RedisError.RedisError> | undefined
  /**
   * Interrupting the consumer waits for running handlers (and acks their
   * entries) unless this is true: then running handlers are interrupted and
   * their entries stay pending. Default false.
   */
  readonly interruptHandlers?: boolean | undefined
}

/**
 * Options of {@link run} without a schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, E, R, EC, RC> extends CommonOptions<A, E, EC, RC> {
  readonly schema?: undefined
  readonly handler: (message: StreamMessage) => Effect.Effect<A, E, R>
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
  readonly handler: (message: DecodedMessage<D>) => Effect.Effect<A, E, R>
}

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

const settings = <A, E, EC, RC>(options: CommonOptions<A, E, EC, RC>) =>
  Effect.gen(function*() {
    yield* Redis.validateName("XREADGROUP", "stream", options.stream)
    yield* Redis.validateName("XREADGROUP", "group", options.group)
    yield* Redis.validateName("XREADGROUP", "consumer", options.consumer)
    return {
      context: { stream: options.stream, group: options.group, consumer: options.consumer },
      block: yield* Validate.positiveMillis("XREADGROUP", "block", options.block ?? "5 seconds"),
      count: yield* Validate.positiveInteger("XREADGROUP", "count", options.count, 100),
      concurrency: yield* Validate.positiveInteger("XREADGROUP", "concurrency", options.concurrency, 1),
      heartbeat: options.heartbeat === undefined ? undefined : yield* Validate.positiveMillis("XREADGROUP", "heartbeat", options.heartbeat),
      reconnect: options.reconnect ?? defaultReconnect,
      interruptHandlers: options.interruptHandlers ?? false
    }
  })

const withSchema = <D, I, RS, A, E, R>(
  schema: Schema.Schema<D, I, RS>,
  handler: (message: DecodedMessage<D>) => Effect.Effect<A, E, R>
) => {
  const decode = Schema.decodeUnknown(schema)
  return (message: StreamMessage): Effect.Effect<A, E | ParseResult.ParseError, R | RS> =>
    Effect.flatMap(decode(message.fields), (data) => handler({ ...message, data }))
}

/**
 * Runs a consumer until its control function returns `Exit` or it is
 * interrupted; fork it (`Effect.fork`, `Effect.forkScoped`, a `FiberSet` or
 * a `FiberMap`).
 *
 * It reads its own pending entries first, then new ones; a handler success
 * acks the entry, a failure leaves it pending; when a blocking read comes
 * back empty it goes through its pending entries again; a pending entry
 * trimmed from the stream is acked, logged and counted. After `Exit` the run
 * succeeds with the handled value, or fails with the read's `RedisError` or
 * the handler's error.
 *
 * Interrupting it ends a blocking read at once, lets running handlers finish
 * and acks them (unless `interruptHandlers`), and releases its connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: {
  <D, I, RS, A, E, R, EC = never, RC = never>(
    options: SchemaOptions<D, I, RS, A, E, R, EC, RC>
  ): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RS | RC | Redis.Redis>
  <A, E, R, EC = never, RC = never>(
    options: Options<A, E, R, EC, RC>
  ): Effect.Effect<A, RedisError.RedisError | E | EC, R | RC | Redis.Redis>
} = <A, E, R, EC, RC>(
  options: Options<A, E, R, EC, RC> | SchemaOptions<unknown, unknown, R, A, E, R, EC, RC>
): Effect.Effect<A, RedisError.RedisError | E | ParseResult.ParseError | EC, R | RC | Redis.Redis> =>
  options.schema === undefined
    ? start(options, options.handler)
    : start(options, withSchema(options.schema, options.handler))

const start = <A, E, R, EC, RC>(
  options: CommonOptions<A, E, EC, RC>,
  handle: (message: StreamMessage) => Effect.Effect<A, E, R>
): Effect.Effect<A, RedisError.RedisError | E | EC, R | RC | Redis.Redis> =>
  Effect.flatMap(settings(options), (config) =>
    Loop.run({ ...config, handle, control: options.control ?? defaultControl })).pipe(
      Effect.annotateLogs({
        package: "effect-redis-streams",
        module: "Consumer",
        stream: options.stream,
        group: options.group,
        consumer: options.consumer
      })
    )

/**
 * The consumer's metrics, tagged with `stream` and `group` (plus the
 * fiber's metric labels): `handled`, `failed`, `acked`, `trimmed` and
 * `readErrors` counters, and the `handlerDuration` timer (milliseconds).
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
  handlerDuration: Metrics.handlerDuration
} as const

const unblockWhere = (matches: (name: string) => boolean) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const masters = yield* redis.masters
    const counts = yield* Effect.forEach(masters, (master) =>
      Effect.gen(function*() {
        const clients = yield* Effect.flatMap(master.send("CLIENT", ["LIST", "TYPE", "normal"]), replies.clientList)
        const unblocked = yield* Effect.forEach(
          clients.filter((client) => client.name.length > 0 && matches(client.name)),
          (client) => master.send("CLIENT", ["UNBLOCK", client.id, "ERROR"]),
          { concurrency: "unbounded" }
        )
        return unblocked.filter((reply) => Number(reply) === 1).length
      }), { concurrency: "unbounded" })
    return counts.reduce((a, b) => a + b, 0)
  })

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
  unblockWhere(typeof match === "string" ? (name) => name.startsWith(match) : (name) => match.test(name)).pipe(
    Effect.withSpan("Consumer.unblock", { attributes: { match: String(match) } })
  )

/**
 * {@link unblock} for every consumer of the group (as XINFO CONSUMERS lists them).
 *
 * @since 0.1.0
 * @category unblocking
 */
export const unblockGroup = (stream: string, group: string): Effect.Effect<number, RedisError.RedisError, Redis.Redis> =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const consumers = yield* Effect.flatMap(redis.send("XINFO", ["CONSUMERS", stream, group]), replies.consumerInfos)
    const names = new Set(consumers.map((consumer) => consumer.name))
    return yield* unblockWhere((name) => names.has(name))
  }).pipe(Effect.withSpan("Consumer.unblockGroup", { attributes: { stream, group } }))
