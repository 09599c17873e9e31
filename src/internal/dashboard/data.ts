/**
 * **`internal/dashboard/`** serves `Dashboard.ts` (the HTTP server and its
 * routes); this is the folder's main module. Its files:
 * - `data.ts` (this module): the snapshot and its history
 * - `page.ts`: the one HTML page, served as it is
 * - `glob.ts`: the key patterns the dashboard is scoped to
 * - `probes.ts`: `/healthz` and `/readyz`
 * It builds on `internal/redis/` (and `probes.ts` on the consumers'
 * registry in `internal/consumer/health.ts`); nothing else imports from here.
 *
 * What the dashboard shows, and how it is read: one refresh is a SCAN and
 * two pipelines per master (TIME, then `XINFO STREAM key FULL COUNT 1` for
 * every stream key it holds; then EXISTS of each group's paused key and
 * ZCARD and the first of each stream's delayed set),
 * whatever the number of groups and consumers.
 * `History` keeps the recent samples (pending and lag per group, entries
 * added per stream) that the sparklines and rates are drawn from.
 */
import { Effect } from "effect"
import * as Naming from "../../Naming.js"
import * as Redis from "../../Redis.js"
import type * as RedisError from "../../RedisError.js"
import * as Delayed from "../redis/delayed.js"
import * as Keys from "../redis/keys.js"
import * as Replies from "../redis/replies.js"
import * as Scan from "../redis/scan.js"

/**
 * A consumer of a group.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerView {
  readonly name: string
  /** Entries delivered to it and not acked yet. */
  readonly pending: number
  /** Milliseconds since it last read or claimed (by the server's clock). */
  readonly idle: number
  /** Idle past the dashboard's threshold: it may be dead (a live consumer reads at least every `block`). */
  readonly stale: boolean
}

/**
 * A consumer group of a stream, with its recent history (oldest first).
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupView {
  readonly name: string
  readonly pending: number
  /** Entries not delivered to the group yet (Redis ≥ 7); `null` when Redis cannot tell. */
  readonly lag: number | null
  readonly lastDeliveredId: string
  /** Whether the group is paused (`Groups.pause`). */
  readonly paused: boolean
  readonly consumers: ReadonlyArray<ConsumerView>
  readonly history: { readonly pending: ReadonlyArray<number>; readonly lag: ReadonlyArray<number | null> }
}

/**
 * A stream key.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamView {
  readonly name: string
  readonly length: number
  readonly firstId: string | null
  readonly lastId: string | null
  /** Entries added per second since the previous refresh (`null` on the first). */
  readonly addedPerSecond: number | null
  /** Its dead-letter stream (`Naming.dlqName`), whether or not it exists yet. */
  readonly dlq: string
  /** Its delayed entries: how many, and when the next is due (epoch ms). */
  readonly delayed: { readonly count: number; readonly nextDue: number | null }
  readonly groups: ReadonlyArray<GroupView>
}

/**
 * A dead-letter stream that exists, with the streams whose dead letters it holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface DlqView {
  readonly name: string
  readonly length: number
  readonly origins: ReadonlyArray<string>
}

/**
 * One refresh of the dashboard.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  /** When it was read (epoch ms). */
  readonly at: number
  readonly streams: ReadonlyArray<StreamView>
  readonly dlqs: ReadonlyArray<DlqView>
}

/** A stream as read, before history is added. */
export interface StreamRead {
  readonly name: string
  readonly info: Replies.FullStream
  /** Its paused groups (`Groups.pause`). */
  readonly paused: ReadonlySet<string>
  /** Its delayed entries: how many, and when the next is due (epoch ms). */
  readonly delayed: { readonly count: number; readonly nextDue: number | null }
  /** The server's clock when it was read (epoch ms). */
  readonly now: number
}

const serverMillis = (reply: unknown): number =>
  Array.isArray(reply) ? Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000) : Date.now()

/** The command that reads one stream, its groups and their consumers. */
export const fullInfo = (key: string): Redis.Command => ["XINFO", ["STREAM", key, "FULL", "COUNT", 1]]

/**
 * The streams read, with their paused groups and delayed entries: one EXISTS
 * per group, ZCARD and the first of the delayed set per stream, in one more
 * pipeline on the node that holds them (each key is in its stream's slot).
 */
const withPaused = (
  sender: { readonly pipeline: (commands: ReadonlyArray<Redis.Command>) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError> },
  reads: ReadonlyArray<Omit<StreamRead, "paused" | "delayed">>
): Effect.Effect<ReadonlyArray<StreamRead>, RedisError.RedisError> => {
  const asked = reads.flatMap((read) =>
    read.info.groups.flatMap((group) => {
      const key = Keys.pausedKeyOf(read.name, group.name)
      return key === undefined ? [] : [{ stream: read.name, group: group.name, key }]
    })
  )
  const sets = reads.map((read) => Delayed.keysOf(read.name))
  const commands: Array<Redis.Command> = asked.map(({ key }): Redis.Command => ["EXISTS", [key]])
  for (const set of sets) if (set !== undefined) commands.push(...Delayed.statsCommands(set))
  return Effect.map(commands.length === 0 ? Effect.succeed([]) : sender.pipeline(commands), (replies) => {
    const paused = new Map<string, Set<string>>()
    asked.forEach(({ group, stream }, i) => {
      if (replies[i] === 1) paused.set(stream, (paused.get(stream) ?? new Set()).add(group))
    })
    let at = asked.length
    return reads.map((read, i) => {
      let delayed = { count: 0, nextDue: null as number | null }
      if (sets[i] !== undefined) {
        const { count, nextDue } = Delayed.statsOf(replies[at], replies[at + 1])
        delayed = { count, nextDue: nextDue ?? null }
        at += 2
      }
      return { ...read, paused: paused.get(read.name) ?? new Set<string>(), delayed }
    })
  })
}

