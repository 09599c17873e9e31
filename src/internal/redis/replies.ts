/**
 * Parsers of Redis stream replies: the one place where reply shapes are known.
 * Each returns a typed value or fails with a `RedisError` (reason `Command`)
 * naming the command whose reply was not as expected.
 */
import { Effect } from "effect"
import * as RedisError from "../../RedisError.js"

/** An entry as read from a stream; `fields` is `null` when the entry was trimmed away. */
export interface Entry {
  readonly id: string
  readonly fields: Record<string, string> | null
}

/** One row of `XPENDING key group [IDLE ms] start end count [consumer]`. */
export interface PendingEntry {
  readonly id: string
  readonly consumer: string
  readonly idle: number
  readonly deliveries: number
}

/** `XPENDING key group` without a range. */
export interface PendingSummary {
  readonly count: number
  readonly minId: string | null
  readonly maxId: string | null
  readonly consumers: ReadonlyArray<{ readonly name: string; readonly pending: number }>
}

const unexpected = (command: string, reply: unknown): RedisError.RedisError =>
  new RedisError.RedisError({
    reason: "Command",
    command,
    message: `unexpected reply to ${command}: ${JSON.stringify(reply)?.slice(0, 200)}`
  })

const isString = (u: unknown): u is string => typeof u === "string"

/**
 * The record of an entry's fields: nothing in its prototype chain (its
 * prototype is a frozen object without one), so a field named `__proto__`,
 * `constructor` or `toString` is an own field like any other. Made with
 * `new`, which V8 keeps in its fast object layout, where `Object.create(null)`
 * starts a slow dictionary (10 MB more and about 5% slower on a drain).
 */
const Fields = function Fields() {} as unknown as new() => Record<string, string>
Fields.prototype = Object.freeze(Object.create(null))

/**
 * `[k1, v1, k2, v2, …]` to a record; `null` or `[]` gives `{}`. Values are
 * kept as strings. Every record made from a reply has no prototype, so a
 * field named `__proto__` (or `constructor`) is a field like any other.
 */
export const fieldsToRecord = (kvs: ReadonlyArray<unknown> | null | undefined): Record<string, string> => {
  const record = new Fields()
  if (!kvs) return record
  for (let i = 0; i + 1 < kvs.length; i += 2) {
    record[String(kvs[i])] = String(kvs[i + 1])
  }
  return record
}

/** `[[id, [k, v, …] | null], …]` (XRANGE, and each stream of XREAD/XREADGROUP). */
export const entries = (command: string, reply: unknown): Effect.Effect<ReadonlyArray<Entry>, RedisError.RedisError> => {
  if (!Array.isArray(reply)) return Effect.fail(unexpected(command, reply))
  const out: Array<Entry> = new Array(reply.length)
  for (let i = 0; i < reply.length; i++) {
    const item: unknown = reply[i]
    if (!Array.isArray(item) || !isString(item[0])) return Effect.fail(unexpected(command, reply))
    const kvs: unknown = item[1]
    out[i] = { id: item[0], fields: Array.isArray(kvs) ? fieldsToRecord(kvs) : null }
  }
  return Effect.succeed(out)
}

/**
 * An XREADGROUP reply — `null` (nothing in the block time) or
 * `[[stream, [[id, [k, v, …] | null], …]], …]` — decoded straight into what
 * the reader keeps: `onStream` is called once per stream of the reply and
 * returns what gets each of its entries (the id, and the fields as a record,
 * `null` for an entry trimmed while pending), in reply order, with no array
 * of entries in between. Fails, having called back for none, when the reply
 * has another shape. With `traceField`, that field is not among the fields:
 * its value comes as `trace`.
 */
export const groupRead = (
  command: string,
  reply: unknown,
  onStream: (stream: string) => (id: string, fields: Record<string, string> | null, trace: string | undefined) => void,
  traceField?: string
): Effect.Effect<void, RedisError.RedisError> => {
  if (reply === null) return Effect.void
  if (!Array.isArray(reply)) return Effect.fail(unexpected(command, reply))
  for (const stream of reply) {
    if (!Array.isArray(stream) || !isString(stream[0]) || !Array.isArray(stream[1])) return Effect.fail(unexpected(command, reply))
    for (const item of stream[1]) {
      if (!Array.isArray(item) || !isString(item[0])) return Effect.fail(unexpected(command, reply))
    }
  }
  for (const [stream, items] of reply as ReadonlyArray<[string, ReadonlyArray<[string, unknown]>]>) {
    const onEntry = onStream(stream)
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      const kvs = item[1]
      if (!Array.isArray(kvs)) onEntry(item[0], null, undefined)
      else if (traceField === undefined) onEntry(item[0], fieldsToRecord(kvs), undefined)
      else {
        const fields = new Fields()
        let trace: string | undefined
        for (let j = 0; j + 1 < kvs.length; j += 2) {
          const key = String(kvs[j])
          if (key === traceField) trace = String(kvs[j + 1])
          else fields[key] = String(kvs[j + 1])
        }
        onEntry(item[0], fields, trace)
      }
    }
  }
  return Effect.void
}

