/**
 * Writing to streams and reading them back: `xaddMap` (the seed's
 * `xadd-map`), `xaddAll` for many entries in pipelined batches,
 * `fieldsToRecord` (the seed's `kvs->map`), a plain `read`, and
 * `allStreamKeys` to find streams with SCAN.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Naming, Streams } from "effect-redis-streams"
 *
 * const program = Effect.gen(function*() {
 *   const stream = Naming.streamName("maps")
 *   yield* Streams.xaddMap(stream, "*", { foo: "bar" })
 *   const entries = yield* Streams.read(stream, { count: 1 })
 *   return entries.map((entry) => entry.fields) // [{ foo: "bar" }]
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import { Effect, Metric, Option, Schedule } from "effect"
import * as Dedupe_ from "./internal/redis/dedupe.js"
import * as Delayed from "./internal/redis/delayed.js"
import * as replies from "./internal/redis/replies.js"
import * as Trace from "./internal/redis/trace.js"
import * as Scan from "./internal/redis/scan.js"
import * as Validate from "./internal/redis/validate.js"
import * as MessageId from "./MessageId.js"
import * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"

/**
 * A value of an entry's field. Redis stores every value as a string: numbers
 * and buffers are read back as strings.
 *
 * @since 0.1.0
 * @category models
 */
export type FieldValue = string | number | Buffer

/**
 * The fields of an entry to write.
 *
 * @since 0.1.0
 * @category models
 */
export type Fields = Readonly<Record<string, FieldValue>>

/**
 * An entry read back from a stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly id: string
  readonly fields: Record<string, string>
}

/**
 * Trimming applied by the same XADD: keep at most `maxLen` entries, or drop
 * entries with ids below `minId`. `approximate` (`~`) lets Redis trim whole
 * nodes only, which is much cheaper; the default is exact (`=`).
 *
 * @since 0.1.0
 * @category models
 */
export type Trim =
  | { readonly maxLen: number; readonly approximate?: boolean | undefined }
  | { readonly minId: string; readonly approximate?: boolean | undefined }

/**
 * Options of {@link xaddMap} and {@link xaddAll}.
 *
 * @since 0.1.0
 * @category models
 */
export interface XaddOptions {
  readonly trim?: Trim | undefined
  /**
   * Under a tracer that exports, the write runs in a span of kind
   * `producer` (`Streams.xaddMap` / `Streams.xaddAll`) whose W3C trace
   * context goes into every entry written, under `traceField`, for the
   * consumer's span to link to. Default true; `false` writes no trace field.
   * Under Effect's built-in tracer nothing is added either way.
   */
  readonly trace?: boolean | undefined
  /**
   * The field the trace context is written to. Default {@link traceField};
   * a record that has this field already is refused (`InvalidArgument`)
   * unless `trace` is `false`.
   */
  readonly traceField?: string | undefined
  /**
   * Deliver later: the entry is held in a sorted set beside the stream
   * (`Naming.delayedName`) and moved into the stream when due, by the
   * consumers of the stream (within one `block` of its due time) or
   * {@link promoteDue}; the call returns the delayed entry's handle
   * (`"delayed:…"`), not an entry id, which is assigned when it is promoted.
   * A delay of 0 writes at once (and returns the entry id). Its id must be
   * `"*"`; values are strings or numbers. Measured on the server's clock.
   */
  readonly delay?: Duration.DurationInput | undefined
  /** Deliver at this time (not with `delay`); one not in the future writes at once. */
  readonly at?: Date | undefined
}

/**
 * A deduplicated write (`xaddMap`'s `dedupe`): within `ttl` of the first
 * write with `key` to a stream, a write with the same key writes nothing
 * and returns the first write's id, even from another process at the same
 * moment (one script on the server). `ttl` is at least 1 ms.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dedupe {
  readonly key: string
  readonly ttl: Duration.DurationInput
}

/**
 * {@link Dedupe} for `xaddAll`: each record's key from the record (and its
 * index in the call).
 *
 * @since 0.1.0
 * @category models
 */
export interface DedupeEach {
  readonly key: (record: Fields, index: number) => string
  readonly ttl: Duration.DurationInput
}

/**
 * Options of {@link xaddMap}.
 *
 * @since 0.1.0
 * @category models
 */
