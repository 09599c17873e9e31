/**
 * Consumer groups: idempotent creation, names, stats and clearing pending entries.
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import { Effect, Option } from "effect"
import * as Delayed from "./internal/redis/delayed.js"
import * as Keys from "./internal/redis/keys.js"
import * as replies from "./internal/redis/replies.js"
import * as Unblock from "./internal/redis/unblock.js"
import * as Validate from "./internal/redis/validate.js"
import * as MessageId from "./MessageId.js"
import * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"
import * as Streams from "./Streams.js"

/**
 * Options of {@link create}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions {
  /** Where the group starts reading when it is created: `"$"` (new entries only, the default), `"0"` (everything) or an id. */
  readonly from?: string | undefined
  /**
   * Deregister consumers of an existing group that have been idle longer than
   * this and hold no pending entries.
   */
  readonly deregisterIdle?: Duration.DurationInput | undefined
}

/**
 * One consumer of a group: its pending entries and the milliseconds since it
 * last interacted with the group.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerStats {
  readonly name: string
  readonly pending: number
  readonly idle: number
}

/**
 * The state of a consumer group (the seed's `group-stats`).
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupStats {
  readonly name: string
  /** Sorted by name. */
  readonly consumers: ReadonlyArray<ConsumerStats>
  /** Entries delivered to a consumer and not acked yet. */
  readonly pending: number
  readonly lastDeliveredId: string
  /** Entries of the stream not delivered to the group yet. */
  readonly unconsumed: number
  /** Whether the group is paused ({@link pause}). */
  readonly paused: boolean
  /** The stream's delayed entries, not in the stream yet (`Streams.delayedStats`). */
  readonly delayed: Streams.DelayedStats
}

const PAGE = 1000

const validateStreamAndGroup = (command: string, stream: string, group: string) =>
  Effect.zipRight(
    Redis.validateName(command, "stream name", stream),
    Redis.validateName(command, "group name", group)
  )

const validateFrom = (from: string) => (from === "$" ? Effect.succeed(from) : MessageId.validate(from))

/**
 * Deletes the consumer only when it holds no pending entry, checked and done
 * in one script so an entry delivered meanwhile is never lost with it.
 * Returns 1 when deleted, 0 otherwise.
 */
