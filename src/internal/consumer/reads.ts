/**
 * The consumer's reads of its group, over one stream or several in priority
 * order, decoded straight into the handler's messages:
 *
 * - `Backlog`: its own pending entries after a cursor per stream — one
 *   XREADGROUP over every stream, or, with `retry`, XPENDING per stream and
 *   an XCLAIM of the entries whose backoff has passed (the others are left
 *   alone and their due time noted);
 * - `New`: entries never delivered — blocking, one XREADGROUP over every
 *   stream (a new entry on any of them answers it); not blocking, the
 *   highest-priority stream that has any (a script that tries them in turn,
 *   so no lower stream's entry is delivered with it);
 * - `Claim`: self-claim — XAUTOCLAIM … JUSTID of entries idle past
 *   `claim.idle` from any consumer (a cursor per stream), those delivered
 *   past `claim.deadLetter.deliveries` dead-lettered instead; the backlog
 *   read that follows handles the rest.
 *
 * The first round trip of every read carries the acks queued before it (see
 * `loop.ts`); later ones go on the dedicated connection alone.
 */
import { Effect } from "effect"
import type * as Redis from "../../Redis.js"
import type * as RedisError from "../../RedisError.js"
import type { StreamMessage } from "./data.js"
import type { Backoff } from "./retry.js"
import type { DeadLetterTarget } from "../gc/pass.js"
import { deadLetter } from "../gc/pass.js"
import * as replies from "../redis/replies.js"
import * as Trace from "../redis/trace.js"

/** A read of the group. */
export type Read =
  | { readonly _tag: "Backlog"; readonly from: ReadonlyArray<string> }
  | { readonly _tag: "New"; readonly block: boolean }
  | { readonly _tag: "Claim" }

/** An entry gone from its stream while pending; `acked` when Redis already dropped it from the pending list. */
export interface Trimmed {
  readonly stream: string
  readonly id: string
  readonly acked: boolean
}

/** An entry the consumer moved to a dead-letter stream. */
export interface DeadLettered {
  readonly stream: string
  readonly id: string
  readonly deliveries: number
  readonly dlq: string
  readonly reason: "RetriesExhausted" | "Claimed" | "NotRetryable" | "DecodeFailed"
}

/** What one read brought. */
export interface Batch {
  /** The entries to handle, highest-priority stream first, each stream in id order. */
  readonly messages: ReadonlyArray<StreamMessage>
  readonly trimmed: ReadonlyArray<Trimmed>
  readonly claimed: ReadonlyArray<{ readonly stream: string; readonly ids: ReadonlyArray<string> }>
  readonly deadLettered: ReadonlyArray<DeadLettered>
  /** A backlog read's cursor after this batch; `undefined` when the read found nothing (the backlog is done). */
  readonly next: ReadonlyArray<string> | undefined
}

const nothing: Batch = { messages: [], trimmed: [], claimed: [], deadLettered: [], next: undefined }

/** Self-claim settings, validated. */
export interface Claim {
  readonly idle: number
  readonly every: number
  readonly count: number
  readonly deadLetter: { readonly deliveries: number; readonly dlq: (stream: string) => string; readonly includeMessage: boolean } | undefined
}

/** What the reads need to know of the consumer. */
export interface ReadSettings {
  readonly streams: ReadonlyArray<string>
  readonly group: string
  readonly consumer: string
  readonly count: number
  readonly block: number
  /** The field entries carry their trace context in (kept out of `fields`); `undefined` with `trace: false`. */
  readonly traceField: string | undefined
  readonly backoff: Backoff | undefined
  /** Where retries that ran out go; `undefined`: they stay pending (for gc). */
  readonly retryDeadLetter: { readonly dlq: (stream: string) => string; readonly includeMessage: boolean } | undefined
  readonly claim: Claim | undefined
}

