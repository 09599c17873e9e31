/**
 * A stream and the Schema of its entries (a topic, as Kafka's: every group
 * of the stream gets every entry), shared by the code that writes it and
 * the code that consumes it: `send` and `sendAll` encode through the
 * schema before anything is written, `Consumer.run({ topic })` decodes
 * each entry into `message.data`.
 *
 * ```ts
 * const Orders = Topic.make({
 *   stream: Naming.streamName("orders"),
 *   schema: Schema.Struct({
 *     id: Schema.String,
 *     total: Schema.NumberFromString,
 *     placedAt: Schema.Date,
 *     lines: Schema.parseJson(Schema.Array(Schema.Struct({ sku: Schema.String, qty: Schema.Number })))
 *   })
 * })
 *
 * // producer
 * yield* Topic.send(Orders, { id: "o-1", total: 42.5, placedAt: new Date(), lines: [{ sku: "a", qty: 2 }] })
 *
 * // consumer: message.data is the decoded value
 * Consumer.run({ topic: Orders, group, consumer, handler: (message) => Effect.log(message.data.total) })
 * ```
 *
 * The schema's encoded side is the entry's fields: a record of strings (an
 * optional field that is absent or `undefined` is not written), since Redis
 * keeps every field as a string. Use transforming schemas for the rest
 * (`Schema.NumberFromString`, `Schema.Date`, `Schema.parseJson` for nested
 * values).
 *
 * @since 0.1.0
 */
import type { Duration, ParseResult } from "effect"
import { Effect, Predicate, Schema } from "effect"
import type * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"
import * as Streams from "./Streams.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-redis-streams/Topic")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What a topic's schema encodes to: an entry's fields, each a string (a
 * field that is `undefined` is left out of the entry).
 *
 * @since 0.1.0
 * @category models
 */
export type Encoded = { readonly [field: string]: string | undefined }

/**
 * A stream with the Schema of its entries: `A` is the value producers send
 * and consumers get as `message.data`, `I` the entry's fields, `R` what the
 * schema needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Topic<A, I extends Encoded = Encoded, R = never> {
  readonly [TypeId]: TypeId
  readonly stream: string
  readonly schema: Schema.Schema<A, I, R>
}

/**
 * Options of {@link send}: those of `Streams.xaddMap` (trimming, trace
 * context, `dedupe`).
 *
 * @since 0.1.0
 * @category models
 */
export type SendOptions = Streams.XaddMapOptions

/**
 * Options of {@link sendAll}: those of `Streams.xaddAll`, with each value's
 * dedupe key taken from the value itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface SendAllOptions<A> extends Streams.XaddOptions {
  readonly dedupe?: {
    readonly key: (value: A, index: number) => string
    readonly ttl: Duration.DurationInput
  } | undefined
}

/**
 * A topic over `stream` with `schema`. Pure: the stream's name is checked
 * when it is written or read (`RedisError`, `InvalidArgument`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I extends Encoded, R = never>(options: {
  readonly stream: string
  readonly schema: Schema.Schema<A, I, R>
}): Topic<A, I, R> => ({ [TypeId]: TypeId, stream: options.stream, schema: options.schema })

/**
 * Whether `u` is a {@link Topic}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTopic = (u: unknown): u is Topic<unknown> => Predicate.hasProperty(u, TypeId)

const notAString = (stream: string, field: string, value: unknown) =>
  RedisError.invalidArgument(
    "XADD",
    `the schema of ${JSON.stringify(stream)} encoded field ${JSON.stringify(field)} to a ${typeof value}, not a string: ` +
      "an entry's fields are strings (use Schema.NumberFromString, Schema.Date, Schema.parseJson, …)"
  )

/** The encoded value as an entry's fields: null-prototype, `undefined` fields left out, every value a string. */
const fieldsOf = (stream: string, encoded: Encoded): Effect.Effect<Streams.Fields, RedisError.RedisError> => {
  const fields: Record<string, string> = Object.create(null)
  for (const field of Object.keys(encoded)) {
    const value: unknown = encoded[field]
    if (value === undefined) continue
    if (typeof value !== "string") return Effect.fail(notAString(stream, field, value))
    fields[field] = value
  }
  return Effect.succeed(fields)
}

const encodeWith = <A, I extends Encoded, R>(topic: Topic<A, I, R>) => {
  const encode = Schema.encode(topic.schema)
  return (value: A) => Effect.flatMap(encode(value), (encoded) => fieldsOf(topic.stream, encoded))
}

/**
 * Encodes `value` with the topic's schema and appends it to the topic's
 * stream (`Streams.xaddMap` with id `"*"`, so in its producer span with the
 * trace context), returning the entry's id. A value that does not encode
 * fails with the schema's `ParseError`, and nothing is written.
 *
 * @since 0.1.0
 * @category writing
 */
export const send = <A, I extends Encoded, R>(
  topic: Topic<A, I, R>,
  value: A,
  options?: SendOptions
): Effect.Effect<string, ParseResult.ParseError | RedisError.RedisError, R | Redis.Redis> =>
  Effect.flatMap(encodeWith(topic)(value), (fields) => Streams.xaddMap(topic.stream, "*", fields, options))

/**
 * Encodes every value and appends them in order (`Streams.xaddAll`),
 * returning their ids. Every value is encoded before anything is sent: one
 * that does not encode fails the call with its `ParseError`, and nothing is
 * written.
 *
 * @since 0.1.0
 * @category writing
 */
export const sendAll = <A, I extends Encoded, R>(
  topic: Topic<A, I, R>,
  values: Iterable<A>,
  options: SendAllOptions<A> = {}
): Effect.Effect<ReadonlyArray<string>, ParseResult.ParseError | RedisError.RedisError, R | Redis.Redis> => {
  const all = Array.from(values)
  const { dedupe, ...rest } = options
  return Effect.flatMap(Effect.forEach(all, encodeWith(topic)), (records) =>
    Streams.xaddAll(
      topic.stream,
      records,
      dedupe === undefined ? rest : { ...rest, dedupe: { key: (_, i) => dedupe.key(all[i]!, i), ttl: dedupe.ttl } }
    ))
}
