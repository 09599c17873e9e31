/**
 * The options of a gc pass and their checks: the public option types of
 * `Gc.collect` (re-exported by `Gc`), the validated `Settings` a pass runs
 * with, the threshold test every step uses, and the cluster check that two
 * streams share a slot.
 */
import type { Duration } from "effect"
import { Effect } from "effect"
import * as Naming from "../../Naming.js"
import * as Redis from "../../Redis.js"
import * as RedisError from "../../RedisError.js"
import type * as Replies from "../redis/replies.js"
import { slotOf } from "../redis/slots.js"
import * as Validate from "../redis/validate.js"

/**
 * When to hand a pending entry to another consumer, and to whom.
 *
 * @since 0.1.0
 * @category models
 */
export interface RebalanceOptions {
  /** Rebalance entries idle at least this long. Not compared when absent. */
  readonly idle?: Duration.DurationInput | undefined
  /** Rebalance entries delivered at least this many times. Not compared when absent. */
  readonly deliveries?: number | undefined
  /**
   * `"active"` (default): skip consumers that look dead themselves (they hold
   * pending entries and have been idle longer than `idle`); `"all"`: any
   * other consumer of the group.
   */
  readonly siblings?: "active" | "all" | undefined
  /**
   * `"random"` (default), `"lra"`: the least recently active sibling (highest
   * idle time), `"mra"`: the most recently active one (lowest idle time).
   */
  readonly distribution?: "random" | "lra" | "mra" | undefined
}

/**
 * When to give up on a pending entry and move it to the dead-letter stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface DlqOptions {
  /** Dead-letter entries idle at least this long. Not compared when absent. */
  readonly idle?: Duration.DurationInput | undefined
  /** Dead-letter entries delivered at least this many times. Not compared when absent. */
  readonly deliveries?: number | undefined
  /**
   * The dead-letter stream. Default `Naming.dlqName(stream)`: `"stream/dlq"`,
   * or `"stream/{tag}dlq"` for a stream with a hash tag (the same cluster slot).
   */
  readonly stream?: string | undefined
  /** Copy the entry's fields into the dead-letter entry (needed by `Gc.redrive`). Default `true`. */
  readonly includeMessage?: boolean | undefined
}

/**
 * When to remove a consumer from the group.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeregisterOptions {
  /** Remove consumers idle longer than this, if they hold no pending entry. */
  readonly idle: Duration.DurationInput
}

/**
 * Options of `Gc.collect`. Each step takes its default when its key is
 * absent, takes the given object instead of the default when present (a
 * threshold absent from it is not compared), and is off when `false`:
 *
 * - `rebalance`: `{ idle: "60 seconds", siblings: "active", distribution: "random" }`
 * - `dlq`: `{ deliveries: 10, stream: Naming.dlqName(stream), includeMessage: true }`
 *   (`"stream/dlq"` unless the stream has a hash tag)
 * - `deregister`: `{ idle: "10 minutes" }`
 *
 * @since 0.1.0
 * @category models
 */
export interface CollectOptions {
  readonly rebalance?: RebalanceOptions | false | undefined
  readonly dlq?: DlqOptions | false | undefined
  readonly deregister?: DeregisterOptions | false | undefined
  /** Plan the pass and return the actions it would take, changing nothing. Default `false`. */
  readonly dryRun?: boolean | undefined
  /** Pending entries read (XPENDING) and handled per round trip. Default 1000. */
  readonly batchSize?: number | undefined
}

export interface Thresholds {
  readonly idle: number | undefined
  readonly deliveries: number | undefined
}

export interface Settings {
  readonly stream: string
  readonly group: string
  readonly rebalance: (Thresholds & Required<Pick<RebalanceOptions, "siblings" | "distribution">>) | false
  readonly dlq: (Thresholds & { readonly stream: string; readonly includeMessage: boolean }) | false
  readonly deregister: number | false
  readonly dryRun: boolean
  readonly batchSize: number
}

const invalid = (message: string) => Effect.fail(RedisError.invalidArgument("Gc.collect", message))

const thresholds = (step: string, options: { readonly idle?: Duration.DurationInput | undefined; readonly deliveries?: number | undefined }) =>
  Effect.all({
    idle: Validate.nonNegativeMillis("Gc.collect", `${step}.idle`, options.idle),
    deliveries: Validate.nonNegativeCount("Gc.collect", `${step}.deliveries`, options.deliveries)
  })

export const settingsOf = (stream: string, group: string, options: CollectOptions): Effect.Effect<Settings, RedisError.RedisError> =>
  Effect.gen(function*() {
    yield* Redis.validateName("Gc.collect", "stream", stream)
    yield* Redis.validateName("Gc.collect", "group", group)
    const rebalance = options.rebalance ?? { idle: "60 seconds" }
    const dlq = options.dlq ?? { deliveries: 10 }
    const deregister = options.deregister ?? { idle: "10 minutes" }
    const batchSize = options.batchSize ?? 1000
    if (!Number.isInteger(batchSize) || batchSize < 1) return yield* invalid(`batchSize must be a positive integer, got ${batchSize}`)
    const dlqStream = dlq === false ? "" : dlq.stream ?? Naming.dlqName(stream)
    if (dlq !== false) yield* Redis.validateName("Gc.collect", "dlq.stream", dlqStream)
    const deregisterIdle = deregister === false ? false : yield* Validate.nonNegativeMillis("Gc.collect", "deregister.idle", deregister.idle)
    if (deregisterIdle === undefined) return yield* invalid("deregister.idle is required")
    return {
      stream,
      group,
      rebalance: rebalance === false ? false : {
        ...(yield* thresholds("rebalance", rebalance)),
        siblings: rebalance.siblings ?? "active",
        distribution: rebalance.distribution ?? "random"
      },
      dlq: dlq === false ? false : {
        ...(yield* thresholds("dlq", dlq)),
        stream: dlqStream,
        includeMessage: dlq.includeMessage ?? true
      },
      deregister: deregisterIdle,
      dryRun: options.dryRun ?? false,
      batchSize
    }
  })

/** Whether an entry is past the delivery threshold (gc's reason `Deliveries`, otherwise `Idle`). */
export const overDeliveries = (limits: Thresholds, entry: Replies.PendingEntry): boolean =>
  limits.deliveries !== undefined && entry.deliveries >= limits.deliveries

export const exceeds = (limits: Thresholds, entry: Replies.PendingEntry): boolean =>
  (limits.idle !== undefined && entry.idle >= limits.idle) ||
  (limits.deliveries !== undefined && entry.deliveries >= limits.deliveries)

/** Fails with reason `CrossSlot` when a cluster cannot run one script over both keys. */
export const sameSlot = (command: string, a: string, b: string) =>
  Effect.flatMap(Redis.Redis, (redis) =>
    redis.isCluster && slotOf(a) !== slotOf(b)
      ? Effect.fail(
        new RedisError.RedisError({
          reason: "CrossSlot",
          command,
          message: `${JSON.stringify(a)} and ${JSON.stringify(b)} are in different cluster slots, so entries cannot move ` +
            `between them atomically: give both names the same hash tag, e.g. "{orders}" and "{orders}:dlq"`
        })
      )
      : Effect.void)