export interface XaddMapOptions extends XaddOptions {
  /**
   * Write at most once per key within `ttl`: a second write with the key
   * writes nothing and returns the first write's id (even after that entry
   * was trimmed). The key lives beside the stream, in its hash slot, and
   * expires after `ttl`. Default none.
   */
  readonly dedupe?: Dedupe | undefined
}

/**
 * Options of {@link xaddAll}.
 *
 * @since 0.1.0
 * @category models
 */
export interface XaddAllOptions extends XaddOptions {
  /** Per record, as `xaddMap`'s `dedupe`: a record whose key was written within `ttl` writes nothing and gets that write's id. */
  readonly dedupe?: DedupeEach | undefined
}

/**
 * The field entries carry their producer's W3C trace context in, by default:
 * `"trace:traceparent"`. Consumers read it (and keep it out of `fields`).
 *
 * @since 0.1.0
 * @category tracing
 */
export const traceField: string = Trace.defaultField

/**
 * Options of {@link read}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOptions {
  /** Entries with ids strictly greater than this are returned. Default `"0-0"` (from the start). */
  readonly from?: string | undefined
  /** At most this many entries. Default: all of them. */
  readonly count?: number | undefined
}

const BATCH = 1000

const entriesAdded = Metric.counter("effect_redis_streams_entries_added", {
  description: "entries written by Streams.xaddMap and Streams.xaddAll",
  incremental: true
})

const entriesDeduplicated = Metric.counter("effect_redis_streams_entries_deduplicated", {
  description: "writes with a dedupe key already written within its ttl: nothing written, the first write's id returned",
  incremental: true
})

/**
 * The metrics of writes: `added` (entries written), `deduplicated`
 * (writes whose dedupe key was written within its ttl, so nothing was),
 * `delayed` (entries held for later) and `promoted` (delayed entries moved
 * into their stream).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  added: entriesAdded,
  deduplicated: entriesDeduplicated,
  delayed: Delayed.held,
  promoted: Delayed.moved
} as const

/** Counts a deduplicated write's outcome, and gives its id. */
const settle = (outcome: Dedupe_.Written) =>
  Effect.as(Metric.increment(outcome.written ? entriesAdded : entriesDeduplicated), outcome.id)

/**
 * `[k1, v1, k2, v2, …]` to a record of strings (the seed's `kvs->map`);
 * `null` or `[]` gives `{}`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fieldsToRecord: (kvs: ReadonlyArray<unknown> | null | undefined) => Record<string, string> =
  replies.fieldsToRecord

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

const trimArgs = (trim: Trim | undefined): Effect.Effect<ReadonlyArray<Redis.Arg>, RedisError.RedisError> => {
  if (trim === undefined) return Effect.succeed([])
  const exactness = trim.approximate ? "~" : "="
  if ("maxLen" in trim) {
    return isCount(trim.maxLen)
      ? Effect.succeed(["MAXLEN", exactness, trim.maxLen])
      : Effect.fail(RedisError.invalidArgument("XADD", `trim.maxLen must be a non-negative integer, got ${trim.maxLen}`))
  }
  return Effect.map(MessageId.validate(trim.minId), (minId) => ["MINID", exactness, minId])
}

/** The arguments up to and including the id, shared by every entry of a call. */
const prefixArgs = (stream: string, id: string, options: XaddOptions) =>
  Effect.gen(function*() {
    yield* Redis.validateName("XADD", "stream name", stream)
    if (id !== "*") yield* MessageId.validate(id)
    return [stream, ...(yield* trimArgs(options.trim)), id]
  })

/** The trace field to write, and its value: the span's context; none without a span. */
interface Traced {
  readonly field: string
  readonly value: string
}

/** The whole XADD argument list. */
const xaddArgs = (prefix: ReadonlyArray<Redis.Arg>, record: Fields, traced: Traced | undefined): Array<Redis.Arg> => {
  const args = prefix.slice()
  for (const key of Object.keys(record)) args.push(key, record[key]!)
  if (traced !== undefined) args.push(traced.field, traced.value)
  return args
}

/** The trace field of these options (checked), `undefined` with `trace: false`. */
const traceFieldOf = (options: XaddOptions) =>
  options.trace === false
    ? Effect.succeed(undefined)
    : options.traceField === undefined
    ? Effect.succeed(Trace.defaultField)
    : Effect.as(Redis.validateName("XADD", "traceField", options.traceField), options.traceField)

