/**
 * Recovering from failures: one garbage-collection pass over a consumer group
 * ({@link collect}) moves poison messages to a dead-letter stream, hands the
 * pending entries of dead consumers to live ones, and deregisters consumers
 * that are gone; {@link schedule} repeats it on any `Schedule`. The
 * dead-letter stream can be read back ({@link deadLetters}) and replayed
 * ({@link redrive}).
 *
 * @since 0.1.0
 */
import type { Schedule } from "effect"
import { Effect, Layer, Metric } from "effect"
import * as Redis from "./Redis.js"
import type * as RedisError from "./RedisError.js"
import { consumersOf, deregisterIdle, passTimer, record, runPage } from "./internal/gc/pass.js"
import { claimantFor, GcAction, planPage, siblingsOf, toAction, track } from "./internal/gc/plan.js"
import type { CollectOptions } from "./internal/gc/settings.js"
import { sameSlot, settingsOf } from "./internal/gc/settings.js"
import * as Replies from "./internal/redis/replies.js"

export {
  /**
   * @since 0.1.0
   * @category models
   */
  type CollectOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  type DeregisterOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  type DlqOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  type RebalanceOptions
} from "./internal/gc/settings.js"

export {
  /**
   * @since 0.1.0
   * @category constructors
   */
  GcAction
} from "./internal/gc/plan.js"

export {
  /**
   * @since 0.1.0
   * @category models
   */
  type DeadLetter,
  /**
   * @since 0.1.0
   * @category models
   */
  type DeadLetterOptions,
  /**
   * @since 0.1.0
   * @category dead letters
   */
  deadLetters,
  /**
   * @since 0.1.0
   * @category dead letters
   */
  redrive,
  /**
   * @since 0.1.0
   * @category models
   */
  type Redriven
} from "./internal/gc/deadLetters.js"

/**
 * One garbage-collection pass over a consumer group. For every pending entry,
 * in order of the first threshold it meets:
 *
 * 1. `dlq` (idle ≥ `dlq.idle` OR deliveries ≥ `dlq.deliveries`): written to
 *    the dead-letter stream — `stream, group, consumer, id, idle, deliveries`
 *    then the original fields — and acked, atomically per entry;
 * 2. `rebalance`: claimed for another consumer chosen by `siblings` and
 *    `distribution`, never its owner; `FailedRebalance` when there is none;
 * 3. otherwise left alone (`Noop`).
 *
 * Then consumers idle past `deregister.idle` are removed, **only if they hold
 * no pending entry** (checked atomically on the server). Entries acked,
 * delivered again or claimed by someone else while the pass runs are skipped
 * and reported as `Noop`. The pending list is read in pages of `batchSize`,
 * so memory does not grow with it (except for the returned actions).
 *
 * On a Redis Cluster the group's stream and the dead-letter stream must be in
 * one slot (share a hash tag); otherwise the pass fails with reason
 * `CrossSlot` before doing anything.
 *
 * @since 0.1.0
 * @category gc
 */
export const collect: (
  stream: string,
  group: string,
  options?: CollectOptions
) => Effect.Effect<ReadonlyArray<GcAction>, RedisError.RedisError, Redis.Redis> = Effect.fn("Gc.collect")(
  function*(stream: string, group: string, options: CollectOptions = {}) {
    const settings = yield* settingsOf(stream, group, options)
    if (settings.dlq !== false) yield* sameSlot("Gc.collect", stream, settings.dlq.stream)
    const redis = yield* Redis.Redis
    const consumers = yield* consumersOf(stream, group)
    const claimant = claimantFor(settings, siblingsOf(settings, consumers))
    const pending = new Map(consumers.map((c) => [c.name, c.pending]))
    const actions: Array<GcAction> = []
    const nextPage = (start: string) =>
      Effect.flatMap(redis.send("XPENDING", [stream, group, start, "+", settings.batchSize]), Replies.pendingEntries).pipe(
        Effect.flatMap((page) => Effect.map(planPage(settings, claimant, page), (plans) => ({ page, plans })))
      )
    let current = yield* nextPage("-")
    while (current.page.length > 0) {
      const { page, plans } = current
      // the next page is read and planned while this one is carried out (its entries are other ones)
      const [done, next] = yield* Effect.all([
        runPage(settings, plans),
        page.length < settings.batchSize ? Effect.succeed({ page: [], plans: [] }) : nextPage(`(${page[page.length - 1]!.id}`)
      ], { concurrency: 2 })
      track(pending, done)
      for (const plan of done) actions.push(toAction(plan))
      current = next
    }
    for (const consumer of yield* deregisterIdle(settings, consumers, pending)) actions.push(GcAction.Deregister({ consumer }))
    if (!settings.dryRun) yield* record(actions)
    return actions
  },
  Metric.trackDuration(passTimer),
  (effect, stream, group) => Effect.annotateLogs(effect, { stream, group })
)

const summary = (actions: ReadonlyArray<GcAction>) => {
  const counts: Record<GcAction["_tag"], number> = { Dlq: 0, Rebalance: 0, FailedRebalance: 0, Noop: 0, Deregister: 0 }
  for (const action of actions) counts[action._tag]++
  return counts
}

const logPass = (actions: ReadonlyArray<GcAction>) =>
  Effect.gen(function*() {
    // a pass that changed nothing is routine: debug level; one that acted, info
    const acted = actions.some((action) => action._tag !== "Noop")
    yield* (acted ? Effect.logInfo("gc pass") : Effect.logDebug("gc pass")).pipe(Effect.annotateLogs(summary(actions)))
    for (const action of actions) {
      if (action._tag !== "Noop") yield* Effect.logDebug(`gc ${action._tag}`).pipe(Effect.annotateLogs({ ...action }))
    }
  })

/**
 * Runs {@link collect} on a `Schedule` — e.g.
 * `Schedule.spaced("30 seconds").pipe(Schedule.jittered)` — the first pass at
 * once. Each pass's actions are logged (a summary at info level, every action
 * but `Noop` at debug level) and fed to the schedule as its input. A failed
 * pass is logged at warning level and the schedule goes on. Runs until
 * interrupted, or until the schedule ends.
 *
 * @since 0.1.0
 * @category gc
 */
export const schedule = <Out, R>(
  stream: string,
  group: string,
  options: CollectOptions,
  schedule: Schedule.Schedule<Out, ReadonlyArray<GcAction>, R>
): Effect.Effect<void, never, Redis.Redis | R> =>
  collect(stream, group, options).pipe(
    Effect.tap(logPass),
    Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("gc pass failed", cause), [])),
    Effect.repeat(schedule),
    Effect.asVoid,
    Effect.annotateLogs({ module: "Gc", stream, group }),
    Effect.withSpan("Gc.schedule", { attributes: { stream, group } })
  )

/**
 * {@link schedule} forked in the layer's scope: gc runs while the layer is in
 * use and stops when it is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Out, R>(
  stream: string,
  group: string,
  options: CollectOptions,
  policy: Schedule.Schedule<Out, ReadonlyArray<GcAction>, R>
): Layer.Layer<never, never, Redis.Redis | R> => Layer.scopedDiscard(Effect.forkScoped(schedule(stream, group, options, policy)))