/** The state the reads share with the loop. */
export interface ReadState {
  /** The earliest time (epoch ms) an own pending entry's backoff ends, if one is known to wait. */
  retryAt: number | undefined
  /** XAUTOCLAIM's cursor per stream. */
  readonly claimCursors: Array<string>
  /** Entries self-claimed since the last backlog read: due at once, whatever their backoff. */
  claimedNow: Set<string>
  /** With the default retry (kept in memory): when each entry that failed here may be handled again. */
  readonly retryDue: Map<string, number>
  /** When the consumer next moves its streams' due delayed entries in (epoch ms; `Infinity`: never, none can be held). */
  promoteAt: number
}

/** Of an own pending entry: handle it now, wait until a time, or its schedule has ended. */
type Verdict = "due" | "ended" | number

/** The Lua script of a non-blocking read over several streams: the first, in priority order, with new entries. */
const priorityRead = `
for _, key in ipairs(KEYS) do
  local entries = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', key, '>')
  if entries then return entries end
end
return false`

/** Round trips: the first carries the queued acks (and returns only the replies of `commands`). */
export interface Trips {
  readonly first: (commands: ReadonlyArray<Redis.Command>, blocking: boolean) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError>
  readonly next: (commands: ReadonlyArray<Redis.Command>) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError>
}

