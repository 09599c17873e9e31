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
import { Data, Duration, Effect, Layer, Metric, Random, Schedule } from "effect"
import * as Groups from "./Groups.js"
import * as Naming from "./Naming.js"
import * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"
import * as Replies from "./internal/replies.js"
import { slotOf } from "./internal/slots.js"

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
  /** Copy the entry's fields into the dead-letter entry (needed by {@link redrive}). Default `true`. */
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
 * Options of {@link collect}. Each step takes its default when its key is
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

/**
 * What a pass did (or, with `dryRun`, would do) with a pending entry or a consumer.
 *
 * - `Dlq`: written to the dead-letter stream and acked.
 * - `Rebalance`: claimed for `claimant`.
 * - `FailedRebalance`: due for rebalancing, but there was no other (active) consumer.
 * - `Noop`: left with its consumer (no threshold met, or it was acked or
 *   claimed by someone else while the pass ran).
 * - `Deregister`: the consumer was removed from the group.
 *
 * @since 0.1.0
 * @category models
 */
export type GcAction = Data.TaggedEnum<{
  Dlq: { readonly id: string; readonly consumer: string }
  Rebalance: { readonly id: string; readonly consumer: string; readonly claimant: string }
  FailedRebalance: { readonly id: string; readonly consumer: string }
  Noop: { readonly id: string; readonly consumer: string }
  Deregister: { readonly consumer: string }
}>

/**
 * Constructors and matchers of {@link GcAction}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const GcAction = Data.taggedEnum<GcAction>()

/**
 * An entry of a dead-letter stream, parsed.
 *
 * @since 0.1.0
 * @category models
 */
export type DeadLetter = Replies.DeadLetter

/**
 * Which dead letters {@link deadLetters} lists and {@link redrive} replays.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterOptions {
  /** Only those that came from this stream. */
  readonly stream?: string | undefined
  /** Only those that came from this group. */
  readonly group?: string | undefined
  /** At most this many. */
  readonly count?: number | undefined
}

/**
 * A dead letter put back on its origin stream by {@link redrive}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Redriven extends Replies.DeadLetter {
  /** The id of the new entry on the origin stream. */
  readonly redrivenId: string
}

interface Thresholds {
  readonly idle: number | undefined
  readonly deliveries: number | undefined
}

interface Settings {
  readonly stream: string
  readonly group: string
  readonly rebalance: (Thresholds & Required<Pick<RebalanceOptions, "siblings" | "distribution">>) | false
  readonly dlq: (Thresholds & { readonly stream: string; readonly includeMessage: boolean }) | false
  readonly deregister: number | false
  readonly dryRun: boolean
  readonly batchSize: number
}

const actionsCounter = Metric.counter("effect_redis_streams_gc_actions", {
  description: "Pending entries and consumers acted on by Gc.collect, by action",
  incremental: true
})

const passTimer = Metric.timerWithBoundaries("effect_redis_streams_gc_pass_duration", [10, 50, 100, 500, 1_000, 5_000, 30_000])

const invalid = (message: string) => Effect.fail(RedisError.invalidArgument("Gc.collect", message))

const millis = (what: string, input: Duration.DurationInput | undefined): Effect.Effect<number | undefined, RedisError.RedisError> =>
  input === undefined ? Effect.succeed(undefined) : Effect.flatMap(
    Effect.try(() => Duration.toMillis(Duration.decode(input))),
    (ms) => Number.isNaN(ms) || ms < 0 ? invalid(`${what} must be a non-negative duration`) : Effect.succeed(ms)
  ).pipe(Effect.catchTag("UnknownException", () => invalid(`${what} is not a duration: ${JSON.stringify(input)}`)))

const count = (what: string, n: number | undefined): Effect.Effect<number | undefined, RedisError.RedisError> =>
  n === undefined || (n >= 0 && (Number.isInteger(n) || n === Infinity))
    ? Effect.succeed(n)
    : invalid(`${what} must be a non-negative integer, got ${n}`)