const deleteIfNoPending = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`

const consumersOf = (redis: Redis.Service, stream: string, group: string) =>
  Effect.flatMap(redis.send("XINFO", ["CONSUMERS", stream, group]), replies.consumerInfos)

/**
 * Removes the consumers of a group that have been idle longer than `idle`
 * and hold no pending entries, and returns their names. A consumer that holds
 * pending entries is never removed (that would drop its entries from the
 * pending list): the check and the removal are one atomic script.
 *
 * @since 0.1.0
 * @category maintenance
 */
export const deregisterIdle = Effect.fn("Groups.deregisterIdle")(
  function*(stream: string, group: string, idle: Duration.DurationInput) {
    yield* validateStreamAndGroup("XGROUP DELCONSUMER", stream, group)
    const threshold = (yield* Validate.nonNegativeMillis("XGROUP DELCONSUMER", "idle", idle))!
    const redis = yield* Redis.Redis
    const removed: Array<string> = []
    for (const consumer of yield* consumersOf(redis, stream, group)) {
      if (consumer.pending > 0 || consumer.idle <= threshold) continue
      const deleted = yield* redis.send("EVAL", [deleteIfNoPending, 1, stream, group, consumer.name])
      if ((yield* replies.integer("EVAL", deleted)) === 1) removed.push(consumer.name)
    }
    if (removed.length > 0) yield* Effect.logInfo("deregistered idle consumers", removed)
    const result: ReadonlyArray<string> = removed
    return result
  },
  (effect, stream, group) => Effect.annotateLogs(effect, { stream, group })
)

const createOne = (redis: Redis.Service, stream: string, group: string, options: CreateOptions, from: string) =>
  Effect.gen(function*() {
    yield* redis.send("XGROUP", ["CREATE", stream, group, from, "MKSTREAM"]).pipe(
      Effect.catchIf((error) => error.reason === "BusyGroup", () => Effect.void)
    )
    if (options.deregisterIdle !== undefined) yield* deregisterIdle(stream, group, options.deregisterIdle)
  })

/**
 * Creates the group on each stream (and the stream itself when missing).
 * Idempotent: a group that exists already is success. With `deregisterIdle`,
 * consumers of the group idle longer than that and holding no pending entries
 * are removed. A key that is not a stream fails with `WrongType` and is left
 * as it was.
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = Effect.fn("Groups.create")(
  function*(streams: string | ReadonlyArray<string>, group: string, options: CreateOptions = {}) {
    const all = typeof streams === "string" ? [streams] : streams
    for (const stream of all) yield* validateStreamAndGroup("XGROUP CREATE", stream, group)
    const from = yield* validateFrom(options.from ?? "$")
    const redis = yield* Redis.Redis
    for (const stream of all) yield* createOne(redis, stream, group, options, from)
    return true
  }
)

const groupsOf = (redis: Redis.Service, stream: string) =>
  Effect.flatMap(redis.send("XINFO", ["GROUPS", stream]), replies.groupInfos)

const noneDelayed: Streams.DelayedStats = { count: 0, nextDue: Option.none() }

/** The group's XINFO GROUPS row; a missing group fails with `NoGroup`, a missing stream with `NoSuchKey`. */
const groupInfoOf = (redis: Redis.Service, stream: string, group: string) =>
  Effect.flatMap(groupsOf(redis, stream), (groups) => {
    const info = groups.find((candidate) => candidate.name === group)
    return info !== undefined ? Effect.succeed(info) : Effect.fail(
      new RedisError.RedisError({
        reason: "NoGroup",
        command: "XINFO GROUPS",
        message: `no consumer group ${JSON.stringify(group)} on stream ${JSON.stringify(stream)}`
      })
    )
  })

/**
 * The names of the stream's consumer groups. A missing stream fails with
 * `NoSuchKey`, a key that is not a stream with `WrongType`.
 *
 * @since 0.1.0
 * @category visibility
 */
export const names = Effect.fn("Groups.names")(function*(stream: string) {
  yield* Redis.validateName("XINFO GROUPS", "stream name", stream)
  const groups = yield* groupsOf(yield* Redis.Redis, stream)
  const result: ReadonlySet<string> = new Set(groups.map((group) => group.name))
  return result
})

/**
 * The stats of one group (the seed's `group-stats`). `unconsumed` is Redis
 * 7's `lag` when the server reports it, and otherwise counted from the
 * group's last delivered id in pages (see `Streams.countAfter`). A missing
 * group fails with `NoGroup`, a missing stream with `NoSuchKey`.
 *
 * @since 0.1.0
 * @category visibility
 */
export const stats = Effect.fn("Groups.stats")(function*(stream: string, group: string) {
  yield* validateStreamAndGroup("XINFO GROUPS", stream, group)
  const redis = yield* Redis.Redis
  const info = yield* groupInfoOf(redis, stream, group)
  const consumers = [...(yield* consumersOf(redis, stream, group))]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const unconsumed = info.lag ?? (yield* Streams.countAfter(stream, info.lastDeliveredId))
  const pausedKey = Keys.pausedKeyOf(stream, group)
  const [paused, delayed] = yield* Effect.all([
    pausedKey === undefined ? Effect.succeed(false) : Effect.map(redis.send("EXISTS", [pausedKey]), (n) => n === 1),
    Delayed.keysOf(stream) === undefined ? Effect.succeed(noneDelayed) : Streams.delayedStats(stream)
  ], { concurrency: "unbounded" })
  const result: GroupStats = {
    name: info.name,
    consumers,
    pending: info.pending,
    lastDeliveredId: info.lastDeliveredId,
    unconsumed,
    paused,
    delayed
  }
  return result
})

/**
 * Acks the group's pending entries, of every consumer or only of `consumer`,
 * paging through XPENDING and acking each page of 1000 at once; returns how
 * many were acked. The entries stay in the stream. A missing group fails
 * with `NoGroup`.
 *
 * @since 0.1.0
 * @category maintenance
 */
export const clearPending = Effect.fn("Groups.clearPending")(
  function*(stream: string, group: string, consumer?: string) {
    yield* validateStreamAndGroup("XPENDING", stream, group)
    if (consumer !== undefined) yield* Redis.validateName("XPENDING", "consumer name", consumer)
    const redis = yield* Redis.Redis
    const only = consumer === undefined ? [] : [consumer]
    let acked = 0
    let start = "-"
    while (true) {
      const page = yield* Effect.flatMap(redis.send("XPENDING", [stream, group, start, "+", PAGE, ...only]), replies.pendingEntries)
      if (page.length === 0) break
      const ids = page.map((entry) => entry.id)
      acked += yield* Effect.flatMap(redis.send("XACK", [stream, group, ...ids]), (reply) => replies.integer("XACK", reply))
      if (page.length < PAGE) break
      start = `(${ids[ids.length - 1]}`
    }
    yield* Effect.annotateCurrentSpan("acked", acked)
    return acked
  }
)

/** The group's paused key, checked: the group exists, and its stream can have keys beside it. */
const pausedKey = (command: string, stream: string, group: string) =>
  Effect.gen(function*() {
    yield* validateStreamAndGroup(command, stream, group)
    const key = Keys.pausedKeyOf(stream, group)
    if (key === undefined) {
      return yield* RedisError.invalidArgument(command, `${JSON.stringify(stream)} has a "}" but no hash tag: it cannot be paused (give it a hash tag)`)
    }
    yield* groupInfoOf(yield* Redis.Redis, stream, group)
    return key
  })

/**
 * Pauses the group for every consumer of it, in every process: each starts
 * no new handler after its next read (the running ones finish and are
 * acked; the batch that read brought stays pending, handled first after the
 * resume), reads nothing while the group is paused, and checks about once a
 * second (or every `block`, when shorter) whether it was resumed. A consumer
 * blocked on a read is woken at once (`CLIENT UNBLOCK … TIMEOUT`), not
 * waited out; one that starts while the group is paused waits. The pause
 * is kept in Redis (a key beside the stream, in its slot) until
 * {@link resume}: it survives restarts. A consumer of several streams
 * pauses when any of its groups is paused. A missing group fails with
 * `NoGroup`; pausing a paused group keeps its first pause time.
 *
 * @since 0.1.0
 * @category pausing
 */
export const pause = Effect.fn("Groups.pause")(function*(stream: string, group: string) {
  const key = yield* pausedKey("Groups.pause", stream, group)
  const redis = yield* Redis.Redis
  yield* redis.send("SET", [key, Date.now(), "NX"])
  const names = yield* Unblock.consumerNames(stream, group)
  const woken = yield* Unblock.unblockWhere((name) => names.has(name), "TIMEOUT")
  yield* Effect.annotateCurrentSpan("woken", woken)
  yield* Effect.logDebug(`group ${group} of ${stream} paused (${woken} blocked consumers woken)`)
})

/**
 * Resumes a paused group: its consumers read again within about a second.
 * Resuming a group that is not paused does nothing. A missing group fails
 * with `NoGroup`.
 *
 * @since 0.1.0
 * @category pausing
 */
export const resume = Effect.fn("Groups.resume")(function*(stream: string, group: string) {
  const key = yield* pausedKey("Groups.resume", stream, group)
  const removed = yield* (yield* Redis.Redis).send("DEL", [key])
  if (removed === 1) yield* Effect.logDebug(`group ${group} of ${stream} resumed`)
})

/**
 * When the group was paused, if it is ({@link pause}).
 *
 * @since 0.1.0
 * @category pausing
 */
export const pausedSince = Effect.fn("Groups.pausedSince")(function*(stream: string, group: string) {
  const key = yield* pausedKey("Groups.pausedSince", stream, group)
  const since = yield* (yield* Redis.Redis).send("GET", [key])
  return since === null ? Option.none<Date>() : Option.some(new Date(Number(since)))
})

/**
 * Whether the group is paused ({@link pause}).
 *
 * @since 0.1.0
 * @category pausing
 */
export const isPaused = (stream: string, group: string): Effect.Effect<boolean, RedisError.RedisError, Redis.Redis> =>
  Effect.map(pausedSince(stream, group), Option.isSome)