const takenField = (stream: string, field: string) =>
  RedisError.invalidArgument(
    "XADD",
    `a record of ${JSON.stringify(stream)} has a field ${JSON.stringify(field)}, where the trace context goes: rename it, or give another traceField, or trace: false`
  )

/**
 * Runs `write` with the trace context to put into its entries: in a
 * producer span when a tracer that exports is installed (and `field` is
 * set), with none otherwise.
 */
const traced = <A>(
  name: string,
  stream: string,
  field: string | undefined,
  attributes: Readonly<Record<string, number>>,
  write: (traced: Traced | undefined) => Effect.Effect<A, RedisError.RedisError, Redis.Redis>
): Effect.Effect<A, RedisError.RedisError, Redis.Redis> =>
  Effect.flatMap(Trace.exporting, (exporting) =>
    !exporting || field === undefined ? write(undefined) : Effect.withSpan(
      Effect.flatMap(Effect.orDie(Effect.currentSpan), (span) => write({ field, value: Trace.traceparentOf(span) })),
      name,
      { kind: "producer", attributes: Trace.messaging(stream, { type: "send", name: "XADD" }, attributes), captureStackTrace: false }
    ))

const isEmpty = (record: Fields): boolean => {
  for (const key in record) if (Object.hasOwn(record, key)) return false
  return true
}

const emptyRecord = (stream: string) =>
  RedisError.invalidArgument("XADD", `an entry needs at least one field (stream ${JSON.stringify(stream)})`)

/**
 * Appends one entry and returns its id. `id` is `"*"` (Redis picks one) or an
 * explicit id greater than the stream's top id. An empty record, a malformed
 * id, an id not greater than the top id and a stream name that is empty or
 * has whitespace fail with `RedisError` (`InvalidArgument`), and nothing is
 * written; a key that is not a stream fails with `WrongType`. With
 * `dedupe`, a write whose key was written within its ttl writes nothing and
 * returns that write's id (see {@link XaddMapOptions}); such a write is safe
 * to repeat, so one that loses its connection is sent again, up to 5 times.
 *
 * @since 0.1.0
 * @category writing
 */
export const xaddMap = (
  stream: string,
  id: string,
  record: Fields,
  options: XaddMapOptions = {}
): Effect.Effect<string, RedisError.RedisError, Redis.Redis> =>
  Effect.gen(function*() {
    const prefix = yield* prefixArgs(stream, id, options)
    if (isEmpty(record)) return yield* emptyRecord(stream)
    const field = yield* traceFieldOf(options)
    if (field !== undefined && Object.hasOwn(record, field)) return yield* takenField(stream, field)
    const due = yield* dueOf(id, options)
    const dedupe = options.dedupe === undefined ? undefined : {
      key: yield* Dedupe_.validKey(stream, options.dedupe.key),
      ttl: yield* dedupeTtl(options.dedupe.ttl)
    }
    const redis = yield* Redis.Redis
    return yield* traced("Streams.xaddMap", stream, field, {}, (trace) =>
      due !== undefined
        ? Effect.map(holdAll(redis, stream, prefix, [record], due, trace), (handles) => handles[0]!)
        : dedupe === undefined
        ? Effect.flatMap(redis.send("XADD", xaddArgs(prefix, record, trace)), (reply) =>
          Effect.zipLeft(replies.string("XADD", reply), Metric.increment(entriesAdded)))
        : Effect.flatMap(resendLost(redis.send(...Dedupe_.command(dedupe.key, dedupe.ttl, xaddArgs(prefix, record, trace)))), (reply) =>
          Effect.flatMap(Dedupe_.written(reply), settle)))
  })

const dedupeTtl = (ttl: Duration.DurationInput) => Validate.positiveMillis("XADD", "dedupe.ttl", ttl)