const thresholds = (step: string, options: { readonly idle?: Duration.DurationInput | undefined; readonly deliveries?: number | undefined }) =>
  Effect.all({ idle: millis(`${step}.idle`, options.idle), deliveries: count(`${step}.deliveries`, options.deliveries) })

const settingsOf = (stream: string, group: string, options: CollectOptions): Effect.Effect<Settings, RedisError.RedisError> =>
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
    const deregisterIdle = deregister === false ? false : yield* millis("deregister.idle", deregister.idle)
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

const exceeds = (limits: Thresholds, entry: Replies.PendingEntry): boolean =>
  (limits.idle !== undefined && entry.idle >= limits.idle) ||
  (limits.deliveries !== undefined && entry.deliveries >= limits.deliveries)

/** Fails with reason `CrossSlot` when a cluster cannot run one script over both keys. */
const sameSlot = (command: string, a: string, b: string) =>
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

const consumersOf = (stream: string, group: string) =>
  Effect.flatMap(Redis.Redis, (redis) => redis.send("XINFO", ["CONSUMERS", stream, group])).pipe(
    Effect.flatMap(Replies.consumerInfos)
  )

/** The consumers entries may be claimed for, in the order `lra`/`mra` pick them. */
const siblingsOf = (settings: Settings, consumers: ReadonlyArray<Replies.ConsumerInfo>): ReadonlyArray<Replies.ConsumerInfo> => {
  if (settings.rebalance === false) return []
  const { distribution, idle, siblings } = settings.rebalance
  const eligible = siblings === "active"
    ? consumers.filter((c) => !(c.pending > 0 && idle !== undefined && c.idle > idle))
    : consumers
  return distribution === "random" ? eligible : [...eligible].sort((a, b) => distribution === "lra" ? b.idle - a.idle : a.idle - b.idle)
}

/** A small seeded generator (mulberry32): one seed from Effect's `Random` per page, not one effect per entry. */
const generator = (seed: number) => {
  let state = seed >>> 0
  return (bound: number): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * bound)
  }
}

/** Picks the claimant of an entry: never its owner; `undefined` when there is no other sibling. */
const claimantFor = (settings: Settings, siblings: ReadonlyArray<Replies.ConsumerInfo>) => {
  const othersOf = new Map<string, ReadonlyArray<Replies.ConsumerInfo>>()
  const random = settings.rebalance !== false && settings.rebalance.distribution === "random"
  return (owner: string, pick: (bound: number) => number): string | undefined => {
    let others = othersOf.get(owner)
    if (others === undefined) {
      others = siblings.filter((c) => c.name !== owner)
      othersOf.set(owner, others)
    }
    if (others.length === 0) return undefined
    return others[random ? pick(others.length) : 0]!.name
  }
}

/**
 * Dead-letters a page of entries atomically per entry: an entry is written to
 * the dead-letter stream and acked only if it is still pending for the same
 * consumer, not delivered again and not touched since XPENDING saw it (idle
 * not reset); otherwise it is skipped. Returns the ids dead-lettered.
 */
const dlqScript = `
local stream, dlq, group, include = KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1'
local t = redis.call('TYPE', dlq)['ok']
if t ~= 'none' and t ~= 'stream' then return redis.error_reply('WRONGTYPE the dead-letter key ' .. dlq .. ' is not a stream') end
local payloads = {}
if include and #ARGV > 2 then
  -- a page's entries are mostly contiguous in the stream: read their payloads in one bounded range
  for _, e in ipairs(redis.call('XRANGE', stream, ARGV[3], ARGV[#ARGV - 3], 'COUNT', (#ARGV - 2) / 2)) do payloads[e[1]] = e[2] end
end
local done = {}
for i = 3, #ARGV, 4 do
  local id, consumer = ARGV[i], ARGV[i + 1]
  local p = redis.call('XPENDING', stream, group, id, id, 1)[1]
  if p and p[2] == consumer and p[3] >= tonumber(ARGV[i + 2]) and p[4] == tonumber(ARGV[i + 3]) then
    local entry = { 'XADD', dlq, '*', 'stream', stream, 'group', group, 'consumer', consumer, 'id', id, 'idle', p[3], 'deliveries', p[4] }
    if include then
      local fields = payloads[id]
      if fields == nil then
        local found = redis.call('XRANGE', stream, id, id)[1]
        fields = found and found[2] or {}
      end
      for _, v in ipairs(fields) do entry[#entry + 1] = v end
    end
    redis.call(unpack(entry))
    redis.call('XACK', stream, group, id)
    done[#done + 1] = id
  end
end
return done`