/** The reads of one consumer. */
export const reads = (settings: ReadSettings, state: ReadState) => {
  const { consumer, count, group, streams, traceField } = settings
  const indexOf = new Map(streams.map((stream, i) => [stream, i]))

  /** Messages of an XREADGROUP reply; `deliveries` by stream index and id (new entries: 1). */
  const decode = (reply: unknown, deliveries?: ReadonlyArray<ReadonlyMap<string, number>>) =>
    Effect.suspend((): Effect.Effect<{ readonly messages: Array<StreamMessage>; readonly trimmed: Array<Trimmed>; readonly last: Array<string | undefined> }, RedisError.RedisError> => {
      const messages: Array<StreamMessage> = []
      const trimmed: Array<Trimmed> = []
      const last: Array<string | undefined> = streams.map(() => undefined)
      // groupRead calls back for every entry before it returns
      const parsed = replies.groupRead("XREADGROUP", reply, (stream) => {
        const i = indexOf.get(stream) ?? 0
        const counts = deliveries?.[i]
        return (id, fields, trace) => {
          last[i] = id
          if (fields === null) trimmed.push({ stream, id, acked: false })
          else {
            const message: StreamMessage = { stream, group, consumer, id, fields, deliveries: counts?.get(id) ?? 1 }
            if (trace !== undefined) Trace.carried.set(message, trace)
            messages.push(message)
          }
        }
      }, traceField)
      return Effect.as(parsed, { messages, trimmed, last })
    })

  const xreadgroup = (block: number | undefined, ids: ReadonlyArray<string>): Redis.Command => [
    "XREADGROUP",
    block === undefined
      ? ["GROUP", group, consumer, "COUNT", count, "STREAMS", ...streams, ...ids]
      : ["GROUP", group, consumer, "COUNT", count, "BLOCK", block, "STREAMS", ...streams, ...ids]
  ]
  const allNew = streams.map(() => ">")

  const fresh = (trips: Trips, block: boolean): Effect.Effect<Batch, RedisError.RedisError> => {
    const command: Redis.Command = block
      ? xreadgroup(blockFor(), allNew)
      : streams.length === 1
      ? xreadgroup(undefined, allNew)
      : ["EVAL", [priorityRead, streams.length, ...streams, group, consumer, count]]
    return Effect.flatMap(trips.first([command], block), ([reply]) =>
      Effect.map(decode(reply ?? null), ({ messages, trimmed }) =>
        messages.length === 0 && trimmed.length === 0 ? nothing : { ...nothing, messages, trimmed, next: [] }))
  }

  /** The block time, shortened so that the consumer is back when the earliest backoff ends, or a delayed entry is due. */
  const blockFor = () => {
    const wake = Math.min(state.retryAt ?? Infinity, state.promoteAt)
    return wake === Infinity ? settings.block : Math.max(1, Math.min(settings.block, Math.ceil(wake - Date.now())))
  }

  /** Own pending entries after `from` (`"0-0"`: from the start). */
  const pendingOf = (stream: string, from: string, limit: number): Redis.Command => [
    "XPENDING",
    [stream, group, from === "0-0" ? "-" : `(${from}`, "+", limit, consumer]
  ]

  /** The pending-list row of each id (an empty row list: not pending). */
  const rowsOf = (trips: Trips, entries: ReadonlyArray<{ readonly stream: string; readonly id: string }>) =>
    entries.length === 0 ? Effect.succeed([]) : Effect.flatMap(
      trips.next(entries.map(({ id, stream }) => ["XPENDING", [stream, group, id, id, 1]])),
      (found) => Effect.forEach(found, (reply) => Effect.map(replies.pendingEntries(reply), (rows) => rows[0]))
    )

  const deliveryMaps = (rowsPerStream: ReadonlyArray<ReadonlyArray<replies.PendingEntry>>) =>
    rowsPerStream.map((rows) => new Map(rows.map((row) => [row.id, row.deliveries])))

  /** Own pending entries after `from`, one XREADGROUP over every stream, delivery counts from XPENDING. */
  const backlog = (trips: Trips, from: ReadonlyArray<string>): Effect.Effect<Batch, RedisError.RedisError> =>
    Effect.gen(function*() {
      const [reply] = yield* trips.first([xreadgroup(undefined, from)], false)
      const ranges = rangesOf(reply)
      if (ranges.every((range) => range === undefined)) return nothing
      const wanted = ranges.flatMap((range, i) => (range === undefined ? [] : [[i, range] as const]))
      const found = yield* trips.next(
        wanted.map(([i, range]) => ["XPENDING", [streams[i]!, group, range.first, range.last, range.count, consumer]])
      )
      const rows: Array<ReadonlyArray<replies.PendingEntry>> = streams.map(() => [])
      for (let k = 0; k < wanted.length; k++) rows[wanted[k]![0]] = yield* replies.pendingEntries(found[k])
      const { last, messages, trimmed } = yield* decode(reply ?? null, deliveryMaps(rows))
      return { ...nothing, messages, trimmed, next: from.map((id, i) => last[i] ?? id) }
    })

  /** The first and last id and the count of each stream's entries in an XREADGROUP reply. */
  const rangesOf = (reply: unknown) => {
    const out: Array<{ readonly first: string; readonly last: string; readonly count: number } | undefined> = streams.map(() => undefined)
    if (!Array.isArray(reply)) return out
    for (const item of reply) {
      if (!Array.isArray(item) || !Array.isArray(item[1]) || item[1].length === 0) continue
      const i = indexOf.get(String(item[0]))
      const entries = item[1] as ReadonlyArray<unknown>
      const first = entries[0]
      const last = entries[entries.length - 1]
      if (i !== undefined && Array.isArray(first) && Array.isArray(last)) {
        out[i] = { first: String(first[0]), last: String(last[0]), count: entries.length }
      }
    }
    return out
  }

  /** With `retry`: the entry's wait against its idle time (durable); with the default retry, what this process remembers. */
  const verdict = (backoff: Backoff, row: replies.PendingEntry, now: number): Verdict => {
    if (state.claimedNow.has(row.id)) return "due"
    if (!backoff.durable || !backoff.countable()) {
      const due = state.retryDue.get(row.id)
      return due === undefined || due <= now ? "due" : due
    }
    const delay = backoff.delay(row.deliveries)
    return delay === undefined ? "ended" : row.idle >= delay ? "due" : now + delay - row.idle
  }

  /** Own pending entries after `from` whose backoff has passed, claimed again (XCLAIM). */
  const backlogWithBackoff = (trips: Trips, from: ReadonlyArray<string>, backoff: Backoff): Effect.Effect<Batch, RedisError.RedisError> =>
    Effect.gen(function*() {
      const pages = yield* Effect.flatMap(trips.first(streams.map((stream, i) => pendingOf(stream, from[i]!, count)), false), (found) =>
        Effect.forEach(found, replies.pendingEntries))
      if (pages.every((rows) => rows.length === 0)) return nothing
      const now = Date.now()
      const due: Array<Array<replies.PendingEntry>> = streams.map(() => [])
      const exhausted: Array<{ readonly stream: string; readonly rows: Array<replies.PendingEntry> }> = []
      pages.forEach((rows, i) => {
        const ended: Array<replies.PendingEntry> = []
        for (const row of rows) {
          const judged = verdict(backoff, row, now)
          if (judged === "ended") ended.push(row)
          else if (judged === "due") due[i]!.push(row)
          else state.retryAt = Math.min(state.retryAt ?? Infinity, judged)
        }
        if (ended.length > 0) exhausted.push({ stream: streams[i]!, rows: ended })
      })
      state.claimedNow = new Set()
      const claims = due.flatMap((rows, i) => (rows.length === 0 ? [] : [[i, rows] as const]))
      const claimedReplies = claims.length === 0 ? [] : yield* trips.next(claims.map(([i, rows]) => {
        const minIdle = Math.min(...rows.map((row) => row.idle))
        return ["XCLAIM", [streams[i]!, group, consumer, minIdle, ...rows.map((row) => row.id)]]
      }))
      const messages: Array<StreamMessage> = []
      const missing: Array<{ readonly stream: string; readonly id: string }> = []
      for (let k = 0; k < claims.length; k++) {
        const [i, rows] = claims[k]!
        const stream = streams[i]!
        const got = new Map<string, { readonly fields: Record<string, string> | null; readonly trace: string | undefined }>()
        yield* replies.groupRead("XCLAIM", [[stream, claimedReplies[k]]], () => (id, fields, trace) => got.set(id, { fields, trace }), traceField)
        for (const row of rows) {
          const entry = got.get(row.id)
          if (entry === undefined || entry.fields === null) missing.push({ stream, id: row.id })
          else {
            const message: StreamMessage = { stream, group, consumer, id: row.id, fields: entry.fields, deliveries: row.deliveries + 1 }
            if (entry.trace !== undefined) Trace.carried.set(message, entry.trace)
            messages.push(message)
          }
        }
      }
      return {
        ...nothing,
        messages,
        trimmed: yield* goneOf(trips, missing),
        deadLettered: yield* retriesExhausted(trips, exhausted),
        next: from.map((id, i) => pages[i]!.at(-1)?.id ?? id)
      }
    })

  /**
   * Of entries XCLAIM did not return: those no longer pending at all were
   * deleted from the stream (Redis ≥ 7 drops them from the pending list;
   * before, XCLAIM returned them without fields: they are acked).
   */
  const goneOf = (trips: Trips, missing: ReadonlyArray<{ readonly stream: string; readonly id: string }>) =>
    Effect.map(rowsOf(trips, missing), (rows) => {
      const out: Array<Trimmed> = []
      rows.forEach((row, k) => {
        if (row === undefined) out.push({ ...missing[k]!, acked: true })
        else if (row.consumer === consumer) out.push({ ...missing[k]!, acked: false })
      })
      return out
    })

  const moveToDlq = (
    trips: Trips,
    target: { readonly dlq: (stream: string) => string; readonly includeMessage: boolean },
    stream: string,
    rows: ReadonlyArray<replies.PendingEntry>,
    reason: "RetriesExhausted" | "Claimed"
  ): Effect.Effect<ReadonlyArray<DeadLettered>, RedisError.RedisError> => {
    const dlq = target.dlq(stream)
    const to: DeadLetterTarget = { stream, group, dlq, includeMessage: target.includeMessage }
    const sender: Redis.Sender = { send: (command, args = []) => Effect.map(trips.next([[command, args]]), ([reply]) => reply) }
    const doomed = rows.map((row) => ({ ...row, reason: reason === "Claimed" ? "Deliveries" as const : "RetriesExhausted" as const }))
    return Effect.map(deadLetter(sender, to, doomed), (moved) =>
      rows.filter((row) => moved.has(row.id)).map((row) => ({ stream, id: row.id, deliveries: row.deliveries, dlq, reason })))
  }

  const retriesExhausted = (trips: Trips, exhausted: ReadonlyArray<{ readonly stream: string; readonly rows: ReadonlyArray<replies.PendingEntry> }>) =>
    settings.retryDeadLetter === undefined || exhausted.length === 0
      ? Effect.succeed([])
      : Effect.map(
        Effect.forEach(exhausted, ({ rows, stream }) => moveToDlq(trips, settings.retryDeadLetter!, stream, rows, "RetriesExhausted")),
        (moved) => moved.flat()
      )

  /** Self-claim: XAUTOCLAIM … JUSTID per stream, from its cursor. */
  const claimStep = (trips: Trips, claim: Claim): Effect.Effect<Batch, RedisError.RedisError> =>
    Effect.gen(function*() {
      const found = yield* trips.first(
        streams.map((stream, i) => ["XAUTOCLAIM", [stream, group, consumer, claim.idle, state.claimCursors[i]!, "COUNT", claim.count, "JUSTID"]]),
        false
      )
      const claimed: Array<{ readonly stream: string; readonly ids: ReadonlyArray<string> }> = []
      const trimmed: Array<Trimmed> = []
      const deadLettered: Array<DeadLettered> = []
      for (let i = 0; i < streams.length; i++) {
        const stream = streams[i]!
        const { cursor, deleted, ids } = yield* replies.autoClaim(found[i])
        state.claimCursors[i] = cursor
        for (const id of deleted) trimmed.push({ stream, id, acked: true })
        if (ids.length === 0) continue
        let kept = ids
        if (claim.deadLetter !== undefined) {
          const rows = yield* rowsOf(trips, ids.map((id) => ({ stream, id })))
          const over = rows.filter((row): row is replies.PendingEntry =>
            row !== undefined && row.consumer === consumer && row.deliveries >= claim.deadLetter!.deliveries
          )
          const moved = yield* moveToDlq(trips, claim.deadLetter, stream, over, "Claimed")
          deadLettered.push(...moved)
          const gone = new Set(moved.map((m) => m.id))
          kept = ids.filter((id) => !gone.has(id))
        }
        for (const id of kept) state.claimedNow.add(id)
        if (kept.length > 0) claimed.push({ stream, ids: kept })
      }
      return { ...nothing, claimed, trimmed, deadLettered }
    }).pipe(Effect.withSpan("Consumer.claim", { attributes: { group, consumer, streams: streams.join(",") }, captureStackTrace: false }))

  /** Whether an entry that failed here still waits (those whose wait is over are forgotten: they are due anyway). */
  const waiting = () => {
    const now = Date.now()
    for (const [id, due] of state.retryDue) if (due <= now) state.retryDue.delete(id)
    return state.retryDue.size > 0
  }

  return {
    /** Carries out `read`. */
    run: (trips: Trips, read: Read): Effect.Effect<Batch, RedisError.RedisError> => {
      switch (read._tag) {
        case "New":
          return fresh(trips, read.block)
        case "Backlog":
          return settings.backoff === undefined || !(settings.backoff.durable || waiting())
            ? backlog(trips, read.from)
            : backlogWithBackoff(trips, read.from, settings.backoff)
        case "Claim":
          return settings.claim === undefined ? Effect.succeed(nothing) : claimStep(trips, settings.claim)
      }
    }
  }
}