/** XAUTOCLAIM … JUSTID: the next cursor, the ids claimed, and (Redis ≥ 7) the ids deleted from the stream while pending. */
export const autoClaim = (
  reply: unknown
): Effect.Effect<{ readonly cursor: string; readonly ids: ReadonlyArray<string>; readonly deleted: ReadonlyArray<string> }, RedisError.RedisError> =>
  Array.isArray(reply) && isString(reply[0]) && Array.isArray(reply[1]) && reply[1].every(isString) &&
    (reply[2] === undefined || (Array.isArray(reply[2]) && reply[2].every(isString)))
    ? Effect.succeed({ cursor: reply[0], ids: reply[1], deleted: reply[2] ?? [] })
    : Effect.fail(unexpected("XAUTOCLAIM", reply))

/** XREAD / XREADGROUP: `null` (nothing in the block time) or `[[stream, entries], …]`. */
export const streams = (
  command: string,
  reply: unknown
): Effect.Effect<ReadonlyArray<{ readonly stream: string; readonly entries: ReadonlyArray<Entry> }>, RedisError.RedisError> => {
  if (reply === null) return Effect.succeed([])
  if (!Array.isArray(reply)) return Effect.fail(unexpected(command, reply))
  return Effect.forEach(reply, (item: unknown) =>
    Array.isArray(item) && isString(item[0])
      ? Effect.map(entries(command, item[1]), (parsed) => ({ stream: item[0] as string, entries: parsed }))
      : Effect.fail(unexpected(command, reply)))
}

/** The extended form of XPENDING: `[[id, consumer, idle, deliveries], …]`. */
export const pendingEntries = (reply: unknown): Effect.Effect<ReadonlyArray<PendingEntry>, RedisError.RedisError> => {
  if (!Array.isArray(reply)) return Effect.fail(unexpected("XPENDING", reply))
  const out: Array<PendingEntry> = new Array(reply.length)
  for (let i = 0; i < reply.length; i++) {
    const row: unknown = reply[i]
    if (!Array.isArray(row) || !isString(row[0]) || !isString(row[1])) return Effect.fail(unexpected("XPENDING", reply))
    out[i] = { id: row[0], consumer: row[1], idle: Number(row[2]), deliveries: Number(row[3]) }
  }
  return Effect.succeed(out)
}

/** The summary form of XPENDING: `[count, minId, maxId, [[consumer, count], …] | null]`. */
export const pendingSummary = (reply: unknown): Effect.Effect<PendingSummary, RedisError.RedisError> => {
  if (!Array.isArray(reply) || reply.length < 4) return Effect.fail(unexpected("XPENDING", reply))
  const [count, minId, maxId, consumers] = reply as [unknown, unknown, unknown, unknown]
  return Effect.succeed({
    count: Number(count),
    minId: isString(minId) ? minId : null,
    maxId: isString(maxId) ? maxId : null,
    consumers: Array.isArray(consumers)
      ? consumers.map((row: unknown) => {
        const [name, pending] = Array.isArray(row) ? row : []
        return { name: String(name), pending: Number(pending) }
      })
      : []
  })
}

/** XINFO GROUPS / CONSUMERS / STREAM: a list of flat `[key, value, …]` maps, as records. */
export const infoList = (
  command: string,
  reply: unknown
): Effect.Effect<ReadonlyArray<Readonly<Record<string, unknown>>>, RedisError.RedisError> => {
  if (!Array.isArray(reply)) return Effect.fail(unexpected(command, reply))
  return Effect.forEach(reply, (item: unknown) => info(command, item))
}