const deadLetterPage = (settings: Settings, entries: ReadonlyArray<Replies.PendingEntry>) => {
  if (entries.length === 0 || settings.dlq === false) return Effect.succeed(new Set<string>())
  const args: Array<Redis.Arg> = [dlqScript, 2, settings.stream, settings.dlq.stream, settings.group, settings.dlq.includeMessage ? "1" : "0"]
  for (const e of entries) args.push(e.id, e.consumer, e.idle, e.deliveries)
  return Effect.flatMap(Redis.Redis, (redis) => redis.send("EVAL", args)).pipe(
    Effect.flatMap((reply) => Replies.ids("EVAL", reply)),
    Effect.map((ids) => new Set(ids))
  )
}

/**
 * Claims entries for one claimant in one XCLAIM. The min-idle-time is the
 * lowest idle time XPENDING reported for them, so an entry read, claimed or
 * acked since then is skipped rather than taken twice.
 */
const claim = (settings: Settings, claimant: string, entries: ReadonlyArray<Replies.PendingEntry>) => {
  let minIdle = Infinity
  for (const e of entries) minIdle = Math.min(minIdle, e.idle)
  return Effect.flatMap(Redis.Redis, (redis) =>
    redis.send("XCLAIM", [settings.stream, settings.group, claimant, minIdle, ...entries.map((e) => e.id), "JUSTID"])).pipe(
      Effect.flatMap((reply) => Replies.ids("XCLAIM", reply))
    )
}

type Planned = GcAction["_tag"]

interface Plan {
  readonly entry: Replies.PendingEntry
  readonly action: Planned
  readonly claimant?: string
}

const planPage = (
  settings: Settings,
  claimant: (owner: string, pick: (bound: number) => number) => string | undefined,
  page: ReadonlyArray<Replies.PendingEntry>
): Effect.Effect<ReadonlyArray<Plan>> =>
  Effect.map(Random.nextInt, (seed) => {
    const pick = generator(seed)
    return page.map((entry): Plan => {
      if (settings.dlq !== false && exceeds(settings.dlq, entry)) return { entry, action: "Dlq" }
      if (settings.rebalance === false || !exceeds(settings.rebalance, entry)) return { entry, action: "Noop" }
      const to = claimant(entry.consumer, pick)
      return to === undefined ? { entry, action: "FailedRebalance" } : { entry, action: "Rebalance", claimant: to }
    })
  })

/** Carries out a page's plan (dead letters first, then claims) and returns what was done, in entry order. */
const runPage = (settings: Settings, plans: ReadonlyArray<Plan>) =>
  Effect.gen(function*() {
    if (settings.dryRun) return plans
    const dead = yield* deadLetterPage(settings, plans.filter((p) => p.action === "Dlq").map((p) => p.entry))
    const byClaimant = new Map<string, Array<Replies.PendingEntry>>()
    for (const p of plans) {
      if (p.action !== "Rebalance") continue
      const entries = byClaimant.get(p.claimant!)
      if (entries === undefined) byClaimant.set(p.claimant!, [p.entry])
      else entries.push(p.entry)
    }
    const claimed = new Set<string>()
    for (const [claimant, entries] of byClaimant) {
      for (const id of yield* claim(settings, claimant, entries)) claimed.add(id)
    }
    return plans.map((p): Plan =>
      (p.action === "Dlq" && !dead.has(p.entry.id)) || (p.action === "Rebalance" && !claimed.has(p.entry.id))
        ? { entry: p.entry, action: "Noop" }
        : p
    )
  })