/** Every stream matching `pattern`: a SCAN and two pipelines per master. */
export const readStreams = (pattern: string): Effect.Effect<ReadonlyArray<StreamRead>, RedisError.RedisError, Redis.Redis> =>
  Effect.gen(function*() {
    const masters = yield* Effect.flatMap(Redis.Redis, (redis) => redis.masters)
    const perMaster = yield* Effect.forEach(masters, (master) =>
      Effect.gen(function*() {
        const keys = [...new Set(yield* Scan.streamKeys(master, pattern))]
        if (keys.length === 0) return []
        const [time, ...infos] = yield* master.pipeline([["TIME", []], ...keys.map(fullInfo)])
        const now = serverMillis(time)
        const reads = yield* Effect.forEach(keys, (name, i) => Effect.map(Replies.fullStream(infos[i]), (info) => ({ name, info, now })))
        return yield* withPaused(master, reads)
      }), { concurrency: "unbounded" })
    return perMaster.flat().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  })

/** One stream read now (its groups and consumers, and which are paused), with the server's clock. */
export const readStream = (name: string): Effect.Effect<StreamRead, RedisError.RedisError, Redis.Redis> =>
  Effect.flatMap(Redis.Redis, (redis) =>
    redis.pipeline([["TIME", []], fullInfo(name)]).pipe(
      Effect.flatMap(([time, info]) => Effect.map(Replies.fullStream(info), (parsed) => ({ name, info: parsed, now: serverMillis(time) }))),
      Effect.flatMap((read) => withPaused(redis, [read])),
      Effect.map((reads) => reads[0]!)
    ))

/** The groups of one stream as read now (for the JSON endpoint), without history. */
export const groupsOf = (read: StreamRead, idleThreshold: number): ReadonlyArray<Omit<GroupView, "history">> =>
  read.info.groups.map((group) => ({
    name: group.name,
    pending: group.pending,
    lag: group.lag ?? null,
    lastDeliveredId: group.lastDeliveredId,
    paused: read.paused.has(group.name),
    consumers: group.consumers.map((consumer) => {
      const idle = Math.max(0, read.now - consumer.seenTime)
      return { name: consumer.name, pending: consumer.pending, idle, stale: idle > idleThreshold }
    })
  }))

interface Series {
  readonly pending: Array<number>
  readonly lag: Array<number | null>
}

/** The recent samples of every group and stream, bounded to `samples` per series. */
export class History {
  private readonly series = new Map<string, Series>()
  private readonly added = new Map<string, { readonly at: number; readonly total: number }>()

  constructor(private readonly samples: number, private readonly idleThreshold: number) {}

  /** Adds the refresh to the history and returns the snapshot, with the series so far. */
  record(reads: ReadonlyArray<StreamRead>, at: number): Snapshot {
    const seen = new Set<string>()
    const streams = reads.map((read): StreamView => {
      seen.add(read.name)
      const total = read.info.entriesAdded ?? read.info.length
      const before = this.added.get(read.name)
      this.added.set(read.name, { at: read.now, total })
      const seconds = before === undefined ? 0 : (read.now - before.at) / 1000
      return {
        name: read.name,
        length: read.info.length,
        firstId: read.info.firstId,
        lastId: read.info.lastId,
        addedPerSecond: before === undefined || seconds <= 0 ? null : Math.max(0, total - before.total) / seconds,
        dlq: Naming.dlqName(read.name),
        delayed: read.delayed,
        groups: groupsOf(read, this.idleThreshold).map((group) => {
          const key = `${read.name}\u0000${group.name}`
          seen.add(key)
          return { ...group, history: this.push(key, group.pending, group.lag) }
        })
      }
    })
    // a stream or group that is gone takes its history with it
    for (const key of [...this.series.keys()]) if (!seen.has(key)) this.series.delete(key)
    for (const key of [...this.added.keys()]) if (!seen.has(key)) this.added.delete(key)
    return { at, streams, dlqs: dlqsOf(streams) }
  }

  private push(key: string, pending: number, lag: number | null) {
    const series = this.series.get(key) ?? { pending: [], lag: [] }
    this.series.set(key, series)
    series.pending.push(pending)
    series.lag.push(lag)
    if (series.pending.length > this.samples) {
      series.pending.shift()
      series.lag.shift()
    }
    return { pending: [...series.pending], lag: [...series.lag] }
  }
}

/** The dead-letter streams that exist among the streams read, with their origins. */
const dlqsOf = (streams: ReadonlyArray<StreamView>): ReadonlyArray<DlqView> => {
  const byName = new Map(streams.map((stream) => [stream.name, stream]))
  const origins = new Map<string, Array<string>>()
  for (const stream of streams) {
    if (stream.dlq === stream.name || !byName.has(stream.dlq)) continue
    origins.set(stream.dlq, [...(origins.get(stream.dlq) ?? []), stream.name])
  }
  return [...origins].map(([name, from]) => ({ name, length: byName.get(name)!.length, origins: from }))
}