/** One flat `[key, value, …]` map as a record. */
export const info = (command: string, reply: unknown): Effect.Effect<Readonly<Record<string, unknown>>, RedisError.RedisError> => {
  if (!Array.isArray(reply)) return Effect.fail(unexpected(command, reply))
  const record: Record<string, unknown> = Object.create(null)
  for (let i = 0; i + 1 < reply.length; i += 2) record[String(reply[i])] = reply[i + 1]
  return Effect.succeed(record)
}

/** A number field of an info record; `undefined` when absent or not numeric (e.g. Redis 7's `lag` when unknown). */
export const numberField = (record: Readonly<Record<string, unknown>>, key: string): number | undefined => {
  const value = record[key]
  if (value === null || value === undefined) return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

/** A string field of an info record (`""` when absent). */
export const stringField = (record: Readonly<Record<string, unknown>>, key: string): string => {
  const value = record[key]
  return value === null || value === undefined ? "" : String(value)
}

/** SCAN: `[cursor, [key, …]]`. */
export const scan = (reply: unknown): Effect.Effect<{ readonly cursor: string; readonly keys: ReadonlyArray<string> }, RedisError.RedisError> =>
  Array.isArray(reply) && isString(reply[0]) && Array.isArray(reply[1])
    ? Effect.succeed({ cursor: reply[0], keys: (reply[1] as Array<unknown>).map(String) })
    : Effect.fail(unexpected("SCAN", reply))

/** CLIENT LIST: one line per client, `key=value` pairs separated by spaces. */
export const clientList = (reply: unknown): Effect.Effect<ReadonlyArray<{ readonly id: string; readonly name: string }>, RedisError.RedisError> => {
  if (!isString(reply)) return Effect.fail(unexpected("CLIENT LIST", reply))
  return Effect.succeed(
    reply.split("\n").filter((line) => line.trim().length > 0).map((line) => {
      const fields: Record<string, string> = Object.create(null)
      for (const pair of line.trim().split(" ")) {
        const eq = pair.indexOf("=")
        if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1)
      }
      return { id: fields["id"] ?? "", name: fields["name"] ?? "" }
    })
  )
}

/** A bulk string reply, e.g. the id XADD returns. */
export const string = (command: string, reply: unknown): Effect.Effect<string, RedisError.RedisError> =>
  isString(reply) ? Effect.succeed(reply) : Effect.fail(unexpected(command, reply))