const toAction = ({ action, claimant, entry: { consumer, id } }: Plan): GcAction => {
  switch (action) {
    case "Rebalance":
      return GcAction.Rebalance({ id, consumer, claimant: claimant! })
    case "Dlq":
      return GcAction.Dlq({ id, consumer })
    case "FailedRebalance":
      return GcAction.FailedRebalance({ id, consumer })
    default:
      return GcAction.Noop({ id, consumer })
  }
}

/** Moves the pending counts along with the entries, so deregistration sees the state after the pass. */
const track = (pending: Map<string, number>, plans: ReadonlyArray<Plan>) => {
  for (const { action, claimant, entry } of plans) {
    if (action !== "Dlq" && action !== "Rebalance") continue
    pending.set(entry.consumer, (pending.get(entry.consumer) ?? 0) - 1)
    if (claimant !== undefined) pending.set(claimant, (pending.get(claimant) ?? 0) + 1)
  }
}

/**
 * Removes consumers idle past `deregister.idle` that hold no pending entry
 * (`Groups.deregisterIdle`: checked and done atomically on the server). A dry
 * run predicts it from the consumers seen at the start and the pending counts
 * the planned actions leave.
 */
const deregisterIdle = (settings: Settings, consumers: ReadonlyArray<Replies.ConsumerInfo>, pending: Map<string, number>) => {
  if (settings.deregister === false) return Effect.succeed([])
  const idle = settings.deregister
  return settings.dryRun
    ? Effect.succeed(consumers.filter((c) => c.idle > idle && (pending.get(c.name) ?? 0) <= 0).map((c) => c.name))
    : Groups.deregisterIdle(settings.stream, settings.group, idle)
}

const record = (actions: ReadonlyArray<GcAction>) => {
  const counts = new Map<string, number>()
  for (const action of actions) counts.set(action._tag, (counts.get(action._tag) ?? 0) + 1)
  return Effect.forEach(counts, ([tag, n]) => Metric.incrementBy(Metric.tagged(actionsCounter, "action", tag), n), { discard: true })
}

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
    yield* Effect.logInfo("gc pass").pipe(Effect.annotateLogs(summary(actions)))
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

const matches = (options: DeadLetterOptions) => (letter: DeadLetter) =>
  (options.stream === undefined || letter.stream === options.stream) &&
  (options.group === undefined || letter.group === options.group)

/** Walks the dead-letter stream in pages, handing each page's matching letters (up to `count` in all) to `f`. */
const eachPage = <A>(
  command: string,
  dlqStream: string,
  options: DeadLetterOptions,
  f: (letters: ReadonlyArray<DeadLetter>) => Effect.Effect<ReadonlyArray<A>, RedisError.RedisError, Redis.Redis>
) =>
  Effect.gen(function*() {
    yield* Redis.validateName(command, "dead-letter stream", dlqStream)
    const limit = options.count ?? Infinity
    if (!(limit >= 0 && (Number.isInteger(limit) || limit === Infinity))) {
      return yield* Effect.fail(RedisError.invalidArgument(command, `count must be a non-negative integer, got ${limit}`))
    }
    const redis = yield* Redis.Redis
    const out: Array<A> = []
    let start = "-"
    while (out.length < limit) {
      const page = yield* Effect.flatMap(redis.send("XRANGE", [dlqStream, start, "+", "COUNT", 1000]), Replies.deadLetters)
      for (const item of yield* f(page.letters.filter(matches(options)).slice(0, limit - out.length))) out.push(item)
      if (page.size < 1000 || page.lastId === null) break
      start = `(${page.lastId}`
    }
    return out
  })

/**
 * The entries of a dead-letter stream, parsed, oldest first (filtered by
 * origin `stream`/`group`, at most `count`). A missing stream has none;
 * entries not written by {@link collect} are skipped.
 *
 * @since 0.1.0
 * @category dead letters
 */
export const deadLetters = (
  dlqStream: string,
  options: DeadLetterOptions = {}
): Effect.Effect<ReadonlyArray<DeadLetter>, RedisError.RedisError, Redis.Redis> =>
  eachPage("Gc.deadLetters", dlqStream, options, Effect.succeed).pipe(Effect.withSpan("Gc.deadLetters"))