/** When a write's entry is due (`delay` or `at`), checked; `undefined` for a write now. */
const dueOf = (id: string, options: XaddOptions & { readonly dedupe?: unknown }): Effect.Effect<Delayed.Due | undefined, RedisError.RedisError> =>
  Effect.gen(function*() {
    if (options.delay === undefined && options.at === undefined) return undefined
    if (options.delay !== undefined && options.at !== undefined) return yield* RedisError.invalidArgument("XADD", "give delay or at, not both")
    if (id !== "*") return yield* RedisError.invalidArgument("XADD", `a delayed entry's id is assigned when it is promoted: write it with id *, not ${JSON.stringify(id)}`)
    if (options.dedupe !== undefined) return yield* RedisError.invalidArgument("XADD", "dedupe and a delay do not go together")
    if (options.at !== undefined) {
      const at = options.at as unknown
      if (!(at instanceof Date) || Number.isNaN(at.getTime())) return yield* RedisError.invalidArgument("XADD", `at must be a valid Date, got ${String(at)}`)
      return at.getTime() <= Date.now() ? undefined : { at: at.getTime() }
    }
    const millis = (yield* Validate.nonNegativeMillis("XADD", "delay", options.delay))!
    if (millis === Infinity) return yield* RedisError.invalidArgument("XADD", "delay must be finite")
    return millis === 0 ? undefined : { in: Math.round(millis) }
  })

/** A delayed record's fields as strings, the trace context last; a Buffer is refused (it would not survive JSON). */
const delayedFields = (stream: string, record: Fields, trace: Traced | undefined): Effect.Effect<Array<string>, RedisError.RedisError> => {
  const fields: Array<string> = []
  for (const key of Object.keys(record)) {
    const value = record[key]!
    if (typeof value !== "string" && typeof value !== "number") {
      return Effect.fail(RedisError.invalidArgument("XADD", `a delayed entry of ${JSON.stringify(stream)} takes strings and numbers; field ${JSON.stringify(key)} is not one`))
    }
    fields.push(key, String(value))
  }
  if (trace !== undefined) fields.push(trace.field, trace.value)
  return Effect.succeed(fields)
}

const delayedKeys = (stream: string) => {
  const keys = Delayed.keysOf(stream)
  return keys === undefined
    ? Effect.fail(RedisError.invalidArgument("XADD", `${JSON.stringify(stream)} has a "}" but no hash tag: its delayed entries cannot share its slot`))
    : Effect.succeed(keys)
}

/** Holds the records until `due`, pipelined in batches; returns their handles in order. */
const holdAll = (
  redis: Redis.Service,
  stream: string,
  prefix: ReadonlyArray<Redis.Arg>,
  records: ReadonlyArray<Fields>,
  due: Delayed.Due,
  trace: Traced | undefined
): Effect.Effect<ReadonlyArray<string>, RedisError.RedisError> =>
  Effect.gen(function*() {
    const keys = yield* delayedKeys(stream)
    const trim = prefix.slice(1, -1)
    const commands = yield* Effect.forEach(records, (record) =>
      Effect.map(delayedFields(stream, record, trace), (fields) => ({ handle: Delayed.newHandle(), fields })))
    for (let start = 0; start < commands.length; start += BATCH) {
      yield* redis.pipeline(commands.slice(start, start + BATCH).map(({ fields, handle }) => Delayed.holdCommand(keys, handle, due, fields, trim)))
    }
    yield* Metric.incrementBy(Delayed.held, commands.length)
    return commands.map(({ handle }) => handle)
  })

/**
 * A deduplicated write is safe to send again: one that failed with its
 * connection (its reply lost, or ioredis did not re-send it) is sent again,
 * up to 5 times over about 1.5 s, before the error is returned.
 */
const resendLost = <A>(write: Effect.Effect<A, RedisError.RedisError>) =>
  Effect.retry(write, { schedule: Schedule.exponential("50 millis").pipe(Schedule.intersect(Schedule.recurs(5))), while: RedisError.isConnection })

/**
 * Appends many entries with ids `"*"`, pipelined in batches of 1000 (two
 * batches in flight), and returns their ids in order. Every record is checked
 * before anything is sent: one empty record fails the call with
 * `InvalidArgument` and nothing is written. An error reply part way (e.g. the
 * key is not a stream) fails the call; the batches before it, and the one
 * sent with it, stay written.
 *
 * @since 0.1.0
 * @category writing
 */