/** One bulk string per reply of a batch, e.g. the ids of pipelined XADDs. */
export const strings = (command: string, replies: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<string>, RedisError.RedisError> =>
  replies.every(isString) ? Effect.succeed(replies) : Effect.fail(unexpected(command, replies.find((reply) => !isString(reply))))

/** An integer reply, e.g. XLEN or XACK. */
export const integer = (command: string, reply: unknown): Effect.Effect<number, RedisError.RedisError> =>
  typeof reply === "number" && Number.isInteger(reply) ? Effect.succeed(reply) : Effect.fail(unexpected(command, reply))

/** One row of XINFO GROUPS; `lag` is `undefined` where Redis does not report it (before 7.0, or unknown). */
export interface GroupInfo {
  readonly name: string
  readonly consumers: number
  readonly pending: number
  readonly lastDeliveredId: string
  readonly lag: number | undefined
}

/** XINFO GROUPS. */
export const groupInfos = (reply: unknown): Effect.Effect<ReadonlyArray<GroupInfo>, RedisError.RedisError> =>
  Effect.map(infoList("XINFO GROUPS", reply), (rows) =>
    rows.map((row) => ({
      name: stringField(row, "name"),
      consumers: numberField(row, "consumers") ?? 0,
      pending: numberField(row, "pending") ?? 0,
      lastDeliveredId: stringField(row, "last-delivered-id"),
      lag: numberField(row, "lag")
    })))

/** One row of XINFO CONSUMERS: `idle` is the milliseconds since its last interaction with the group. */
export interface ConsumerInfo {
  readonly name: string
  readonly pending: number
  readonly idle: number
}

/** XINFO CONSUMERS. */
export const consumerInfos = (reply: unknown): Effect.Effect<ReadonlyArray<ConsumerInfo>, RedisError.RedisError> =>
  Effect.map(infoList("XINFO CONSUMERS", reply), (rows) =>
    rows.map((row) => ({
      name: stringField(row, "name"),
      pending: numberField(row, "pending") ?? 0,
      idle: numberField(row, "idle") ?? 0
    })))

/** A flat list of ids (XCLAIM … JUSTID, or a script returning ids). */
export const ids = (command: string, reply: unknown): Effect.Effect<ReadonlyArray<string>, RedisError.RedisError> =>
  Array.isArray(reply) ? strings(command, reply) : Effect.fail(unexpected(command, reply))

/**
 * Why an entry was dead-lettered: its `retry` schedule ended
 * (`RetriesExhausted`), its failure said it cannot succeed (`NotRetryable`),
 * its fields did not decode with the consumer's schema (`DecodeFailed`),
 * gc's (or self-claim's) delivery or idle threshold (`Deliveries`, `Idle`),
 * or by hand (`Manual`); `Unknown` for letters written before reasons were
 * recorded.
 *
 * @since 0.1.0
 * @category models
 */
export type DeadLetterReason = "RetriesExhausted" | "NotRetryable" | "DecodeFailed" | "Deliveries" | "Idle" | "Manual" | "Unknown"

const reasons: ReadonlySet<string> = new Set(["RetriesExhausted", "NotRetryable", "DecodeFailed", "Deliveries", "Idle", "Manual"])

/**
 * The last error of a dead-lettered entry, as its handler produced it: a
 * tagged error's `_tag`, its message, and its own fields (JSON, bounded).
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterError {
  readonly tag?: string | undefined
  readonly message: string
  readonly data?: unknown
}

/** An entry of a dead-letter stream, as `Gc.collect` writes it. */
export interface DeadLetter {
  /** The entry's id in the dead-letter stream. */
  readonly dlqId: string
  readonly stream: string
  readonly group: string
  readonly consumer: string
  /** The entry's id in its origin stream. */
  readonly id: string
  readonly idle: number
  readonly deliveries: number
  readonly reason: DeadLetterReason
  /** The handler's last failure, when one was recorded. */
  readonly error?: DeadLetterError | undefined
  /** When it was dead-lettered (the time in its dead-letter id). */
  readonly deadLetteredAt: Date
  /** The original fields; `null` when written without them (`includeMessage: false`, or the payload was trimmed). */
  readonly fields: Record<string, string> | null
}

/**
 * The metadata of a letter, first and in this order, namespaced so that no
 * map reader mistakes it for the message's own fields (which follow).
 */
export const letterKeys = ["dlq:stream", "dlq:group", "dlq:consumer", "dlq:id", "dlq:idle", "dlq:deliveries", "dlq:reason", "dlq:error"] as const

/** The metadata of letters written before reasons were recorded: they are still read. */
const previousKeys = ["stream", "group", "consumer", "id", "idle", "deliveries"] as const

const metaOf = (keys: ReadonlyArray<string>, kvs: ReadonlyArray<unknown>): ReadonlyArray<string> | null => {
  const values: Array<string> = []
  for (let i = 0; i < keys.length; i++) {
    const value = kvs[2 * i + 1]
    if (kvs[2 * i] !== keys[i] || !isString(value)) return null
    values.push(value)
  }
  return values
}

const errorOf = (json: string): DeadLetterError | undefined => {
  if (json === "") return undefined
  try {
    const parsed: unknown = JSON.parse(json)
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { message?: unknown }).message === "string") {
      const { data, message, tag } = parsed as { tag?: unknown; message: string; data?: unknown }
      return { ...(typeof tag === "string" ? { tag } : {}), message, ...(data === undefined ? {} : { data }) }
    }
  } catch {
    // not JSON: the text is the message
  }
  return { message: json }
}

const timeOf = (dlqId: string) => new Date(Number(dlqId.slice(0, dlqId.indexOf("-"))))

const deadLetter = (dlqId: string, kvs: ReadonlyArray<unknown>): DeadLetter | null => {
  const current = metaOf(letterKeys, kvs)
  const meta = current ?? metaOf(previousKeys, kvs)
  if (meta === null) return null
  const rest = kvs.slice(2 * (current === null ? previousKeys : letterKeys).length)
  const [stream, group, consumer, id, idle, deliveries, reason, error] = meta
  const recorded = error === undefined ? undefined : errorOf(error)
  return {
    dlqId,
    stream: stream!,
    group: group!,
    consumer: consumer!,
    id: id!,
    idle: Number(idle),
    deliveries: Number(deliveries),
    reason: reason !== undefined && reasons.has(reason) ? (reason as DeadLetterReason) : "Unknown",
    ...(recorded === undefined ? {} : { error: recorded }),
    deadLetteredAt: timeOf(dlqId),
    fields: rest.length > 0 ? fieldsToRecord(rest) : null
  }
}