/**
 * For each letter (ARGV: dlqId, field count, fields…) adds the entry to its
 * origin stream and deletes it from the dead-letter stream, in one atomic
 * step. Never creates the origin stream; skips a letter already deleted
 * (redriven by someone else). Returns `[dlqId, newId, …]`.
 */
const redriveScript = `
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return redis.error_reply('ERR no such key: the origin stream ' .. KEYS[1] .. ' does not exist') end
if t ~= 'stream' then return redis.error_reply('WRONGTYPE the origin ' .. KEYS[1] .. ' is not a stream') end
local out, i = {}, 1
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  if redis.call('XDEL', KEYS[2], ARGV[i]) == 1 then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 1 + n))
  end
  i = i + 2 + n
end
return out`

const requireStreams = (dlqStream: string, letters: ReadonlyArray<DeadLetter>) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    for (const origin of new Set(letters.map((l) => l.stream))) {
      yield* sameSlot("Gc.redrive", origin, dlqStream)
      const type = yield* redis.send("TYPE", [origin])
      if (type === "stream") continue
      return yield* new RedisError.RedisError({
        reason: type === "none" ? "NoSuchKey" : "WrongType",
        command: "Gc.redrive",
        message: type === "none"
          ? `cannot redrive to ${JSON.stringify(origin)}: the stream does not exist (redrive never recreates a stream, ` +
            `its groups would be gone); recreate it with Groups.create, or leave its letters out with options.stream`
          : `cannot redrive to ${JSON.stringify(origin)}: the key is not a stream`
      })
    }
  })

const redrivePage = (dlqStream: string) => (letters: ReadonlyArray<DeadLetter>) =>
  Effect.gen(function*() {
    const withFields = letters.filter((l) => l.fields !== null)
    if (withFields.length < letters.length) {
      yield* Effect.logWarning(`${letters.length - withFields.length} dead letters have no message to redrive (written with includeMessage: false, or trimmed); they are left in the dead-letter stream`)
    }
    yield* requireStreams(dlqStream, withFields)
    const byOrigin = new Map<string, Array<Redis.Arg>>()
    for (const { dlqId, fields, stream } of withFields) {
      const args = byOrigin.get(stream) ?? [redriveScript, 2, stream, dlqStream]
      const kvs = Object.entries(fields!).flat()
      args.push(dlqId, kvs.length, ...kvs)
      byOrigin.set(stream, args)
    }
    const redis = yield* Redis.Redis
    const replies = yield* redis.pipeline([...byOrigin.values()].map((args): Redis.Command => ["EVAL", args]))
    const newIds = new Map<string, string>()
    for (const reply of replies) {
      const pairs = yield* Replies.ids("EVAL", reply)
      for (let i = 0; i + 1 < pairs.length; i += 2) newIds.set(pairs[i]!, pairs[i + 1]!)
    }
    const out: Array<Redriven> = []
    for (const letter of withFields) {
      const redrivenId = newIds.get(letter.dlqId)
      if (redrivenId !== undefined) out.push({ ...letter, redrivenId })
    }
    return out
  })

/**
 * Puts dead letters back on their origin stream (as new entries, so the
 * groups of that stream deliver them again) and deletes them from the
 * dead-letter stream, atomically per entry; oldest first, filtered by origin
 * `stream`/`group`, at most `count`. Letters written without their message
 * are left where they are.
 *
 * A missing origin stream is never recreated: the redrive fails with reason
 * `NoSuchKey` before moving any letter of the page that holds it. On a Redis
 * Cluster the origin and the dead-letter stream must share a slot (reason
 * `CrossSlot` otherwise).
 *
 * @since 0.1.0
 * @category dead letters
 */
export const redrive = (
  dlqStream: string,
  options: DeadLetterOptions = {}
): Effect.Effect<ReadonlyArray<Redriven>, RedisError.RedisError, Redis.Redis> =>
  eachPage("Gc.redrive", dlqStream, options, redrivePage(dlqStream)).pipe(
    Effect.withSpan("Gc.redrive"),
    Effect.annotateLogs({ module: "Gc", dlq: dlqStream })
  )