export const xaddAll = (
  stream: string,
  records: ReadonlyArray<Fields>,
  options: XaddAllOptions = {}
): Effect.Effect<ReadonlyArray<string>, RedisError.RedisError, Redis.Redis> =>
  Effect.gen(function*() {
    const prefix = yield* prefixArgs(stream, "*", options)
    if (records.some(isEmpty)) return yield* emptyRecord(stream)
    const field = yield* traceFieldOf(options)
    if (field !== undefined && records.some((record) => Object.hasOwn(record, field))) return yield* takenField(stream, field)
    const due = yield* dueOf("*", options)
    const dedupe = options.dedupe === undefined ? undefined : {
      keys: yield* Effect.forEach(records, (record, i) => Dedupe_.validKey(stream, options.dedupe!.key(record, i))),
      ttl: yield* dedupeTtl(options.dedupe.ttl)
    }
    const redis = yield* Redis.Redis
    return yield* traced("Streams.xaddAll", stream, field, { "messaging.batch.message_count": records.length }, (trace) =>
      due !== undefined ? holdAll(redis, stream, prefix, records, due, trace) : writeAll(redis, prefix, records, trace, dedupe))
  })

/** The records in pipelined batches of {@link BATCH}, two batches on the wire at once. */
const writeAll = (
  redis: Redis.Service,
  prefix: ReadonlyArray<Redis.Arg>,
  records: ReadonlyArray<Fields>,
  trace: Traced | undefined,
  dedupe: { readonly keys: ReadonlyArray<string>; readonly ttl: number } | undefined
) =>
  Effect.gen(function*() {
    const settleAll = (results: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<string>, RedisError.RedisError> =>
      dedupe === undefined
        ? Effect.tap(replies.strings("XADD", results), (added) => Metric.incrementBy(entriesAdded, added.length))
        : Effect.forEach(results, (reply) => Effect.flatMap(Dedupe_.written(reply), settle))
    const write = (start: number) => {
      const end = Math.min(start + BATCH, records.length)
      const batch: Array<Redis.Command> = new Array(end - start)
      for (let i = start; i < end; i++) {
        const args = xaddArgs(prefix, records[i]!, trace)
        batch[i - start] = dedupe === undefined ? ["XADD", args] : Dedupe_.command(dedupe.keys[i]!, dedupe.ttl, args)
      }
      return Effect.flatMap(dedupe === undefined ? redis.pipeline(batch) : resendLost(redis.pipeline(batch)), settleAll)
    }
    const starts = Array.from({ length: Math.ceil(records.length / BATCH) }, (_, k) => k * BATCH)
    // Two batches on the wire at once: the next is sent while the last one's
    // replies come back. Both go out on one connection in order, so entries
    // keep the order of `records`.
    const batches = yield* Effect.forEach(starts, write, { concurrency: 2 })
    const ids: ReadonlyArray<string> = batches.flat()
    return ids
  })

/**
 * Reads entries with ids greater than `from` (default: from the start) with a
 * plain, non-blocking XREAD, parsed as `{ id, fields }`. A missing stream
 * reads as empty; a key that is not a stream fails with `WrongType`.
 *
 * @since 0.1.0
 * @category reading
 */
export const read = Effect.fn("Streams.read")(function*(stream: string, options: ReadOptions = {}) {
  yield* Redis.validateName("XREAD", "stream name", stream)
  const from = yield* MessageId.validate(options.from ?? "0-0")
  const count = options.count
  if (count !== undefined && !(isCount(count) && count > 0)) {
    return yield* RedisError.invalidArgument("XREAD", `count must be a positive integer, got ${count}`)
  }
  const redis = yield* Redis.Redis
  const reply = yield* redis.send("XREAD", [...(count === undefined ? [] : ["COUNT", count]), "STREAMS", stream, from])
  const streams = yield* replies.streams("XREAD", reply)
  const entries: ReadonlyArray<Entry> = (streams[0]?.entries ?? []).map((entry) => ({ id: entry.id, fields: entry.fields ?? {} }))
  return entries
})

/**
 * How many entries of the stream have ids greater than `after`, counted in
 * pages of 1000 (XRANGE with an exclusive start), so a long stream is never
 * held in memory at once. A missing stream counts 0.
 *
 * @since 0.1.0
 * @category reading
 */
export const countAfter = Effect.fn("Streams.countAfter")(function*(stream: string, after: string) {
  yield* Redis.validateName("XRANGE", "stream name", stream)
  yield* MessageId.validate(after)
  const redis = yield* Redis.Redis
  const first = yield* Effect.flatMap(redis.send("XRANGE", [stream, "-", "+", "COUNT", 1]), (reply) => replies.entries("XRANGE", reply))
  if (first.length === 0) return 0
  if (MessageId.compare(after, first[0]!.id) < 0) {
    return yield* Effect.flatMap(redis.send("XLEN", [stream]), (reply) => replies.integer("XLEN", reply))
  }
  let count = 0
  let cursor = after
  while (true) {
    const page = yield* Effect.flatMap(
      redis.send("XRANGE", [stream, `(${cursor}`, "+", "COUNT", BATCH]),
      (reply) => replies.entries("XRANGE", reply)
    )
    count += page.length
    if (page.length < BATCH) return count
    cursor = page[page.length - 1]!.id
  }
})

/**
 * The keys of type stream matching a glob `pattern` (default `"stream/*"`),
 * found with SCAN … TYPE stream on every master node (never KEYS, so Redis is
 * not blocked however many keys it holds).
 *
 * @since 0.1.0
 * @category visibility
 */
export const allStreamKeys = Effect.fn("Streams.allStreamKeys")(function*(pattern: string = "stream/*") {
  const redis = yield* Redis.Redis
  const masters = yield* redis.masters
  const keys = new Set<string>()
  for (const master of masters) for (const key of yield* Scan.streamKeys(master, pattern)) keys.add(key)
  const result: ReadonlySet<string> = keys
  return result
})

/**
 * A stream's delayed entries: how many are held, and when the next is due.
 *
 * @since 0.1.0
 * @category delayed delivery
 */
export interface DelayedStats {
  readonly count: number
  readonly nextDue: Option.Option<Date>
}

const keysOrFail = (command: string, stream: string) =>
  Effect.zipRight(Redis.validateName(command, "stream name", stream), delayedKeys(stream))

/**
 * Moves the stream's delayed entries that are due into it (at most
 * `count`, default 1000, in due order), each exactly once whoever else
 * promotes at the same time, and returns their handles and new entry ids.
 * Consumers of the stream do this themselves; call it where only producers
 * run.
 *
 * @since 0.1.0
 * @category delayed delivery
 */
export const promoteDue = Effect.fn("Streams.promoteDue")(function*(stream: string, options: { readonly count?: number | undefined } = {}) {
  const keys = yield* keysOrFail("Streams.promoteDue", stream)
  const count = yield* Validate.positiveInteger("Streams.promoteDue", "count", options.count, 1000)
  const done = yield* Delayed.promote(yield* Redis.Redis, stream, keys, count)
  return done.moved
})

/**
 * Moves one delayed entry into its stream now, whatever its due time;
 * returns its new entry id, or none when no entry of that handle is held
 * (promoted already, or cancelled).
 *
 * @since 0.1.0
 * @category delayed delivery
 */
export const promoteDelayed = Effect.fn("Streams.promoteDelayed")(function*(stream: string, handle: string) {
  const keys = yield* keysOrFail("Streams.promoteDelayed", stream)
  const done = yield* Delayed.promote(yield* Redis.Redis, stream, keys, 1, [handle])
  return Option.fromNullable(done.moved[0]?.id)
})

/**
 * Cancels a delayed entry: it will not be delivered. Returns whether one of
 * that handle was held.
 *
 * @since 0.1.0
 * @category delayed delivery
 */
export const cancelDelayed = Effect.fn("Streams.cancelDelayed")(function*(stream: string, handle: string) {
  const keys = yield* keysOrFail("Streams.cancelDelayed", stream)
  return yield* Delayed.cancel(yield* Redis.Redis, keys, handle)
})

/**
 * How many delayed entries the stream holds, and when the next is due.
 *
 * @since 0.1.0
 * @category delayed delivery
 */
export const delayedStats = Effect.fn("Streams.delayedStats")(function*(stream: string) {
  const keys = yield* keysOrFail("Streams.delayedStats", stream)
  const [count, first] = yield* (yield* Redis.Redis).pipeline(Delayed.statsCommands(keys))
  const { count: held, nextDue } = Delayed.statsOf(count, first)
  const stats: DelayedStats = { count: held, nextDue: nextDue === undefined ? Option.none() : Option.some(new Date(nextDue)) }
  return stats
})