/**
 * XRANGE of a dead-letter stream. The metadata fields come first, in a fixed
 * order, then the original fields (so an original field named like a metadata
 * field cannot be mistaken for it). Entries not written by `Gc.collect` are
 * skipped; `lastId` is the last id of the raw page, for paging.
 */
export const deadLetters = (
  reply: unknown
): Effect.Effect<{ readonly letters: ReadonlyArray<DeadLetter>; readonly size: number; readonly lastId: string | null }, RedisError.RedisError> => {
  if (!Array.isArray(reply)) return Effect.fail(unexpected("XRANGE", reply))
  const letters: Array<DeadLetter> = []
  for (const item of reply as Array<unknown>) {
    if (!Array.isArray(item) || !isString(item[0])) return Effect.fail(unexpected("XRANGE", reply))
    const letter = Array.isArray(item[1]) ? deadLetter(item[0], item[1]) : null
    if (letter !== null) letters.push(letter)
  }
  const last: unknown = reply.length > 0 ? reply[reply.length - 1] : null
  return Effect.succeed({ letters, size: reply.length, lastId: Array.isArray(last) && isString(last[0]) ? last[0] : null })
}

/** INFO / CLUSTER INFO: `key:value` lines (comments and blank lines skipped). */
export const infoText = (command: string, reply: unknown): Effect.Effect<Readonly<Record<string, string>>, RedisError.RedisError> => {
  if (!isString(reply)) return Effect.fail(unexpected(command, reply))
  const record: Record<string, string> = Object.create(null)
  for (const line of reply.split(/\r?\n/)) {
    const colon = line.indexOf(":")
    if (colon > 0 && !line.startsWith("#")) record[line.slice(0, colon)] = line.slice(colon + 1).trim()
  }
  return Effect.succeed(record)
}

/** One consumer of a group in `XINFO STREAM key FULL`. */
export interface FullConsumer {
  readonly name: string
  /** When the consumer last interacted with the group (server epoch ms). */
  readonly seenTime: number
  readonly pending: number
}

/** One group in `XINFO STREAM key FULL`; `lag` is `undefined` where Redis does not report it. */
export interface FullGroup {
  readonly name: string
  readonly lastDeliveredId: string
  readonly lag: number | undefined
  readonly pending: number
  readonly consumers: ReadonlyArray<FullConsumer>
}

/** `XINFO STREAM key FULL COUNT 1`: a stream, its groups and their consumers in one reply. */
export interface FullStream {
  readonly length: number
  /** The first entry's id (`null` when empty). */
  readonly firstId: string | null
  /** The last id added (`null` before any): the last entry's, unless it was deleted. */
  readonly lastId: string | null
  /** Entries ever added (Redis ≥ 7); `undefined` before. */
  readonly entriesAdded: number | undefined
  readonly groups: ReadonlyArray<FullGroup>
}

const records = (command: string, reply: unknown) =>
  Array.isArray(reply) ? Effect.forEach(reply, (item: unknown) => info(command, item)) : Effect.succeed([])

/** XINFO STREAM key FULL (COUNT 1 keeps the entries and pending lists it carries short). */
export const fullStream = (reply: unknown): Effect.Effect<FullStream, RedisError.RedisError> =>
  Effect.gen(function*() {
    const command = "XINFO STREAM FULL"
    const stream = yield* info(command, reply)
    const groups = yield* records(command, stream["groups"])
    const entries = stream["entries"]
    const first: unknown = Array.isArray(entries) && Array.isArray(entries[0]) ? entries[0][0] : undefined
    const lastId = stringField(stream, "last-generated-id")
    return {
      length: numberField(stream, "length") ?? 0,
      firstId: isString(first) ? first : null,
      lastId: lastId === "" || lastId === "0-0" ? null : lastId,
      entriesAdded: numberField(stream, "entries-added"),
      groups: yield* Effect.forEach(groups, (group) =>
        Effect.map(records(command, group["consumers"]), (consumers) => ({
          name: stringField(group, "name"),
          lastDeliveredId: stringField(group, "last-delivered-id"),
          lag: numberField(group, "lag"),
          pending: numberField(group, "pel-count") ?? 0,
          consumers: consumers.map((consumer) => ({
            name: stringField(consumer, "name"),
            seenTime: numberField(consumer, "seen-time") ?? 0,
            pending: numberField(consumer, "pel-count") ?? 0
          }))
        })))
    }
  })
